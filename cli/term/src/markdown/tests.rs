//! The markdown stream's tests: every construct, and every way of splitting the text.

use super::block::*;
use super::*;

const WIDTH: usize = 40;

/// Feeds `pieces` to a stream `WIDTH` columns wide; returns all it wrote, `finish` included.
fn render_with(color: bool, pieces: &[&str]) -> String {
    let mut md = MarkdownStream::new(color, WIDTH);
    let mut out: String = pieces.iter().map(|piece| md.push(piece)).collect();
    out.push_str(&md.finish());
    out
}

fn render(doc: &str) -> String {
    render_with(true, &[doc])
}

fn char_pieces(doc: &str) -> Vec<&str> {
    doc.char_indices().map(|(i, c)| &doc[i..i + c.len_utf8()]).collect()
}

/// The text without its SGR sequences: what the terminal shows.
fn strip_ansi(styled: &str) -> String {
    let mut visible = String::new();
    let mut rest = styled;
    while let Some(start) = rest.find("\x1b[") {
        visible.push_str(&rest[..start]);
        let end = rest[start..].find('m').expect("an SGR sequence ends with m");
        rest = &rest[start + end + 1..];
    }
    visible.push_str(rest);
    visible
}

/// Documents, and what they show once styled: the text minus the markers the styling
/// consumed (`<rule>` stands for a rule `WIDTH` wide).
const DOCS: &[(&str, &str)] = &[
    ("# Title\n## Sub *it* `c`\n####### seven\n#tag\n", "# Title\n## Sub it c\n####### seven\n#tag\n"),
    (
        "- one\n  - two\n    * three **b**\n+ four\n1. first\n12) second\n-5 degrees\n1.5 l\n",
        "• one\n  • two\n    • three b\n• four\n1. first\n12) second\n-5 degrees\n1.5 l\n",
    ),
    (
        "Code:\n```rust\nlet x = a ** b; // **no** _bold_ `x`\n  ```not the end\n```\nafter **b**\n",
        "Code:\n```rust\nlet x = a ** b; // **no** _bold_ `x`\n  ```not the end\n```\nafter b\n",
    ),
    ("````md\n```\ninner\n```\n````\n~~~\n*x*\n~~~\n", "````md\n```\ninner\n```\n````\n~~~\n*x*\n~~~\n"),
    ("use `a * b` and `` x`y `` and ` ` here\n", "use a * b and x`y and   here\n"),
    ("un**believ**able and a*b*c, **a**_b_\n", "unbelievable and abc, ab\n"),
    ("2 * 3 = 6 and 2*3 = 6 and a ** b\n", "2 * 3 = 6 and 2*3 = 6 and a ** b\n"),
    ("snake_case_name, __init__ and _it_ and _x_y\n", "snake_case_name, init and it and _x_y\n"),
    ("an unclosed **bold\nand *em and `code\n", "an unclosed **bold\nand *em and `code\n"),
    ("**bold *it* more** and ***both*** and **`code`**\n", "bold it more and both and code\n"),
    (
        "see [the *docs*](https://example.com/a_b*c_(x)) now, [x] box, a[i] and [open\n",
        "see the docs (https://example.com/a_b*c_(x)) now, [x] box, a[i] and [open\n",
    ),
    ("> quoted *text*\n> > nested\n>tight\n> - item\n", "│ quoted text\n│ │ nested\n│ tight\n│ • item\n"),
    ("above\n\n---\n***\n___ \n--\n** x\nbelow\n", "above\n\n<rule>\n<rule>\n<rule>\n--\n** x\nbelow\n"),
    ("# T\r\n- a **b**\r\nend\r", "# T\n• a b\nend\r"),
    ("café — naïve *é* 🦀 **日本** «_ok_»\n", "café — naïve é 🦀 日本 «ok»\n"),
    ("\\*not em\\* and C:\\Users\n", "*not em* and C:\\Users\n"),
    ("no newline at the end **bold**", "no newline at the end bold"),
    ("```\nunclosed *code*", "```\nunclosed *code*"),
    ("", ""),
];

#[test]
fn splitting_never_changes_the_output() {
    for (doc, _) in DOCS {
        let whole = render(doc);
        assert_eq!(render_with(true, &char_pieces(doc)), whole, "one char at a time: {doc:?}");
        for (i, _) in doc.char_indices().skip(1) {
            let (a, b) = doc.split_at(i);
            assert_eq!(render_with(true, &[a, b]), whole, "split at {i}: {doc:?}");
        }
    }
}

#[test]
fn visible_text_is_the_input_minus_consumed_markers() {
    let rule = "─".repeat(WIDTH);
    for (doc, shown) in DOCS {
        assert_eq!(strip_ansi(&render(doc)), shown.replace("<rule>", &rule), "{doc:?}");
    }
}

#[test]
fn plain_mode_writes_the_input_unchanged() {
    for (doc, _) in DOCS {
        assert_eq!(render_with(false, &[doc]), *doc);
        assert_eq!(render_with(false, &char_pieces(doc)), *doc);
    }
}

#[test]
fn every_styled_line_ends_with_a_reset() {
    for (doc, _) in DOCS {
        let out = render(doc);
        for line in out.split_inclusive('\n') {
            let line = line.strip_suffix('\n').unwrap_or(line);
            if line.contains('\x1b') {
                assert!(line.ends_with(RESET), "{line:?} in {doc:?}");
            }
        }
    }
}

#[test]
fn emphasis_is_styled_and_its_markers_dropped() {
    let out = render("**a**");
    assert!(out.contains("\x1b[1ma"), "{out:?}");
    assert!(!out.contains("**"), "{out:?}");
    assert_eq!(render("*a* __b__ _c_"), "\x1b[3ma\x1b[0m \x1b[1mb\x1b[0m \x1b[3mc\x1b[0m");
    assert_eq!(render("***a***"), "\x1b[1;3ma\x1b[0m");
}

#[test]
fn code_is_literal() {
    let out = render("```\n**x** _y_\n```\n");
    assert!(out.contains("\x1b[36m**x** _y_"), "{out:?}");
    assert!(out.starts_with("\x1b[2m```"), "{out:?}");
    let out = render("run `a * b*c*` now");
    assert!(out.contains("\x1b[36ma * b*c*\x1b[0m"), "{out:?}");
}

#[test]
fn heading_text_is_bold_and_its_marker_dim() {
    assert_eq!(render("## Title\n"), "\x1b[2m## \x1b[0m\x1b[1mTitle\x1b[0m\n");
}

#[test]
fn a_star_between_spaces_is_kept() {
    assert_eq!(render("2 * 3 = 6"), "2 * 3 = 6");
    assert_eq!(render("snake_case_name"), "snake_case_name");
}

#[test]
fn lists_quotes_rules_and_links() {
    assert_eq!(render("  - item\n"), "  • item\n");
    assert_eq!(render("3. third\n"), "\x1b[1m3.\x1b[0m third\x1b[0m\n");
    assert_eq!(render("> hi\n"), "\x1b[2m│ \x1b[3mhi\x1b[0m\n");
    assert_eq!(strip_ansi(&render_with(true, &["---"])), "─".repeat(WIDTH));
    let mut wide = MarkdownStream::new(true, 200);
    let rule = wide.push("***\n");
    assert_eq!(strip_ansi(&rule), format!("{}\n", "─".repeat(MAX_RULE)));
    assert_eq!(render("[a](u)"), "\x1b[4ma\x1b[0m\x1b[2m (u)\x1b[0m");
}

#[test]
fn mid_line_text_is_written_by_the_same_push() {
    let mut md = MarkdownStream::new(true, 80);
    assert_eq!(md.push("Hi "), "Hi ");
    assert_eq!(md.push("hello "), "hello ");
    assert_eq!(md.push("world, café 🦀"), "world, café 🦀");
}

#[test]
fn only_what_is_undecided_is_held() {
    let mut md = MarkdownStream::new(true, 80);
    assert_eq!(md.push("#"), "", "may become a heading");
    assert_eq!(md.push("# T"), "\x1b[2m## \x1b[0m\x1b[1mT");
    assert_eq!(md.push("\nx "), "\x1b[0m\nx ");
    assert_eq!(md.push("*"), "", "may open emphasis");
    assert_eq!(md.push(" y"), "* y", "a star before a space is text");
    assert_eq!(md.push(" **b"), " ", "bold is held until it closes");
    assert_eq!(md.push("**"), "", "the closer needs the char after it");
    assert_eq!(md.push(" z"), "\x1b[1mb\x1b[0m z");
    assert_eq!(md.push(" **never closed"), " ");
    assert_eq!(md.finish(), "**never closed\x1b[0m");
}

#[test]
fn finish_resets_the_style_and_the_state() {
    let mut md = MarkdownStream::new(true, 80);
    assert_eq!(md.push("```\ncode"), "\x1b[2m```\x1b[0m\n\x1b[36mcode");
    assert_eq!(md.finish(), RESET);
    assert_eq!(md.push("**a**\n"), "\x1b[1ma\x1b[0m\n", "the code block ended with the reply");
    assert_eq!(md.finish(), "");
}

#[test]
fn a_long_unclosed_span_gives_up_and_flows_again() {
    let mut md = MarkdownStream::new(true, 80);
    let long = "x".repeat(MAX_HELD + 1);
    assert_eq!(md.push(&format!("*{long}")), format!("*{long}"));
    assert_eq!(md.push(" more"), " more");
}

/// Random markdown-heavy text: no panic, any split gives the same output, and no letter
/// or digit is ever lost (only markers are consumed).
#[test]
fn random_text_streams_the_same_and_loses_no_words() {
    const ALPHABET: &[&str] = &[
        "*", "**", "_", "`", "```", "~~~", "#", "# ", "- ", "1. ", "> ", "[", "]", "(", ")", "\\", " ", " ", "\n",
        "\r\n", "a", "b", "é", "🦀", "x_y", "---",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..500 {
        let doc: String = (0..next(40)).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
        let whole = render(&doc);
        let bounds: Vec<usize> = doc.char_indices().map(|(i, _)| i).chain([doc.len()]).collect();
        let (mut i, mut j) = (bounds[next(bounds.len())], bounds[next(bounds.len())]);
        if i > j {
            (i, j) = (j, i);
        }
        assert_eq!(render_with(true, &[&doc[..i], &doc[i..j], &doc[j..]]), whole, "{doc:?} split at {i}, {j}");
        let words = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<String>();
        assert_eq!(words(&strip_ansi(&whole)), words(&doc), "{doc:?}");
    }
}

#[test]
fn line_starts_are_classified() {
    assert_eq!(classify("#", false, false), None);
    assert_eq!(classify("#", true, false), Some((Block::Text, 0)));
    assert_eq!(classify("### ", false, false), Some((Block::Heading, 4)));
    assert_eq!(classify("``", false, false), None);
    assert_eq!(classify("```p", false, false), Some((Block::Fence('`', 3), 3)));
    assert_eq!(classify("```p", false, true), Some((Block::Text, 0)), "no fences in quotes");
    assert_eq!(classify("---", false, false), None);
    assert_eq!(classify("--- ", true, false), Some((Block::Rule, 4)));
    assert_eq!(classify("**b", false, false), Some((Block::Text, 0)));
    assert_eq!(classify("* ", false, false), Some((Block::Bullet, 2)));
    assert_eq!(classify("10.", false, false), None);
    assert_eq!(classify("10. ", false, false), Some((Block::Ordered, 4)));
    assert_eq!(classify(">", false, false), None);
    assert_eq!(classify("> ", false, false), Some((Block::Quote, 2)));
    assert_eq!(classify("é", false, false), Some((Block::Text, 0)));
}
