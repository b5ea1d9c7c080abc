//! `pyra plugin setup cloud` on a terminal: the declared settings, the config password
//! into the vault, then rclone's own dialogue (`rclone config` on the plugin's config
//! file) adds a remote, and the file is encrypted with the vault's password; the remote
//! then answers a `cloud.list`.

use super::{PASS, add, outputs, peer_bin, run, skill};
use crate::harness::Pyra;

#[test]
fn setup_walks_through_rclone_config_and_encrypts_it_with_the_vault_password() {
    let Some(bin) = peer_bin("rclone") else { return };
    let pyra = Pyra::new();
    let drive = pyra.work().join("drive");
    std::fs::create_dir_all(&drive).unwrap();
    std::fs::write(drive.join("found.txt"), "found it").unwrap();
    pyra.run_unlocked(PASS, ["vault", "init"], None).success();
    add(
        &pyra,
        &[("rclone", bin.display().to_string()), ("remote", "drive:".into()), ("root", drive.display().to_string())],
        &[],
    );
    let password = "setup-config-pw-51c9";
    let mut t = crate::pty::Terminal::start(
        &pyra,
        &["plugin", "setup", "cloud"],
        &[("PYRA_VAULT_PASSPHRASE", PASS), ("PYRA_VAULT_SCRYPT_LOG_N", "10")],
    );
    // Every declared setting is asked, in order; Enter keeps each.
    for label in
        ["rclone program", "rclone config file", "Remote —", "Other remotes", "Root folder", "Local folder", "Timeout"]
    {
        t.expect(label);
        t.line("");
    }
    t.expect("vault key `plugin:cloud:config_password`; Enter skips");
    t.expect("Value for plugin:cloud:config_password: ");
    t.line(password);
    t.expect("rclone's own setup of the remotes in");
    t.expect("name it `drive`");
    t.expect("n/s/q> ");
    t.line("n");
    t.expect("name> ");
    t.line("drive");
    t.expect("Storage> ");
    t.line("local");
    t.expect("y/n> ");
    t.line("n");
    t.expect("y/e/d> ");
    t.line("y");
    t.expect("e/n/d/r/c/s/q> ");
    t.line("q");
    t.expect("encrypting");
    let (code, screen) = t.wait();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains(password), "the password is never shown: {screen}");
    let config = pyra.home_path().join("plugins/cloud/rclone.conf");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with("# Encrypted rclone configuration File"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&config).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the config is the owner's alone");
    let manifest = std::fs::read_to_string(pyra.home_path().join("plugins/cloud/plugin.yaml")).unwrap();
    assert!(manifest.contains("config_password: plugin:cloud:config_password"), "{manifest}");
    // Mapping the secret changed the plugin's launch: reviewed, then the remote answers.
    pyra.run_unlocked(PASS, ["plugin", "review", "cloud", "--yes"], None).success();
    let (_, s) = outputs(&run(&pyra, &skill(&pyra, "ls", "list", "{}")));
    assert_eq!(s["entries"][0]["name"], "found.txt", "{s}");
}
