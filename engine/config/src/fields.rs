//! Declared settings: every section of `config.yaml` and every field in it, said once —
//! its key, a label, a type, the default, the choices, a description, and whether it is a
//! secret. The checks take each section's keys from here, `pyra config set` types a value
//! by its field, the JSON Schema of the file (`schemas/config.schema.json`) is generated
//! from it ([`crate::schema`]), and `pyra config`'s editor renders its tabs from it. Built-in
//! plugins declare their settings with the same [`Field`].

/// What a field holds, which decides how it is checked, edited and described.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Free text (a name, a URL, a path, an address).
    Text,
    /// A whole number in a range.
    Integer {
        min: i64,
        max: i64,
    },
    /// A number in a range.
    Number {
        min: f64,
        max: f64,
    },
    Bool,
    /// One of a fixed list.
    Choice(&'static [&'static str]),
    /// A list of texts (comma-separated when typed).
    List,
    /// A map of names to values (`name=value` pairs, comma-separated, when typed).
    Map,
    /// The name of a vault key (the file holds the name; the value is set in the vault).
    VaultKey,
    /// A secret kept only in the vault, never a key of the file: its vault key is the
    /// section's [`Section::vault_prefix`] and the field's key (a channel's token), or,
    /// for a plugin, the key its manifest's `secrets:` maps it to.
    Secret,
    /// An Argon2id hash written by a command from a passphrase it asks for (a channel's
    /// `passphrase`); never typed in as it is stored.
    Hash,
}

impl Kind {
    /// One word for the kind, as the editor and `pyra plugin doctor` show it.
    pub fn word(&self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Integer { .. } => "whole number",
            Kind::Number { .. } => "number",
            Kind::Bool => "true/false",
            Kind::Choice(_) => "choice",
            Kind::List => "list",
            Kind::Map => "map",
            Kind::VaultKey => "vault key name",
            Kind::Secret => "secret",
            Kind::Hash => "passphrase",
        }
    }

    /// Whether the value is only ever in the vault.
    pub fn is_secret(&self) -> bool {
        matches!(self, Kind::Secret)
    }
}

/// One declared setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub key: &'static str,
    /// A short name for people (the editor's row).
    pub label: &'static str,
    pub kind: Kind,
    /// The value in effect when the field is not set, as text.
    pub default: Option<&'static str>,
    pub description: &'static str,
    /// Whether the section is incomplete without it.
    pub required: bool,
}

impl Field {
    /// A field with no default that is not required.
    pub const fn new(key: &'static str, label: &'static str, kind: Kind, description: &'static str) -> Field {
        Field { key, label, kind, default: None, description, required: false }
    }

    pub const fn default(mut self, value: &'static str) -> Field {
        self.default = Some(value);
        self
    }

    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }

    /// The choices of a [`Kind::Choice`], empty otherwise.
    pub fn choices(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Choice(c) => c,
            _ => &[],
        }
    }
}

/// A map of the file with declared fields. `path` is dotted from the top; `*` stands for
/// a model entry's name (`models.*.options`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    pub path: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
    /// Keys of this map that are sections of their own (`daemon` has `webhook`).
    pub children: &'static [&'static str],
    /// Where [`Kind::Secret`] fields live in the vault: this prefix and the field's key.
    pub vault_prefix: Option<&'static str>,
}

impl Section {
    /// Every key this map accepts: its fields (secrets excluded: they are never in the
    /// file) and its child sections.
    pub fn keys(&self) -> Vec<&'static str> {
        self.fields.iter().filter(|f| !f.kind.is_secret()).map(|f| f.key).chain(self.children.iter().copied()).collect()
    }

    pub fn field(&self, key: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The vault key of a [`Kind::Secret`] field of this section.
    pub fn vault_key(&self, field: &Field) -> Option<String> {
        self.vault_prefix.filter(|_| field.kind.is_secret()).map(|p| format!("{p}{}", field.key))
    }
}

/// The declared section at `path` (`chat`, `daemon.webhook`, `models.*.options`).
pub fn section(path: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|s| s.path == path)
}

/// The keys of the section at `path`; empty for an unknown path.
pub fn keys(path: &str) -> Vec<&'static str> {
    section(path).map(Section::keys).unwrap_or_default()
}

const TIMEOUT: Kind = Kind::Number { min: 0.1, max: 86_400.0 };
const PRICE: Kind = Kind::Number { min: 0.0, max: 1_000_000.0 };
const U32: i64 = u32::MAX as i64;
const RATE_PER_HOUR: Field = Field::new(
    "rate_per_hour",
    "Messages per hour",
    Kind::Integer { min: 1, max: 10_000 },
    "messages a sender may send in a rolling hour; more are refused with one notice",
)
.default("20");
const CHALLENGE: Field = Field::new(
    "challenge",
    "Challenge",
    Kind::Choice(&["pairing", "passphrase"]),
    "how a stranger is let in: a code the owner approves with `pyra channels pair`, or a passphrase",
)
.default("pairing");
const PASSPHRASE: Field = Field::new(
    "passphrase",
    "Passphrase",
    Kind::Hash,
    "the Argon2id hash of the passphrase a stranger sends (`challenge: passphrase`); set from the passphrase itself",
);
const RECIPIENTS: Field = Field::new(
    "recipients",
    "Recipients",
    Kind::Map,
    "names for `message.send` recipients (`to: family`): a name and the id it stands for",
);

/// Every declared section of `config.yaml`, top first.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "",
        title: "config.yaml",
        description: "Pyra's settings; secrets live in the vault, the file only names them",
        fields: &[Field::new(
            "default_model",
            "Default model",
            Kind::Text,
            "the model entry used when a node or `pyra chat` names none",
        )],
        children: &["models", "chat", "daemon", "telemetry", "mcp", "memory", "channels"],
        vault_prefix: None,
    },
    Section {
        path: "models.*",
        title: "Model entry",
        description: "a named model: its provider, model id, server and vault key",
        fields: &[
            Field::new("name", "Name", Kind::Text, "the entry's name, as skills and `--model` select it").required(),
            Field::new(
                "provider",
                "Provider",
                Kind::Text,
                "the wire format: openai, anthropic, gemini, ollama, openai-compatible, …",
            )
            .required(),
            Field::new("model", "Model", Kind::Text, "the provider's model id").required(),
            Field::new("base_url", "Server URL", Kind::Text, "the server's base URL (the provider's own when unset)"),
            Field::new("key", "API key", Kind::VaultKey, "the vault key that holds the API key"),
        ],
        children: &["options", "prices"],
        vault_prefix: None,
    },
    Section {
        path: "models.*.options",
        title: "Request options",
        description: "what every request to this model carries",
        fields: &[
            Field::new("temperature", "Temperature", Kind::Number { min: 0.0, max: 2.0 }, "sampling temperature"),
            Field::new("max_tokens", "Max tokens", Kind::Integer { min: 1, max: U32 }, "the longest reply, in tokens"),
            Field::new(
                "context_window",
                "Context window",
                Kind::Integer { min: 1, max: U32 },
                "the model's context window in tokens, for history budgets",
            ),
            Field::new(
                "first_token_timeout",
                "First-token timeout",
                TIMEOUT,
                "seconds to wait for the first token of a reply (a local model may be loading)",
            ),
            Field::new("idle_timeout", "Idle timeout", TIMEOUT, "seconds of silence allowed inside a streamed reply"),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "models.*.prices",
        title: "Prices",
        description: "what the model costs, in USD per million tokens",
        fields: &[
            Field::new("prompt", "Prompt", PRICE, "USD per million prompt tokens"),
            Field::new("completion", "Completion", PRICE, "USD per million completion tokens"),
            Field::new("cached", "Cached prompt", PRICE, "USD per million prompt tokens served from the cache"),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "chat",
        title: "Chat",
        description: "what `pyra chat` brings to each turn",
        fields: &[
            Field::new("recall", "Recall", Kind::Integer { min: 0, max: 100 }, "notes recalled from memory per turn")
                .default("5"),
            Field::new("recall_category", "Recall category", Kind::Text, "recall only from this category"),
            Field::new("tools", "Tools", Kind::List, "skills enabled as tools in every conversation"),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "daemon",
        title: "Daemon",
        description: "what the daemon arms and how many runs it runs at once",
        fields: &[
            Field::new(
                "skill_dirs",
                "Skill folders",
                Kind::List,
                "extra folders of skills (`~` is your home, relative paths are under $PYRA_HOME)",
            ),
            Field::new("max_runs", "Max runs", Kind::Integer { min: 1, max: 64 }, "triggered runs at once")
                .default("4"),
        ],
        children: &["webhook", "web"],
        vault_prefix: None,
    },
    Section {
        path: "daemon.web",
        title: "Web UI",
        description: "the local web UI the daemon serves, loopback only (present: on; `pyra web` opens it)",
        fields: &[Field::new("listen", "Listen", Kind::Text, "a loopback address; port 0 picks a free one")
            .default("127.0.0.1:8790")],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "daemon.webhook",
        title: "Webhook",
        description: "a listener for local senders, loopback only (present: on)",
        fields: &[
            Field::new("listen", "Listen", Kind::Text, "a loopback address with a port").default("127.0.0.1:8787"),
            Field::new(
                "rate_per_minute",
                "Rate per minute",
                Kind::Integer { min: 1, max: 10_000 },
                "requests per minute, per hook",
            )
            .default("60"),
            Field::new(
                "burst",
                "Burst",
                Kind::Integer { min: 1, max: 1_000 },
                "requests a hook may send at once before the rate applies",
            )
            .default("20"),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "telemetry",
        title: "Telemetry",
        description: "OpenTelemetry export of every run's trace over OTLP/HTTP (present: on)",
        fields: &[
            Field::new("endpoint", "Collector URL", Kind::Text, "the collector's base URL, e.g. http://localhost:4318")
                .required(),
            Field::new(
                "headers",
                "Headers",
                Kind::Map,
                "extra request headers; a credential as `vault:NAME`, read from the vault",
            ),
            Field::new("service_name", "Service name", Kind::Text, "`service.name` of the exported spans")
                .default("pyra"),
            Field::new(
                "export_content",
                "Export content",
                Kind::Bool,
                "export what runs read and write (inputs, outputs, prompts), masked",
            )
            .default("false"),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "mcp",
        title: "MCP",
        description: "Pyra as an MCP server",
        fields: &[],
        children: &["serve"],
        vault_prefix: None,
    },
    Section {
        path: "mcp.serve",
        title: "MCP server",
        description: "which skills `pyra mcp serve` and the daemon expose as tools",
        fields: &[Field::new(
            "skills",
            "Skills",
            Kind::List,
            "skill names or globs exposed as tools (none by default)",
        )],
        children: &["http"],
        vault_prefix: None,
    },
    Section {
        path: "mcp.serve.http",
        title: "MCP over HTTP",
        description: "the daemon's streamable HTTP endpoint, loopback only (present: on)",
        fields: &[Field::new("listen", "Listen", Kind::Text, "a loopback address; port 0 picks a free one")
            .default("127.0.0.1:8788")],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "memory",
        title: "Memory",
        description: "how memory search ranks",
        fields: &[],
        children: &["embeddings"],
        vault_prefix: None,
    },
    Section {
        path: "memory.embeddings",
        title: "Embeddings",
        description: "the vector arm of memory search, fused with bm25 (absent or `none`: bm25 alone)",
        fields: &[
            Field::new(
                "provider",
                "Provider",
                Kind::Choice(&["none", "local", "openai", "ollama", "gemini"]),
                "who turns notes and queries into vectors",
            )
            .required(),
            Field::new("model", "Model", Kind::Text, "the provider's model id (required for the servers)"),
            Field::new("path", "Local model folder", Kind::Text, "the local model's folder (`local`)"),
            Field::new("base_url", "Server URL", Kind::Text, "the server's base URL"),
            Field::new("key", "API key", Kind::VaultKey, "the vault key holding the API key"),
            Field::new(
                "dimensions",
                "Dimensions",
                Kind::Integer { min: 1, max: 16_384 },
                "vector size to ask for (or keep, local)",
            ),
            Field::new("batch", "Batch", Kind::Integer { min: 1, max: 2048 }, "texts per request").default("64"),
            Field::new("timeout", "Timeout", Kind::Number { min: 1.0, max: 3600.0 }, "seconds a request may take")
                .default("60"),
            Field::new("fusion", "Fusion", Kind::Choice(&["rrf", "weighted"]), "how the two rankings are fused")
                .default("rrf"),
            Field::new("rrf_k", "RRF k", Kind::Number { min: 1.0, max: 10_000.0 }, "RRF's k").default("60"),
            Field::new(
                "vector_weight",
                "Vector weight",
                Kind::Number { min: 0.0, max: 1.0 },
                "the vector arm's weight (`fusion: weighted`)",
            )
            .default("0.7"),
            Field::new(
                "min_similarity",
                "Min similarity",
                Kind::Number { min: -1.0, max: 1.0 },
                "a note found only by its vector needs a similarity above this",
            ),
            Field::new(
                "quantize",
                "Quantize",
                Kind::Choice(&["f32", "int8"]),
                "how vectors are stored (int8: a quarter of the memory)",
            )
            .default("f32"),
            Field::new(
                "exclude_categories",
                "Excluded categories",
                Kind::List,
                "categories never sent to a remote provider",
            ),
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "channels",
        title: "Channels",
        description: "how people reach Pyra from a messenger",
        fields: &[],
        children: &["telegram", "signal", "matrix"],
        vault_prefix: None,
    },
    Section {
        path: "channels.telegram",
        title: "Telegram",
        description: "a Telegram bot (`pyra channels add telegram`)",
        fields: &[
            Field::new("token", "Bot token", Kind::Secret, "the bot's token from @BotFather"),
            Field::new("allow", "Allowed users", Kind::List, "Telegram user ids who may talk to the bot"),
            Field::new("approvers", "Approvers", Kind::List, "user ids who answer approvals (default: the allowed)"),
            Field::new(
                "groups",
                "Groups",
                Kind::List,
                "group chat ids (negative) where the bot answers when mentioned",
            ),
            CHALLENGE,
            PASSPHRASE,
            RATE_PER_HOUR,
            Field::new("api_url", "Bot API URL", Kind::Text, "the Bot API's base URL (a local Bot API server)")
                .default("https://api.telegram.org"),
            RECIPIENTS,
        ],
        children: &[],
        vault_prefix: Some("channel:telegram:"),
    },
    Section {
        path: "channels.signal",
        title: "Signal",
        description: "a Signal account driven through signal-cli (`pyra channels add signal`)",
        fields: &[
            Field::new("account", "Account", Kind::Text, "the bot's Signal number, e.g. +4915112345678").required(),
            Field::new("allow", "Allowed users", Kind::List, "Signal ids (UUID or number) who may talk to Pyra"),
            Field::new("approvers", "Approvers", Kind::List, "who answers approvals (default: the allowed)"),
            Field::new("groups", "Groups", Kind::List, "group ids where Pyra answers when named"),
            CHALLENGE,
            PASSPHRASE,
            RATE_PER_HOUR,
            Field::new("cli", "signal-cli", Kind::Text, "the signal-cli program").default("signal-cli"),
            Field::new("address", "Daemon address", Kind::Text, "a running `signal-cli daemon --tcp` (loopback)"),
            RECIPIENTS,
        ],
        children: &[],
        vault_prefix: None,
    },
    Section {
        path: "channels.matrix",
        title: "Matrix",
        description: "a bot account on a Matrix homeserver (`pyra channels add matrix`)",
        fields: &[
            Field::new("token", "Access token", Kind::Secret, "the bot's access token"),
            Field::new("homeserver", "Homeserver", Kind::Text, "the homeserver's base URL").required(),
            Field::new("user", "Bot user", Kind::Text, "the bot's full Matrix id, e.g. @pyra:example.org").required(),
            Field::new("allow", "Allowed users", Kind::List, "full Matrix ids who may talk to Pyra"),
            Field::new("approvers", "Approvers", Kind::List, "who answers approvals (default: the allowed)"),
            Field::new("groups", "Rooms", Kind::List, "room ids where Pyra answers when mentioned"),
            CHALLENGE,
            PASSPHRASE,
            RATE_PER_HOUR,
            RECIPIENTS,
        ],
        children: &[],
        vault_prefix: Some("channel:matrix:"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_child_is_declared_and_keys_are_unique() {
        for s in SECTIONS {
            for child in s.children {
                let path = match (s.path, *child) {
                    ("", c) => c.to_string(),
                    ("models.*", c) => format!("models.*.{c}"),
                    (p, c) => format!("{p}.{c}"),
                };
                let path = if path == "models" { "models.*".to_string() } else { path };
                assert!(section(&path).is_some(), "{path} is not declared");
            }
            let keys = s.keys();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), keys.len(), "{} repeats a key", s.path);
            for f in s.fields {
                if let Some(d) = f.default
                    && let Kind::Choice(c) = f.kind
                {
                    assert!(c.contains(&d), "{}.{}: default {d} is not a choice", s.path, f.key);
                }
                assert!(!f.description.is_empty() && !f.label.is_empty());
            }
        }
    }

    #[test]
    fn secrets_have_a_vault_key_and_are_no_file_keys() {
        let telegram = section("channels.telegram").unwrap();
        let token = telegram.field("token").unwrap();
        assert_eq!(telegram.vault_key(token).as_deref(), Some("channel:telegram:token"));
        assert!(!telegram.keys().contains(&"token"));
        assert!(telegram.keys().contains(&"api_url"));
    }
}
