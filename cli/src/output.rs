//! Writing to the terminal: stdout for results, stderr for diagnostics and errors, colour
//! only on a terminal and never with `NO_COLOR`. A closed pipe (`pyra … | head`) is not
//! an error.

use std::io::{IsTerminal, Write};

/// Writes a result to stdout.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes diagnostics or progress to stderr.
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// Prints `error: message` to stderr.
pub fn error_line(message: &str) {
    let prefix = if color_stderr() { "\x1b[1;31merror\x1b[0m" } else { "error" };
    err(&format!("{prefix}: {message}\n"));
}

/// Whether stderr gets ANSI colours.
pub fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}
