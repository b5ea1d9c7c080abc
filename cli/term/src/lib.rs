//! The terminal: [`output`] is the only place Pyra writes to stdout and stderr (colour only
//! on a terminal without `NO_COLOR`, a closed pipe is fine) and [`output::printable`] makes
//! any text safe to show; [`markdown`] styles a model's streamed reply without redrawing.
//!
//! **Architecture invariant:** knows nothing of skills, runs or the engine — text in,
//! text out. Every text from a model, a tool or a file passes `printable` before it
//! reaches a terminal: no escape sequence or carriage return from outside is ever obeyed.

pub mod markdown;
pub mod output;
