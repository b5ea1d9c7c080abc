//! Block rules: what the start of a line is (heading, fence, list item, quote, rule) once
//! enough of it has arrived.

/// What the start of a line turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Block {
    /// A paragraph's line (or one that only looked like a marker for a while).
    Text,
    Heading,
    /// `- `, `* ` or `+ `.
    Bullet,
    /// `1. ` or `1) `.
    Ordered,
    Quote,
    Rule,
    /// An opening fence: its char and length.
    Fence(char, usize),
}

/// Tells what the held start of a line is, given from its first non-blank char, and how many
/// of its bytes the marker takes (the rest is read after it); `None` while more chars are
/// needed. `at_eol`: the line ends after `held`, so it must decide. No fences in quotes.
pub(super) fn classify(held: &str, at_eol: bool, quoted: bool) -> Option<(Block, usize)> {
    let first = held.chars().next()?;
    let after = held.trim_start_matches(first);
    // The run of `first`; a char count only for the ASCII markers, which is all it is used for.
    let run = held.len() - after.len();
    let is_blank = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    let text = Some((Block::Text, 0));
    match first {
        '#' => match after.chars().next() {
            Some(' ' | '\t') if run <= 6 => Some((Block::Heading, run + 1)),
            None if run <= 6 && !at_eol => None,
            _ => text,
        },
        '`' | '~' if !quoted => match after.is_empty() {
            true if !at_eol => None,
            _ if run >= 3 => Some((Block::Fence(first, run), run)),
            _ => text,
        },
        '-' | '*' | '+' | '_' => {
            if run == 1 && first != '_' && after.starts_with([' ', '\t']) {
                Some((Block::Bullet, 2))
            } else if first != '+' && is_blank(after) {
                match at_eol {
                    false => None,
                    true if run >= 3 => Some((Block::Rule, held.len())),
                    true => text,
                }
            } else if after.is_empty() && !at_eol {
                None
            } else {
                text
            }
        }
        '0'..='9' => {
            let digits = held.chars().take_while(char::is_ascii_digit).count();
            let mut rest = held[digits..].chars();
            match (rest.next(), rest.next()) {
                _ if digits > 9 => text,
                (Some('.' | ')'), Some(' ' | '\t')) => Some((Block::Ordered, digits + 2)),
                (None, _) | (Some('.' | ')'), None) if !at_eol => None,
                _ => text,
            }
        }
        '>' => match after.chars().next() {
            None if held.len() == 1 && !at_eol => None,
            _ if held[1..].starts_with(' ') => Some((Block::Quote, 2)),
            _ => Some((Block::Quote, 1)),
        },
        _ => text,
    }
}

/// If `held` can still be (or is) a fence of `ch`s, only blanks after it: the fence's length.
pub(super) fn fence_run(held: &str, ch: char) -> Option<usize> {
    let after = held.trim_start_matches(ch);
    after.chars().all(|c| c == ' ' || c == '\t').then_some(held.len() - after.len())
}
