//! The edit API: [`Config::set`] (one value at a dotted key) and [`Config::set_entry`] (a
//! whole model entry) turn a change into [`edit`] operations; the edited text is parsed and
//! checked again, and the new configuration is returned, never written.

use serde_json::{Map, Value as Json};

use syntax::source::SourceFile;
use syntax::yaml;

use crate::edit::{self, Op, Step};
use crate::{Config, ConfigError, HEADER, ModelEntry, check};

impl Config {
    /// The configuration with one value changed, checked (not written). `raw` is typed by
    /// the key: text for names, ids, URLs, keys and addresses; a YAML number for options,
    /// prices, `chat.recall`, `daemon.max_runs` and the webhook's rate and burst (`0.2`,
    /// `2048`), so numbers stay numbers; a comma-separated list for `chat.tools` and
    /// `daemon.skill_dirs`; `true` or `false` for `telemetry.export_content`. Setting a
    /// `daemon.webhook.*` key where the file has no `webhook:` adds one, which turns the
    /// webhook on; so does a `telemetry.*` key for the export (which needs its
    /// `endpoint`). Values that look like secrets are refused before anything else, and
    /// never echoed.
    pub fn set(&self, key: &str, raw: &str) -> Result<Config, ConfigError> {
        let steps = self.parse_key(key)?;
        let field = match steps.last() {
            Some(Step::Key(f)) => f.as_str(),
            _ => "",
        };
        let secret = !security::redact::find_key_shaped(raw).is_empty()
            || (field == "key" && !check::is_key_name(raw) && check::looks_like_secret(raw));
        if secret {
            let then = match steps.first() {
                Some(Step::Key(k)) if k == "telemetry" => "`pyra config set telemetry.headers.HEADER vault:NAME`",
                _ => "`pyra config set models.ENTRY.key NAME`",
            };
            return Err(ConfigError::Secret {
                help: format!(
                    "store it in the vault with `pyra vault set NAME` (it asks for the value, so it never \
                     appears on a command line; if this was a real key, it is now in your shell history), \
                     then {then}"
                ),
            });
        }
        let leaf = match steps.as_slice() {
            [Step::Key(k)] if k == "default_model" => true,
            [Step::Key(k), Step::Key(_)] if k == "chat" => true,
            [Step::Key(k), Step::Key(f)] if k == "daemon" => f != "webhook",
            [Step::Key(k), Step::Key(_), Step::Key(_)] if k == "daemon" => true,
            [Step::Key(k), Step::Key(f)] if k == "telemetry" => f != "headers",
            [Step::Key(k), Step::Key(_), Step::Key(_)] if k == "telemetry" => true,
            [Step::Key(_), Step::Entry(name), rest @ ..] => {
                if self.entry(name).is_none() {
                    return Err(self.no_entry(name));
                }
                matches!(rest, [Step::Key(f)] if !["options", "prices"].contains(&f.as_str())) || rest.len() == 2
            }
            _ => false,
        };
        if !leaf {
            let example = match steps.first() {
                Some(Step::Key(k)) if k == "daemon" => "daemon.webhook.listen",
                Some(Step::Key(k)) if k == "telemetry" => "telemetry.headers.x-scope",
                _ => "models.NAME.options.temperature",
            };
            return Err(ConfigError::Key {
                message: format!("`{key}` is not a single value"),
                help: Some(format!("set one value at a time, e.g. `{example}`")),
            });
        }
        // The key's path with entry names left out, to match on.
        let path: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.as_str(),
                Step::Entry(_) => "NAME",
            })
            .collect();
        let value = match path.as_slice() {
            ["models", "NAME", _, _]
            | ["chat", "recall"]
            | ["daemon", "max_runs"]
            | ["daemon", "webhook", "rate_per_minute" | "burst"]
            | ["telemetry", "export_content"] => typed_scalar(raw),
            // A list on the command line: comma-separated (`weather,notes`; empty: none).
            ["chat", "tools"] | ["daemon", "skill_dirs"] => Json::Array(
                raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| Json::String(t.into())).collect(),
            ),
            _ => Json::String(raw.to_string()),
        };
        self.edited(&[Op::Set(steps, value)])
    }

    /// The configuration with `entry` added, or replacing the entry of the same name
    /// (fields it lacks are removed), and made the default when `make_default`; checked,
    /// not written.
    pub fn set_entry(&self, entry: &ModelEntry, make_default: bool) -> Result<Config, ConfigError> {
        let mut new = serde_json::to_value(entry).map_err(|e| ConfigError::Io(e.to_string()))?;
        let old = self.entry(&entry.name).and_then(|e| serde_json::to_value(e).ok());
        let at = |rest: &[&str]| {
            let mut steps = vec![Step::Key("models".into()), Step::Entry(entry.name.clone())];
            steps.extend(rest.iter().map(|k| Step::Key(k.to_string())));
            steps
        };
        let mut ops = Vec::new();
        let new_map = new.as_object_mut().map(std::mem::take).unwrap_or_default();
        let old_map = old.as_ref().and_then(Json::as_object).cloned().unwrap_or_default();
        for (k, v) in &new_map {
            match v {
                Json::Object(inner) => {
                    let old_inner = old_map.get(k).and_then(Json::as_object);
                    for (ik, iv) in inner {
                        if old_inner.and_then(|m| m.get(ik)) != Some(iv) {
                            ops.push(Op::Set(at(&[k, ik]), iv.clone()));
                        }
                    }
                    for ik in old_inner.into_iter().flat_map(Map::keys).filter(|ik| !inner.contains_key(*ik)) {
                        ops.push(Op::Remove(at(&[k, ik])));
                    }
                }
                _ if k == "name" => {}
                _ if old_map.get(k) != Some(v) => ops.push(Op::Set(at(&[k]), v.clone())),
                _ => {}
            }
        }
        for k in old_map.keys().filter(|k| !new_map.contains_key(*k)) {
            ops.push(Op::Remove(at(&[k])));
        }
        if make_default && self.default_model.as_deref() != Some(entry.name.as_str()) {
            ops.push(Op::Set(vec![Step::Key("default_model".into())], Json::String(entry.name.clone())));
        }
        self.edited(&ops)
    }

    /// The configuration with `channels.KIND` set to `settings` (a map), comments and order
    /// elsewhere kept; checked, not written.
    pub fn with_channel(&self, kind: &str, settings: Json) -> Result<Config, ConfigError> {
        self.edited(&[Op::Set(vec![Step::Key("channels".into()), Step::Key(kind.into())], settings)])
    }

    /// The configuration without `channels.KIND` (and without `channels:` once it is
    /// empty); checked, not written.
    pub fn without_channel(&self, kind: &str) -> Result<Config, ConfigError> {
        let others =
            self.root.to_json().get("channels").and_then(Json::as_object).is_some_and(|m| m.keys().any(|k| k != kind));
        let steps = if others {
            vec![Step::Key("channels".into()), Step::Key(kind.into())]
        } else {
            vec![Step::Key("channels".into())]
        };
        self.edited(&[Op::Remove(steps)])
    }

    /// Applies `ops` to the text and checks the result.
    fn edited(&self, ops: &[Op]) -> Result<Config, ConfigError> {
        let json = self.root.to_json();
        let text = edit::apply(self.text(), &json, ops, HEADER);
        Self::from_text(&self.path, &text, self.exists)
    }
}

/// A value given on the command line for a numeric or boolean key: a YAML number or
/// boolean when it is one (with the file's rules, so `010` and `yes` are not), the text
/// otherwise (the checks then say what was expected).
fn typed_scalar(raw: &str) -> Json {
    let file = SourceFile::new("value", format!("v: {raw}\n"));
    match yaml::parse(&file).ok().and_then(|root| root.get("v").map(|v| v.value.clone())) {
        Some(yaml::Value::Number(n)) => Json::Number(n),
        Some(yaml::Value::Bool(b)) => Json::Bool(b),
        _ => Json::String(raw.to_string()),
    }
}
