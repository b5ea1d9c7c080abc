//! The `daemon:` section through the crate's API: defaults when absent, the webhook's
//! loopback-only address, ranges, unknown keys and shapes (each a located diagnostic with
//! its help), `~` and relative skill folders, and `get`/`set` by dotted key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::tests::{EXAMPLE, errors, invalid_codes, parse};
use crate::{ConfigError, DaemonSettings, WebhookSettings};

/// The one diagnostic of an invalid text: its code, the text its span covers, its help.
fn only_error(text: &str) -> (&'static str, String, String) {
    match parse(text) {
        Err(ConfigError::Invalid(i)) if i.diagnostics.len() == 1 => {
            let d = &i.diagnostics[0];
            let span = d.span.clone().expect("located");
            (d.code, text[span].to_string(), d.help.clone().unwrap_or_default())
        }
        other => panic!("expected one error for {text:?}, got {other:?}"),
    }
}

#[test]
fn the_daemon_section_is_optional_and_typed() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.daemon, DaemonSettings::default());
    assert_eq!(config.daemon.max_runs(), DaemonSettings::DEFAULT_MAX_RUNS);
    assert_eq!(config.daemon.webhook, None, "the webhook is off unless present");
    assert!(parse("").unwrap().daemon.skill_dirs.is_empty());

    let text = format!(
        "{EXAMPLE}daemon:\n  skill_dirs: [~/work/pyra-skills, /srv/skills]   # mine\n  max_runs: 8\n  webhook:\n    \
         listen: 127.0.0.1:8787\n    rate_per_minute: 120\n    burst: 5\n"
    );
    let daemon = parse(&text).unwrap().daemon;
    assert_eq!(daemon.skill_dirs, ["~/work/pyra-skills", "/srv/skills"]);
    assert_eq!(daemon.max_runs(), 8);
    let webhook = daemon.webhook.unwrap();
    assert_eq!(webhook.listen, "127.0.0.1:8787".parse::<SocketAddr>().unwrap());
    assert_eq!((webhook.rate_per_minute, webhook.burst), (120, 5));

    // A webhook section turns it on; what it leaves out has its default.
    let webhook = parse("daemon:\n  webhook: {}\n").unwrap().daemon.webhook.unwrap();
    assert_eq!(webhook, WebhookSettings::default());
    assert_eq!(webhook.listen, WebhookSettings::DEFAULT_LISTEN);
    assert_eq!((webhook.rate_per_minute, webhook.burst), (60, 20));
    let webhook = parse("daemon:\n  webhook: { listen: '[::1]:9000', burst: 1 }\n").unwrap().daemon.webhook.unwrap();
    assert_eq!(webhook.listen, "[::1]:9000".parse::<SocketAddr>().unwrap());
    assert_eq!((webhook.rate_per_minute, webhook.burst), (60, 1));
    // All of 127.0.0.0/8 is loopback; the limits themselves are allowed.
    let text = "daemon:\n  max_runs: 64\n  webhook: { listen: 127.1.2.3:1, rate_per_minute: 10000, burst: 1000 }\n";
    assert_eq!(parse(text).unwrap().daemon.webhook.unwrap().listen.port(), 1);
}

#[test]
fn the_webhook_listens_on_loopback_only() {
    let at = |listen: &str| only_error(&format!("daemon:\n  webhook:\n    listen: {listen}\n"));

    let (code, span, help) = at("0.0.0.0:8787");
    assert_eq!((code, span.as_str()), ("config-loopback", "0.0.0.0:8787"));
    assert!(help.starts_with("`0.0.0.0` means every network interface;"), "{help}");
    assert!(help.contains("for senders on this machine") && help.contains("reverse proxy"), "{help}");
    assert!(help.contains("`127.0.0.1:8787`"), "{help}");
    let (code, span, help) = at("192.168.1.20:9000");
    assert_eq!((code, span.as_str()), ("config-loopback", "192.168.1.20:9000"));
    assert!(help.contains("127.0.0.0/8 or ::1 (e.g. `127.0.0.1:9000`)") && !help.contains("every"), "{help}");
    let (code, _, help) = at("'[::]:8787'");
    assert_eq!(code, "config-loopback");
    assert!(help.starts_with("`::` means every network interface"), "{help}");

    let out = errors("daemon:\n  webhook:\n    listen: 10.0.0.1:8787\n");
    assert!(out.contains("`listen` must be a loopback address, found `10.0.0.1:8787`"), "{out}");
    assert!(out.contains("--> /home/u/.pyra/config.yaml:3:13") && out.contains("not a loopback address"), "{out}");
    assert!(out.contains("help: the webhook is for senders on this machine"), "{out}");
}

#[test]
fn a_bad_listen_address_says_how_to_write_one() {
    let at = |listen: &str| only_error(&format!("daemon:\n  webhook:\n    listen: {listen}\n"));
    for (listen, help) in [
        ("127.0.0.1", "add a port: `127.0.0.1:8787`"),
        ("::1", "add a port: `[::1]:8787`"),
        ("'127.0.0.1:'", "add a port: `127.0.0.1:8787`"),
        ("localhost:8787", "give an IP address, not a host name (`localhost` is not looked up): `127.0.0.1:8787`"),
        ("localhost", "not a host name"),
        ("'::1:8787'", "an IPv6 address with a port goes in brackets: `listen: \"[::1]:8787\"`"),
        ("127.0.0.1:70000", "a port is a number from 1 to 65535"),
        ("http://127.0.0.1:8787/", "give the address without a scheme: `127.0.0.1:8787`"),
        ("here", "not a host name"),
        ("1.2.3:80", "e.g. `listen: 127.0.0.1:8787`"),
        ("é:80", "e.g. `listen: 127.0.0.1:8787`"),
        ("'[é]:80'", "e.g. `listen: 127.0.0.1:8787`"),
    ] {
        let (code, span, got) = at(listen);
        assert_eq!((code, span.as_str()), ("config-address", listen), "{listen}");
        assert!(got.contains(help), "{listen}: {got}");
    }
    let (code, span, help) = at("127.0.0.1:0");
    assert_eq!((code, span.as_str()), ("config-address", "127.0.0.1:0"));
    assert!(help.contains("no sender could know; e.g. `127.0.0.1:8787`"), "{help}");
    let (code, span, help) = at("8787");
    assert_eq!((code, span.as_str()), ("config-type", "8787"));
    assert!(help.contains("quote it"), "{help}");
    let out = errors("daemon:\n  webhook:\n    listen: localhost:8787\n");
    assert!(out.contains("`listen` is not an IP address with a port: `localhost:8787`"), "{out}");
    assert!(out.contains("config.yaml:3:13") && out.contains("expected ADDRESS:PORT"), "{out}");
}

#[test]
fn daemon_numbers_are_in_range_and_say_what_they_mean() {
    let (code, span, help) = only_error("daemon:\n  max_runs: 0\n");
    assert_eq!((code, span.as_str()), ("config-range", "0"));
    assert!(help.contains("the most triggered runs the daemon runs at once") && help.contains("(default 4)"));
    let out = errors("daemon:\n  max_runs: 65\n");
    assert!(out.contains("`max_runs` must be a whole number from 1 to 64, found 65"), "{out}");
    assert!(out.contains("config.yaml:2:13"), "{out}");
    let (code, span, _) = only_error("daemon:\n  max_runs: 2.5\n");
    assert_eq!((code, span.as_str()), ("config-range", "2.5"));
    let (code, span, help) = only_error("daemon:\n  max_runs: many\n");
    assert_eq!((code, span.as_str()), ("config-type", "many"));
    assert!(help.contains("more wait their turn"), "{help}");
    // `max_runs:` with nothing after it points at the key.
    let (code, span, _) = only_error("daemon:\n  max_runs:\n");
    assert_eq!((code, span.as_str()), ("config-type", "max_runs"));

    let (code, span, help) = only_error("daemon:\n  webhook: { rate_per_minute: 10001 }\n");
    assert_eq!((code, span.as_str()), ("config-range", "10001"));
    assert!(help.contains("requests a minute each hook may receive") && help.contains("(default 60)"), "{help}");
    let out = errors("daemon:\n  webhook: { rate_per_minute: 0 }\n");
    assert!(out.contains("`rate_per_minute` must be a whole number from 1 to 10000, found 0"), "{out}");
    let (code, span, help) = only_error("daemon:\n  webhook:\n    burst: 1001\n");
    assert_eq!((code, span.as_str()), ("config-range", "1001"));
    assert!(help.contains("before `rate_per_minute` applies (default 20)"), "{help}");
}

#[test]
fn daemon_shapes_and_unknown_keys_are_located() {
    let (code, span, help) = only_error("daemon:\n  max_run: 3\n");
    assert_eq!((code, span.as_str(), help.as_str()), ("unknown-key", "max_run", "did you mean `max_runs`?"));
    let (code, span, help) = only_error("daemon:\n  webhook:\n    listne: 127.0.0.1:1\n");
    assert_eq!((code, span.as_str(), help.as_str()), ("unknown-key", "listne", "did you mean `listen`?"));
    let out = errors("daemon:\n  webhook:\n    brust: 3\n");
    assert!(out.contains("unknown key `brust` in `daemon.webhook`") && out.contains("config.yaml:3:5"), "{out}");
    let (_, _, help) = only_error("daemon:\n  webhook:\n    tls: true\n");
    assert_eq!(help, "`daemon.webhook` takes `listen`, `rate_per_minute`, `burst`");
    let (_, span, help) = only_error("deamon:\n  max_runs: 3\n");
    assert_eq!((span.as_str(), help.as_str()), ("deamon", "did you mean `daemon`?"));

    let (code, span, _) = only_error("daemon: 3\n");
    assert_eq!((code, span.as_str()), ("config-type", "3"));
    let out = errors("daemon:\n  webhook: true\n");
    assert!(out.contains("`daemon.webhook` must be a map, found a boolean"), "{out}");
    assert!(out.contains("{ listen: …, rate_per_minute: …, burst: … }"), "{out}");
    let (code, span, _) = only_error("daemon:\n  webhook:\n");
    assert_eq!((code, span.as_str()), ("config-type", "webhook"), "an empty `webhook:` is not a way to turn it on");

    let (code, span, help) = only_error("daemon:\n  skill_dirs: [~/ok, ~bob/skills]\n");
    assert_eq!((code, span.as_str()), ("config-path", "~bob/skills"));
    assert!(help.contains("`~` is your home ($HOME); for bob's, write the full path"), "{help}");
    let (code, span, help) = only_error("daemon:\n  skill_dirs: [~jé/x]\n");
    assert_eq!((code, span.as_str()), ("config-path", "~jé/x"));
    assert!(help.contains("for jé's, write the full path (e.g. `/home/jé/…`)"), "{help}");
    let out = errors("daemon:\n  skill_dirs: ~/skills\n");
    assert!(out.contains("`skill_dirs` must be a list, found a string"), "{out}");
    let (code, span, help) = only_error("daemon:\n  skill_dirs: [~]\n");
    assert_eq!((code, span.as_str()), ("config-type", "~"));
    assert!(help.contains("a bare `~` is YAML's null: write your home as `\"~\"`"), "{help}");
    let out = errors("daemon:\n  skill_dirs: [3, '']\n");
    assert!(out.contains("each item of `skill_dirs` must be a path, found a number"), "{out}");
    assert!(out.contains("each item of `skill_dirs` must be a path, found an empty string"), "{out}");

    // Every finding at once, in file order.
    let codes = invalid_codes(
        "daemon:\n  skill_dirs: [~x]\n  max_runs: 0\n  webhook:\n    listen: 0.0.0.0:1\n    rate_per_minute: -1\n    \
         burst: 0\n    extra: 1\n",
    );
    assert_eq!(
        codes,
        ["config-path", "config-range", "config-loopback", "config-range", "config-range", "unknown-key"]
    );
}

#[test]
fn skill_dirs_expand_tilde_and_relative_paths() {
    let config =
        parse("daemon:\n  skill_dirs: [~/work/pyra-skills, /srv/skills, mine, '~', ~/, ../shared, ~//x]\n").unwrap();
    let home = Path::new("/home/u/.pyra");
    let dirs = config.daemon.skill_dirs_from(home, Some(Path::new("/home/u")));
    let expected: Vec<PathBuf> = [
        "/home/u/work/pyra-skills",
        "/srv/skills",
        "/home/u/.pyra/mine",
        "/home/u",
        "/home/u",
        "/home/u/.pyra/../shared",
        "/home/u/x",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(dirs, expected);
    // Without a user home, `~` stays as written (the daemon reports the folder missing).
    let dirs = config.daemon.skill_dirs_from(home, None);
    assert_eq!(dirs[0], PathBuf::from("~/work/pyra-skills"));
    assert_eq!(dirs, config.daemon.skill_dirs_from(home, Some(Path::new(""))));
    // `skill_dirs` reads $HOME; the paths that do not use it are the same either way.
    assert_eq!(config.daemon.skill_dirs(home)[1..3], expected[1..3]);
    assert!(DaemonSettings::default().skill_dirs(home).is_empty());
}

#[test]
fn the_daemon_section_is_read_and_set_by_dotted_key() {
    let config = parse(EXAMPLE).unwrap();
    assert!(matches!(config.get("daemon.max_runs"), Err(ConfigError::NotSet(_))));
    assert!(matches!(config.get("daemon.webhook.listen"), Err(ConfigError::NotSet(_))));

    // A new section is added after the rest, the rest left as it was.
    let set = config.set("daemon.max_runs", "8").unwrap();
    assert_eq!(set.daemon.max_runs(), 8);
    assert_eq!(set.text(), format!("{EXAMPLE}daemon:\n  max_runs: 8\n"));
    assert_eq!(set.get("daemon.max_runs").unwrap(), 8);
    let set = set.set("daemon.webhook.listen", "127.0.0.1:9000").unwrap();
    let webhook = set.daemon.webhook.unwrap();
    assert_eq!(webhook.listen, "127.0.0.1:9000".parse::<SocketAddr>().unwrap());
    assert_eq!(webhook.rate_per_minute, WebhookSettings::DEFAULT_RATE_PER_MINUTE);
    assert_eq!(set.text(), format!("{EXAMPLE}daemon:\n  max_runs: 8\n  webhook:\n    listen: 127.0.0.1:9000\n"));
    assert_eq!(set.get("daemon.webhook.listen").unwrap(), "127.0.0.1:9000");
    assert_eq!(set.get("daemon").unwrap()["webhook"]["listen"], "127.0.0.1:9000");
    let set = set.set("daemon.webhook.burst", "5").unwrap();
    assert_eq!(set.daemon.webhook.unwrap().burst, 5);
    assert_eq!(set.get("daemon.webhook.burst").unwrap(), 5);
    // An IPv6 address is quoted so that it reads back.
    let v6 = set.set("daemon.webhook.listen", "[::1]:9000").unwrap();
    assert!(v6.text().contains("    listen: \"[::1]:9000\"\n"), "{}", v6.text());
    assert_eq!(v6.daemon.webhook.unwrap().listen.port(), 9000);

    // In place, comments kept.
    let text = "daemon:\n  max_runs: 2   # the laptop is small\n  skill_dirs: [a]\n";
    let config = parse(text).unwrap();
    let set = config.set("daemon.max_runs", "3").unwrap();
    assert_eq!(set.text(), text.replace("max_runs: 2 ", "max_runs: 3 "));
    let set = config.set("daemon.skill_dirs", "~/a, /b").unwrap();
    assert_eq!(set.daemon.skill_dirs, ["~/a", "/b"]);
    assert_eq!(set.text(), text.replace("[a]", "[\"~/a\", /b]"));
    assert_eq!(config.set("daemon.skill_dirs", "").unwrap().daemon.skill_dirs, Vec::<String>::new());

    // What the checks refuse, the edit does too, located in the text it would have written.
    let err = config.set("daemon.webhook.listen", "0.0.0.0:9000").unwrap_err();
    let out = err.render(false);
    assert!(out.contains("`listen` must be a loopback address") && out.contains("config.yaml:5:13"), "{out}");
    let err = config.set("daemon.max_runs", "100").unwrap_err();
    assert!(err.render(false).contains("from 1 to 64, found 100"), "{err:?}");
    let err = config.set("daemon.webhook", "on").unwrap_err();
    assert!(matches!(&err, ConfigError::Key { .. }), "{err:?}");
    assert!(err.render(false).contains("e.g. `daemon.webhook.listen`"), "{err:?}");

    // Misspelt keys.
    for (key, help) in [
        ("daemon.max_run", "did you mean `daemon.max_runs`?"),
        ("daemon.webhook.lisen", "did you mean `daemon.webhook.listen`?"),
        ("daemon.webhok.listen", "did you mean `daemon.webhook.listen`?"),
        ("daemon.webhook.ratelimit", "`daemon` takes `skill_dirs`, `max_runs`, `webhook.listen`"),
        ("daemon.max_runs.x", "`daemon` takes"),
        ("deamon.max_runs", "did you mean `daemon`?"),
    ] {
        let err = config.get(key).unwrap_err();
        assert!(matches!(err, ConfigError::Key { .. }), "{key}: {err:?}");
        assert!(err.render(false).contains(help), "{key}: {}", err.render(false));
        assert!(matches!(config.set(key, "1"), Err(ConfigError::Key { .. })), "{key}");
    }
}

#[test]
fn the_web_ui_is_on_when_its_section_is_present_and_listens_on_loopback_only() {
    let path = std::path::Path::new("config.yaml");
    use crate::Config;
    let off = Config::from_text(path, "daemon:\n  max_runs: 2\n", true).unwrap();
    assert_eq!(off.daemon.web, None);
    let on = Config::from_text(path, "daemon:\n  web:\n", true).unwrap();
    assert_eq!(on.daemon.web.map(|w| w.listen), Some(crate::WebSettings::DEFAULT_LISTEN));
    let any = Config::from_text(path, "daemon:\n  web:\n    listen: 127.0.0.1:0\n", true).unwrap();
    assert_eq!(any.daemon.web.map(|w| w.listen.port()), Some(0));
    let err = Config::from_text(path, "daemon:\n  web:\n    listen: 0.0.0.0:8790\n", true).unwrap_err();
    let text = err.render(false);
    assert!(text.contains("must be a loopback address") && text.contains("web UI"), "{text}");
    let set = off.set("daemon.web.listen", "127.0.0.1:8791").unwrap();
    assert_eq!(set.daemon.web.map(|w| w.listen.port()), Some(8791));
}
