//! Secrets in runs: `secret('NAME')` resolves through a [`SecretSource`] (the vault) at
//! render time, only for names the skill declares, and every access goes to the security
//! log. Whatever is written or shown is masked: a value read with `secret()` — and every
//! rendered value that used one (after `upper`, `replace`, concatenation…) — becomes
//! `[secret:NAME]` in the store, the logs, the progress view, errors and outputs, also
//! when a program echoes it back.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use age::secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::record::*;
use super::store::{Store, StoreResult};
use super::{Event, Observer};
use crate::audit::{Event as AuditEvent, SecurityLog};

/// Where secret values come from (the vault, unlocked on first use).
pub trait SecretSource: Send + Sync {
    fn get(&self, name: &str) -> Result<SecretString, String>;
}

/// The values to hide, shared by every run of this process.
#[derive(Default)]
pub struct Masker {
    active: AtomicBool,
    /// (text to hide, secret name), longest first.
    needles: RwLock<Vec<(String, String)>>,
}

impl Masker {
    /// Hides `value` (and its case and JSON-escaped variants) as `[secret:NAME]` from now on.
    pub fn add(&self, name: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut variants = vec![value.to_string(), value.to_uppercase(), value.to_lowercase()];
        if let Ok(json) = serde_json::to_string(value) {
            variants.push(json.trim_matches('"').to_string());
        }
        let mut needles = self.needles.write().unwrap_or_else(|p| p.into_inner());
        for v in variants {
            if !v.is_empty() && !needles.iter().any(|(n, _)| *n == v) {
                needles.push((v, name.to_string()));
            }
        }
        needles.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        self.active.store(true, Ordering::Release);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.is_active() {
            return Cow::Borrowed(text);
        }
        let needles = self.needles.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Cow::Borrowed(text);
        for (needle, name) in needles.iter() {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), &format!("[secret:{name}]")));
            }
        }
        out
    }

    pub fn mask_opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| self.mask(&t).into_owned())
    }

    pub fn mask_value(&self, value: Value) -> Value {
        if !self.is_active() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.mask(&s).into_owned()),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.mask_value(v))).collect()),
            other => other,
        }
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
    crate::security::redact::redact(&masked).into_owned()
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
}
