//! The `email` built-in: IMAP + SMTP. (feature `plugin-email`; being written.)

use std::sync::Arc;

use crate::builtin::Builtin;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    Vec::new()
}
