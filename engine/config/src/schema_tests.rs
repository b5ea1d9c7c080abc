//! The generated JSON Schema of `config.yaml`: a valid 2020-12 schema, made from the
//! declarations only (every declared key, no secret, typed defaults), that accepts what
//! the checks accept (the module docs' example, a file using every section) and refuses
//! a wrong type or an unknown key.

use serde_json::{Value, json};
use syntax::source::SourceFile;

use crate::fields::{self, Kind};
use crate::schema::schema;
use crate::tests::parse;

/// A YAML text as JSON, without the checks (for texts they refuse).
fn json_of(text: &str) -> Value {
    syntax::yaml::parse(&SourceFile::new("config.yaml", text)).unwrap().to_json()
}

fn errors(instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema()).expect("a valid schema");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// A file that uses every section, accepted by the checks.
const EVERYTHING: &str = "\
default_model: local
models:
  - name: local
    provider: ollama
    model: llama3.2
    base_url: http://localhost:11434
    key: OLLAMA_API_KEY
    options: { temperature: 0.2, max_tokens: 2048, context_window: 8192, idle_timeout: 30 }
    prices: { prompt: 0.15, completion: 0.6 }
chat:
  recall: 5
  tools: [weather]
daemon:
  max_runs: 4
  webhook: { listen: 127.0.0.1:8787, rate_per_minute: 60, burst: 20 }
telemetry:
  endpoint: http://localhost:4318
  headers: { x-scope: home }
  export_content: false
mcp:
  serve: { skills: [weather], http: { listen: 127.0.0.1:8788 } }
memory:
  embeddings:
    provider: openai
    model: text-embedding-3-small
    fusion: weighted
    vector_weight: 0.6
    quantize: int8
channels:
  telegram:
    allow: [123456789]
    groups: [-1001234567890]
    challenge: passphrase
    passphrase: $argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo
    recipients: { family: -1001234567890 }
  signal:
    account: \"+4915112345678\"
    allow: [\"+4917000000001\"]
  matrix:
    homeserver: https://matrix.example.org
    user: \"@pyra:example.org\"
";

#[test]
fn the_schema_is_a_valid_2020_12_schema_and_deterministic() {
    let s = schema();
    jsonschema::meta::validate(&s).expect("a valid JSON Schema");
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["title"], "Pyra config.yaml");
    assert_eq!(s["additionalProperties"], false);
    assert_eq!(serde_json::to_string(&s).unwrap(), serde_json::to_string(&schema()).unwrap());
    let keys: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, fields::keys(""), "the declared order");
}

#[test]
fn fields_are_typed_by_their_kind() {
    let s = schema();
    let p = &s["properties"];
    assert_eq!(
        p["chat"]["properties"]["recall"],
        json!({ "type": "integer", "minimum": 0, "maximum": 100, "title": "Recall",
                "description": "notes recalled from memory per turn", "default": 5 })
    );
    assert_eq!(p["telemetry"]["properties"]["export_content"]["default"], false);
    assert_eq!(p["telemetry"]["required"], json!(["endpoint"]));
    assert_eq!(p["telemetry"]["properties"]["headers"]["type"], "object");
    let options = &p["models"]["items"]["properties"]["options"]["properties"];
    assert_eq!(
        (options["first_token_timeout"]["minimum"].as_f64(), options["idle_timeout"]["maximum"].as_f64()),
        (Some(0.1), Some(86_400.0))
    );
    assert_eq!(p["models"]["type"], "array");
    assert_eq!(p["models"]["items"]["required"], json!(["name", "provider", "model"]));
    let embeddings = &p["memory"]["properties"]["embeddings"]["properties"];
    assert_eq!(embeddings["provider"]["enum"], json!(["none", "local", "openai", "ollama", "gemini"]));
    assert_eq!(
        (embeddings["timeout"]["default"].clone(), embeddings["vector_weight"]["default"].clone()),
        (json!(60), json!(0.7))
    );
    let telegram = &p["channels"]["properties"]["telegram"]["properties"];
    assert!(telegram.get("token").is_none(), "secrets are never keys of the file");
    assert_eq!(telegram["passphrase"]["pattern"], "^\\$argon2id\\$");
    assert_eq!(telegram["allow"]["items"]["type"], json!(["string", "integer"]));
    assert_eq!(telegram["api_url"]["default"], "https://api.telegram.org");
}

#[test]
fn every_declared_key_is_in_the_schema_with_a_default_of_its_type() {
    let s = schema();
    for section in fields::SECTIONS {
        let mut node = &s;
        let mut path = String::new();
        for part in section.path.split('.').filter(|p| !p.is_empty()) {
            node = if part == "*" { &node["items"] } else { &node["properties"][part] };
            path = if path.is_empty() { part.to_string() } else { format!("{path}.{part}") };
        }
        if !path.is_empty() {
            assert_eq!(node["title"], section.title, "{path}");
        }
        for field in section.fields {
            let property = &node["properties"][field.key];
            if field.kind.is_secret() {
                assert!(property.is_null(), "{path}.{}", field.key);
                continue;
            }
            assert_eq!(property["title"], field.label, "{path}.{}", field.key);
            if let Some(default) = property.get("default") {
                let mut own = property.clone();
                own.as_object_mut().unwrap().remove("default");
                assert!(jsonschema::is_valid(&own, default), "{path}.{}: {default}", field.key);
                if matches!(field.kind, Kind::Integer { .. } | Kind::Number { .. } | Kind::Bool) {
                    assert!(!default.is_string(), "{path}.{}: typed", field.key);
                }
            }
        }
    }
}

#[test]
fn what_the_checks_accept_validates() {
    let config = parse(EVERYTHING).unwrap_or_else(|e| panic!("{}", e.render(false)));
    assert_eq!(errors(&config.root.to_json()), Vec::<String>::new());
    let yaml = crate::tests::docs_example();
    assert_eq!(errors(&parse(&yaml).unwrap().root.to_json()), Vec::<String>::new());
}

#[test]
fn a_wrong_type_or_an_unknown_key_does_not_validate() {
    for (text, at) in [
        ("chat: {recall: \"x\"}\n", "/chat/recall"),
        ("chat: {recall: 101}\n", "/chat/recall"),
        ("bogus: 1\n", ""),
        ("daemon: {webhook: {port: 1}}\n", "/daemon/webhook"),
        ("models: [{name: a, provider: p}]\n", "/models/0"),
        ("models: [{name: a, provider: p, model: m, options: {temperature: 3}}]\n", "/models/0/options/temperature"),
        ("memory: {embeddings: {provider: olama}}\n", "/memory/embeddings/provider"),
        ("telemetry: {export_content: yes}\n", "/telemetry"),
        ("channels: {telegram: {token: \"123:abc\"}}\n", "/channels/telegram"),
        ("channels: {telegram: {passphrase: hunter2}}\n", "/channels/telegram/passphrase"),
    ] {
        let found = errors(&json_of(text));
        assert!(found.iter().any(|e| e.ends_with(&format!(" at {at}"))), "{text}: {found:?}");
    }
}

#[test]
fn the_runtime_defaults_are_the_declared_ones() {
    use crate::{
        ChatSettings, DaemonSettings, EmbeddingSettings, McpHttpSettings, TelegramSettings, TelemetrySettings,
        WebhookSettings,
    };
    let default = |path: &str, key: &str| {
        fields::section(path)
            .and_then(|s| s.field(key))
            .and_then(|f| f.default)
            .unwrap_or_else(|| panic!("{path}.{key}"))
    };
    let declared = [
        (default("chat", "recall"), ChatSettings::DEFAULT_RECALL.to_string()),
        (default("daemon", "max_runs"), DaemonSettings::DEFAULT_MAX_RUNS.to_string()),
        (default("daemon.webhook", "listen"), WebhookSettings::DEFAULT_LISTEN.to_string()),
        (default("daemon.webhook", "rate_per_minute"), WebhookSettings::DEFAULT_RATE_PER_MINUTE.to_string()),
        (default("daemon.webhook", "burst"), WebhookSettings::DEFAULT_BURST.to_string()),
        (default("mcp.serve.http", "listen"), McpHttpSettings::DEFAULT_LISTEN.to_string()),
        (default("telemetry", "service_name"), TelemetrySettings::DEFAULT_SERVICE_NAME.to_string()),
        (default("channels.telegram", "rate_per_hour"), TelegramSettings::DEFAULT_RATE_PER_HOUR.to_string()),
        (default("memory.embeddings", "batch"), EmbeddingSettings::DEFAULT_BATCH.to_string()),
        (default("memory.embeddings", "timeout"), EmbeddingSettings::DEFAULT_TIMEOUT.to_string()),
        (default("memory.embeddings", "vector_weight"), EmbeddingSettings::DEFAULT_VECTOR_WEIGHT.to_string()),
    ];
    for (declared, runtime) in declared {
        assert_eq!(declared, runtime);
    }
    let providers = fields::section("memory.embeddings").and_then(|s| s.field("provider")).unwrap();
    assert_eq!(providers.choices(), EmbeddingSettings::PROVIDERS);
}
