//! The checks of `config.yaml`, on the spanned tree: every finding is a located
//! [`Diagnostic`] (unknown keys with "did you mean", types, ranges, duplicate names, a
//! default that names no entry, a webhook address that is not loopback, and anything that
//! looks like a secret). All are collected before giving up, like the skill phases. The
//! `telemetry:` section's are in `check/telemetry.rs`, the `mcp:` section's in `check/mcp.rs`, the `memory:` section's in `check/memory.rs`.

mod channels;
mod mcp;
mod memory;
mod telemetry;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use security::redact::find_key_shaped;
use syntax::diag::Diagnostic;
use syntax::source::Span;
use syntax::suggest;
use syntax::yaml::{Node, Value};

use crate::model::{DaemonSettings, WebhookSettings};

/// The keys of the file's top level.
pub(crate) const ROOT_KEYS: &[&str] =
    &["default_model", "models", "chat", "daemon", "telemetry", "mcp", "memory", "channels"];
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
/// The keys under `daemon:`.
pub(crate) const DAEMON_KEYS: &[&str] = &["skill_dirs", "max_runs", "webhook"];
/// The keys under `daemon.webhook:`.
pub(crate) const WEBHOOK_KEYS: &[&str] = &["listen", "rate_per_minute", "burst"];
/// The keys under `telemetry:`.
pub(crate) const TELEMETRY_KEYS: &[&str] = &["endpoint", "headers", "service_name", "export_content"];
/// The most triggered runs `daemon.max_runs` may allow at once.
pub(crate) const MAX_RUNS: u32 = 64;
/// The highest `daemon.webhook.rate_per_minute`.
pub(crate) const MAX_RATE_PER_MINUTE: u32 = 10_000;
/// The highest `daemon.webhook.burst`.
pub(crate) const MAX_BURST: u32 = 1_000;
/// The port suggested in help.
const DEFAULT_PORT: u16 = WebhookSettings::DEFAULT_LISTEN.port();

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
                    _ => f.list("tools", "a name", k, v),
                }),
                "daemon" => self.map(key, value, "daemon", DAEMON_KEYS, |f, k, v| match k.key_text().as_str() {
                    "skill_dirs" => f.skill_dirs(k, v),
                    "max_runs" => f.whole_number(
                        "max_runs",
                        k,
                        v,
                        MAX_RUNS,
                        &format!(
                            "the most triggered runs the daemon runs at once; more wait their turn (default {})",
                            DaemonSettings::DEFAULT_MAX_RUNS
                        ),
                    ),
                    _ => f.map(k, v, "daemon.webhook", WEBHOOK_KEYS, |f, k, v| match k.key_text().as_str() {
                        "listen" => f.listen(k, v),
                        "rate_per_minute" => f.whole_number(
                            "rate_per_minute",
                            k,
                            v,
                            MAX_RATE_PER_MINUTE,
                            &format!(
                                "requests a minute each hook may receive; more are refused (default {})",
                                WebhookSettings::DEFAULT_RATE_PER_MINUTE
                            ),
                        ),
                        _ => f.whole_number(
                            "burst",
                            k,
                            v,
                            MAX_BURST,
                            &format!(
                                "requests a hook may receive at once before `rate_per_minute` applies (default {})",
                                WebhookSettings::DEFAULT_BURST
                            ),
                        ),
                    }),
                }),
                "telemetry" => self.telemetry(key, value),
                "mcp" => self.mcp(key, value),
                "memory" => self.memory(key, value),
                "channels" => self.channels(key, value),
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
                        self.url("base_url", url, value.span.clone());
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

    /// A whole number from 1 to `max`, with `help` saying what it means on any error.
    fn whole_number(&mut self, field: &str, key: &Node, value: &Node, max: u32, help: &str) {
        let before = self.diagnostics.len();
        self.number(field, key, value, 1.0, f64::from(max), true);
        for d in &mut self.diagnostics[before..] {
            d.help = Some(help.to_string());
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

    /// `daemon.skill_dirs`: paths, where only `~` and `~/…` name the user's home (`~bob`
    /// would silently be a folder named `~bob` under `$PYRA_HOME`).
    fn skill_dirs(&mut self, key: &Node, value: &Node) {
        let before = self.diagnostics.len();
        self.list("skill_dirs", "a path", key, value);
        let Value::Seq(items) = &value.value else { return };
        let nulls: Vec<&Span> = items.iter().filter(|i| i.value == Value::Null).map(|i| &i.span).collect();
        for d in &mut self.diagnostics[before..] {
            if d.span.as_ref().is_some_and(|s| nulls.contains(&s)) {
                d.help = Some("a bare `~` is YAML's null: write your home as `\"~\"`".into());
            }
        }
        for item in items {
            if let Value::String(dir) = &item.value
                && dir.starts_with('~')
                && dir != "~"
                && !dir.starts_with("~/")
            {
                let user = dir[1..].split('/').next().unwrap_or_default();
                self.error("config-path", format!("`{dir}`: only `~` and `~/…` are expanded"), item.span.clone())
                    .help = Some(format!(
                    "`~` is your home ($HOME); for {user}'s, write the full path (e.g. `/home/{user}/…`)"
                ));
            }
        }
    }

    /// `daemon.webhook.listen`: an IP address and a port, on loopback only.
    fn listen(&mut self, key: &Node, value: &Node) {
        let Some(text) = self.string("listen", key, value) else { return };
        let span = value.span.clone();
        let addr = match text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                self.diagnostics.push(
                    Diagnostic::error("config-address", format!("`listen` is not an IP address with a port: `{text}`"))
                        .at(span)
                        .with_label("expected ADDRESS:PORT")
                        .with_help(listen_help(text)),
                );
                return;
            }
        };
        let port = if addr.port() == 0 { DEFAULT_PORT } else { addr.port() };
        if !addr.ip().is_loopback() {
            let every = if addr.ip().is_unspecified() {
                format!("`{}` means every network interface; ", addr.ip())
            } else {
                String::new()
            };
            self.diagnostics.push(
                Diagnostic::error("config-loopback", format!("`listen` must be a loopback address, found `{addr}`"))
                    .at(span)
                    .with_label("not a loopback address")
                    .with_help(format!(
                        "{every}the webhook is for senders on this machine, so it listens on 127.0.0.0/8 or ::1 \
                         (e.g. `127.0.0.1:{port}`); for remote senders, put a reverse proxy (with TLS) in front \
                         of it that forwards to that address"
                    )),
            );
        } else if addr.port() == 0 {
            self.diagnostics.push(
                Diagnostic::error("config-address", format!("`listen` needs a port, found port 0 in `{addr}`"))
                    .at(span)
                    .with_label("port 0")
                    .with_help(format!(
                        "port 0 picks a free port at random, which no sender could know; e.g. `{}`",
                        SocketAddr::new(addr.ip(), port)
                    )),
            );
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

/// What to do about a `listen:` value that does not parse as `ADDRESS:PORT`.
fn listen_help(text: &str) -> String {
    let (host, port) = text.rsplit_once(':').unwrap_or((text, ""));
    let port_is_digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let brackets = || format!("an IPv6 address with a port goes in brackets: `listen: \"[{host}]:{port}\"`");
    if let Ok(ip) = text.parse::<IpAddr>() {
        // `::1:8787` is an address, but far more likely `::1` with a port.
        if ip.is_ipv6() && port_is_digits && host.parse::<IpAddr>().is_ok() {
            return brackets();
        }
        return format!("add a port: `{}`", SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some((_, rest)) = text.split_once("://")
        && let Ok(addr) = rest.trim_end_matches('/').parse::<SocketAddr>()
    {
        return format!("give the address without a scheme: `{addr}`");
    }
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    match bracketed.unwrap_or(host).parse::<IpAddr>() {
        Ok(ip) if port.is_empty() => format!("add a port: `{}`", SocketAddr::new(ip, DEFAULT_PORT)),
        Ok(IpAddr::V6(_)) if bracketed.is_none() && port_is_digits => brackets(),
        Ok(_) if port.bytes().all(|b| b.is_ascii_digit()) => "a port is a number from 1 to 65535".into(),
        Err(_) if host.chars().any(|c| c.is_ascii_alphabetic()) && !host.contains([':', '/']) => {
            let port = if port_is_digits { port.to_string() } else { DEFAULT_PORT.to_string() };
            format!("give an IP address, not a host name (`{host}` is not looked up): `127.0.0.1:{port}`")
        }
        _ => format!(
            "e.g. `listen: 127.0.0.1:{DEFAULT_PORT}` (an IPv6 address goes in brackets: `listen: \"[::1]:{DEFAULT_PORT}\"`)"
        ),
    }
}
