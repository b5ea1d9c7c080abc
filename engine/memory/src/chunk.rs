//! Splits a note's body into chunks for embedding: at headings, then at blank lines
//! (paragraphs), merging small neighbours up to a size and cutting a paragraph that is longer
//! at whitespace. Each chunk keeps its line range in the file, so a hit can say where it is.
//!
//! Chunking first is what keeps a provider from truncating silently (Ollama's `/api/embed`
//! cuts a long input to the model's context without saying so).

/// One piece of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// First and last line in the file, counted from 1.
    pub start_line: u32,
    pub end_line: u32,
    pub text: String,
}

/// A run of lines: (first line, last line, text).
type Block = (u32, u32, String);

/// Chunks of `body`, whose first line is line `first_line` of the file; none are longer than
/// `max_chars` characters (at least 64). Blank bodies give no chunk.
pub fn split(body: &str, first_line: u32, max_chars: usize) -> Vec<Chunk> {
    let max_chars = max_chars.max(64);
    // Blocks: paragraphs, a heading starting a new one.
    let mut blocks: Vec<Block> = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in body.lines().enumerate() {
        let n = first_line + u32::try_from(i).unwrap_or(u32::MAX - first_line);
        let heading = line.trim_start().starts_with('#');
        if line.trim().is_empty() || heading {
            blocks.extend(current.take());
        }
        if line.trim().is_empty() {
            continue;
        }
        match &mut current {
            Some((_, end, text)) => {
                *end = n;
                text.push('\n');
                text.push_str(line);
            }
            None => current = Some((n, n, line.to_string())),
        }
    }
    blocks.extend(current);
    // Merge neighbours while they fit; a heading always starts a chunk.
    let mut chunks: Vec<Chunk> = Vec::new();
    for (start, end, text) in blocks {
        let heading = text.trim_start().starts_with('#');
        let chars = text.chars().count();
        if let Some(last) = chunks.last_mut()
            && !heading
            && last.text.chars().count() + 2 + chars <= max_chars
        {
            last.text.push_str("\n\n");
            last.text.push_str(&text);
            last.end_line = end;
            continue;
        }
        if chars <= max_chars {
            chunks.push(Chunk { start_line: start, end_line: end, text });
        } else {
            chunks.extend(cut(start, &text, max_chars));
        }
    }
    chunks
}

/// A long block cut at whitespace into pieces of at most `max_chars` characters, each with
/// the lines it spans.
fn cut(start: u32, text: &str, max_chars: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut piece_start = 0usize; // byte offset
    let mut line_of_start = start;
    while piece_start < text.len() {
        let rest = &text[piece_start..];
        let limit = rest.char_indices().nth(max_chars).map_or(rest.len(), |(i, _)| i);
        let end = if limit == rest.len() {
            limit
        } else {
            // The last whitespace inside the limit; none: cut at the limit.
            rest[..limit].rfind(char::is_whitespace).filter(|&i| i > 0).unwrap_or(limit)
        };
        let piece = &rest[..end];
        let lines = u32::try_from(piece.matches('\n').count()).unwrap_or(0);
        if !piece.trim().is_empty() {
            out.push(Chunk {
                start_line: line_of_start,
                end_line: line_of_start + lines,
                text: piece.trim().to_string(),
            });
        }
        line_of_start += lines;
        // Skip the whitespace the cut stopped at (counting a newline in it).
        let skipped = rest[end..].len() - rest[end..].trim_start().len();
        line_of_start += u32::try_from(rest[end..end + skipped].matches('\n').count()).unwrap_or(0);
        piece_start += end + skipped;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_start_chunks_and_paragraphs_merge() {
        let body =
            "# Keys\n\nThe spare key is under the blue pot.\n\nAsk Ana.\n## Car\nThe car key\nis in the drawer.\n";
        let chunks = split(body, 5, 1200);
        let got: Vec<(u32, u32, &str)> = chunks.iter().map(|c| (c.start_line, c.end_line, c.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (5, 9, "# Keys\n\nThe spare key is under the blue pot.\n\nAsk Ana."),
                (10, 12, "## Car\nThe car key\nis in the drawer."),
            ]
        );
    }

    #[test]
    fn small_limit_keeps_paragraphs_apart_and_cuts_long_ones() {
        let long = "word ".repeat(60); // 300 characters on one line
        let body = format!("first paragraph\n\n{long}\nnext line\n");
        let chunks = split(&body, 1, 100);
        assert_eq!(chunks[0], Chunk { start_line: 1, end_line: 1, text: "first paragraph".into() });
        assert!(chunks[1..].iter().all(|c| c.text.chars().count() <= 100), "{chunks:?}");
        assert!(chunks[1..].iter().all(|c| c.start_line == 3 || c.start_line == 4), "{chunks:?}");
        assert_eq!(chunks.last().unwrap().end_line, 4);
        let words: usize = chunks[1..].iter().map(|c| c.text.split_whitespace().count()).sum();
        assert_eq!(words, 62);
    }

    #[test]
    fn blank_and_unbroken_text() {
        assert!(split("\n\n  \n", 1, 100).is_empty());
        let chunks = split(&"é".repeat(150), 1, 64);
        assert_eq!(chunks.iter().map(|c| c.text.chars().count()).collect::<Vec<_>>(), vec![64, 64, 22]);
    }
}
