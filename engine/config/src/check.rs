//! The checks of `config.yaml`, on the spanned tree: every finding is a located
//! [`Diagnostic`] (unknown keys with "did you mean", types, ranges, duplicate names, a
//! default that names no entry, and anything that looks like a secret). All are collected
//! before giving up, like the skill phases.

use std::collections::HashMap;

use security::redact::find_key_shaped;
use syntax::diag::Diagnostic;
use syntax::source::Span;
use syntax::suggest;
use syntax::yaml::{Node, Value};

/// The keys of the file's top level.
pub(crate) const ROOT_KEYS: &[&str] = &["default_model", "models", "chat"];
/// The keys of one entry under `models:`.
pub(crate) const ENTRY_KEYS: &[&str] = &["name", "provider", "model", "base_url", "key", "options", "prices"];
/// The keys under an entry's `options:`.
pub(crate) const OPTION_KEYS: &[&str] =
    &["temperature", "max_tokens", "context_window", "first_token_timeout", "idle_timeout"];
/// The keys under `chat:` (what `pyra chat` brings to each turn).
pub(crate) const CHAT_KEYS: &[&str] = &["recall", "recall_category", "tools"];
/// The most notes `chat.recall` may bring into a turn (`memory.search`'s own maximum).
pub(crate) const MAX_RECALL: u32 = 100;
/// The keys under an entry's `prices:` (USD per million tokens).
pub(crate) const PRICE_KEYS: &[&str] = &["prompt", "completion", "cached"];

const VAULT_HELP: &str = "store the key in the vault with `pyra vault set NAME` (it asks for the value), then \
     name it here with `key: NAME`";

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

    fn unknown_key(&mut self, key: &Node, known: &[&str], place: &str) {
        let name = key.key_text();
        let help = suggest::help(&name, known.iter().copied()).unwrap_or_else(|| {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            format!("{place} takes {}", list.join(", "))
        });
        let help = if ["api_key", "apikey", "token", "secret", "password", "api-key"].contains(&name.as_str()) {
            format!("secrets never go in config.yaml: {VAULT_HELP}")
        } else {
            help
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
        let in_range = match (integer, n.as_u64(), n.as_f64()) {
            (true, Some(u), _) => (min..=max).contains(&(u as f64)),
            (true, None, _) => false,
            (false, _, Some(x)) => (min..=max).contains(&x),
            (false, _, None) => false,
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
                "chat" => self.map(key, value, "chat", CHAT_KEYS, |f, k, v| match k.key_text().as_str() {
                    "recall" => f.number("recall", k, v, 0.0, f64::from(MAX_RECALL), true),
                    "recall_category" => {
                        f.string("recall_category", k, v);
                    }
                    _ => f.names("tools", k, v),
                }),
                _ => self.unknown_key(key, ROOT_KEYS, "config.yaml"),
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
        let Value::Map(fields) = &item.value else {
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
        for (key, value) in fields {
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
                "provider" | "model" => {
                    self.string(&field, key, value);
                }
                "base_url" => {
                    if let Some(url) = self.string("base_url", key, value) {
                        self.base_url(url, value.span.clone());
                    }
                }
                "key" => self.key(key, value),
                "options" => self.map(key, value, "options", OPTION_KEYS, |f, k, v| match k.key_text().as_str() {
                    "temperature" => f.number("temperature", k, v, 0.0, 2.0, false),
                    "max_tokens" => f.number("max_tokens", k, v, 1.0, f64::from(u32::MAX), true),
                    // Seconds; fractions allowed, up to a day.
                    field @ ("first_token_timeout" | "idle_timeout") => f.number(field, k, v, 0.1, 86400.0, false),
                    _ => f.number("context_window", k, v, 1.0, f64::from(u32::MAX), true),
                }),
                "prices" => self.map(key, value, "prices", PRICE_KEYS, |f, k, v| {
                    let field = k.key_text();
                    f.number(&field, k, v, 0.0, f64::MAX, false);
                }),
                _ => self.unknown_key(key, ENTRY_KEYS, "a model entry"),
            }
        }
        let label = name.as_ref().map_or_else(|| "a model entry".to_string(), |(n, _)| format!("model entry `{n}`"));
        let at = fields.first().map_or(item.span.clone(), |(k, _)| k.span.clone());
        for (required, example) in
            [("name", "name: local"), ("provider", "provider: ollama"), ("model", "model: llama3.2")]
        {
            if !fields.iter().any(|(k, _)| k.key_text() == required) {
                if required == "name" {
                    name_ok = false;
                }
                self.error("missing-key", format!("{label} has no `{required}`"), at.clone()).help =
                    Some(format!("add `{example}` (`pyra setup` lists the providers)"));
            }
        }
        if name_ok { name } else { None }
    }

    /// A list of non-empty strings (`tools: [weather, notes]`).
    fn names(&mut self, field: &str, key: &Node, value: &Node) {
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
                        format!("each item of `{field}` must be a name, found {found}"),
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

    fn map(
        &mut self,
        key: &Node,
        value: &Node,
        place: &str,
        known: &[&str],
        mut each: impl FnMut(&mut Self, &Node, &Node),
    ) {
        match &value.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    if known.contains(&k.key_text().as_str()) {
                        each(self, k, v);
                    } else {
                        self.unknown_key(k, known, &format!("`{place}`"));
                    }
                }
            }
            _ => {
                let list: Vec<String> = known.iter().map(|k| format!("{k}: …")).collect();
                self.error(
                    "config-type",
                    format!("`{place}` must be a map, found {}", value.type_name()),
                    Self::span_of(key, value),
                )
                .expected = Some(format!("{{ {} }}", list.join(", ")));
            }
        }
    }

    fn base_url(&mut self, url: &str, span: Span) {
        let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
            self.error("config-url", format!("`base_url` must start with http:// or https://, found `{url}`"), span);
            return;
        };
        if url.chars().any(char::is_whitespace) {
            self.error("config-url", "`base_url` contains spaces", span);
            return;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let query = url.split_once('?').map_or("", |(_, q)| q);
        let secret_param = query.split('&').any(|p| {
            let name = p.split('=').next().unwrap_or("").to_ascii_lowercase();
            ["key", "token", "secret", "password", "sig"].iter().any(|s| name.contains(s))
        });
        if authority.contains('@') || secret_param {
            self.hidden.push(span.clone());
            self.error("secret-in-config", "`base_url` carries credentials; config.yaml never holds secrets", span)
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
