//! The security core's pure text checks: nothing here touches the disk, the vault or the network.
//!
//! [`scan`] looks for prompt injection in untrusted text (HTTP responses, file contents, tool
//! results, messages) and returns findings with a category and a byte span in the original text,
//! so callers can log them and apply a skill's `on_injection: warn | block`. [`redact`] masks
//! key-shaped strings (API keys, bearer tokens, private-key blocks) in anything Pyra logs, even
//! when the value never came from the vault.
//!
//! [`audit`] is the security log, `logs/security.log`: one JSON line per event (vault
//! access with key, skill, run, node, granted or denied), append-only, 0600.
//!
//! **Architecture invariant:** the checks are pure functions of their text (no IO, no
//! global state but compiled patterns); the log never receives a secret value — details
//! pass the redactor — and is only ever appended to.

pub mod audit;
pub mod chain;
pub mod redact;
pub mod scan;
