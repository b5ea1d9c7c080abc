//! The `cloud` built-in, driving `rclone`. (feature `plugin-cloud`; being written.)

use std::sync::Arc;

use crate::builtin::Builtin;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    Vec::new()
}
