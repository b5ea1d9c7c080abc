//! Manifest checks: every rule located.

use super::*;

fn check(text: &str) -> Result<Manifest, Vec<String>> {
    let file = SourceFile::new("plugin.yaml", text);
    match parse(file, Some("fs")) {
        Ok(l) => Ok(l.manifest),
        Err((file, diags)) => Err(diags.iter().map(|d| d.render(&file, false)).collect()),
    }
}

#[test]
fn a_good_manifest_reads() {
    let m = check(
        "name: fs\nkind: mcp\ncommand: npx\nargs: [-y, pkg@1.0.0]\nenv: {LOG_LEVEL: info}\nsecrets: {API_TOKEN: plugin:fs:token}\ntimeouts: {call: 5s}\npolicy: {default: ask, tools: {read_*: allow}}\n",
    )
    .unwrap();
    assert_eq!(m.limits().call, Duration::from_secs(5));
    assert_eq!(m.limits().startup, Duration::from_secs(30));
    assert!(m.includes("anything"));
    assert_eq!(m.policy.tools["read_*"], Decision::Allow);
}

#[test]
fn errors_are_located_with_help() {
    let e = check("name: fs\nkind: mcp\ncommand: npx\ncomand: x\n").unwrap_err();
    assert!(e[0].contains("unknown key `comand`") && e[0].contains("4:1") && e[0].contains("command"), "{e:?}");
    let e = check("name: fs\nkind: mcp\n").unwrap_err();
    assert!(e[0].contains("needs `command`"), "{e:?}");
    let e = check("name: fs.x\nkind: mcp\ncommand: a\n").unwrap_err();
    assert!(e.iter().any(|d| d.contains("not a plugin name")), "{e:?}");
    let e = check("name: other\nkind: mcp\ncommand: a\n").unwrap_err();
    assert!(e[0].contains("folder is `fs`"), "{e:?}");
    let e = check("name: fs\nkind: mcp\ncommand: a\nenv: {GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789}\n")
        .unwrap_err();
    assert!(
        e[0].contains("secret written in plain text") && e[0].contains("pyra vault set plugin:fs:GITHUB_TOKEN"),
        "{e:?}"
    );
    let e = check("name: fs\nkind: mcp\ncommand: a\nenv: {LD_PRELOAD: /tmp/x.so}\n").unwrap_err();
    assert!(e[0].contains("may not be set"), "{e:?}");
    let e = check("name: fs\nkind: mcp\nurl: http://example.com/mcp\n").unwrap_err();
    assert!(e[0].contains("neither https nor loopback"), "{e:?}");
    let e = check("name: fs\nkind: mcp\ncommand: a\ntimeouts: {call: soon}\n").unwrap_err();
    assert!(e[0].contains("not a duration"), "{e:?}");
    let e = check("name: fs\nkind: mcp\ncommand: a\npolicy: {tools: {'[': allow}}\n").unwrap_err();
    assert!(e[0].contains("policy rule `[`"), "{e:?}");
    let e = check("name: fs\nkind: mcp\ncommand: a\npolicy: {default: maybe}\n").unwrap_err();
    assert!(e[0].contains("`policy.default`: \"maybe\" is not one of allow, ask, deny"), "{e:?}");
}

#[test]
fn env_references_are_not_secrets() {
    check("name: fs\nkind: mcp\ncommand: a\nenv: {API_TOKEN: '${env:API_TOKEN}'}\n").unwrap();
}

#[test]
fn policy_rules_must_name_tools() {
    let file = SourceFile::new("plugin.yaml", "name: fs\nkind: mcp\ncommand: a\npolicy: {tools: {raed_file: allow}}\n");
    let loaded = parse(file, Some("fs")).unwrap();
    let diags = check_policy_names(&loaded, &["read_file", "write_file"]);
    let text = diags[0].render(&loaded.file, false);
    assert!(text.contains("matches no tool") && text.contains("read_file"), "{text}");
}

#[test]
fn yaml_round_trips() {
    let m = check("name: fs\nkind: mcp\ncommand: npx\nargs: [-y, 'pkg@1']\nsecrets: {T: {key: 'plugin:fs:t', format: 'Bearer {}'}}\n").unwrap();
    let text = m.to_yaml();
    let again = check(&text).unwrap();
    assert_eq!(again.args, m.args);
    assert_eq!(again.secrets, m.secrets);
}
