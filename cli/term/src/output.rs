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

/// Text that came from a model, a tool or a file, made safe to show on a terminal: escape
/// sequences and other control characters become visible symbols, so the text cannot move
/// the cursor, erase or hide lines, set the clipboard or fake a prompt. Newlines and tabs
/// stay; `\r\n` becomes `\n`. C0 controls show as their Control Pictures (`␛` for ESC,
/// `␍` for a lone CR), DEL as `␡`, C1 controls (U+0080–U+009F) as `�`.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{7f}' => out.push('␡'),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'))
            }
            c if unsafe_char(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(printable("Fine.\x1b[2K\r\x1b]52;c;aGk=\x07\x1b[8mhidden"), "Fine.␛[2K␍␛]52;c;aGk=␇␛[8mhidden");
        assert_eq!(printable("line\r\nnext\u{9b}31m\u{7f}"), "line\nnext\u{fffd}31m␡");
    }
}
