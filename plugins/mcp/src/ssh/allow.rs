//! The `ssh` plugin's allowlist (`settings.allow`): the commands `ssh.exec` runs without
//! asking. Each entry is one command written as shell words (`df -h`, `systemctl status
//! *`), matched against the whole argv, never as a prefix (`git` alone would not allow
//! `git push`): a word is literal, `*` stands for one argument and a final `**` for any
//! number of further arguments. A wildcard never stands for an option (an argument that
//! starts with `-`), so `ls *` does not allow `ls --recursive`; write options out.

/// Why `argv` needs a person's approval, or `None` when an entry of `allow` (the setting's
/// comma-separated text) matches it.
pub fn asks(argv: &[String], allow: Option<&str>) -> Option<String> {
    let entries: Vec<&str> = allow.unwrap_or("").split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.iter().any(|e| matches(e, argv)) {
        return None;
    }
    let shown = shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| format!("{argv:?}"));
    Some(if entries.is_empty() {
        format!("`{shown}` is run only with approval: the plugin's allowlist (`settings.allow`) is empty")
    } else {
        format!("`{shown}` matches no entry of the plugin's allowlist (`settings.allow`: {})", entries.join(", "))
    })
}

/// Whether one allowlist entry matches the whole argv. An entry that is not valid shell
/// words matches nothing.
pub fn matches(entry: &str, argv: &[String]) -> bool {
    let Some(words) = shlex::split(entry) else { return false };
    let (words, rest) = match words.split_last() {
        Some((last, init)) if last == "**" => (init, true),
        _ => (words.as_slice(), false),
    };
    if words.is_empty() || argv.len() < words.len() || (!rest && argv.len() != words.len()) {
        return false;
    }
    let option = |a: &str| a.starts_with('-');
    let fixed = words.iter().zip(argv).all(|(w, a)| if w == "*" { !option(a) } else { w == a });
    fixed && argv[words.len()..].iter().all(|a| !option(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        shlex::split(line).unwrap()
    }

    #[test]
    fn whole_commands_match_with_wildcards_for_arguments_never_options() {
        let cases = [
            ("uptime", "uptime", true),
            ("uptime", "uptime -p", false),
            ("df -h", "df -h", true),
            ("df -h", "df", false),
            ("df -h", "df -h /", false),
            ("systemctl status *", "systemctl status nginx", true),
            ("systemctl status *", "systemctl status", false),
            ("systemctl status *", "systemctl status a b", false),
            ("systemctl status *", "systemctl status --all", false),
            ("systemctl status *", "systemctl restart nginx", false),
            ("ls **", "ls", true),
            ("ls **", "ls /etc /var", true),
            ("ls **", "ls -R /", false),
            ("git", "git push", false),
            ("printf **", "printf '%s\n' 'a b; rm -rf /'", true),
            ("'a b'", "'a b'", true),
            ("'a b'", "a b", false),
            ("**", "anything", false),
            ("unclosed 'quote", "unclosed quote", false),
        ];
        for (entry, line, expected) in cases {
            assert_eq!(matches(entry, &argv(line)), expected, "{entry} vs {line}");
        }
    }

    #[test]
    fn the_reason_names_the_command_and_the_setting() {
        let why = asks(&argv("touch /tmp/x"), Some("uptime, df -h")).unwrap();
        assert!(why.contains("`touch /tmp/x` matches no entry") && why.contains("uptime, df -h"), "{why}");
        let why = asks(&argv("uptime"), None).unwrap();
        assert!(why.contains("allowlist (`settings.allow`) is empty"), "{why}");
        assert_eq!(asks(&argv("df -h"), Some(" uptime , df -h ")), None);
    }
}
