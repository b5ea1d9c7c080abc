//! The `ssh` and `server` built-ins, through the system `ssh`. (feature `plugin-ssh`; being written.)

use std::sync::Arc;

use crate::builtin::Builtin;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    Vec::new()
}
