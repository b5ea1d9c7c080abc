//! How a command ends: its exit code ([`exit`]) and the [`Failure`] that carries an error
//! message to `main`, which prints it. Every command module returns these; nothing here
//! knows any command.

/// Exit codes: 0 success, 1 the command ran and found a problem (an invalid skill), 2 a
/// usage error (bad arguments, unknown skill name).
pub mod exit {
    pub const OK: u8 = 0;
    pub const INVALID: u8 = 1;
    pub const USAGE: u8 = 2;
    /// The run waits for an approval.
    pub const WAITING: u8 = 3;
    /// The run was cancelled (128 + SIGINT, as shells report it).
    pub const CANCELLED: u8 = 130;
}

/// Exit codes of the commands that run skills.
pub const RUN_EXIT_CODES: &str = "Exit codes:
  0    the run succeeded
  1    a node failed, an approval was rejected, or the skill is invalid
  2    usage error (unknown skill, bad input)
  3    the run waits for an approval (answer with `pyra approve` / `pyra reject`)
  130  the run was cancelled (Ctrl-C, `pyra runs cancel`)";

/// An error that ends the command, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: exit::USAGE, message: message.into() }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self { code: exit::INVALID, message: message.into() }
    }
}
