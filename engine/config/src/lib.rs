//! `$PYRA_HOME/config.yaml`: the language models Pyra may use, and the settings of `pyra
//! chat`, the daemon and telemetry, as a typed model checked on load with located errors, resolved
//! from a selector (`NAME` or `NAME/model-id`), and edited without losing what a person
//! wrote.
//!
//! ```yaml
//! # Pyra configuration. Secrets never go here: keys live in the vault (`pyra vault set`).
//! default_model: local          # the entry used when a node names none
//! models:
//!   - name: local               # what skills and `with.model` refer to
//!     provider: ollama          # a provider id (`pyra setup` lists them)
//!     model: llama3.2           # the provider's model id
//!     base_url: http://localhost:11434   # optional; the provider's default otherwise
//!     key: OLLAMA_API_KEY       # optional: the vault key name, default: the provider's
//!     options: { temperature: 0.2, max_tokens: 2048, context_window: 8192 }
//!     # also: first_token_timeout (default 300) and idle_timeout (default 120), in seconds
//!     prices: { prompt: 0.15, completion: 0.60, cached: 0.075 }   # USD per million tokens
//! chat:                         # optional: what `pyra chat` brings to each turn
//!   recall: 5                   # notes recalled from memory per turn (0: none)
//!   recall_category: work       # only notes of this category and its subcategories
//!   tools: [weather]            # skills the assistant may call (each call asks first)
//! daemon:                       # optional: what the daemon arms and how much it runs
//!   skill_dirs: [~/work/pyra-skills, /srv/skills]   # besides $PYRA_HOME/skills and the
//!                               # built-ins; `~` is $HOME, relative paths are under $PYRA_HOME
//!   max_runs: 4                 # most triggered runs at once (1 to 64)
//!   webhook:                    # off unless present
//!     listen: 127.0.0.1:8787    # loopback only (127.0.0.0/8 or ::1), with a port
//!     rate_per_minute: 60       # per hook (1 to 10,000)
//!     burst: 20                 # (1 to 1,000)
//! telemetry:                    # optional: OpenTelemetry export of every run's trace
//!   endpoint: http://localhost:4318   # the collector (OTLP/HTTP); spans go to /v1/traces
//!   headers:                    # optional; a credential only as `vault:NAME`
//!     x-scope: home
//!     authorization: vault:OTEL_AUTHORIZATION
//!   service_name: pyra          # service.name (default pyra)
//!   export_content: false       # inputs and outputs too, masked (default false)
//! mcp:                          # optional: Pyra as an MCP server (`pyra mcp serve`)
//!   serve:
//!     skills: [weather, "notes-*"]   # names or globs; nothing is exposed unless listed
//!     http:                     # the daemon serves them over streamable HTTP too
//!       listen: 127.0.0.1:8788  # loopback only; port 0 picks one (run/mcp.addr)
//! memory:                       # optional: how memory search ranks
//!   embeddings:                 # absent or `provider: none`: bm25 alone, as before
//!     provider: local           # none | local | openai | ollama | gemini
//!     path: ~/.cache/pyra-embed-model   # local: a .safetensors file and its tokenizer JSON
//!     # model: text-embedding-3-small   # the servers' model id; base_url, key (vault key
//!     # name), dimensions, batch (64), timeout (60 s) as for models
//!     fusion: rrf               # rrf (k: rrf_k, 60) or weighted (vector_weight, 0.7)
//!     quantize: f32             # f32 or int8 (a quarter of the memory) vectors in memory
//!     exclude_categories: [private]   # never sent to a remote provider (nor `embed: false` notes)
//! ```
//!
//! The file is parsed like a skill ([`syntax::yaml`]: strict booleans, leading-zero numbers
//! as strings, duplicate keys rejected) and checked by `check.rs`: every error is a
//! [`Diagnostic`](syntax::diag::Diagnostic) pointing into the file. Secrets never live here
//! (DESIGN §11): anything key-shaped, credentials in a URL, or a `key:` that is not an
//! UPPER_SNAKE vault key name is an error, and those spans are masked when the error is
//! shown. Provider ids are not known to the engine; [`Config::validate_with`] lets the
//! caller check them, located too. The webhook's `listen` is parsed into a `SocketAddr`
//! during the check, and an address that is not loopback is an error: the webhook is for
//! senders on this machine, and a reverse proxy in front of it serves remote ones. A
//! `telemetry.headers` value that is a credential (by its header's name, or by its
//! shape) must be `vault:NAME`, read from the vault when spans are sent.
//!
//! Edits ([`Config::set`], [`Config::set_entry`]) return the new configuration, checked, and
//! do not write: the caller writes [`Config::text`] privately (the CLI's `write_private`,
//! 0600 in a 0700 home). See `edit.rs` for what an edit preserves.
//!
//! **Architecture invariant:** no secret is stored in config.yaml or shown from it —
//! key-shaped text anywhere in the file (comments included), credentials in a URL and
//! key-like `key:` values are errors whose spans are masked before any rendering, and
//! [`Config::set`] refuses such a value without echoing it. Every edit is minimal
//! (comments, order and quoting stay; only where no in-place edit applies is the file
//! rendered afresh, keeping its leading comments), and the edited text is parsed and
//! checked again before it is returned; nothing is written here. The only IO is reading
//! that one file ([`Config::load`]): no terminal, no network (and no look-up of the disk
//! for `daemon.skill_dirs`, which [`DaemonSettings::skill_dirs`] only expands, reading
//! `$HOME`).
//!
//! The files: `model.rs` (the typed model and its defaults, `~` expansion of the skill
//! folders), `file.rs` (reading and checking the file: [`Config`]), `check.rs` (the
//! located checks), `error.rs` ([`ConfigError`] and its masked rendering), `resolve.rs`
//! (selectors), `keys.rs` (dotted keys and [`Config::get`]), `set.rs` (the edit API) over
//! `edit.rs` (minimal text edits), `tests.rs` (the API on one example file, and this
//! documentation's example), `daemon_tests.rs` (the `daemon:` section),
//! `telemetry_tests.rs` (the `telemetry:` section, checked in `check/telemetry.rs`),
//! `mcp_tests.rs` (the `mcp:` section, checked in `check/mcp.rs`), `memory_tests.rs` (the
//! `memory:` section, checked in `check/memory.rs`), `channels_tests.rs` (the `channels:`
//! section, checked in `check/channels.rs`); the `daemon:` section is checked in
//! `check/daemon.rs`. `fields.rs` declares every section and field once: the checks take
//! each map's keys and each plain value's type and range from it, `keys.rs` a dotted key
//! for every field ([`Config::field_for`]), `set.rs` the type of a value set
//! ([`Config::set`], [`Config::unset`]), and `schema.rs` the JSON Schema of the file
//! ([`schema::schema`], `schemas/config.schema.json`); `set_tests.rs` and
//! `schema_tests.rs` test those.

#[cfg(test)]
mod channels_tests;
mod check;
#[cfg(test)]
mod daemon_tests;
mod edit;
pub use edit::edit_yaml;
mod error;
pub mod fields;
mod file;
mod keys;
#[cfg(test)]
mod mcp_tests;
#[cfg(test)]
mod memory_tests;
mod model;
mod resolve;
pub mod schema;
#[cfg(test)]
mod schema_tests;
mod set;
#[cfg(test)]
mod set_tests;
#[cfg(test)]
mod telemetry_tests;
#[cfg(test)]
mod tests;

pub use error::{ConfigError, Invalid};
pub use file::{Config, FILE_NAME, HEADER};
pub use model::{
    ChannelsSettings, ChatSettings, DaemonSettings, EmbeddingSettings, HeaderValue, MatrixSettings, McpHttpSettings,
    McpServeSettings, McpSettings, MemorySettings, ModelEntry, ModelOptions, Prices, SignalSettings, TelegramSettings,
    TelemetrySettings, WebSettings, WebhookSettings,
};
pub use resolve::{ResolveError, ResolvedModel};
