//! Located text: the bytes of a user's file and the positions inside it. [`source`] holds a
//! file and maps byte offsets to lines and columns, [`yaml`] parses it into a tree that
//! keeps the span of every key and value, [`diag`] is the diagnostic every later phase
//! reports (rendered as a snippet with a caret, or as JSON), [`suggest`] finds "did you
//! mean", and [`duration`] reads `1h30m`. Skill files and `config.yaml` share all of it.
//!
//! **Architecture invariant:** pure — no file, network or terminal IO, no global state.
//! Every span handed to the renderer lies on character boundaries, whatever phase made it
//! (`SourceFile::snap`). Bad input gives a diagnostic, never a panic.

pub mod diag;
pub mod duration;
pub mod source;
pub mod suggest;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use source::{SourceFile, Span};
