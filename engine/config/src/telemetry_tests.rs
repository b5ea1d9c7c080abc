//! The `telemetry:` section through the crate's API: off when absent, its endpoint
//! required and checked, headers with credentials only from the vault (refused and
//! masked otherwise), types and unknown keys located, and `get`/`set` by dotted key.

use crate::tests::{EXAMPLE, errors, invalid_codes, parse};
use crate::{ConfigError, HeaderValue, TelemetrySettings};

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
fn telemetry_is_off_unless_present_and_typed_when_it_is() {
    assert_eq!(parse(EXAMPLE).unwrap().telemetry, None);
    assert_eq!(parse("").unwrap().telemetry, None);

    let telemetry = parse("telemetry: { endpoint: http://127.0.0.1:4318 }\n").unwrap().telemetry.unwrap();
    assert_eq!(telemetry.endpoint, "http://127.0.0.1:4318");
    assert_eq!(telemetry.service_name(), TelemetrySettings::DEFAULT_SERVICE_NAME);
    assert_eq!(telemetry.service_name(), "pyra");
    assert!(!telemetry.export_content(), "content stays home unless asked");
    assert!(telemetry.headers.is_empty());

    let text = format!(
        "{EXAMPLE}telemetry:\n  endpoint: https://otel.example.org/otlp   # the collector\n  headers:\n    x-scope: home\n    \
         authorization: vault:OTEL_AUTHORIZATION\n  service_name: laptop-pyra\n  export_content: true\n"
    );
    let telemetry = parse(&text).unwrap().telemetry.unwrap();
    assert_eq!(telemetry.endpoint, "https://otel.example.org/otlp");
    assert_eq!((telemetry.service_name(), telemetry.export_content()), ("laptop-pyra", true));
    assert_eq!(
        telemetry.header_values(),
        [("authorization", HeaderValue::Vault("OTEL_AUTHORIZATION")), ("x-scope", HeaderValue::Plain("home"))]
    );
    assert!(parse("telemetry:\n  endpoint: http://h:1\n  headers:\n").unwrap().telemetry.unwrap().headers.is_empty());
}

#[test]
fn the_endpoint_is_required_and_an_http_url_without_credentials() {
    let (code, span, help) = only_error("telemetry:\n");
    assert_eq!((code, span.as_str()), ("missing-key", "telemetry"));
    assert!(help.contains("endpoint: http://localhost:4318") && help.contains("remove `telemetry:`"), "{help}");
    let (code, span, _) = only_error("telemetry:\n  service_name: x\n");
    assert_eq!((code, span.as_str()), ("missing-key", "telemetry"));

    let (code, span, _) = only_error("telemetry:\n  endpoint: localhost:4318\n");
    assert_eq!((code, span.as_str()), ("config-url", "localhost:4318"));
    let out = errors("telemetry:\n  endpoint: grpc://localhost:4317\n");
    assert!(out.contains("`endpoint` must start with http:// or https://, found `grpc://localhost:4317`"), "{out}");
    assert!(out.contains("config.yaml:2:13"), "{out}");
    let (code, _, _) = only_error("telemetry:\n  endpoint: 'http://'\n");
    assert_eq!(code, "config-url");
    let (code, _, _) = only_error("telemetry:\n  endpoint: 4318\n");
    assert_eq!(code, "config-type");

    // Credentials in the URL: refused, and never shown.
    let text = "telemetry:\n  endpoint: https://me:hunter2hunter2@otel.example.org\n";
    let out = errors(text);
    assert!(out.contains("`endpoint` carries credentials; config.yaml never holds secrets"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let out = errors("telemetry:\n  endpoint: https://otel.example.org/?token=abc123\n");
    assert!(out.contains("carries credentials") && !out.contains("abc123"), "{out}");
}

#[test]
fn a_header_that_carries_a_credential_comes_from_the_vault() {
    for header in ["authorization", "x-api-key", "X-Honeycomb-Token", "api-secret"] {
        let text = format!("telemetry:\n  endpoint: http://h:1\n  headers:\n    {header}: letmein\n");
        let out = errors(&text);
        assert!(
            out.contains(&format!("header `{header}` carries a credential; config.yaml never holds secrets")),
            "{out}"
        );
        assert!(!out.contains("letmein"), "the value is never shown: {out}");
        assert!(out.contains(&format!("`{header}: vault:OTEL_")), "{out}");
    }
    // A value shaped like a key, whatever the header's name.
    let out = errors("telemetry:\n  endpoint: http://h:1\n  headers:\n    x-team: a8f5f167f44f4964e6c998dee827110c\n");
    assert!(out.contains("the value of header `x-team` looks like a secret"), "{out}");
    assert!(!out.contains("a8f5f167f44f4964e6c998dee827110c"), "{out}");
    assert!(out.contains("pyra vault set OTEL_X_TEAM") && out.contains("`x-team: vault:OTEL_X_TEAM`"), "{out}");
    // Key-shaped text is caught once, by the whole-file scan, which says how too.
    let out = errors("telemetry:\n  endpoint: http://h:1\n  headers:\n    authorization: Basic dXNlcjpwYXNz\n");
    assert!(out.contains("this looks like a secret (basic_auth)") && !out.contains("dXNlcjpwYXNz"), "{out}");
    assert!(out.contains("`vault:NAME` as a telemetry header's value"), "{out}");
    let codes = invalid_codes(
        "telemetry:\n  endpoint: http://h:1\n  headers:\n    x-key: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789\n",
    );
    assert_eq!(codes, ["secret-in-config"]);

    // From the vault it is fine; the name after `vault:` must be one.
    assert!(
        parse("telemetry:\n  endpoint: http://h:1\n  headers: { authorization: 'vault:plugin:otel:auth' }\n").is_ok()
    );
    let (code, span, help) =
        only_error("telemetry:\n  endpoint: http://h:1\n  headers:\n    authorization: vault:my key\n");
    assert_eq!((code, span.as_str()), ("config-key-name", "vault:my key"));
    assert!(help.contains("e.g. `vault:OTEL_AUTHORIZATION`, after `pyra vault set OTEL_AUTHORIZATION`"), "{help}");
}

#[test]
fn header_names_and_shapes_are_checked() {
    let (code, span, _) = only_error("telemetry:\n  endpoint: http://h:1\n  headers:\n    'x scope': home\n");
    assert_eq!((code, span.as_str()), ("config-header", "'x scope'"));
    let (code, span, help) =
        only_error("telemetry:\n  endpoint: http://h:1\n  headers:\n    Content-Type: text/plain\n");
    assert_eq!((code, span.as_str(), help.as_str()), ("config-header", "Content-Type", "remove it"));
    let (code, span, help) = only_error("telemetry:\n  endpoint: http://h:1\n  headers:\n    x-shard: 3\n");
    assert_eq!((code, span.as_str()), ("config-type", "3"));
    assert!(help.contains("quote it"), "{help}");
    let out = errors("telemetry:\n  endpoint: http://h:1\n  headers: [a, b]\n");
    assert!(out.contains("`headers` must be a map of header names to values, found a list"), "{out}");
}

#[test]
fn telemetry_types_and_unknown_keys_are_located() {
    let (code, span, _) = only_error("telemetry:\n  endpoint: http://h:1\n  export_content: yes\n");
    assert_eq!((code, span.as_str()), ("config-type", "yes"), "YAML 1.2: `yes` is a string");
    let out = errors("telemetry:\n  endpoint: http://h:1\n  export_content: 1\n");
    assert!(out.contains("`export_content` must be true or false, found a number"), "{out}");
    let (code, span, _) = only_error("telemetry:\n  endpoint: http://h:1\n  service_name: ''\n");
    assert_eq!((code, span.as_str()), ("config-type", "''"));
    let (code, span, help) = only_error("telemetry:\n  endpoint: http://h:1\n  servce_name: x\n");
    assert_eq!((code, span.as_str(), help.as_str()), ("unknown-key", "servce_name", "did you mean `service_name`?"));
    let (_, span, help) = only_error("telemetry:\n  endpoint: http://h:1\n  protocol: grpc\n");
    assert_eq!(span, "protocol");
    assert_eq!(help, "`telemetry` takes `endpoint`, `headers`, `service_name`, `export_content`");
    let (_, span, help) = only_error("telemtry:\n  endpoint: http://h:1\n");
    assert_eq!((span.as_str(), help.as_str()), ("telemtry", "did you mean `telemetry`?"));
    let out = errors("telemetry: on\n");
    assert!(out.contains("`telemetry` must be a map, found a string"), "{out}");

    // Every finding at once, in file order.
    let codes = invalid_codes(
        "telemetry:\n  endpoint: ftp://h\n  headers:\n    host: h\n    authorization: Bearer x\n  export_content: no\n",
    );
    assert_eq!(codes, ["config-url", "config-header", "secret-in-config", "config-type"]);
}

#[test]
fn the_telemetry_section_is_read_and_set_by_dotted_key() {
    let config = parse(EXAMPLE).unwrap();
    assert!(matches!(config.get("telemetry.endpoint"), Err(ConfigError::NotSet(_))));

    // A new section after the rest.
    let set = config.set("telemetry.endpoint", "http://localhost:4318").unwrap();
    assert_eq!(set.text(), format!("{EXAMPLE}telemetry:\n  endpoint: http://localhost:4318\n"));
    assert_eq!(set.telemetry.as_ref().unwrap().endpoint, "http://localhost:4318");
    assert_eq!(set.get("telemetry.endpoint").unwrap(), "http://localhost:4318");
    let set = set.set("telemetry.export_content", "true").unwrap();
    assert!(set.telemetry.as_ref().unwrap().export_content());
    assert_eq!(set.get("telemetry.export_content").unwrap(), true);
    let set = set.set("telemetry.headers.x-scope", "home").unwrap();
    let set = set.set("telemetry.headers.authorization", "vault:OTEL_AUTHORIZATION").unwrap();
    assert_eq!(set.get("telemetry.headers.x-scope").unwrap(), "home");
    assert_eq!(set.get("telemetry.headers").unwrap()["authorization"], "vault:OTEL_AUTHORIZATION");
    assert_eq!(set.get("telemetry").unwrap()["export_content"], true);
    let set = set.set("telemetry.service_name", "laptop").unwrap();
    assert_eq!(set.telemetry.as_ref().unwrap().service_name(), "laptop");
    assert_eq!(
        set.text(),
        format!(
            "{EXAMPLE}telemetry:\n  endpoint: http://localhost:4318\n  export_content: true\n  headers:\n    x-scope: \
             home\n    authorization: vault:OTEL_AUTHORIZATION\n  service_name: laptop\n"
        )
    );

    // A field without the endpoint: the section is not complete, and says so.
    let err = config.set("telemetry.export_content", "true").unwrap_err();
    assert!(err.render(false).contains("`telemetry` has no `endpoint`"), "{}", err.render(false));
    let err = set.set("telemetry.export_content", "yes").unwrap_err();
    assert!(err.render(false).contains("`export_content` must be true or false"), "{}", err.render(false));
    // A secret on the command line is refused before anything else and never echoed.
    let err = set.set("telemetry.headers.x-key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789").unwrap_err();
    let out = err.render(false);
    assert!(matches!(err, ConfigError::Secret { .. }) && !out.contains("abcdefghij"), "{out}");
    assert!(out.contains("pyra config set telemetry.headers.HEADER vault:NAME"), "{out}");
    let err = set.set("telemetry.headers.authorization", "Bearer abc").unwrap_err();
    assert!(err.render(false).contains("carries a credential") && !err.render(false).contains("abc"), "{err:?}");
    let err = set.set("telemetry.headers", "x").unwrap_err();
    assert!(err.render(false).contains("e.g. `telemetry.headers.x-scope`"), "{err:?}");

    for (key, help) in [
        ("telemetry.endpont", "did you mean `telemetry.endpoint`?"),
        ("telemetry.header.x", "did you mean `telemetry.headers.x`?"),
        ("telemetry.protocol", "`telemetry` takes `endpoint`, `headers.NAME`, `service_name` and `export_content`"),
        ("telemetry.headers.", "`telemetry` takes"),
        ("telemtry.endpoint", "did you mean `telemetry`?"),
    ] {
        let err = config.get(key).unwrap_err();
        assert!(matches!(err, ConfigError::Key { .. }), "{key}: {err:?}");
        assert!(err.render(false).contains(help), "{key}: {}", err.render(false));
    }
}
