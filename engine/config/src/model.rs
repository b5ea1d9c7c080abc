//! The typed model of `config.yaml`: model entries with their request options and prices,
//! the `chat:`, `daemon:`, `telemetry:`, `mcp:` and `memory:` sections and their defaults. What [`crate::check`] accepts
//! deserialises into these types; [`Config::set_entry`](crate::Config::set_entry)
//! serialises an entry back.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// The `chat:` section: what `pyra chat` brings to each turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Notes recalled from memory per turn (default [`ChatSettings::DEFAULT_RECALL`]; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<u32>,
    /// Recall only from this category (and its subcategories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_category: Option<String>,
    /// Skills enabled as tools in every conversation (besides `--tool`).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

impl ChatSettings {
    /// Notes recalled per turn when `recall` is not set.
    pub const DEFAULT_RECALL: u32 = 5;

    /// Notes recalled per turn.
    pub fn recall(&self) -> u32 {
        self.recall.unwrap_or(Self::DEFAULT_RECALL)
    }
}

/// The `daemon:` section: which skills the daemon arms besides the home's and the
/// built-ins, how many triggered runs it runs at once, and its webhook listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// Extra folders of skills, as written: `~` is the user's home, a relative path is
    /// relative to `$PYRA_HOME` ([`DaemonSettings::skill_dirs`] expands them).
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub skill_dirs: Vec<String>,
    /// The most triggered runs at once (default [`DaemonSettings::DEFAULT_MAX_RUNS`], 1 to 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<u32>,
    /// The webhook listener; off when `None` (no `webhook:` in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    /// The web UI; off when `None` (no `web:` in the file).
    #[serde(default, deserialize_with = "null_as_default_web", skip_serializing_if = "Option::is_none")]
    pub web: Option<WebSettings>,
}

/// `web:` written with nothing after it turns the UI on with its defaults.
fn null_as_default_web<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WebSettings>, D::Error> {
    Ok(Some(Option::<WebSettings>::deserialize(d)?.unwrap_or_default()))
}

/// `daemon.web:`: where the daemon serves the local web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// A loopback address (checked: 127.0.0.0/8 or `::1`); port 0 picks a free port, which
    /// the daemon writes to `run/web.addr`.
    #[serde(default = "WebSettings::default_listen")]
    pub listen: SocketAddr,
}

impl WebSettings {
    /// Where the UI listens when `listen` is not set.
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8790));

    fn default_listen() -> SocketAddr {
        Self::DEFAULT_LISTEN
    }
}

impl Default for WebSettings {
    fn default() -> Self {
        Self { listen: Self::DEFAULT_LISTEN }
    }
}

impl DaemonSettings {
    /// Triggered runs at once when `max_runs` is not set.
    pub const DEFAULT_MAX_RUNS: u32 = 4;

    /// The most triggered runs at once.
    pub fn max_runs(&self) -> u32 {
        self.max_runs.unwrap_or(Self::DEFAULT_MAX_RUNS)
    }

    /// The extra skill folders, expanded: `~` and `~/…` from `$HOME`, relative paths
    /// under `home` (`$PYRA_HOME`), absolute ones as they are. Nothing is checked on
    /// disk; the daemon reports a missing folder.
    pub fn skill_dirs(&self, home: &Path) -> Vec<PathBuf> {
        let user_home = std::env::var_os("HOME").map(PathBuf::from);
        self.skill_dirs_from(home, user_home.as_deref())
    }

    /// [`DaemonSettings::skill_dirs`] with the user's home given (`None`, or empty: `$HOME`
    /// unset, and a `~` path is then left as written, for the daemon to report).
    pub fn skill_dirs_from(&self, home: &Path, user_home: Option<&Path>) -> Vec<PathBuf> {
        let user_home = user_home.filter(|h| !h.as_os_str().is_empty());
        self.skill_dirs
            .iter()
            .map(|dir| {
                let below_user_home =
                    if dir == "~" { Some("") } else { dir.strip_prefix("~/").map(|r| r.trim_start_matches('/')) };
                match (below_user_home, user_home) {
                    (Some(""), Some(user)) => user.to_path_buf(),
                    (Some(rest), Some(user)) => user.join(rest),
                    (Some(_), None) => PathBuf::from(dir),
                    // An absolute path replaces `home` in `join`.
                    (None, _) => home.join(dir),
                }
            })
            .collect()
    }
}

/// The `daemon.webhook:` section: a listener on a loopback address for local senders,
/// rate-limited per hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A loopback address with a port (checked: 127.0.0.0/8 or `::1`, port not 0).
    #[serde(default = "WebhookSettings::default_listen")]
    pub listen: SocketAddr,
    /// Requests per minute, per hook (1 to 10,000).
    #[serde(default = "WebhookSettings::default_rate_per_minute")]
    pub rate_per_minute: u32,
    /// Requests a hook may send at once before the rate applies (1 to 1,000).
    #[serde(default = "WebhookSettings::default_burst")]
    pub burst: u32,
}

impl WebhookSettings {
    /// Where the webhook listens when `listen` is not set.
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8787));
    /// Requests per minute per hook when `rate_per_minute` is not set.
    pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;
    /// The burst when `burst` is not set.
    pub const DEFAULT_BURST: u32 = 20;

    fn default_listen() -> SocketAddr {
        Self::DEFAULT_LISTEN
    }

    fn default_rate_per_minute() -> u32 {
        Self::DEFAULT_RATE_PER_MINUTE
    }

    fn default_burst() -> u32 {
        Self::DEFAULT_BURST
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN,
            rate_per_minute: Self::DEFAULT_RATE_PER_MINUTE,
            burst: Self::DEFAULT_BURST,
        }
    }
}

/// The `mcp:` section: Pyra as an MCP server (`pyra mcp serve`, and the daemon's
/// streamable HTTP endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    /// What `pyra mcp serve` exposes; nothing when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<McpServeSettings>,
}

impl McpSettings {
    /// The skill names and globs exposed as tools (empty: none).
    pub fn exposed(&self) -> &[String] {
        self.serve.as_ref().map_or(&[], |s| s.skills.as_slice())
    }

    /// The daemon's HTTP endpoint, when configured.
    pub fn http(&self) -> Option<McpHttpSettings> {
        self.serve.as_ref().and_then(|s| s.http)
    }
}

/// `mcp.serve:`: which skills are tools (explicitly: nothing is exposed by default) and
/// whether the daemon serves them over HTTP too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServeSettings {
    /// Skill names or globs (`notes-*`); a skill is exposed when one matches its name.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// The daemon's streamable HTTP endpoint; off when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<McpHttpSettings>,
}

/// `mcp.serve.http:`: where the daemon serves MCP over streamable HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpHttpSettings {
    /// A loopback address (checked: 127.0.0.0/8 or `::1`); port 0 picks a free port, which
    /// the daemon writes to `run/mcp.addr`.
    #[serde(default = "McpHttpSettings::default_listen")]
    pub listen: SocketAddr,
}

impl McpHttpSettings {
    /// Where the daemon serves MCP when `listen` is not set.
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8788));

    fn default_listen() -> SocketAddr {
        Self::DEFAULT_LISTEN
    }
}

impl Default for McpHttpSettings {
    fn default() -> Self {
        Self { listen: Self::DEFAULT_LISTEN }
    }
}

/// The `telemetry:` section: OpenTelemetry export of every run's trace to a collector
/// (OTLP over HTTP). Absent: off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The collector's base URL (`http://localhost:4318`); spans are posted to
    /// `{endpoint}/v1/traces`. Checked: http or https, no credentials.
    pub endpoint: String,
    /// Extra request headers, name → value; a value `vault:NAME` is read from the vault
    /// when spans are first sent (checked: a header that carries a credential must be).
    #[serde(default, deserialize_with = "null_as_empty_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `service.name` of the exported spans (default [`TelemetrySettings::DEFAULT_SERVICE_NAME`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Export what a run reads and writes (inputs, outputs, prompts), masked; default off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_content: Option<bool>,
}

/// One header's value, as [`TelemetrySettings::header_values`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Plain(&'a str),
    /// The vault key named after `vault:`.
    Vault(&'a str),
}

impl TelemetrySettings {
    /// `service.name` when `service_name` is not set.
    pub const DEFAULT_SERVICE_NAME: &'static str = "pyra";
    /// What starts a header value read from the vault.
    pub const VAULT_PREFIX: &'static str = "vault:";

    pub fn service_name(&self) -> &str {
        self.service_name.as_deref().unwrap_or(Self::DEFAULT_SERVICE_NAME)
    }

    pub fn export_content(&self) -> bool {
        self.export_content.unwrap_or(false)
    }

    /// The headers, each plain or naming a vault key.
    pub fn header_values(&self) -> Vec<(&str, HeaderValue<'_>)> {
        self.headers
            .iter()
            .map(|(name, value)| {
                let value = match value.strip_prefix(Self::VAULT_PREFIX) {
                    Some(key) => HeaderValue::Vault(key.trim()),
                    None => HeaderValue::Plain(value),
                };
                (name.as_str(), value)
            })
            .collect()
    }
}

fn null_as_empty_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A list whose key is written with nothing after it (`tools:`) is empty: the checks
/// accept it, so the typed model must too.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// One entry under `models:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// What skills and `with.model` refer to: letters, digits, `_`, `.`, `-`.
    pub name: String,
    /// A provider id (`openai`, `ollama`, …), checked by the caller.
    pub provider: String,
    /// The provider's model id (may contain `/`).
    pub model: String,
    /// The server's base URL; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The vault key holding the API key; the provider's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "ModelOptions::is_empty")]
    pub options: ModelOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Prices>,
}

/// Request options of an entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOptions {
    /// 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The model's context window in tokens, for history budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Seconds to wait for the first token of a reply (a local model may be loading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_timeout: Option<f64>,
    /// Seconds of silence allowed between two pieces of a streamed reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<f64>,
}

impl ModelOptions {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<f64>,
    /// Prompt tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<f64>,
}

/// The deserialised form of a checked file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Typed {
    #[serde(default)]
    pub default_model: Option<String>,
    #[serde(default)]
    pub models: Option<Vec<ModelEntry>>,
    #[serde(default)]
    pub chat: Option<ChatSettings>,
    #[serde(default)]
    pub daemon: Option<DaemonSettings>,
    #[serde(default)]
    pub telemetry: Option<TelemetrySettings>,
    #[serde(default)]
    pub mcp: Option<McpSettings>,
    #[serde(default)]
    pub memory: Option<MemorySettings>,
    #[serde(default)]
    pub channels: Option<ChannelsSettings>,
}

/// The `channels:` section: how people reach Pyra from a messenger (absent: no channel).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixSettings>,
}

/// `channels.signal:`: Pyra drives `signal-cli` (its own child, or a running
/// `signal-cli daemon --tcp` at `address`) for an account registered or linked with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSettings {
    /// The bot's Signal number (E.164, `+4915112345678`), as signal-cli knows it.
    pub account: String,
    /// Signal ids who may talk to Pyra: the account's UUID (ACI) or its number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Who answers approvals (default: those in `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Group ids (base64, as signal-cli shows them) where Pyra answers allowed senders who
    /// mention it by its name at the start (`pyra, …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Names for recipients of `message.send` (`to: family`): a name and the id it stands for.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recipients: std::collections::BTreeMap<String, String>,
    #[serde(default = "TelegramSettings::default_rate_per_hour")]
    pub rate_per_hour: u32,
    /// The signal-cli program (default `signal-cli` on the PATH).
    #[serde(default = "SignalSettings::default_cli")]
    pub cli: String,
    /// A running `signal-cli daemon --tcp` (loopback `host:port`) instead of a child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl SignalSettings {
    fn default_cli() -> String {
        "signal-cli".into()
    }
}

/// `channels.matrix:`: a bot account on a homeserver (client-server API); its access
/// token is in the vault (`channel:matrix:token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSettings {
    /// The homeserver's base URL (`https://matrix.example.org`).
    pub homeserver: String,
    /// The bot's full Matrix id (`@pyra:example.org`).
    pub user: String,
    /// Full Matrix ids who may talk to Pyra (case-sensitive, never display names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Room ids (`!…`) where Pyra answers allowed senders who mention it; in any other
    /// room it joined, every message is for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Names for recipients of `message.send` (`to: family`): a name and the id it stands for.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recipients: std::collections::BTreeMap<String, String>,
    #[serde(default = "TelegramSettings::default_rate_per_hour")]
    pub rate_per_hour: u32,
}

/// `channels.telegram:`: the bot's token is in the vault (`channel:telegram:token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    /// Telegram user ids who may talk to the bot (besides those paired with
    /// `pyra channels pair`); everyone else is challenged once with a pairing code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<i64>,
    /// Telegram user ids whose button presses answer approvals (default: those in `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<i64>,
    /// Group chat ids (negative numbers) where Pyra answers, when mentioned, its allowed
    /// senders; other groups are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<i64>,
    /// How a stranger is let in: `pairing` (a code the owner approves with `pyra channels
    /// pair`, the default) or `passphrase` (they send the passphrase whose hash is below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The Argon2id hash of the passphrase (`pyra channels passphrase telegram` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Names for recipients of `message.send` (`to: family`): a name and the id it stands for.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub recipients: std::collections::BTreeMap<String, i64>,
    /// Messages a sender may send in a rolling hour.
    #[serde(default = "TelegramSettings::default_rate_per_hour")]
    pub rate_per_hour: u32,
    /// The Bot API's base URL (a local Bot API server, or the tests' fake).
    #[serde(default = "TelegramSettings::default_api_url")]
    pub api_url: String,
}

impl TelegramSettings {
    pub const DEFAULT_RATE_PER_HOUR: u32 = 20;

    fn default_rate_per_hour() -> u32 {
        Self::DEFAULT_RATE_PER_HOUR
    }

    fn default_api_url() -> String {
        "https://api.telegram.org".into()
    }
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            allow: Vec::new(),
            approvers: Vec::new(),
            groups: Vec::new(),
            challenge: None,
            passphrase: None,
            recipients: std::collections::BTreeMap::new(),
            rate_per_hour: Self::DEFAULT_RATE_PER_HOUR,
            api_url: Self::default_api_url(),
        }
    }
}

/// The `memory:` section: how memory search ranks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySettings {
    /// The vector arm of memory search; absent (or `provider: none`): bm25 alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<EmbeddingSettings>,
}

impl MemorySettings {
    /// The embeddings settings when a provider other than `none` is configured.
    pub fn embedder(&self) -> Option<&EmbeddingSettings> {
        self.embeddings.as_ref().filter(|e| e.provider != "none")
    }
}

/// `memory.embeddings:`: who turns notes and queries into vectors, and how the vector
/// ranking is fused with bm25's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSettings {
    /// One of [`EmbeddingSettings::PROVIDERS`].
    pub provider: String,
    /// The provider's model id (required for the servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The local model's folder (`local`): `~` is `$HOME`, a relative path is under `$PYRA_HOME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The vault key holding the API key (defaults: `OPENAI_API_KEY`, `GEMINI_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Vector size to ask for (`dimensions`, `outputDimensionality`) or keep (local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Texts per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// Seconds a request may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// `rrf` (default) or `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_weight: Option<f64>,
    /// A note found only by its vector needs a similarity above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f64>,
    /// `f32` (default) or `int8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    /// Categories never sent to a remote provider.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub exclude_categories: Vec<String>,
}

impl EmbeddingSettings {
    /// The providers `provider:` accepts.
    pub const PROVIDERS: &'static [&'static str] = &["none", "local", "openai", "ollama", "gemini"];
    pub const DEFAULT_BATCH: u32 = 64;
    pub const DEFAULT_TIMEOUT: f64 = 60.0;
    pub const DEFAULT_VECTOR_WEIGHT: f64 = 0.7;

    pub fn batch(&self) -> usize {
        self.batch.unwrap_or(Self::DEFAULT_BATCH) as usize
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT))
    }

    /// The local model's folder: `~` and `~/…` from `$HOME`, relative paths under `home`.
    pub fn path_in(&self, home: &Path) -> Option<PathBuf> {
        let path = self.path.as_deref()?;
        let user_home = std::env::var_os("HOME").map(PathBuf::from).filter(|h| !h.as_os_str().is_empty());
        Some(match (path.strip_prefix('~'), user_home) {
            (Some(rest), Some(user)) if rest.is_empty() || rest.starts_with('/') => {
                user.join(rest.trim_start_matches('/'))
            }
            _ => home.join(path),
        })
    }
}
