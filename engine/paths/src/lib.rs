//! Where Pyra may read and write. [`PathPolicy`] is the one function that turns a path
//! from a skill into a file-system path and refuses what is off limits; [`make_private`]
//! is the one check-and-fix of owner-only modes under the home.
//!
//! **Architecture invariant:** no other code decides whether a node, template or plugin
//! may touch a path: `file.read`, `file.write` and `exec`'s `cwd` go through
//! [`PathPolicy::check`]; the vault, the run database, the config and the run locks are
//! never reachable through it, symlinks included (DESIGN §11).

mod policy;
mod private;

pub use policy::*;
pub use private::{make_private, write_atomic};
