//! `cloud` on a `webdav` remote (WsgiDAV with a user and password) whose rclone config is
//! encrypted, its password in the vault: put waits for its approval, then list, get and
//! delete; a wrong password in the vault names the vault key to fix, and the password
//! never reaches the home's files.

use super::peer::{PASSWORD, USER, dav};
use super::{PASS, add, approve, outputs, peer_bin, rclone, run, skill};
use crate::harness::Pyra;

const CONFIG_PASSWORD: &str = "rclone-config-pw-7e21";

#[test]
fn an_encrypted_config_with_its_password_from_the_vault() {
    let (Some(bin), Some(wsgidav)) = (peer_bin("rclone"), peer_bin("wsgidav")) else { return };
    let dav = dav(&wsgidav);
    let pyra = Pyra::new();
    // The config lives in the plugin's own folder (the default), encrypted.
    let folder = format!("t{}", std::process::id());
    std::fs::create_dir_all(dav.dir.join(&folder)).unwrap();
    let dir = pyra.home_path().join("plugins/cloud");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("rclone.conf");
    let url = format!("url={}", dav.url);
    let (user, pass) = (format!("user={USER}"), format!("pass={PASSWORD}"));
    rclone(&bin, &config, &["config", "create", "dav", "webdav", &url, "vendor=other", &user, &pass]);
    let command = format!("echo {CONFIG_PASSWORD}");
    rclone(&bin, &config, &["config", "encryption", "set", "--password-command", &command]);
    assert!(std::fs::read_to_string(&config).unwrap().starts_with("# Encrypted rclone configuration File"));

    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    pyra.run_unlocked(PASS, ["vault", "set", "plugin:cloud:config_password"], Some(CONFIG_PASSWORD)).success();
    add(
        &pyra,
        &[("rclone", bin.display().to_string()), ("remote", "dav:".into()), ("root", folder.clone())],
        &["config_password=plugin:cloud:config_password"],
    );

    let put = skill(&pyra, "put", "put", "{ path: inbox/todo.md, content: \"- renew the passport\" }");
    run(&pyra, &put).code(3).stderr_has("waits for an approval");
    let on_server = dav.dir.join(&folder).join("inbox/todo.md");
    assert!(!on_server.exists(), "nothing is uploaded before the approval");
    approve(&pyra).success();
    assert_eq!(std::fs::read_to_string(&on_server).unwrap(), "- renew the passport");

    let (_, s) = outputs(&run(&pyra, &skill(&pyra, "ls", "list", "{ recursive: true }")));
    let paths: Vec<&str> = s["entries"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths, ["inbox", "inbox/todo.md"], "{s}");
    let (text, _) = outputs(&run(&pyra, &skill(&pyra, "get", "get", "{ path: inbox/todo.md }")));
    assert_eq!(text, "- renew the passport");

    let rm = skill(&pyra, "rm", "delete", "{ path: inbox/todo.md }");
    run(&pyra, &rm).code(3).stderr_has("waits for an approval");
    assert!(on_server.exists(), "nothing is deleted before the approval");
    approve(&pyra).success();
    assert!(!on_server.exists());

    assert!(super::super::home_contains(&pyra, CONFIG_PASSWORD).is_empty(), "the password is only in the vault");

    // A wrong password in the vault: the error names the key to fix.
    pyra.run_unlocked(PASS, ["vault", "set", "plugin:cloud:config_password"], Some("wrong-password")).success();
    run(&pyra, &skill(&pyra, "ls2", "list", "{}"))
        .code(1)
        .stderr_has("does not decrypt")
        .stderr_has("vault key `plugin:cloud:config_password`");
}
