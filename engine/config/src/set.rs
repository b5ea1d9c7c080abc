//! The edit API: [`Config::set`] and [`Config::unset`] (one value at a dotted key, typed
//! by its declared field) and [`Config::set_entry`] (a whole model entry) turn a change
//! into [`edit`] operations; the edited text is parsed and checked again, and the new
//! configuration is returned, never written.

use serde_json::{Map, Value as Json};

use syntax::source::SourceFile;
use syntax::yaml;

use crate::edit::{self, Op, Step};
use crate::fields::{self, Field, Kind, Section};
use crate::keys::{At, Target};
use crate::{Config, ConfigError, HEADER, ModelEntry, check};

impl Config {
    /// The configuration with one value changed, checked (not written). `key` is any
    /// declared field's dotted key, or an item of a declared map (`telemetry.headers.NAME`,
    /// `channels.telegram.recipients.NAME`), and `raw` is typed by the field's [`Kind`]:
    /// a YAML number for a whole number or a number (`0.2`, `2048`), so numbers stay
    /// numbers; `true` or `false`; a comma-separated list for a list (`weather,notes`;
    /// empty: none); `name=value` pairs, comma-separated, for a whole map; text for the
    /// rest (names, ids, URLs, addresses, a choice, a vault key's name, a map's item). A
    /// list's item or a map's value that is a whole number is written as a number where
    /// the field takes no text (Telegram's ids). Setting a key below a section the file
    /// does not have adds it, which turns on what its presence turns on (`daemon.webhook.*`
    /// the webhook, `telemetry.*` the export, which needs its `endpoint`). Values that
    /// look like secrets are refused before anything else, and never echoed; so are the
    /// fields that are never typed in: a secret (it lives in the vault) and a passphrase
    /// where its Argon2id hash belongs (`pyra channels passphrase CHANNEL` writes it).
    pub fn set(&self, key: &str, raw: &str) -> Result<Config, ConfigError> {
        let target = self.parse_key(key)?;
        if let Some((section, field)) = target.field()
            && field.kind.is_secret()
        {
            return Err(crate::keys::secret_key(key, section, field));
        }
        let kind = target.field().map(|(_, f)| f.kind);
        let secret = !security::redact::find_key_shaped(raw).is_empty()
            || (kind == Some(Kind::VaultKey) && !check::is_key_name(raw) && check::looks_like_secret(raw));
        if secret {
            let then = match (target.steps.first(), kind) {
                (Some(Step::Key(k)), _) if k == "telemetry" => {
                    "`pyra config set telemetry.headers.HEADER vault:NAME`".to_string()
                }
                (_, Some(Kind::VaultKey)) => format!("`pyra config set {key} NAME`"),
                _ => "`pyra config set models.ENTRY.key NAME`".to_string(),
            };
            return Err(ConfigError::Secret {
                help: format!(
                    "store it in the vault with `pyra vault set NAME` (it asks for the value, so it never \
                     appears on a command line; if this was a real key, it is now in your shell history), \
                     then {then}"
                ),
            });
        }
        let (section, field) = self.leaf(key, &target)?;
        // A hash is written by the command that asks for the passphrase (through here);
        // anything else would be the passphrase itself.
        if field.kind == Kind::Hash && !raw.starts_with("$argon2id$") {
            let how = match section.path.strip_prefix("channels.") {
                Some(channel) => {
                    format!("`pyra channels passphrase {channel}` asks for the passphrase and writes its hash")
                }
                None => "the command that asks for the passphrase writes its hash".into(),
            };
            return Err(ConfigError::Key {
                message: format!("`{key}` holds a passphrase's hash, never typed in"),
                help: Some(how),
            });
        }
        let item = matches!(target.at, At::Item(..));
        let typed = |numbers: bool| -> Result<Json, ConfigError> {
            Ok(match field.kind {
                _ if item => number_or_text(raw, numbers),
                Kind::Integer { .. } | Kind::Number { .. } | Kind::Bool => typed_scalar(raw),
                Kind::List => Json::Array(list(raw).map(|t| number_or_text(t, numbers)).collect()),
                Kind::Map => {
                    let mut map = serde_json::Map::new();
                    for pair in list(raw) {
                        let Some((name, value)) = pair.split_once('=').filter(|(n, _)| !n.trim().is_empty()) else {
                            return Err(self.not_a_map(key));
                        };
                        map.insert(name.trim().to_string(), number_or_text(value.trim(), numbers));
                    }
                    Json::Object(map)
                }
                _ => Json::String(raw.to_string()),
            })
        };
        // Text first; numbers where the text was refused and there are any.
        let (text, numbers) = (typed(false)?, typed(true)?);
        let first = self.edited(&[Op::Set(target.steps.clone(), text.clone())]);
        match first {
            Err(ConfigError::Invalid(_)) if numbers != text => self.edited(&[Op::Set(target.steps, numbers)]).or(first),
            other => other,
        }
    }

    /// The configuration without the value at `key` (a declared field or a map's item),
    /// which is back to its default; checked like [`Config::set`] (a required field of a
    /// section the file has is then missing, and the check says so), not written. The
    /// section it was in stays (an empty `webhook:` map still turns the webhook on). A key
    /// the file leaves out changes nothing.
    pub fn unset(&self, key: &str) -> Result<Config, ConfigError> {
        let target = self.parse_key(key)?;
        let (section, field) = self.leaf(key, &target)?;
        if field.kind.is_secret() {
            return Err(crate::keys::secret_key(key, section, field));
        }
        match self.get(key) {
            Ok(_) => match self.remove_only_key(&target.steps) {
                Some(result) => result,
                None => self.edited(&[Op::Remove(target.steps)]),
            },
            Err(ConfigError::NotSet(_)) => Ok(self.clone()),
            Err(e) => Err(e),
        }
    }

    /// Removes the only key of a block map, which becomes `{}` where it stands (`serve:
    /// {}`): `edit.rs` has no minimal edit for that and would render the file afresh,
    /// losing its comments. `None` where this does not apply or the result would not
    /// mean the file without the key.
    fn remove_only_key(&self, steps: &[Step]) -> Option<Result<Config, ConfigError>> {
        let (Step::Key(last), parent_steps) = steps.split_last()? else { return None };
        if !matches!(parent_steps.last(), Some(Step::Key(_))) {
            return None;
        }
        let text = self.text();
        let mut parent_key = None;
        let mut node = &self.root;
        for step in parent_steps {
            node = match (step, &node.value) {
                (Step::Key(k), yaml::Value::Map(entries)) => {
                    let (key, value) = entries.iter().find(|(key, _)| key.as_str() == Some(k))?;
                    parent_key = Some(key);
                    value
                }
                (Step::Entry(name), yaml::Value::Seq(items)) => {
                    items.iter().find(|i| i.get("name").and_then(yaml::Node::as_str) == Some(name))?
                }
                _ => return None,
            };
        }
        let yaml::Value::Map(entries) = &node.value else { return None };
        let flow = text.as_bytes().get(node.span.start) == Some(&b'{');
        if flow || entries.len() != 1 || entries[0].0.as_str() != Some(last) {
            return None;
        }
        let colon = parent_key?.span.end;
        let colon = colon + text.get(colon..)?.find(':')?;
        let end = last_byte(node);
        let end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
        let edited = format!("{} {{}}\n{}", &text[..=colon], &text[end..]);
        let mut expected = self.root.to_json();
        let mut at = &mut expected;
        for step in parent_steps {
            at = match step {
                Step::Key(k) => at.get_mut(k)?,
                Step::Entry(name) => at
                    .as_array_mut()?
                    .iter_mut()
                    .find(|i| i.get("name").and_then(Json::as_str) == Some(name.as_str()))?,
            };
        }
        *at = Json::Object(Map::new());
        let file = SourceFile::new("config.yaml", edited.as_str());
        let means = yaml::parse(&file).ok().is_some_and(|root| root.to_json() == expected);
        means.then(|| Self::from_text(&self.path, &edited, self.exists))
    }

    /// The declared field a key to change names: an error for a section, a whole entry,
    /// an entry that does not exist, or a secret (which lives in the vault).
    fn leaf(&self, key: &str, target: &Target) -> Result<(&'static Section, &'static Field), ConfigError> {
        if let [Step::Key(_), Step::Entry(name), ..] = target.steps.as_slice()
            && self.entry(name).is_none()
        {
            return Err(self.no_entry(name));
        }
        match target.at {
            At::Field(section, field) if field.kind.is_secret() => Err(crate::keys::secret_key(key, section, field)),
            At::Field(section, field) | At::Item(section, field) => Ok((section, field)),
            At::Section(section) => {
                // The first value below it, as an example.
                let mut path = section.path.to_string();
                let mut example = key.to_string();
                let field = loop {
                    let Some(s) = fields::section(&path) else { break None };
                    if let Some(f) = s.fields.iter().find(|f| !f.kind.is_secret() && f.key != "name") {
                        break Some(f.key);
                    }
                    let Some(child) = s.children.first() else { break None };
                    path = crate::keys::child_path(&path, child);
                    example = format!("{example}.{child}");
                };
                let example = match (target.steps.as_slice(), field) {
                    ([Step::Key(m)], Some(f)) if m == "models" => format!("models.NAME.{f}"),
                    (_, Some(f)) => format!("{example}.{f}"),
                    (_, None) => "models.NAME.options.temperature".into(),
                };
                Err(ConfigError::Key {
                    message: format!("`{key}` is not a single value"),
                    help: Some(format!("set one value at a time, e.g. `{example}`")),
                })
            }
        }
    }

    /// The error for a whole map given as something other than `name=value` pairs.
    fn not_a_map(&self, key: &str) -> ConfigError {
        let name = self.get(key).ok().and_then(|m| m.as_object().and_then(|m| m.keys().next().cloned()));
        ConfigError::Key {
            message: format!("`{key}` is a map: give `name=value` pairs, comma-separated"),
            help: Some(format!("or set one value at a time, e.g. `{key}.{}`", name.as_deref().unwrap_or("NAME"))),
        }
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

/// Where the text of `node` ends: the last byte of it or of anything in it.
fn last_byte(node: &yaml::Node) -> usize {
    let inner = match &node.value {
        yaml::Value::Map(entries) => entries.iter().map(|(k, v)| k.span.end.max(last_byte(v))).max(),
        yaml::Value::Seq(items) => items.iter().map(last_byte).max(),
        _ => None,
    };
    inner.unwrap_or(0).max(node.span.end)
}

/// The items of a comma-separated list, trimmed, empty ones left out.
fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// A list's item or a map's value: a number when `numbers` and it is a whole number as
/// written (`-100123`, not `+49…` or `010`), the text otherwise.
fn number_or_text(raw: &str, numbers: bool) -> Json {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let whole =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    match raw.parse::<i64>() {
        Ok(n) if numbers && whole => Json::from(n),
        _ => Json::String(raw.to_string()),
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
