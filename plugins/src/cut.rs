//! Cutting long text into the pieces a messenger takes, the same way for every platform:
//! each piece as long as the platform's measure allows, cut at a paragraph break if one
//! is in the second half of the piece, else at a line break, a space, or anywhere — never
//! inside a character. Blank pieces are dropped.

/// Cuts `text`; `fits(rest)` is the byte index (a character boundary) up to which `rest`
/// fits in one message (`rest.len()` when all of it does; at least one character).
pub fn cut(text: &str, fits: impl Fn(&str) -> usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = fits(rest);
        // Never nothing: at least one character goes, so every text ends.
        let end = if end == 0 { rest.chars().next().map_or(rest.len(), char::len_utf8) } else { end };
        if end >= rest.len() {
            out.push(rest.to_string());
            break;
        }
        let piece = &rest[..end];
        let cut = ["\n\n", "\n", " "]
            .iter()
            .find_map(|sep| piece.rfind(sep).filter(|&at| at > end / 2).map(|at| at + sep.len()))
            .unwrap_or(end);
        out.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start_matches('\n');
    }
    out.retain(|m| !m.trim().is_empty());
    out
}

/// The byte index up to which `rest` fits when each character costs `cost(c)` and a
/// message holds `limit`.
pub fn by_cost(rest: &str, limit: usize, cost: impl Fn(char) -> usize) -> usize {
    let mut used = 0;
    for (i, c) in rest.char_indices() {
        used += cost(c);
        if used > limit {
            return i;
        }
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::{by_cost, cut};

    #[test]
    fn pieces_end_at_paragraphs_then_lines_then_spaces_and_never_inside_a_character() {
        let fits = |rest: &str| by_cost(rest, 10, |_| 1);
        assert_eq!(cut("short", fits), ["short"]);
        assert!(cut("", fits).is_empty() && cut(" \n ", fits).is_empty());
        assert_eq!(cut("aaaaaa\n\nbbbbbbbb", fits), ["aaaaaa", "bbbbbbbb"]);
        assert_eq!(cut("aaaaaaa bbbbbbbb", fits), ["aaaaaaa", "bbbbbbbb"]);
        assert_eq!(cut("abcdefghijklmno", fits), ["abcdefghij", "klmno"]);
        let wide = |rest: &str| by_cost(rest, 5, char::len_utf8);
        assert_eq!(cut("ääää", wide), ["ää", "ää"], "a character is never split");
        assert_eq!(cut("😀", |_| 0), ["😀"], "a character that never fits still goes");
    }
}
