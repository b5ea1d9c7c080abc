//! The `mcp:` section through the crate's API: nothing exposed unless listed, the HTTP
//! endpoint off unless present and on loopback only (port 0 allowed), shapes and unknown
//! keys located.

use std::net::SocketAddr;

use crate::tests::{EXAMPLE, invalid_codes, parse};
use crate::{ConfigError, McpHttpSettings};

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
fn nothing_is_exposed_unless_listed() {
    for text in [EXAMPLE, "", "mcp:\n", "mcp:\n  serve:\n", "mcp: { serve: { skills: [] } }\n"] {
        let mcp = parse(text).unwrap().mcp;
        assert!(mcp.exposed().is_empty(), "{text:?}");
        assert_eq!(mcp.http(), None, "{text:?}");
    }
    let text = format!("{EXAMPLE}mcp:\n  serve:\n    skills: [weather, \"notes-*\"]   # mine\n");
    let mcp = parse(&text).unwrap().mcp;
    assert_eq!(mcp.exposed(), ["weather", "notes-*"]);
    assert_eq!(mcp.http(), None);
}

#[test]
fn the_http_endpoint_is_on_loopback_only() {
    let http = parse("mcp: { serve: { http: {} } }\n").unwrap().mcp.http().unwrap();
    assert_eq!(http, McpHttpSettings::default());
    assert_eq!(http.listen, McpHttpSettings::DEFAULT_LISTEN);
    let http = parse("mcp: { serve: { http: { listen: 127.0.0.1:0 } } }\n").unwrap().mcp.http().unwrap();
    assert_eq!(http.listen, "127.0.0.1:0".parse::<SocketAddr>().unwrap(), "port 0 picks a free port");
    let http = parse("mcp: { serve: { http: { listen: '[::1]:9000' } } }\n").unwrap().mcp.http().unwrap();
    assert_eq!(http.listen.port(), 9000);

    let (code, span, help) = only_error("mcp:\n  serve:\n    http:\n      listen: 0.0.0.0:8788\n");
    assert_eq!((code, span.as_str()), ("config-loopback", "0.0.0.0:8788"));
    assert!(help.contains("127.0.0.0/8"), "{help}");
    let (code, span, _) = only_error("mcp:\n  serve:\n    http:\n      listen: 192.168.1.5:1\n");
    assert_eq!((code, span.as_str()), ("config-loopback", "192.168.1.5:1"));
    let (code, span, help) = only_error("mcp:\n  serve:\n    http:\n      listen: localhost:8788\n");
    assert_eq!((code, span.as_str()), ("config-address", "localhost:8788"));
    assert!(help.contains("127.0.0.1:8788"), "{help}");
}

#[test]
fn shapes_and_unknown_keys_are_located() {
    let (code, span, help) = only_error("mcp:\n  serve:\n    skill: [weather]\n");
    assert_eq!((code, span.as_str()), ("unknown-key", "skill"));
    assert!(help.contains("skills"), "{help}");
    let (code, span, _) = only_error("mcp:\n  serv: {}\n");
    assert_eq!((code, span.as_str()), ("unknown-key", "serv"));
    let (code, span, _) = only_error("mcp:\n  serve:\n    skills: weather\n");
    assert_eq!((code, span.as_str()), ("config-type", "weather"));
    let (code, span, _) = only_error("mcp:\n  serve:\n    skills: [weather, 3]\n");
    assert_eq!((code, span.as_str()), ("config-type", "3"));
    let (code, span, _) = only_error("mcp:\n  serve:\n    skills: [\"two words\"]\n");
    assert_eq!((code, span.as_str()), ("config-type", "\"two words\""));
    let (code, span, _) = only_error("mcp:\n  serve:\n    http: { port: 1 }\n");
    assert_eq!((code, span.as_str()), ("unknown-key", "port"));
    assert_eq!(invalid_codes("mcp: [serve]\n"), ["config-type"]);
}
