//! The checks of `config.yaml`, on the spanned tree: every finding is a located
//! [`Diagnostic`] (unknown keys with "did you mean", types, ranges, duplicate names, a
//! default that names no entry, a webhook address that is not loopback, and anything that
//! looks like a secret). All are collected before giving up, like the skill phases. Each
//! map's keys, and the type and range of every value without a check of its own, come from
//! the declarations ([`crate::fields`]; [`Findings::declared`]). The `telemetry:`
//! section's are in `check/telemetry.rs`, the `mcp:` section's in `check/mcp.rs`, the
//! `memory:` section's in `check/memory.rs`, the `channels:` section's in
//! `check/channels.rs`, the `daemon:` section's in `check/daemon.rs`.

mod channels;
mod daemon;
mod mcp;
mod memory;
mod telemetry;

use std::collections::HashMap;

use security::redact::find_key_shaped;
use syntax::diag::Diagnostic;
use syntax::source::Span;
use syntax::suggest;
use syntax::yaml::{Node, Value};

use crate::fields::{self, Kind};
use crate::keys::child_path;

const VAULT_HELP: &str = "store the key in the vault with `pyra vault set NAME` (it asks for the value), then \
     name it here: `key: NAME` in a model entry, `vault:NAME` as a telemetry header's value";

/// What the checks found: the diagnostics, and the spans to hide when they are shown
/// (anything that may be a secret never reaches the terminal).
#[derive(Default)]
pub(crate) struct Findings {
    pub diagnostics: Vec<Diagnostic>,
    pub hidden: Vec<Span>,
}

/// Whether `name` can name a vault key in `key:` (`OPENAI_API_KEY`).
pub(crate) fn is_key_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `name` can name a model entry: no `/` (it separates `NAME/model-id`).
pub(crate) fn is_entry_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Whether a value given for `key:` is more likely the key itself than a name: long, with
/// letters and digits mixed, or a known key shape.
pub(crate) fn looks_like_secret(value: &str) -> bool {
    if !find_key_shaped(value).is_empty() {
        return true;
    }
    let alnum = value.chars().filter(char::is_ascii_alphanumeric).count();
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let lower = value.chars().filter(char::is_ascii_lowercase).count();
    value.len() >= 16 && alnum * 10 >= value.len() * 8 && digits >= 1 && lower >= 1
}

/// Checks the whole text for key-shaped strings (comments included) and the tree for
/// everything else.
pub(crate) fn check(text: &str, root: &Node) -> Findings {
    let mut f = Findings::default();
    for (span, kind) in find_key_shaped(text) {
        f.hidden.push(span.clone());
        f.diagnostics.push(
            Diagnostic::error(
                "secret-in-config",
                format!("this looks like a secret ({kind}); config.yaml never holds secrets"),
            )
            .at(span)
            .with_label("remove this")
            .with_help(VAULT_HELP),
        );
    }
    match &root.value {
        Value::Null => {}
        Value::Map(entries) => f.root(entries),
        _ => f.diagnostics.push(
            Diagnostic::error("config-type", format!("config.yaml must be a map, found {}", root.type_name()))
                .at(root.span.clone())
                .with_expected("`default_model:` and `models:`"),
        ),
    }
    f.diagnostics.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    f
}

impl Findings {
    fn error(&mut self, code: &'static str, message: impl Into<String>, span: Span) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::error(code, message).at(span));
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    /// A value's span, or its key's when the value has none (`key:` with nothing after).
    fn span_of(key: &Node, value: &Node) -> Span {
        if value.span.is_empty() { key.span.clone() } else { value.span.clone() }
    }

    fn is_hidden(&self, span: &Span) -> bool {
        self.hidden.iter().any(|h| h.start < span.end && span.start < h.end)
    }

    /// An unknown key of the map at the declared `path`, with the nearest declared key; a
    /// secret kept in the vault says so, and its value is hidden.
    fn unknown_key(&mut self, key: &Node, value: &Node, path: &str) {
        let name = key.key_text();
        let known = fields::keys(path);
        let place = place(path);
        let secret = fields::section(path).and_then(|s| s.field(&name).filter(|f| f.kind.is_secret()).map(|f| (s, f)));
        let help = if let Some((section, field)) = secret {
            self.hidden.push(Self::span_of(key, value));
            let vault_key = section.vault_key(field).unwrap_or_else(|| "NAME".into());
            format!(
                "`{name}` is a secret: it lives in the vault as `{vault_key}`, never in config.yaml; remove it here \
                 and store it with `pyra vault set {vault_key}` (it asks for the value)"
            )
        } else if ["api_key", "apikey", "token", "secret", "password", "api-key"].contains(&name.as_str()) {
            format!("secrets never go in config.yaml: {VAULT_HELP}")
        } else {
            suggest::help(&name, known.iter().copied()).unwrap_or_else(|| {
                let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                format!("{place} takes {}", list.join(", "))
            })
        };
        let d = Diagnostic::error("unknown-key", format!("unknown key `{name}` in {place}"))
            .at(key.span.clone())
            .with_label("unknown key")
            .with_help(help);
        self.diagnostics.push(d);
    }

    /// The string in `value`, or an error saying what was expected.
    fn string<'n>(&mut self, field: &str, key: &Node, value: &'n Node) -> Option<&'n str> {
        match &value.value {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            Value::String(_) => {
                self.error("config-type", format!("`{field}` is empty"), Self::span_of(key, value));
                None
            }
            _ => {
                let span = Self::span_of(key, value);
                if !self.is_hidden(&span) {
                    self.error(
                        "config-type",
                        format!("`{field}` must be a string, found {}", value.type_name()),
                        span,
                    )
                    .help = Some(format!("quote it: `{field}: \"…\"`"));
                }
                None
            }
        }
    }

    fn number(&mut self, field: &str, key: &Node, value: &Node, min: f64, max: f64, integer: bool) {
        let span = Self::span_of(key, value);
        let what = if integer { "a whole number" } else { "a number" };
        let Value::Number(n) = &value.value else {
            self.error("config-type", format!("`{field}` must be {what}, found {}", value.type_name()), span);
            return;
        };
        let whole = n.as_i64().map(|i| i as f64).or_else(|| n.as_u64().map(|u| u as f64));
        let in_range = match if integer { whole } else { n.as_f64() } {
            Some(x) => (min..=max).contains(&x),
            None => false,
        };
        if !in_range {
            let range =
                if max >= f64::from(u32::MAX) { format!("at least {min}") } else { format!("from {min} to {max}") };
            self.error("config-range", format!("`{field}` must be {what} {range}, found {n}"), span);
        }
    }

    fn root(&mut self, entries: &[(Node, Node)]) {
        let mut default = None;
        let mut names: Vec<(String, Span)> = Vec::new();
        let mut models_ok = true;
        for (key, value) in entries {
            match key.key_text().as_str() {
                "default_model" => {
                    if let Some(name) = self.string("default_model", key, value) {
                        default = Some((name.to_string(), value.span.clone()));
                    }
                }
                "models" => match &value.value {
                    Value::Seq(items) => {
                        let mut seen: HashMap<String, Span> = HashMap::new();
                        for item in items {
                            match self.entry(item) {
                                Some((name, span)) => {
                                    if let Some(first) = seen.get(&name) {
                                        self.diagnostics.push(
                                            Diagnostic::error(
                                                "duplicate-model",
                                                format!("duplicate model name `{name}`"),
                                            )
                                            .at(span.clone())
                                            .with_related(first.clone(), "first defined here")
                                            .with_help("each entry under `models:` needs its own `name`"),
                                        );
                                    } else {
                                        seen.insert(name.clone(), span.clone());
                                        names.push((name, span));
                                    }
                                }
                                None => models_ok = false,
                            }
                        }
                    }
                    Value::Null => {}
                    _ => {
                        models_ok = false;
                        self.error(
                            "config-type",
                            format!("`models` must be a list of entries, found {}", value.type_name()),
                            Self::span_of(key, value),
                        )
                        .expected = Some("`- name: …` items".into());
                    }
                },
                "chat" => self.map(key, value, "chat", |f, k, v| match k.key_text().as_str() {
                    "tools" => f.list("tools", "a name", k, v),
                    _ => f.declared("chat", k, v),
                }),
                "daemon" => self.daemon(key, value),
                "telemetry" => self.telemetry(key, value),
                "mcp" => self.mcp(key, value),
                "memory" => self.memory(key, value),
                "channels" => self.channels(key, value),
                name if fields::keys("").contains(&name) => self.declared("", key, value),
                _ => self.unknown_key(key, value, ""),
            }
        }
        // A default that names no entry is only reported when every entry could be read
        // (otherwise the name may be the broken entry's).
        if let Some((name, span)) = default
            && models_ok
            && !names.iter().any(|(n, _)| *n == name)
        {
            let help = if names.is_empty() {
                "there are no model entries yet: `pyra setup` adds one".to_string()
            } else {
                suggest::help(&name, names.iter().map(|(n, _)| n.as_str())).unwrap_or_else(|| {
                    let list: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
                    format!("the entries are {}", list.join(", "))
                })
            };
            self.diagnostics.push(
                Diagnostic::error("unknown-model", format!("`default_model` names no entry: `{name}`"))
                    .at(span)
                    .with_label("not a `name` under `models:`")
                    .with_help(help),
            );
        }
    }

    /// Checks one entry; returns its name and the name's span when it has a usable one.
    fn entry(&mut self, item: &Node) -> Option<(String, Span)> {
        let Value::Map(pairs) = &item.value else {
            self.error(
                "config-type",
                format!("a model entry must be a map, found {}", item.type_name()),
                item.span.clone(),
            )
            .expected = Some("`- name: …`, `provider: …`, `model: …`".into());
            return None;
        };
        let mut name = None;
        let mut name_ok = true;
        for (key, value) in pairs {
            let field = key.key_text();
            match field.as_str() {
                "name" => match self.string("name", key, value) {
                    Some(n) if is_entry_name(n) => name = Some((n.to_string(), value.span.clone())),
                    Some(n) => {
                        name_ok = false;
                        let why = if n.contains('/') { " (`/` separates `NAME/model-id`)" } else { "" };
                        self.error("config-name", format!("invalid model name `{n}`{why}"), value.span.clone()).help =
                            Some("use letters, digits, `_`, `.` and `-`".into());
                    }
                    None => name_ok = false,
                },
                "base_url" => {
                    if let Some(url) = self.string("base_url", key, value) {
                        self.url("base_url", url, value.span.clone());
                    }
                }
                group @ ("options" | "prices") => {
                    let path = child_path("models.*", group);
                    self.map(key, value, &path, |f, k, v| f.declared(&path, k, v));
                }
                other if fields::keys("models.*").contains(&other) => self.declared("models.*", key, value),
                _ => self.unknown_key(key, value, "models.*"),
            }
        }
        let label = name.as_ref().map_or_else(|| "a model entry".to_string(), |(n, _)| format!("model entry `{n}`"));
        let at = pairs.first().map_or(item.span.clone(), |(k, _)| k.span.clone());
        let required = fields::section("models.*").into_iter().flat_map(|s| s.fields).filter(|f| f.required);
        for required in required.map(|f| f.key) {
            if !pairs.iter().any(|(k, _)| k.key_text() == required) {
                if required == "name" {
                    name_ok = false;
                }
                let example = match required {
                    "name" => "name: local".to_string(),
                    "provider" => "provider: ollama".to_string(),
                    "model" => "model: llama3.2".to_string(),
                    other => format!("{other}: …"),
                };
                self.error("missing-key", format!("{label} has no `{required}`"), at.clone()).help =
                    Some(format!("add `{example}` (`pyra setup` lists the providers)"));
            }
        }
        if name_ok { name } else { None }
    }

    /// A declared whole number of the section at `path`, in its declared range, with
    /// `help` saying what it means on any error.
    fn whole_number(&mut self, path: &str, key: &Node, value: &Node, help: &str) {
        let before = self.diagnostics.len();
        self.declared(path, key, value);
        for d in &mut self.diagnostics[before..] {
            d.help = Some(help.to_string());
        }
    }

    /// Checks a value by its declaration in the section at `path`: a child section as a
    /// map of its own declared keys, a field by its [`Kind`] — text, a number in its range,
    /// true or false, one of its choices, a list, a map, a vault key's name, a hash.
    fn declared(&mut self, path: &str, key: &Node, value: &Node) {
        let Some(section) = fields::section(path) else { return };
        let name = key.key_text();
        if section.children.contains(&name.as_str()) {
            let child = child_path(path, &name);
            self.map(key, value, &child, |f, k, v| f.declared(&child, k, v));
            return;
        }
        let Some(field) = section.field(&name) else { return };
        match field.kind {
            Kind::Text => {
                self.string(&name, key, value);
            }
            Kind::Integer { min, max } => self.number(&name, key, value, min as f64, max as f64, true),
            Kind::Number { min, max } => self.number(&name, key, value, min, max, false),
            Kind::Bool => self.boolean(&name, key, value),
            Kind::Choice(choices) => {
                let list: Vec<String> = choices
                    .iter()
                    .map(|c| if field.default == Some(*c) { format!("`{c}` (the default)") } else { format!("`{c}`") })
                    .collect();
                self.choice(&name, key, value, choices, &list.join(", "));
            }
            Kind::List => self.list(&name, "a text", key, value),
            Kind::Map => self.scalar_map(&name, key, value),
            Kind::VaultKey => self.key(key, value),
            Kind::Hash => self.hash(path, &name, key, value),
            // Never a key of the file: `map` reports it as unknown, hidden.
            Kind::Secret => {}
        }
    }

    fn boolean(&mut self, field: &str, key: &Node, value: &Node) {
        if !matches!(value.value, Value::Bool(_)) {
            self.error(
                "config-type",
                format!("`{field}` must be true or false, found {}", value.type_name()),
                Self::span_of(key, value),
            );
        }
    }

    /// One of `allowed`, with "did you mean" or `help` (which lists them) when it is not.
    fn choice(&mut self, field: &str, key: &Node, value: &Node, allowed: &[&str], help: &str) -> Option<String> {
        let text = self.string(field, key, value)?.to_string();
        if allowed.contains(&text.as_str()) {
            return Some(text);
        }
        let suggestion = suggest::help(&text, allowed.iter().copied()).unwrap_or_else(|| format!("use {help}"));
        self.error(
            "config-value",
            format!("`{field}` is not one of {}: `{text}`", allowed.join(", ")),
            value.span.clone(),
        )
        .help = Some(suggestion);
        None
    }

    /// An Argon2id hash (a channel's `passphrase`), never the passphrase itself: a plain
    /// value is refused and hidden from the message.
    fn hash(&mut self, path: &str, field: &str, key: &Node, value: &Node) {
        if let Some(p) = self.string(field, key, value)
            && !p.starts_with("$argon2id$")
        {
            self.hidden.push(value.span.clone());
            let how = match path.strip_prefix("channels.") {
                Some(channel) => format!("set it with `pyra channels passphrase {channel}`, which writes the hash"),
                None => "set it with the command that asks for the passphrase and writes its hash".into(),
            };
            self.error(
                "config-value",
                format!("`{field}` must be an Argon2id hash, not the passphrase itself"),
                value.span.clone(),
            )
            .help = Some(how);
        }
    }

    /// A map of names to texts or numbers.
    fn scalar_map(&mut self, field: &str, key: &Node, value: &Node) {
        match &value.value {
            Value::Null => {}
            Value::Map(entries) => {
                for (name, item) in entries {
                    let ok = match &item.value {
                        Value::String(s) => !s.trim().is_empty(),
                        Value::Number(_) => true,
                        _ => false,
                    };
                    if !ok {
                        self.error(
                            "config-type",
                            format!(
                                "`{field}.{}` must be a text or a number, found {}",
                                name.key_text(),
                                item.type_name()
                            ),
                            Self::span_of(name, item),
                        );
                    }
                }
            }
            _ => {
                self.error(
                    "config-type",
                    format!("`{field}` must be a map of names to values, found {}", value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some(format!("`{field}: {{ name: value }}`"));
            }
        }
    }

    /// A list of non-empty strings (`tools: [weather, notes]`), each `item` ("a name").
    fn list(&mut self, field: &str, item_is: &str, key: &Node, value: &Node) {
        match &value.value {
            Value::Seq(items) => {
                for item in items {
                    let found = match &item.value {
                        Value::String(s) if !s.trim().is_empty() => continue,
                        Value::String(_) => "an empty string".to_string(),
                        _ => item.type_name().to_string(),
                    };
                    self.error(
                        "config-type",
                        format!("each item of `{field}` must be {item_is}, found {found}"),
                        Self::span_of(key, item),
                    );
                }
            }
            Value::Null => {}
            _ => {
                self.error(
                    "config-type",
                    format!("`{field}` must be a list, found {}", value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some(format!("`{field}: [name, other]`"));
            }
        }
    }

    /// The map at the declared `path`: each declared key goes to `each`, any other is
    /// unknown (with "did you mean").
    fn map(&mut self, key: &Node, value: &Node, path: &str, mut each: impl FnMut(&mut Self, &Node, &Node)) {
        let known = fields::keys(path);
        match &value.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    if known.contains(&k.key_text().as_str()) {
                        each(self, k, v);
                    } else {
                        self.unknown_key(k, v, path);
                    }
                }
            }
            _ => {
                let list: Vec<String> = known.iter().map(|k| format!("{k}: …")).collect();
                self.error(
                    "config-type",
                    format!("{} must be a map, found {}", place(path), value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some(format!("{{ {} }}", list.join(", ")));
            }
        }
    }

    /// A URL (`base_url`, `telemetry.endpoint`): http or https, without spaces or
    /// credentials.
    fn url(&mut self, field: &str, url: &str, span: Span) {
        let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
            self.error("config-url", format!("`{field}` must start with http:// or https://, found `{url}`"), span);
            return;
        };
        if url.chars().any(char::is_whitespace) {
            self.error("config-url", format!("`{field}` contains spaces"), span);
            return;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() {
            self.error("config-url", format!("`{field}` has no host: `{url}`"), span);
            return;
        }
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let secret_param = query.split('&').any(|p| {
            let name = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            ["key", "token", "secret", "password", "sig"].iter().any(|s| name.contains(s))
        });
        if authority.contains('@') || secret_param {
            self.hidden.push(span.clone());
            self.error(
                "secret-in-config",
                format!("`{field}` carries credentials; config.yaml never holds secrets"),
                span,
            )
            .help = Some(format!("give the URL without them; {VAULT_HELP}"));
        }
    }

    fn key(&mut self, key: &Node, value: &Node) {
        let span = Self::span_of(key, value);
        if self.is_hidden(&span) {
            return;
        }
        match &value.value {
            Value::String(s) if is_key_name(s) => {}
            Value::String(s) if looks_like_secret(s) => {
                self.hidden.push(span.clone());
                self.error(
                    "secret-in-config",
                    "`key` holds what looks like an API key; config.yaml never holds secrets",
                    span,
                )
                .help = Some(VAULT_HELP.into());
            }
            _ => {
                self.hidden.push(span.clone());
                self.error("config-key-name", "`key` must name a vault key in UPPER_SNAKE case", span).help = Some(
                    "e.g. `key: OPENAI_API_KEY`; the value itself lives in the vault (`pyra vault set OPENAI_API_KEY`)"
                        .into(),
                );
            }
        }
    }
}

/// How the map at a declared path is named in messages: `config.yaml`, `a model entry`,
/// `` `options` `` (an entry's), `` `daemon.webhook` ``.
fn place(path: &str) -> String {
    match path {
        "" => "config.yaml".into(),
        "models.*" => "a model entry".into(),
        _ => format!("`{}`", path.strip_prefix("models.*.").unwrap_or(path)),
    }
}
