//! Dotted keys (`default_model`, `models.local.options.temperature`, `chat.recall`,
//! `daemon.webhook.listen`, `telemetry.endpoint`, `telemetry.headers.NAME`): split into the steps of a path into the file, with "did you
//! mean" for a misspelt one, and read ([`Config::get`]). [`Config::set`] changes the value
//! at one.

use serde_json::Value as Json;

use syntax::suggest;

use crate::edit::Step;
use crate::{Config, ConfigError, check};

impl Config {
    /// The value at a dotted key (`default_model`, `models.local.model`,
    /// `models.local.options.temperature`, `models.local`, `models`, `chat.recall`,
    /// `daemon.max_runs`, `daemon.webhook.listen`, `daemon`, `telemetry.endpoint`,
    /// `telemetry.headers.x-scope`, `telemetry`), as written in the file: a key
    /// the file leaves out is [`ConfigError::NotSet`], not its default.
    pub fn get(&self, key: &str) -> Result<Json, ConfigError> {
        let steps = self.parse_key(key)?;
        if let [Step::Key(_), Step::Entry(name), ..] = steps.as_slice()
            && self.entry(name).is_none()
        {
            return Err(self.no_entry(name));
        }
        let mut node = self.root.to_json();
        for step in &steps {
            let next = match step {
                Step::Key(k) => node.get(k).cloned(),
                Step::Entry(name) => node
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i.get("name").and_then(Json::as_str) == Some(name)))
                    .cloned(),
            };
            node = next.ok_or_else(|| ConfigError::NotSet(key.to_string()))?;
        }
        Ok(node)
    }

    pub(crate) fn no_entry(&self, name: &str) -> ConfigError {
        let help = suggest::help(name, self.models.iter().map(|m| m.name.as_str()))
            .or_else(|| Some("`pyra setup` adds a model".to_string()));
        ConfigError::Key { message: format!("no model entry named `{name}`"), help }
    }

    /// Splits a dotted key into steps. Entry names may contain dots, so the known field
    /// names are matched from the right.
    pub(crate) fn parse_key(&self, key: &str) -> Result<Vec<Step>, ConfigError> {
        let k = |s: &str| Step::Key(s.to_string());
        if check::ROOT_KEYS.contains(&key) {
            return Ok(vec![k(key)]);
        }
        let unknown = |help: Option<String>| ConfigError::Key { message: format!("unknown config key `{key}`"), help };
        if let Some(field) = key.strip_prefix("chat.") {
            if check::CHAT_KEYS.contains(&field) {
                return Ok(vec![k("chat"), k(field)]);
            }
            let help = suggest::did_you_mean(field, check::CHAT_KEYS.iter().copied())
                .map(|f| format!("did you mean `chat.{f}`?"))
                .or_else(|| Some("`chat` takes `recall`, `recall_category` and `tools`".into()));
            return Err(unknown(help));
        }
        if let Some(field) = key.strip_prefix("daemon.") {
            return daemon_key(field).ok_or_else(|| unknown(Some(daemon_help(field))));
        }
        if let Some(field) = key.strip_prefix("telemetry.") {
            return telemetry_key(field).ok_or_else(|| unknown(Some(telemetry_help(field))));
        }
        let Some(rest) = key.strip_prefix("models.") else {
            let first = key.split('.').next().unwrap_or(key);
            let help = suggest::help(first, check::ROOT_KEYS.iter().copied()).or_else(|| {
                Some(
                    "keys are `default_model`, `models.NAME.FIELD`, `chat.FIELD`, `daemon.FIELD` and \
                     `telemetry.FIELD`"
                        .into(),
                )
            });
            return Err(unknown(help));
        };
        let entry = |name: &str| Step::Entry(name.to_string());
        if self.entry(rest).is_some() {
            return Ok(vec![k("models"), entry(rest)]);
        }
        for (group, fields) in [("options", check::OPTION_KEYS), ("prices", check::PRICE_KEYS)] {
            for field in fields {
                if let Some(name) = rest.strip_suffix(&format!(".{group}.{field}"))
                    && !name.is_empty()
                {
                    return Ok(vec![k("models"), entry(name), k(group), k(field)]);
                }
            }
        }
        for field in check::ENTRY_KEYS {
            if let Some(name) = rest.strip_suffix(&format!(".{field}"))
                && !name.is_empty()
            {
                return Ok(vec![k("models"), entry(name), k(field)]);
            }
        }
        if !rest.contains('.') {
            return Err(self.no_entry(rest));
        }
        // A misspelt field: suggest from the last segment.
        let (head, last) = rest.rsplit_once('.').unwrap_or(("", rest));
        let (name, group) = match head.rsplit_once('.') {
            Some((name, g)) if ["options", "prices"].contains(&g) => (name, Some(g)),
            _ => (head, None),
        };
        let fields = match group {
            Some("options") => check::OPTION_KEYS,
            Some(_) => check::PRICE_KEYS,
            None => check::ENTRY_KEYS,
        };
        let help = suggest::did_you_mean(last, fields.iter().copied()).map(|f| {
            let group = group.map(|g| format!("{g}.")).unwrap_or_default();
            format!("did you mean `models.{name}.{group}{f}`?")
        });
        let help = help.or_else(|| {
            let list: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            Some(format!("an entry's keys are {}", list.join(", ")))
        });
        Err(unknown(help))
    }
}

/// The steps of `daemon.FIELD` or `daemon.webhook.FIELD` (given without `daemon.`).
fn daemon_key(field: &str) -> Option<Vec<Step>> {
    let k = |s: &str| Step::Key(s.to_string());
    if check::DAEMON_KEYS.contains(&field) {
        return Some(vec![k("daemon"), k(field)]);
    }
    let inner = field.strip_prefix("webhook.")?;
    check::WEBHOOK_KEYS.contains(&inner).then(|| vec![k("daemon"), k("webhook"), k(inner)])
}

/// The help for a misspelt `daemon.…` key (given without `daemon.`): the nearest key, the
/// rest of the path kept (`daemon.webhok.listen` → `daemon.webhook.listen`).
fn daemon_help(field: &str) -> String {
    let (head, tail) = match field.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (field, None),
    };
    let head = if check::DAEMON_KEYS.contains(&head) {
        Some(head)
    } else {
        suggest::did_you_mean(head, check::DAEMON_KEYS.iter().copied())
    };
    let suggestion = match (head, tail) {
        (Some("webhook"), Some(tail)) => {
            let tail = if check::WEBHOOK_KEYS.contains(&tail) {
                Some(tail)
            } else {
                suggest::did_you_mean(tail, check::WEBHOOK_KEYS.iter().copied())
            };
            tail.map(|t| format!("daemon.webhook.{t}"))
        }
        (Some(head), None) if head != field => Some(format!("daemon.{head}")),
        _ => None,
    };
    suggestion.map(|s| format!("did you mean `{s}`?")).unwrap_or_else(|| {
        "`daemon` takes `skill_dirs`, `max_runs` and `webhook.listen`, `webhook.rate_per_minute`, `webhook.burst`"
            .into()
    })
}

/// The steps of `telemetry.FIELD` or `telemetry.headers.NAME` (given without
/// `telemetry.`); a header's name is taken whole, dots included.
fn telemetry_key(field: &str) -> Option<Vec<Step>> {
    let k = |s: &str| Step::Key(s.to_string());
    if check::TELEMETRY_KEYS.contains(&field) {
        return Some(vec![k("telemetry"), k(field)]);
    }
    let name = field.strip_prefix("headers.")?;
    (!name.is_empty()).then(|| vec![k("telemetry"), k("headers"), k(name)])
}

/// The help for a misspelt `telemetry.…` key (given without `telemetry.`).
fn telemetry_help(field: &str) -> String {
    let head = field.split('.').next().unwrap_or(field);
    match suggest::did_you_mean(head, check::TELEMETRY_KEYS.iter().copied()) {
        Some("headers") => "did you mean `telemetry.headers.NAME`?".into(),
        Some(key) => format!("did you mean `telemetry.{key}`?"),
        None => "`telemetry` takes `endpoint`, `headers.NAME`, `service_name` and `export_content`".into(),
    }
}
