//! The skill model: Rust types for everything a skill file may say (DESIGN.md §2).
//!
//! These types are the single source of truth for the file format: serde reads them,
//! and `schemas/skill.schema.json` is generated from them (see [`crate::schema`]).
//! Doc comments become the schema's descriptions, which editors show on hover.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use syntax::duration::Duration;

/// Node ids and input names must be identifiers so `nodes.<id>` and `inputs.<name>`
/// work in templates.
pub const IDENT_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Skill names: lowercase words joined by `-` or `_` (they are also file names).
pub const SKILL_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]*$";
/// Node kinds: `template`, `memory.search`, `<plugin>.<tool>`.
pub const KIND_PATTERN: &str = "^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$";
/// Secret names: `openai` or `plugin:<name>:<key>`.
pub const SECRET_PATTERN: &str = "^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$";
/// Environment variable names a skill may read.
pub const ENV_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A Pyra skill: a DAG of nodes with typed inputs, triggers and outputs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Pyra skill")]
pub struct Skill {
    /// The skill's name, used by `pyra run NAME`; lowercase letters, digits, `-` and `_`.
    #[schemars(regex(pattern = SKILL_NAME_PATTERN), length(max = 64))]
    pub name: String,

    /// What the skill does, in a sentence. Shown by `pyra skill list` and to models when
    /// the skill is offered as a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Typed inputs, available in templates as `inputs.<name>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(extend("propertyNames" = { "pattern": IDENT_PATTERN }))]
    pub inputs: IndexMap<String, Input>,

    /// Vault keys this skill may read with `secret('NAME')`, e.g. `plugin:telegram:token`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = SECRET_PATTERN)))]
    pub secrets: Vec<String>,

    /// Environment variables this skill may read as `env.NAME`; no others are visible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = ENV_PATTERN)))]
    pub env: Vec<String>,

    /// When the daemon runs this skill by itself: on a schedule, on file changes, on events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,

    /// The steps, keyed by id. Edges come from `needs:` and from `nodes.<id>` references
    /// in a node's templates.
    #[schemars(extend("propertyNames" = { "pattern": IDENT_PATTERN }, "minProperties" = 1))]
    pub nodes: IndexMap<String, Node>,

    /// Values the skill returns, usually templates over node outputs.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(extend("propertyNames" = { "pattern": IDENT_PATTERN }))]
    pub outputs: IndexMap<String, Value>,

    /// Most nodes running at once in one run (default: the number of CPUs, at least 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: Option<u32>,

    /// The whole run is cancelled after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,

    /// What a prompt-injection finding in untrusted content (an HTTP response, a file)
    /// does: `warn` (default) records it in the security log and the node's record and
    /// goes on; `block` fails the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_injection: Option<OnInjection>,
}

/// See [`Skill::on_injection`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnInjection {
    #[default]
    Warn,
    Block,
}

/// The JSON type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Array => "array",
            InputType::Object => "object",
        }
    }
}

/// One input: a small JSON Schema plus a default and a description.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The value's JSON type (default `string`).
    #[serde(rename = "type", default = "default_input_type")]
    pub ty: InputType,

    /// Shown by `pyra skill show` and `pyra run --help`, and to models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Used when the caller gives no value; must match `type` (and `enum`, limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,

    /// Whether a value must be given. Defaults to true when there is no `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,

    /// The only values allowed.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub allowed: Option<Vec<Value>>,

    /// For arrays: the JSON Schema of each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<serde_json::Map<String, Value>>,

    /// For objects: JSON Schemas of the properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<serde_json::Map<String, Value>>,

    /// For numbers: the smallest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,

    /// For numbers: the largest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,

    /// For strings: a regular expression the value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,

    /// For strings: the fewest characters allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,

    /// For strings: the most characters allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
}

fn default_input_type() -> InputType {
    InputType::String
}

impl Input {
    /// Whether the caller must give a value.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }

    /// The JSON Schema a value of this input must satisfy.
    pub fn json_schema(&self) -> Value {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), self.ty.as_str().into());
        if let Some(allowed) = &self.allowed {
            schema.insert("enum".into(), Value::Array(allowed.clone()));
        }
        if let Some(items) = &self.items {
            schema.insert("items".into(), Value::Object(items.clone()));
        }
        if let Some(props) = &self.properties {
            schema.insert("properties".into(), Value::Object(props.clone()));
        }
        let numbers = [("minimum", self.minimum), ("maximum", self.maximum)];
        for (key, value) in numbers {
            if let Some(v) = value.and_then(serde_json::Number::from_f64) {
                schema.insert(key.into(), Value::Number(v));
            }
        }
        if let Some(p) = &self.pattern {
            schema.insert("pattern".into(), p.clone().into());
        }
        if let Some(n) = self.min_length {
            schema.insert("minLength".into(), n.into());
        }
        if let Some(n) = self.max_length {
            schema.insert("maxLength".into(), n.into());
        }
        Value::Object(schema)
    }
}

/// A trigger: one of `cron`, `watch` or `event`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Trigger {
    Cron(CronTrigger),
    Watch(WatchTrigger),
    Event(EventTrigger),
}

impl Trigger {
    /// Whether the daemon arms it (`enabled:` left out means yes).
    pub fn enabled(&self) -> bool {
        match self {
            Trigger::Cron(c) => c.enabled,
            Trigger::Watch(w) => w.enabled,
            Trigger::Event(e) => e.enabled,
        }
        .unwrap_or(true)
    }
}

/// Runs the skill on a schedule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronTrigger {
    /// A 5-field cron expression (`minute hour day-of-month month day-of-week`, e.g.
    /// `0 7 * * MON-FRI`) or a macro: `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    #[schemars(example = "0 7 * * MON-FRI")]
    pub cron: String,

    /// IANA time zone the expression is read in (default: the system's local zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Europe/Berlin")]
    pub timezone: Option<String>,

    /// What to do with slots missed while the daemon was down (default `once`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,

    /// How far back missed slots are caught up (default `1d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up_window: Option<Duration>,

    /// What to do when a slot comes while the previous run is still going (default `skip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,

    /// Input values for runs started by this trigger.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, Value>,

    /// `false` leaves this trigger unarmed (the daemon skips it; `pyra schedule` shows it
    /// as disabled). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Catch-up policy for missed cron slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    /// Missed slots are dropped.
    Skip,
    /// One run for all missed slots.
    Once,
    /// One run per missed slot within `catch_up_window`.
    All,
}

/// Overlap policy for cron slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// The new slot is dropped while a run is in flight.
    Skip,
    /// The new slot waits for the running one.
    Queue,
    /// Runs may overlap.
    Allow,
}

/// Runs the skill when files change: one run per batch of changes (every change within
/// one `debounce` window), once each file is completely written.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchTrigger {
    pub watch: WatchSpec,

    /// A condition over `trigger` (`trigger.paths`, `trigger.events`, `trigger.at`) that
    /// must hold for the batch to start a run.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,

    /// Input values for runs started by this trigger, rendered over `trigger.paths` (the
    /// changed files, sorted, no duplicates), `trigger.events` (path → `created`,
    /// `modified` or `deleted`) and `trigger.at`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, Value>,

    /// `false` leaves this trigger unarmed (the daemon skips it; `pyra schedule` shows it
    /// as disabled). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// What to watch.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    /// Files or directories to watch; `~` is the home directory.
    #[schemars(length(min = 1))]
    pub paths: Vec<String>,

    /// Only files whose name (or path below the watched folder) matches (e.g. `*.md`); a
    /// list matches any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<OneOrMany<String>>,

    /// Files whose name (or path below the watched folder) matches are left out. Editor
    /// swap and temporary files (`.*.swp`, `*~`, `.#*`, `*.tmp`, `*.part`,
    /// `*.crdownload`, `4913`) are always left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<OneOrMany<String>>,

    /// Watch the folders' subfolders too (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,

    /// Quiet time after the last change before the batch closes (default `500ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<Duration>,

    /// How long a file's size and modification time must stay unchanged (after it was
    /// closed, where the platform says so) before it counts as written (default `2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<Duration>,

    /// Poll at this interval instead of using file-system events (network file systems
    /// are polled every 5s without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Duration>,

    /// Which changes count (default: `created` and `modified`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<WatchEvent>,

    /// Files already there when the trigger is armed for the first time: `ignore` them
    /// (default) or `scan` them as one batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_start: Option<OnStart>,

    /// Changes made while the daemon was down: `once` (default; `all` is the same here)
    /// runs them as one batch at start, `skip` only takes note of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
}

/// A kind of file change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchEvent {
    #[serde(alias = "create")]
    Created,
    #[serde(alias = "modify")]
    Modified,
    #[serde(alias = "remove")]
    Deleted,
}

impl WatchEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEvent::Created => "created",
            WatchEvent::Modified => "modified",
            WatchEvent::Deleted => "deleted",
        }
    }
}

/// What a watch trigger does with files already there when it is first armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnStart {
    /// They are the starting point; only later changes count.
    Ignore,
    /// They are one batch of `created` files.
    Scan,
}

/// Runs the skill on an event: an incoming message, `pyra emit NAME`, a webhook.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTrigger {
    /// The event name, e.g. `message`.
    #[schemars(regex(pattern = KIND_PATTERN))]
    pub event: String,

    /// A condition over `event` that must hold, e.g. `event.text.startswith("/brief")`.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,

    /// Input values for runs started by this trigger (templates over `event`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, Value>,

    /// `false` leaves this trigger unarmed (the daemon skips it; `pyra schedule` shows it
    /// as disabled). Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// One step of a skill.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The node kind, e.g. `llm`, `http`, `template`, `memory.search`, `<plugin>.<tool>`.
    #[schemars(regex(pattern = KIND_PATTERN))]
    pub uses: String,

    /// What this node does, for people reading the skill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Arguments for the node kind; strings are templates.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, Value>,

    /// Nodes that must finish first (besides those referenced in templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<OneOrMany<String>>,

    /// A bare expression; the node runs only when it is `true`, and is skipped otherwise.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,

    /// Runs the node once per item of a list (a template or a literal list); `item` and
    /// `index` are set in templates, and the output is the list of results in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,

    /// With `for_each`: most items running at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub concurrency: Option<u32>,

    /// Retries after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,

    /// Each attempt is cancelled after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,

    /// `fail` (default) fails the run; `continue` records the error, sets the output to
    /// null and lets dependents run.
    #[serde(default, skip_serializing_if = "OnError::is_fail")]
    pub on_error: OnError,
}

/// `if:` is an expression; a literal boolean is allowed too.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Condition {
    Literal(bool),
    Expression(String),
}

/// `for_each:` is a template that yields a list, or a literal list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ForEach {
    Template(String),
    Items(Vec<Value>),
}

/// One value or a list of them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }
}

/// Retry policy: exponential backoff with jitter, capped.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, the first included.
    #[schemars(range(min = 1, max = 100))]
    pub attempts: u32,

    /// Wait before the second attempt (default `1s`); doubles each time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,

    /// The longest wait between attempts (default `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<Duration>,

    /// Randomise waits by up to ±50% so retries do not stampede (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<bool>,
}

/// What a node failure does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}

impl OnError {
    fn is_fail(&self) -> bool {
        *self == OnError::Fail
    }
}

impl Node {
    /// The ids in `needs:`.
    pub fn needs(&self) -> &[String] {
        self.needs.as_ref().map_or(&[], OneOrMany::as_slice)
    }
}
