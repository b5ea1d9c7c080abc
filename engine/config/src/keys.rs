//! Dotted keys (`default_model`, `models.local.options.temperature`, `chat.recall`,
//! `daemon.webhook.listen`, `telemetry.headers.NAME`, `channels.telegram.recipients.NAME`,
//! …): every declared field ([`crate::fields`]) has one, and so has every item of a
//! declared map. A key is split into the steps of a path into the file, with "did you
//! mean" for a misspelt one (from the declarations), and read ([`Config::get`]).
//! [`Config::set`] and [`Config::unset`] change the value at one; [`Config::field_for`]
//! says which declaration a key names.

use serde_json::Value as Json;

use syntax::suggest;

use crate::edit::Step;
use crate::fields::{self, Field, Kind, Section};
use crate::{Config, ConfigError};

/// The path of a child section: `models` (a top-level key) is the list of entries, whose
/// items are `models.*`.
pub(crate) fn child_path(parent: &str, child: &str) -> String {
    match (parent, child) {
        ("", "models") => "models.*".into(),
        ("", c) => c.into(),
        (p, c) => format!("{p}.{c}"),
    }
}

/// What a dotted key names in the declarations.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At {
    /// A declared field (a secret's too).
    Field(&'static Section, &'static Field),
    /// One item of a declared [`Kind::Map`] field (`telemetry.headers.NAME`).
    Item(&'static Section, &'static Field),
    /// A map or a list of several values: a section, `models`, a model entry.
    Section(&'static Section),
}

/// A key's steps into the file and what it names.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub steps: Vec<Step>,
    pub at: At,
}

impl Target {
    /// The declared field at the key, or the map field whose item it is.
    pub(crate) fn field(&self) -> Option<(&'static Section, &'static Field)> {
        match self.at {
            At::Field(s, f) | At::Item(s, f) => Some((s, f)),
            At::Section(_) => None,
        }
    }
}

/// `key` against the declarations. Model entry names may contain dots, so an entry's
/// fields are matched from the right; `is_entry` says whether a name is an entry's (a
/// whole entry wins over a field of a shorter name).
fn declared(key: &str, is_entry: impl Fn(&str) -> bool) -> Option<Target> {
    let keys = |path: &str| path.split('.').map(|k| Step::Key(k.to_string())).collect::<Vec<_>>();
    if let Some(rest) = key.strip_prefix("models.") {
        let entry = |name: &str| vec![Step::Key("models".into()), Step::Entry(name.to_string())];
        let models = fields::section("models.*")?;
        if is_entry(rest) {
            return Some(Target { steps: entry(rest), at: At::Section(models) });
        }
        // Every key below an entry (`model`, `options`, `options.temperature`), longest first.
        let mut tails: Vec<(String, At)> = Vec::new();
        for section in fields::SECTIONS.iter().filter(|s| s.path.starts_with("models.*")) {
            let rel = section.path.strip_prefix("models.*").unwrap_or("").trim_start_matches('.');
            let tail = |k: &str| if rel.is_empty() { k.to_string() } else { format!("{rel}.{k}") };
            for f in section.fields {
                tails.push((tail(f.key), At::Field(section, f)));
            }
            for c in section.children {
                let child = fields::section(&child_path(section.path, c))?;
                tails.push((tail(c), At::Section(child)));
            }
        }
        tails.sort_by_key(|(t, _)| std::cmp::Reverse(t.matches('.').count()));
        return tails.into_iter().find_map(|(tail, at)| {
            let name = rest.strip_suffix(&tail)?.strip_suffix('.').filter(|n| !n.is_empty())?;
            let mut steps = entry(name);
            steps.extend(keys(&tail));
            Some(Target { steps, at })
        });
    }
    for section in fields::SECTIONS.iter().filter(|s| !s.path.starts_with("models")) {
        let full = |k: &str| if section.path.is_empty() { k.to_string() } else { format!("{}.{k}", section.path) };
        for f in section.fields {
            let path = full(f.key);
            if key == path {
                return Some(Target { steps: keys(&path), at: At::Field(section, f) });
            }
            if f.kind == Kind::Map
                && let Some(name) = key.strip_prefix(&path).and_then(|r| r.strip_prefix('.')).filter(|n| !n.is_empty())
            {
                let mut steps = keys(&path);
                steps.push(Step::Key(name.to_string()));
                return Some(Target { steps, at: At::Item(section, f) });
            }
        }
        for c in section.children {
            if key == full(c) {
                let child = fields::section(&child_path(section.path, c))?;
                return Some(Target { steps: keys(&full(c)), at: At::Section(child) });
            }
        }
    }
    None
}

impl Config {
    /// The declared field a dotted key names (`models.local.options.temperature`,
    /// `channels.telegram.allow`, a secret such as `channels.telegram.token`), with its
    /// section; for an item of a map (`telemetry.headers.x-scope`), the map's field. `None`
    /// for a key that names a section, an entry or nothing. Entry names may contain dots:
    /// the known field names are matched from the right.
    pub fn field_for(key: &str) -> Option<(&'static Section, &'static Field)> {
        declared(key, |_| false)?.field()
    }

    /// The value at a dotted key (`default_model`, `models.local.model`,
    /// `models.local.options.temperature`, `models.local`, `models`, `chat.recall`,
    /// `daemon.max_runs`, `daemon.webhook.listen`, `daemon`, `telemetry.endpoint`,
    /// `telemetry.headers.x-scope`, `telemetry`, `memory.embeddings.provider`,
    /// `channels.telegram.allow`, …), as written in the file: a key the file leaves out is
    /// [`ConfigError::NotSet`], not its default. A secret is never in the file: asking for
    /// one says where it is.
    pub fn get(&self, key: &str) -> Result<Json, ConfigError> {
        let target = self.parse_key(key)?;
        if let Some((section, field)) = target.field()
            && field.kind.is_secret()
        {
            return Err(secret_key(key, section, field));
        }
        let steps = target.steps;
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

    /// Splits a dotted key into steps and finds its declaration; an unknown key is an
    /// error with the nearest declared one.
    pub(crate) fn parse_key(&self, key: &str) -> Result<Target, ConfigError> {
        if let Some(target) = declared(key, |name| self.entry(name).is_some()) {
            return Ok(target);
        }
        let unknown = |help: Option<String>| ConfigError::Key { message: format!("unknown config key `{key}`"), help };
        if let Some(rest) = key.strip_prefix("models.") {
            if !rest.contains('.') {
                return Err(self.no_entry(rest));
            }
            return Err(unknown(Some(entry_help(rest))));
        }
        let mut segments = key.split('.');
        let first = segments.next().unwrap_or(key);
        let root = fields::keys("");
        if !root.contains(&first) {
            return Err(unknown(suggest::help(first, root.iter().copied()).or_else(|| Some(overview()))));
        }
        let rest: Vec<&str> = segments.collect();
        let help = match nearest(first, &rest, false) {
            Some(key) => format!("did you mean `{key}`?"),
            None => format!("`{first}` takes {}", takes(first)),
        };
        Err(unknown(Some(help)))
    }
}

/// The error for a secret asked for by key: it is in the vault, never in the file.
pub(crate) fn secret_key(key: &str, section: &Section, field: &Field) -> ConfigError {
    let vault_key = section.vault_key(field).unwrap_or_else(|| "NAME".into());
    ConfigError::Key {
        message: format!("`{key}` is a secret: it lives in the vault as `{vault_key}`, never in config.yaml"),
        help: Some(format!("store it with `pyra vault set {vault_key}` (it asks for the value)")),
    }
}

/// The nearest declared key to `path.segments…` when every misspelt segment has a near
/// one (`daemon.webhok.listen` → `daemon.webhook.listen`); `fixed` says whether one
/// before was.
fn nearest(path: &str, segments: &[&str], fixed: bool) -> Option<String> {
    let section = fields::section(path)?;
    let (&segment, rest) = segments.split_first()?;
    let known = section.keys();
    let name = if known.contains(&segment) { segment } else { suggest::did_you_mean(segment, known.iter().copied())? };
    let fixed = fixed || name != segment;
    let full = format!("{path}.{name}");
    if section.children.contains(&name) {
        return if rest.is_empty() { fixed.then_some(full) } else { nearest(&full, rest, fixed) };
    }
    let field = section.field(name)?;
    match (field.kind, rest) {
        (_, []) => fixed.then_some(full),
        (Kind::Map, _) if fixed => {
            let item = rest.join(".");
            Some(format!("{full}.{}", if item.is_empty() { "NAME" } else { &item }))
        }
        _ => None,
    }
}

/// What the section at `path` takes, relative to it: its fields (a map's items as
/// `NAME.KEY`), and each child section's, together (`skill_dirs`, `max_runs` and
/// `webhook.listen`, `webhook.rate_per_minute`, `webhook.burst`).
fn takes(path: &str) -> String {
    let Some(section) = fields::section(path) else { return String::new() };
    let mut items: Vec<String> = own_leaves(section, "").into_iter().map(|l| format!("`{l}`")).collect();
    for child in section.children {
        let leaves = leaves(&child_path(path, child), &format!("{child}."));
        items.push(leaves.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "));
    }
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

/// Every key of a section's own fields, `prefix` before each.
fn own_leaves(section: &Section, prefix: &str) -> Vec<String> {
    section
        .fields
        .iter()
        .filter(|f| !f.kind.is_secret())
        .map(|f| if f.kind == Kind::Map { format!("{prefix}{}.NAME", f.key) } else { format!("{prefix}{}", f.key) })
        .collect()
}

/// Every leaf key below the section at `path`, `prefix` before each.
fn leaves(path: &str, prefix: &str) -> Vec<String> {
    let Some(section) = fields::section(path) else { return Vec::new() };
    let mut all = own_leaves(section, prefix);
    for child in section.children {
        all.extend(leaves(&child_path(path, child), &format!("{prefix}{child}.")));
    }
    all
}

/// The shape of every key: `default_model`, `models.NAME.FIELD`, `chat.FIELD`, …
fn overview() -> String {
    fn shape(path: &str) -> String {
        match fields::section(path) {
            Some(s) if s.fields.is_empty() && s.children.len() == 1 => shape(&child_path(path, s.children[0])),
            Some(s) if s.fields.is_empty() => format!("`{path}.NAME.FIELD`"),
            _ => format!("`{}.FIELD`", path.replace('*', "NAME")),
        }
    }
    let root = fields::section("");
    let mut items: Vec<String> = root.map(|s| own_leaves(s, "")).unwrap_or_default();
    items = items.into_iter().map(|l| format!("`{l}`")).collect();
    items.extend(root.into_iter().flat_map(|s| s.children).map(|c| shape(&child_path("", c))));
    match items.split_last() {
        Some((last, rest)) => format!("keys are {} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The help for a misspelt key below a model entry (given without `models.`): the nearest
/// field, suggested from the last segment.
fn entry_help(rest: &str) -> String {
    let (head, last) = rest.rsplit_once('.').unwrap_or(("", rest));
    let groups = fields::section("models.*").map_or(&[][..], |s| s.children);
    let (name, group) = match head.rsplit_once('.') {
        Some((name, g)) if groups.contains(&g) => (name, Some(g)),
        _ => (head, None),
    };
    let path = group.map_or_else(|| "models.*".to_string(), |g| child_path("models.*", g));
    let known = fields::keys(&path);
    suggest::did_you_mean(last, known.iter().copied())
        .map(|f| {
            let group = group.map(|g| format!("{g}.")).unwrap_or_default();
            format!("did you mean `models.{name}.{group}{f}`?")
        })
        .unwrap_or_else(|| {
            let list: Vec<String> = known.iter().map(|f| format!("`{f}`")).collect();
            format!("an entry's keys are {}", list.join(", "))
        })
}
