//! Secrets in runs: `secret('NAME')` resolves through a [`SecretSource`] (the vault) at
//! render time, only for names the skill declares, and every access goes to the security
//! log. Whatever is written or shown is masked: a value read with `secret()` — and every
//! rendered value that used one (after `upper`, `replace`, concatenation…) — becomes
//! `[secret:NAME]` in the store, the logs, the progress view, errors and outputs, also
//! when a program echoes it back. Masking is one pass over the original text, so a label
//! is never masked again (see [`Masker`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use age::secrecy::{ExposeSecret, SecretString};
use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::record::*;
use super::store::{Store, StoreResult};
use super::{Event, Observer};
use security::audit::{Event as AuditEvent, SecurityLog};

/// Where secret values come from (the vault, unlocked on first use).
pub trait SecretSource: Send + Sync {
    fn get(&self, name: &str) -> Result<SecretString, String>;
}

/// The shortest value the CLI stores in the vault (`pyra vault set`, `pyra setup`): a
/// shorter one occurs by chance in ordinary words, so masking it would garble every log and
/// error. Values already in a vault are still masked, however short.
pub const MIN_VALUE_CHARS: usize = 4;

/// What a text becomes if the values to hide were too many to build a search over (far
/// beyond anything a run reads): hiding everything is the only safe answer.
const UNSEARCHABLE: &str = "[secret:masked; too many secret values to search]";

/// The values to hide, shared by every run of this process.
///
/// Masking is one pass over the original text: every value and variant is searched at
/// once (an Aho-Corasick automaton, built on the first mask after the set of values
/// changed), matches are taken leftmost-longest, a stretch where matches overlap is hidden
/// whole under the label of its leftmost-longest match, and the labels written are never
/// searched again — a value that occurs in a secret's name (`telegram` in
/// `plugin:telegram:token`) cannot nest labels.
#[derive(Default)]
pub struct Masker {
    active: AtomicBool,
    needles: RwLock<Needles>,
}

#[derive(Default)]
struct Needles {
    /// Text to hide → `[secret:NAME]` (the name it was first added under).
    labels: FxHashMap<String, Arc<str>>,
    /// The search over `labels`' texts; `None` after a change until the next mask.
    search: Option<Arc<Search>>,
}

/// One automaton over every text to hide, and the label of each pattern.
struct Search {
    automaton: Result<AhoCorasick, aho_corasick::BuildError>,
    labels: Vec<Arc<str>>,
}

impl Search {
    fn new(needles: &FxHashMap<String, Arc<str>>) -> Self {
        let (patterns, labels): (Vec<&str>, Vec<Arc<str>>) =
            needles.iter().map(|(text, label)| (text.as_str(), label.clone())).unzip();
        // Standard semantics, so that overlapping matches are all reported (see `mask`).
        let automaton = AhoCorasick::builder().match_kind(MatchKind::Standard).build(patterns);
        Self { automaton, labels }
    }

    fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let automaton = match &self.automaton {
            Ok(automaton) => automaton,
            Err(_) if text.is_empty() => return Cow::Borrowed(text),
            Err(_) => return Cow::Owned(UNSEARCHABLE.to_string()),
        };
        let mut found = automaton.find_overlapping_iter(text);
        let Some(first) = found.next() else {
            return Cow::Borrowed(text);
        };
        let mut matches: Vec<(usize, usize, usize)> =
            std::iter::once(first).chain(found).map(|m| (m.start(), m.end(), m.pattern().as_usize())).collect();
        // Leftmost first, and of those the longest: the match whose label is written.
        matches.sort_unstable_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end)));
        let mut out = String::with_capacity(text.len() + 16 * matches.len());
        // The end of the original text copied or hidden so far. Matches of valid UTF-8
        // patterns in valid UTF-8 text begin and end on character boundaries.
        let mut done = 0;
        for (start, end, pattern) in matches {
            if start < done {
                // Overlaps the stretch just hidden (or lies inside it): hide the rest too.
                done = done.max(end);
                continue;
            }
            out.push_str(&text[done..start]);
            out.push_str(&self.labels[pattern]);
            done = end;
        }
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }

    fn mask_value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => {
                let masked = match self.mask(&s) {
                    Cow::Owned(masked) => Some(masked),
                    Cow::Borrowed(_) => None,
                };
                Value::String(masked.unwrap_or(s))
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.mask_value(v))).collect()),
            other => other,
        }
    }
}

/// The masker of this process: shared by every run's runtime and by the log writers, so
/// a value hidden in a run is hidden in every log line too.
pub fn process_masker() -> Arc<Masker> {
    static SHARED: std::sync::OnceLock<Arc<Masker>> = std::sync::OnceLock::new();
    SHARED.get_or_init(Arc::default).clone()
}

impl Masker {
    /// Hides `value` (and its case and JSON-escaped variants) as `[secret:NAME]` from now on.
    pub fn add(&self, name: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut variants = vec![value.to_string(), value.to_uppercase(), value.to_lowercase()];
        if let Ok(json) = serde_json::to_string(value)
            && let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"'))
        {
            variants.push(inner.to_string());
        }
        let label: Arc<str> = Arc::from(format!("[secret:{name}]"));
        let mut needles = self.needles.write().unwrap_or_else(|p| p.into_inner());
        let mut changed = false;
        for v in variants {
            if !v.is_empty() && !needles.labels.contains_key(&v) {
                needles.labels.insert(v, label.clone());
                changed = true;
            }
        }
        if changed {
            needles.search = None;
        }
        self.active.store(true, Ordering::Release);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The search over the current values, built if they changed since the last one.
    fn search(&self) -> Arc<Search> {
        if let Some(search) = &self.needles.read().unwrap_or_else(|p| p.into_inner()).search {
            return search.clone();
        }
        let mut guard = self.needles.write().unwrap_or_else(|p| p.into_inner());
        let needles = &mut *guard;
        needles.search.get_or_insert_with(|| Arc::new(Search::new(&needles.labels))).clone()
    }

    /// `text` with every value to hide replaced by its label; borrowed when nothing matched.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.is_active() {
            return Cow::Borrowed(text);
        }
        self.search().mask(text)
    }

    pub fn mask_opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| {
            let masked = match self.mask(&t) {
                Cow::Owned(masked) => Some(masked),
                Cow::Borrowed(_) => None,
            };
            masked.unwrap_or(t)
        })
    }

    pub fn mask_value(&self, value: Value) -> Value {
        if !self.is_active() {
            return value;
        }
        self.search().mask_value(value)
    }
}

/// What `secret()` needs while one node's values render.
pub struct Broker {
    pub declared: Vec<String>,
    pub source: Option<Arc<dyn SecretSource>>,
    pub masker: Arc<Masker>,
    pub log: Option<SecurityLog>,
    pub skill: String,
    pub run_id: String,
}

thread_local! {
    /// The broker of the value being rendered, and the secrets it has read so far.
    static CURRENT: RefCell<Option<(Arc<Broker>, Arc<str>)>> = const { RefCell::new(None) };
    static USED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Sets the broker for the renders inside `f` (one node). A skill that declares no
/// secrets renders without one (validation has rejected any `secret()` call).
pub fn with_broker<T>(broker: &Arc<Broker>, node: &Arc<str>, f: impl FnOnce() -> T) -> T {
    if broker.declared.is_empty() {
        return f();
    }
    let previous = CURRENT.with(|c| c.replace(Some((broker.clone(), node.clone()))));
    let result = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    result
}

/// Forgets which secrets were read (before rendering one value).
pub fn reset_used() {
    USED.with(|u| u.borrow_mut().clear());
}

/// The secrets read since [`reset_used`].
pub fn take_used() -> Vec<String> {
    USED.with(|u| std::mem::take(&mut *u.borrow_mut()))
}

/// After one value rendered: if it read a secret, its text is hidden from now on too.
pub fn note_rendered(value: &Value) {
    let used = USED.with(|u| u.borrow().first().cloned());
    let Some(name) = used else { return };
    let Value::String(text) = value else { return };
    // Very short derived texts (`yes` from a condition on a secret) would hide too much.
    if text.chars().count() < 6 {
        return;
    }
    if let Some((broker, _)) = CURRENT.with(|c| c.borrow().clone()) {
        broker.masker.add(&name, text);
    }
}

/// The `secret(name)` template function.
pub fn secret_function(name: String) -> Result<minijinja::Value, minijinja::Error> {
    let fail = |m: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, m);
    let current = CURRENT.with(|c| c.borrow().clone());
    let Some((broker, node)) = current else {
        return Err(fail(format!("secret('{name}') is not declared; add it to the skill's `secrets:`")));
    };
    let audit = |outcome: &str, detail: Option<&str>| {
        if let Some(log) = &broker.log {
            let _ = log.record(&AuditEvent {
                action: "secret.read",
                outcome,
                key: Some(&name),
                skill: Some(&broker.skill),
                run: Some(&broker.run_id),
                node: Some(&node),
                detail,
            });
        }
    };
    if !broker.declared.contains(&name) {
        audit("denied", Some("not declared under `secrets:`"));
        return Err(fail(format!("secret('{name}') is not declared; add it to the skill's `secrets:`")));
    }
    let Some(source) = &broker.source else {
        audit("denied", Some("no vault"));
        return Err(fail(format!("secret('{name}'): no vault is available (`pyra vault init`)")));
    };
    match source.get(&name) {
        Ok(value) => {
            audit("granted", None);
            broker.masker.add(&name, value.expose_secret());
            USED.with(|u| u.borrow_mut().push(name.clone()));
            Ok(minijinja::Value::from(value.expose_secret()))
        }
        Err(why) => {
            audit("denied", Some(&why));
            Err(fail(format!("secret('{name}'): {why}")))
        }
    }
}

/// A store that masks everything it writes.
pub struct MaskingStore {
    pub inner: Arc<dyn Store>,
    pub masker: Arc<Masker>,
}

/// Masks secrets, then redacts key-shaped strings (API keys, bearer tokens, private keys)
/// that never came from the vault: for everything that is logged (errors, log lines).
fn scrub(masker: &Masker, text: &str) -> String {
    let masked = masker.mask(text);
    security::redact::redact(&masked).into_owned()
}

impl MaskingStore {
    fn change(&self, change: Change) -> Change {
        let m = &self.masker;
        let scrub = |text: &str| scrub(m, text);
        match change {
            Change::RunStatus { status, error, outputs } => {
                Change::RunStatus { status, error: error.map(|e| scrub(&e)), outputs: outputs.map(|o| m.mask_value(o)) }
            }
            Change::NodeStarted { node, attempt, input } => {
                Change::NodeStarted { node, attempt, input: m.mask_value(input) }
            }
            Change::NodeRetrying { node, attempt, error } => {
                Change::NodeRetrying { node, attempt, error: scrub(&error) }
            }
            Change::NodeWaiting { node, reason } => Change::NodeWaiting { node, reason: scrub(&reason) },
            Change::NodeFinished { node, status, output, error, untrusted } => Change::NodeFinished {
                node,
                status,
                output: output.map(|o| m.mask_value(o)),
                error: error.map(|e| scrub(&e)),
                untrusted,
            },
            Change::NodeSkipped { node, reason } => Change::NodeSkipped { node, reason: scrub(&reason) },
            reset @ Change::NodeReset { .. } => reset,
        }
    }
}

impl Store for MaskingStore {
    fn create_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.inner.create_run(run)
    }
    fn apply(&self, run_id: &str, changes: Vec<Change>) -> StoreResult<()> {
        // Fast path: nothing to hide and nothing that is logged text.
        let plain = !self.masker.is_active()
            && changes.iter().all(|c| match c {
                Change::NodeStarted { .. } | Change::NodeReset { .. } => true,
                Change::NodeFinished { error, .. } | Change::RunStatus { error, .. } => error.is_none(),
                _ => false,
            });
        if plain {
            return self.inner.apply(run_id, changes);
        }
        self.inner.apply(run_id, changes.into_iter().map(|c| self.change(c)).collect())
    }
    fn resume_run(&self, run_id: &str, pid: u32) -> StoreResult<()> {
        self.inner.resume_run(run_id, pid)
    }
    fn run(&self, run_id: &str) -> StoreResult<Option<RunRecord>> {
        self.inner.run(run_id)
    }
    fn find_runs(&self, prefix: &str) -> StoreResult<Vec<String>> {
        self.inner.find_runs(prefix)
    }
    fn list_runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.inner.list_runs(filter)
    }
    fn nodes(&self, run_id: &str) -> StoreResult<Vec<NodeRecord>> {
        self.inner.nodes(run_id)
    }
    fn node_state(&self, run_id: &str, key: &str) -> StoreResult<Option<Value>> {
        self.inner.node_state(run_id, key)
    }
    fn set_node_state(&self, run_id: &str, key: &str, state: &Value) -> StoreResult<()> {
        self.inner.set_node_state(run_id, key, &self.masker.mask_value(state.clone()))
    }
    fn log(&self, run_id: &str, node: Option<&str>, level: LogLevel, message: &str) -> StoreResult<()> {
        self.inner.log(run_id, node, level, &scrub(&self.masker, message))
    }
    fn append_list(&self, run_id: &str, key: &str, field: NodeList, items: &[Value]) -> StoreResult<()> {
        let masked: Vec<Value> = items.iter().map(|f| self.masker.mask_value(f.clone())).collect();
        self.inner.append_list(run_id, key, field, &masked)
    }
    fn logs(&self, run_id: &str, node: Option<&str>) -> StoreResult<Vec<LogLine>> {
        self.inner.logs(run_id, node)
    }
    fn approval(&self, run_id: &str, key: &str) -> StoreResult<Option<ApprovalRecord>> {
        self.inner.approval(run_id, key)
    }
    fn approvals(&self, run_id: &str) -> StoreResult<Vec<ApprovalRecord>> {
        self.inner.approvals(run_id)
    }
    fn insert_approval(&self, approval: &ApprovalRecord) -> StoreResult<()> {
        let mut a = approval.clone();
        a.message = self.masker.mask(&a.message).into_owned();
        a.details = a.details.map(|d| self.masker.mask_value(d));
        self.inner.insert_approval(&a)
    }
    fn answer_approval(
        &self,
        run_id: &str,
        key: &str,
        state: ApprovalState,
        by: &str,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        self.inner.answer_approval(run_id, key, state, by, reason)
    }
    fn child_run(&self, parent_run: &str, parent_node: &str) -> StoreResult<Option<String>> {
        self.inner.child_run(parent_run, parent_node)
    }
    fn request_cancel(&self, run_id: &str) -> StoreResult<()> {
        self.inner.request_cancel(run_id)
    }
    fn cancel_requested(&self, run_id: &str) -> StoreResult<bool> {
        self.inner.cancel_requested(run_id)
    }
}

/// An observer that sees masked errors.
pub struct MaskingObserver {
    pub inner: Arc<dyn Observer>,
    pub masker: Arc<Masker>,
}

impl Observer for MaskingObserver {
    fn event(&self, event: &Event) {
        if !self.masker.is_active() {
            return self.inner.event(event);
        }
        let masked = match event.clone() {
            Event::NodeFinished { run_id, node, status, error } => {
                Event::NodeFinished { run_id, node, status, error: self.masker.mask_opt(error) }
            }
            Event::NodeRetrying { run_id, node, attempt, error } => {
                Event::NodeRetrying { run_id, node, attempt, error: self.masker.mask(&error).into_owned() }
            }
            Event::NodeSkipped { run_id, node, reason } => {
                Event::NodeSkipped { run_id, node, reason: self.masker.mask(&reason).into_owned() }
            }
            Event::NodeText { run_id, node, text } => {
                Event::NodeText { run_id, node, text: self.masker.mask(&text).into_owned() }
            }
            Event::RunFinished { run_id, status, error, depth } => {
                Event::RunFinished { run_id, status, error: self.masker.mask_opt(error), depth }
            }
            other => other,
        };
        self.inner.event(&masked);
    }

    fn wants_events(&self) -> bool {
        self.inner.wants_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str = "[secret:plugin:telegram:token]";

    #[test]
    fn masks_values_and_their_variants_longest_first() {
        let m = Masker::default();
        assert_eq!(m.mask("nothing yet"), "nothing yet");
        m.add("tok", "Abc-123\"x");
        m.add("tok2", "Abc-123\"x-long");
        assert_eq!(m.mask("say Abc-123\"x-long and ABC-123\"X"), "say [secret:tok2] and [secret:tok]");
        assert_eq!(m.mask(r#"{"v":"Abc-123\"x"}"#), r#"{"v":"[secret:tok]"}"#);
        let v = m.mask_value(serde_json::json!({"a": ["abc-123\"x"]}));
        assert_eq!(v, serde_json::json!({"a": ["[secret:tok]"]}));
    }

    #[test]
    fn a_label_is_never_masked_again() {
        // Issue #23: the value occurs in its own name.
        let m = Masker::default();
        m.add("plugin:telegram:token", "telegram");
        assert_eq!(m.mask("telegram is used by the telegram channel"), format!("{TG} is used by the {TG} channel"));
        assert_eq!(m.mask("TELEGRAM"), TG);
        // A one-character key hides every `k` and `K`, but only in the original text.
        m.add("OPENAI_API_KEY", "k");
        assert_eq!(
            m.mask("Incorrect API key: k. KEY"),
            "Incorrect API [secret:OPENAI_API_KEY]ey: [secret:OPENAI_API_KEY]. [secret:OPENAI_API_KEY]EY"
        );
    }

    #[test]
    fn a_value_inside_another_secrets_name_stays_out_of_its_label() {
        let m = Masker::default();
        m.add("plugin:telegram:token", "s3cr3t-tg");
        m.add("plugin:mail:password", "telegram");
        m.add("x", "plugin");
        assert_eq!(m.mask("plugin telegram s3cr3t-tg"), format!("[secret:x] [secret:plugin:mail:password] {TG}"));
    }

    #[test]
    fn leftmost_longest_and_overlaps_hidden_whole() {
        let m = Masker::default();
        m.add("short", "abc");
        m.add("long", "abcdef");
        // Two matches start at 0: the longer one is written.
        assert_eq!(m.mask("abcdefg abcx"), "[secret:long]g [secret:short]x");
        // A match inside another one is part of it.
        m.add("inner", "bcd");
        assert_eq!(m.mask("abcdef"), "[secret:long]");
        assert_eq!(m.mask("xbcdx"), "x[secret:inner]x");
        // Two values that overlap: the leftmost one's label, and nothing of either shown.
        m.add("tail", "efghij");
        assert_eq!(m.mask("_abcdefghij_"), "_[secret:long]_");
        // Values that only touch get a label each.
        assert_eq!(m.mask("abcdefefghij"), "[secret:long][secret:tail]");
        // The order of `add` does not matter.
        let other = Masker::default();
        other.add("tail", "efghij");
        other.add("inner", "bcd");
        other.add("long", "abcdef");
        other.add("short", "abc");
        for text in ["abcdefg abcx", "abcdef", "xbcdx", "_abcdefghij_", "abcdefefghij"] {
            assert_eq!(other.mask(text), m.mask(text), "{text}");
        }
    }

    #[test]
    fn case_and_json_variants() {
        let m = Masker::default();
        m.add("n", "Tok\"En\n");
        assert_eq!(m.mask("TOK\"EN\n tok\"en\n"), "[secret:n] [secret:n]");
        let json = serde_json::to_string(&serde_json::json!({"v": "Tok\"En\n"})).unwrap();
        assert_eq!(m.mask(&json), r#"{"v":"[secret:n]"}"#);
        // A value that ends with a quote keeps its escaped quote in the JSON variant.
        m.add("q", "pass\"");
        assert_eq!(m.mask(r#"{"p":"pass\""}"#), r#"{"p":"[secret:q]"}"#);
        // Non-ASCII values and text around them.
        m.add("u", "Grüße-Zürich");
        assert_eq!(m.mask("→ GRÜSSE-ZÜRICH / grüße-zürich ←"), "→ [secret:u] / [secret:u] ←");
        assert_eq!(m.mask("→ Grüße-Zürich ←"), "→ [secret:u] ←");
    }

    #[test]
    fn borrows_when_nothing_matches_and_rebuilds_after_an_add() {
        let m = Masker::default();
        assert!(matches!(m.mask("text"), Cow::Borrowed(_)));
        m.add("a", "first-value");
        assert!(matches!(m.mask("no secret here"), Cow::Borrowed(_)));
        assert_eq!(m.mask("first-value second-value"), "[secret:a] second-value");
        m.add("b", "second-value");
        assert_eq!(m.mask("first-value second-value"), "[secret:a] [secret:b]");
        // Adding a known value again keeps the search (and the first name).
        let before = m.search();
        m.add("c", "first-value");
        assert!(Arc::ptr_eq(&before, &m.search()));
        assert_eq!(m.mask("first-value"), "[secret:a]");
        assert_eq!(m.mask_opt(Some("x".into())), Some("x".into()));
        assert_eq!(
            m.mask_value(serde_json::json!({"k": [1, "second-value"]})),
            serde_json::json!({"k": [1, "[secret:b]"]})
        );
    }

    #[test]
    fn no_value_survives_masking_random_text() {
        // Small alphabets make values overlap, nest and repeat in every way.
        let mut rng = fastrand::Rng::with_seed(23);
        let word = |rng: &mut fastrand::Rng, lengths: std::ops::Range<usize>| -> String {
            let len = rng.usize(lengths);
            (0..len).map(|_| ['a', 'b', 'é'][rng.usize(..3)]).collect()
        };
        for _ in 0..2000 {
            let m = Masker::default();
            let values: Vec<String> = (0..rng.usize(1..5)).map(|_| word(&mut rng, 2..5)).collect();
            for (i, v) in values.iter().enumerate() {
                m.add(&format!("N{i}"), v);
            }
            let text = word(&mut rng, 0..40);
            let masked = m.mask(&text);
            // What is left between labels holds no variant of any value.
            let mut rest = masked.to_string();
            for i in 0..values.len() {
                rest = rest.replace(&format!("[secret:N{i}]"), "|");
            }
            for part in rest.split('|') {
                for v in &values {
                    for variant in [v.clone(), v.to_uppercase()] {
                        assert!(!part.contains(&variant), "{text:?} with {values:?} gave {masked:?}");
                    }
                }
                assert!(text.contains(part), "{text:?} with {values:?} gave {masked:?}");
            }
        }
    }
}
