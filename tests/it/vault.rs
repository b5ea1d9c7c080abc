//! `pyra vault`: secrets sealed with a passphrase or an identity, never in plaintext on
//! disk, never taken from argv; a wrong passphrase changes nothing; a crash between
//! writing and renaming leaves the previous vault readable; every access is logged.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{Output, Pyra, files_under};

const PASS: &str = "correct horse battery";

/// `pyra vault ARGS` with the passphrase in the environment and `stdin` piped in.
fn vault(pyra: &Pyra, pass: &str, args: &[&str], stdin: Option<&str>) -> Output {
    pyra.run_unlocked(pass, std::iter::once("vault").chain(args.iter().copied()), stdin)
}

#[test]
fn secrets_round_trip_and_never_touch_disk_in_plaintext() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["status"], None).success().stdout_has("no vault yet");
    vault(&pyra, PASS, &["init"], None).success().stderr_has("created");
    vault(&pyra, PASS, &["init"], None).code(2).stderr_has("already exists");
    vault(&pyra, PASS, &["set", "plugin:telegram:token"], Some("tg-VALUE-4f9a2c\n")).success();
    vault(&pyra, PASS, &["set", "openai"], Some("sk-abc-VALUE-77")).success();
    vault(&pyra, PASS, &["set", "bad key!"], Some("x")).code(2).stderr_has("not a key name");
    vault(&pyra, PASS, &["list"], None).success().stdout_has("openai\nplugin:telegram:token\n");
    let get = vault(&pyra, PASS, &["get", "plugin:telegram:token"], None);
    get.success().stderr_has("is set (15 characters)");
    assert!(!get.stdout.contains("tg-VALUE"), "get prints the value only with --reveal");
    vault(&pyra, PASS, &["get", "plugin:telegram:token", "--reveal"], None).success().stdout_has("tg-VALUE-4f9a2c");
    vault(&pyra, PASS, &["get", "opnai"], None).code(1).stderr_has("did you mean `openai`");
    vault(&pyra, PASS, &["rm", "openai"], None).success();
    vault(&pyra, PASS, &["list", "--json"], None).success().stdout_has("plugin:telegram:token");
    vault(&pyra, PASS, &["status"], None).success().stdout_has("sealed by  passphrase");

    for (path, bytes) in files_under(pyra.home_path()) {
        for value in ["tg-VALUE-4f9a2c", "sk-abc-VALUE-77"] {
            assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{} holds {value}", path.display());
        }
    }
    let log = std::fs::read_to_string(pyra.home_path().join("logs/security.log")).unwrap();
    assert!(log.contains(r#""action":"vault.reveal","outcome":"granted","key":"plugin:telegram:token""#), "{log}");
    use std::os::unix::fs::PermissionsExt;
    for file in ["vault/vault.age", "vault/vault.age.prev", "logs/security.log"] {
        let mode = std::fs::metadata(pyra.home_path().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn a_wrong_passphrase_exits_non_zero_and_changes_no_file() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    vault(&pyra, PASS, &["set", "k"], Some("value-1")).success();
    let before = files_under(&pyra.home_path().join("vault"));
    vault(&pyra, "not the passphrase", &["set", "k"], Some("value-2")).code(1).stderr_has("wrong passphrase");
    vault(&pyra, "not the passphrase", &["rotate"], None).code(1);
    assert_eq!(files_under(&pyra.home_path().join("vault")), before);
    let log = std::fs::read_to_string(pyra.home_path().join("logs/security.log")).unwrap();
    assert!(log.contains(r#""action":"vault.set","outcome":"denied","key":"k""#), "{log}");
}

#[test]
fn a_crash_between_write_and_rename_leaves_a_readable_vault() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    vault(&pyra, PASS, &["set", "k"], Some("old-value")).success();
    let mut cmd = pyra.command(["vault", "set", "k"]);
    cmd.env("PYRA_VAULT_PASSPHRASE", PASS).env("PYRA_VAULT_SCRYPT_LOG_N", "10");
    cmd.env("PYRA_FAULT_VAULT_BEFORE_RENAME", "1").stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"new-value").unwrap();
    assert!(!child.wait().unwrap().success(), "the process died mid-write");
    vault(&pyra, PASS, &["get", "k", "--reveal"], None).success().stdout_has("old-value");
}

#[test]
fn rotation_moves_to_an_identity_file_and_back_to_a_passphrase() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    vault(&pyra, PASS, &["set", "k"], Some("kept-across-rotations")).success();
    let identity = pyra.work().join("me.agekey");
    let id = identity.to_str().unwrap();
    vault(&pyra, PASS, &["rotate", "--to-identity", id], None).success().stderr_has("generated a new age identity");
    vault(&pyra, PASS, &["status"], None).success().stdout_has("sealed by  identity");
    vault(&pyra, PASS, &["get", "k"], None).code(2).stderr_has("unlocked by identity");
    vault(&pyra, PASS, &["get", "k", "--reveal", "--identity", id], None).success().stdout_has("kept-across-rotations");
    let mut cmd = pyra.command(["vault", "rotate", "--identity", id]);
    cmd.env("PYRA_VAULT_NEW_PASSPHRASE", "another long passphrase").env("PYRA_VAULT_SCRYPT_LOG_N", "10");
    Output::from(cmd.output().unwrap()).success();
    vault(&pyra, "another long passphrase", &["get", "k", "--reveal"], None).success().stdout_has("kept-across");
}

#[test]
fn a_locked_vault_without_a_terminal_says_how_to_unlock_it() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    let out = Output::from(pyra.command(["vault", "list"]).output().unwrap());
    out.code(2).stderr_has("PYRA_VAULT_PASSPHRASE");
}

#[test]
fn loose_permissions_under_the_home_are_fixed_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    let file = pyra.home_path().join("vault/vault.age");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(pyra.home_path().join("vault"), std::fs::Permissions::from_mode(0o755)).unwrap();
    vault(&pyra, PASS, &["status"], None)
        .success()
        .stderr_has("fixed permissions of")
        .stderr_has("vault.age (644 → 600)");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(pyra.home_path().join("vault")).unwrap().permissions().mode();
    assert_eq!(dir & 0o777, 0o700);
}

#[test]
fn a_symlink_into_the_vault_is_refused_by_file_nodes() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    let link = pyra.work().join("looks-harmless.txt");
    std::os::unix::fs::symlink(pyra.home_path().join("vault/vault.age"), &link).unwrap();
    let skill = pyra.skill(
        "peek",
        &format!("name: peek\nnodes:\n  read:\n    uses: file.read\n    with: {{ path: \"{}\" }}\n", link.display()),
    );
    pyra.run(["run", &skill]).code(1).stderr_has("inside Pyra's vault");
}

#[test]
fn a_key_sealed_with_its_own_passphrase_needs_both_to_be_read() {
    let pyra = Pyra::new();
    vault(&pyra, PASS, &["init"], None).success();
    let set = |key_pass: &str| {
        let mut cmd = pyra.command(["vault", "set", "bank:pin", "--seal"]);
        cmd.env("PYRA_VAULT_PASSPHRASE", PASS).env("PYRA_VAULT_SCRYPT_LOG_N", "10");
        cmd.env("PYRA_VAULT_KEY_PASSPHRASE", key_pass)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"4242-sealed-pin").unwrap();
        Output::from(child.wait_with_output().unwrap())
    };
    set("the pin's own passphrase").success();
    vault(&pyra, PASS, &["list"], None).success().stdout_has("bank:pin  (sealed)");
    vault(&pyra, PASS, &["get", "bank:pin"], None).success().stderr_has("sealed with its own passphrase");
    vault(&pyra, PASS, &["get", "bank:pin", "--reveal"], None).code(2).stderr_has("PYRA_VAULT_KEY_PASSPHRASE");
    let reveal = |key_pass: &str| {
        let mut cmd = pyra.command(["vault", "get", "bank:pin", "--reveal"]);
        cmd.env("PYRA_VAULT_PASSPHRASE", PASS).env("PYRA_VAULT_KEY_PASSPHRASE", key_pass);
        Output::from(cmd.output().unwrap())
    };
    reveal("wrong").code(1).stderr_has("wrong passphrase");
    reveal("the pin's own passphrase").success().stdout_has("4242-sealed-pin");
    for (path, bytes) in files_under(pyra.home_path()) {
        assert!(!bytes.windows(15).any(|w| w == b"4242-sealed-pin"), "{}", path.display());
    }
}
