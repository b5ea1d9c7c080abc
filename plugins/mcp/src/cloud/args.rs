//! The pure half of the `cloud` built-in: remote names and paths checked, rclone's
//! positional arguments built (`REMOTE:ROOT/PATH`, always after `--`), and rclone's
//! errors turned into what to fix. No IO here, so every rule has a unit test.

/// A path as a tool argument may give it (relative to the plugin's root): no leading `/`,
/// no `..` segment, no control character. The same rule as [`check_path`], for the
/// tools' input schemas, so a literal bad path is refused before anything runs.
pub(crate) const PATH_PATTERN: &str = r"^(?!/)(?!(.*/)?\.\.(/|$))[^\x00-\x1f\x7f]*$";
/// A remote name as rclone allows it, without a leading `-` or space, optionally with its
/// `:`; never a connection string (`:backend,option=…:`).
pub(crate) const REMOTE_PATTERN: &str = r"^[\w.+@]([\w.+@ -]*[\w.+@-])?:?$";

/// A remote name (`gdrive` or `gdrive:`) checked; returns it without the colon.
pub(crate) fn remote_name(given: &str) -> Result<&str, String> {
    let name = given.strip_suffix(':').unwrap_or(given);
    if name.is_empty() {
        return Err("the remote name is empty".into());
    }
    if name.starts_with(':') || name.contains([',', '=', ':']) {
        return Err(format!(
            "remote `{given}` is not a remote's name: connection strings (`:backend,option=…:`) are not accepted; \
             add the remote to the rclone config instead"
        ));
    }
    if name.starts_with(['-', ' ']) || name.ends_with(' ') {
        return Err(format!("remote `{given}` may not start with `-` or a space, nor end with a space"));
    }
    let ok = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '@' | '-' | ' ');
    if let Some(bad) = name.chars().find(|c| !ok(*c)) {
        return Err(format!(
            "remote `{given}` contains `{}`: a remote's name has letters, digits, `_`, `-`, `.`, `+`, `@` and spaces",
            bad.escape_default()
        ));
    }
    Ok(name)
}

/// A path given to a tool, checked: relative to the plugin's root, no `..` segment, no
/// control character. `./` and repeated or trailing slashes are dropped; `""` is the root.
pub(crate) fn check_path(given: &str) -> Result<String, String> {
    if given.chars().any(char::is_control) {
        return Err(format!("path `{}` contains a control character", given.escape_default()));
    }
    if given.starts_with('/') || given.starts_with('~') {
        return Err(format!(
            "path `{given}` is absolute: paths are relative to the plugin's root on the remote (`settings.root`)"
        ));
    }
    let mut parts = Vec::new();
    for segment in given.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(format!("path `{given}` has a `..` segment: paths stay inside the plugin's root")),
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// The positional argument rclone gets for `path` (already checked) on `remote` under
/// `root` (a setting, trusted): `remote:root/path`.
pub(crate) fn target(remote: &str, root: &str, path: &str) -> String {
    let root = if root == "/" { root } else { root.trim_end_matches('/') };
    let joined = match (root.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => root.to_string(),
        (false, false) if root.ends_with('/') => format!("{root}{path}"),
        (false, false) => format!("{root}/{path}"),
    };
    format!("{remote}:{joined}")
}

/// rclone's argv for one subcommand: its flags, then `--`, then the positional
/// arguments, so nothing positional is ever read as a flag.
pub(crate) fn argv(subcommand: &str, flags: &[&str], positional: &[&str]) -> Vec<String> {
    let mut out = vec![subcommand.to_string()];
    out.extend(flags.iter().map(|f| f.to_string()));
    out.push("--".into());
    out.extend(positional.iter().map(|p| p.to_string()));
    out
}

/// What the plugin knows when it explains an error.
pub(crate) struct Context<'a> {
    pub plugin: &'a str,
    pub config: &'a str,
    pub remote: &'a str,
    /// The vault key of `config_password`, when the manifest maps one.
    pub password_key: Option<&'a str>,
    /// The path the call was about, as the user gave it.
    pub path: &'a str,
}

/// rclone's log lines without their date and time.
pub(crate) fn log_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(|l| {
            let b = l.as_bytes();
            let stamped = b.len() > 20
                && b[4] == b'/'
                && b[7] == b'/'
                && b[10] == b' '
                && b[13] == b':'
                && b[..4].iter().all(u8::is_ascii_digit);
            if stamped { l[20..].trim_start() } else { l }
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// An rclone failure (exit `code`, its stderr) as a message that says what to fix.
pub(crate) fn explain(code: Option<i32>, stderr: &str, cx: &Context<'_>) -> String {
    let lines = log_lines(stderr);
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    let setup = format!("`pyra plugin setup {}`", cx.plugin);
    if has("unable to decrypt configuration") || has("Couldn't decrypt configuration") {
        return match cx.password_key {
            Some(key) if has("RCLONE_CONFIG_PASS env password") || has("most likely wrong password") => format!(
                "the rclone config password in vault key `{key}` does not decrypt {}: set the right one with \
                 `pyra vault set {key}`",
                cx.config
            ),
            _ => format!(
                "the rclone config {} is encrypted and plugin `{}` has no password for it: {setup} asks for \
                 `config_password` and keeps it in the vault (key `plugin:{}:config_password`)",
                cx.config, cx.plugin, cx.plugin
            ),
        };
    }
    if let Some(line) = lines.iter().find(|l| l.contains("didn't find section in config file")) {
        let name = line.rsplit("(\"").next().and_then(|s| s.split('"').next()).unwrap_or(cx.remote);
        let missing = if has("not found - using defaults") { " (the file does not exist yet)" } else { "" };
        return format!(
            "rclone has no remote `{name}` in its config {}{missing}: add it with {setup} (it runs `rclone config` \
             with this file, including the provider's sign-in), or check `settings.remote`",
            cx.config
        );
    }
    if has("invalid_grant") || has("token expired") || has("couldn't fetch token") || has("oauth2: cannot fetch token")
    {
        return format!(
            "remote `{}` needs signing in again (its OAuth token is no longer valid): `rclone config reconnect {}: \
             --config {}`, or {setup}",
            cx.remote, cx.remote, cx.config
        );
    }
    if code == Some(3) || has("directory not found") {
        return format!("`{}` does not exist on remote `{}` (no such folder)", cx.path, cx.remote);
    }
    if code == Some(4) || has("object not found") || has("no such file or directory") {
        return format!("`{}` does not exist on remote `{}` (no such file)", cx.path, cx.remote);
    }
    if has("doesn't support about") || has("not supported") && has("about") {
        return format!("remote `{}` does not report its quota (its provider has no `about`)", cx.remote);
    }
    let shown: Vec<&str> = lines.iter().rev().take(6).rev().copied().collect();
    let exit = code.map(|c| format!("exit {c}")).unwrap_or_else(|| "killed".into());
    if shown.is_empty() {
        format!("rclone failed ({exit}) without a message")
    } else {
        format!("rclone failed ({exit}): {}", shown.join("\n  "))
    }
}

/// Bytes in a person's units (`1.5 GiB`).
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context { plugin: "cloud", config: "/h/rclone.conf", remote: "gdrive", password_key: None, path: "a.txt" }
    }

    #[test]
    fn remote_names_refuse_flags_and_connection_strings() {
        assert_eq!(remote_name("gdrive:").unwrap(), "gdrive");
        assert_eq!(remote_name("my drive").unwrap(), "my drive");
        assert_eq!(remote_name("a.b+c@d-e_f").unwrap(), "a.b+c@d-e_f");
        for (bad, why) in [
            ("-x", "may not start with `-`"),
            ("--config=/etc/x:", "connection strings"),
            (":sftp,ssh='sh -c id':", "connection strings"),
            ("a:b", "connection strings"),
            ("", "empty"),
            (" a", "may not start"),
            ("a/b", "contains `/`"),
            ("a\nb", "contains `\\n`"),
        ] {
            let e = remote_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(check_path("").unwrap(), "");
        assert_eq!(check_path("./a//b/").unwrap(), "a/b");
        assert_eq!(check_path("-rf").unwrap(), "-rf");
        assert_eq!(check_path("a..b/..c").unwrap(), "a..b/..c");
        for (bad, why) in [
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("a/..", "`..`"),
            ("/etc/passwd", "absolute"),
            ("~/x", "absolute"),
        ] {
            let e = check_path(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_path("a\u{0}b").unwrap_err().contains("control character"));
    }

    #[test]
    fn the_schema_patterns_agree_with_the_checks() {
        let path = fancy_regex_free_check(PATH_PATTERN);
        for ok in ["", "a/b.txt", "a..b", "-rf", "x/..y"] {
            assert!(path(ok), "{ok}");
        }
        for bad in ["../x", "a/../b", "a/..", "..", "/etc", "a\nb"] {
            assert!(!path(bad), "{bad}");
        }
        let remote = fancy_regex_free_check(REMOTE_PATTERN);
        for ok in ["gdrive:", "gdrive", "my drive:", "a-b"] {
            assert!(remote(ok), "{ok}");
        }
        for bad in ["-x", ":local:", "a,b", " a", "a:b"] {
            assert!(!remote(bad), "{bad}");
        }
    }

    /// The patterns as the tools' schemas apply them (through `lang::schema`).
    fn fancy_regex_free_check(pattern: &'static str) -> impl Fn(&str) -> bool {
        let schema = serde_json::json!({ "type": "string", "pattern": pattern });
        move |s| lang::schema::check(&schema, &serde_json::json!(s)).is_ok()
    }

    #[test]
    fn targets_join_the_root_and_flags_come_before_the_double_dash() {
        assert_eq!(target("gdrive", "", ""), "gdrive:");
        assert_eq!(target("gdrive", "", "a/b"), "gdrive:a/b");
        assert_eq!(target("gdrive", "Pyra/", "a"), "gdrive:Pyra/a");
        assert_eq!(target("loc", "/tmp/d", ""), "loc:/tmp/d");
        assert_eq!(target("loc", "/", "x"), "loc:/x");
        assert_eq!(argv("lsjson", &["--max-depth", "1"], &["-r:x"]), vec!["lsjson", "--max-depth", "1", "--", "-r:x"]);
    }

    #[test]
    fn errors_say_what_to_fix() {
        let stderr = "2026/12/08 00:21:57 NOTICE: Config file \"/h/rclone.conf\" not found - using defaults\n\
                      2026/12/08 00:21:57 CRITICAL: Failed to create file system for \"nope:foo\": didn't find section in config file (\"nope\")\n";
        let e = explain(Some(1), stderr, &cx());
        assert!(e.contains("no remote `nope`") && e.contains("pyra plugin setup cloud"), "{e}");
        assert!(e.contains("does not exist yet"), "{e}");
        let wrong = "CRITICAL: Failed to load config file \"/h/rclone.conf\": using RCLONE_CONFIG_PASS env password, unable to decrypt configuration";
        let e = explain(Some(1), wrong, &Context { password_key: Some("plugin:cloud:config_password"), ..cx() });
        assert!(e.contains("vault key `plugin:cloud:config_password`") && e.contains("pyra vault set"), "{e}");
        let none =
            "CRITICAL: Failed to load config file: unable to decrypt configuration and not allowed to ask for password";
        let e = explain(Some(1), none, &cx());
        assert!(e.contains("is encrypted") && e.contains("config_password"), "{e}");
        let e = explain(Some(3), "ERROR : error listing: directory not found", &cx());
        assert!(e.contains("`a.txt` does not exist on remote `gdrive`"), "{e}");
        let e = explain(Some(7), "2026/12/08 00:21:57 ERROR : boom\n", &cx());
        assert_eq!(e, "rclone failed (exit 7): ERROR : boom");
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
    }
}
