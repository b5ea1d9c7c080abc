//! The `docker` built-in: the Docker Engine API over its socket. (feature `plugin-docker`; being written.)

use std::sync::Arc;

use crate::builtin::Builtin;

/// This module's built-ins, for [`crate::builtin::all`].
pub fn builtins() -> Vec<Arc<dyn Builtin>> {
    Vec::new()
}
