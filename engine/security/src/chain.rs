//! The security log's hash chain: each line carries `seq` (its number, from 1) and `prev`
//! (the SHA-256, in hex, of the line before it, exactly as written; 64 zeros for the first),
//! and `security.head` holds the last line's number and hash. [`verify`] reads a log and
//! its head and says where the chain breaks: an edited or inserted line breaks the link
//! after it, lines removed at the start leave a first number above 1, lines removed at the
//! end leave the head ahead of the log.
//!
//! The chain shows tampering by anything that does not also recompute it: it is not a
//! signature (whoever can write the home can rewrite both), so the audit says "rewritten"
//! and not "forged".

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The SHA-256 of a line (without its newline), in hex.
pub fn hash(line: &str) -> String {
    Sha256::digest(line.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A line's `seq`, if it has one.
pub fn seq_of(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?.get("seq")?.as_u64()
}

/// The last line of `file` (without its newline), read backwards from its end; `None`
/// for an empty file.
pub fn last_line(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut tail: Vec<u8> = Vec::new();
    let mut end = len;
    // Past the trailing newline, back to the one before it (or the start).
    loop {
        let start = end.saturating_sub(4096);
        let mut chunk = vec![0; usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if let Some(i) = body.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(String::from_utf8_lossy(&body[i + 1..]).into_owned()));
        }
        if start == 0 {
            return Ok((!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned()));
        }
        end = start;
    }
}

/// Writes the head (`{"seq":N,"hash":"…"}`) through a temporary file and a rename, 0600.
pub fn write_head(path: &Path, seq: u64, hash: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("head.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    std::io::Write::write_all(&mut file, serde_json::json!({ "seq": seq, "hash": hash }).to_string().as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Where the chain breaks: the line (from 1) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub line: usize,
    pub what: String,
}

/// What [`verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines written before the chain existed (at the start of the log).
    pub unchained: usize,
    /// Chained lines.
    pub chained: usize,
    pub breaks: Vec<Break>,
}

/// Checks the chain of a log's text against its head (the head file's text, if any).
pub fn verify(text: &str, head: Option<&str>) -> Verified {
    let mut out = Verified::default();
    let mut previous: Option<(usize, &str, Option<u64>)> = None;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        count = number;
        let fields = serde_json::from_str::<serde_json::Value>(line).ok();
        let Some(fields) = fields.filter(serde_json::Value::is_object) else {
            out.breaks.push(Break { line: number, what: "not a JSON object: the line was damaged or edited".into() });
            previous = Some((number, line, None));
            continue;
        };
        let seq = fields.get("seq").and_then(serde_json::Value::as_u64);
        let prev = fields.get("prev").and_then(serde_json::Value::as_str);
        let (Some(seq), Some(prev)) = (seq, prev) else {
            if out.chained == 0 {
                out.unchained += 1;
            } else {
                out.breaks.push(Break {
                    line: number,
                    what: "a line without `seq` and `prev` among chained lines: it was inserted or edited".into(),
                });
            }
            previous = Some((number, line, None));
            continue;
        };
        out.chained += 1;
        match previous {
            None if seq != 1 || prev != GENESIS => out.breaks.push(Break {
                line: number,
                what: format!("the log starts at entry {seq}: the entries before it were removed"),
            }),
            None => {}
            Some((_, before, before_seq)) => {
                let expected = before_seq.map_or(1, |n| n + 1);
                if prev != hash(before) {
                    out.breaks.push(Break {
                        line: number,
                        what: format!(
                            "does not follow line {}: a line here was edited, inserted or removed",
                            number - 1
                        ),
                    });
                } else if seq != expected {
                    out.breaks.push(Break {
                        line: number,
                        what: format!("numbered {seq} where {expected} was expected: the line was edited"),
                    });
                }
            }
        }
        previous = Some((number, line, Some(seq)));
    }
    let Some(head) = head else {
        if out.chained > 0 {
            out.breaks.push(Break { line: count, what: "`security.head` is missing: it was removed".into() });
        }
        return out;
    };
    let head: Option<(u64, String)> = serde_json::from_str::<serde_json::Value>(head)
        .ok()
        .and_then(|v| Some((v.get("seq")?.as_u64()?, v.get("hash")?.as_str()?.to_string())));
    let Some((head_seq, head_hash)) = head else {
        out.breaks.push(Break { line: count, what: "`security.head` is damaged".into() });
        return out;
    };
    match previous {
        Some((number, _, Some(seq))) if seq < head_seq => out.breaks.push(Break {
            line: number,
            what: format!("the log ends at entry {seq}, but {head_seq} were written: the last ones were removed"),
        }),
        Some((number, last, Some(_))) if hash(last) != head_hash => {
            out.breaks.push(Break { line: number, what: "the last line was rewritten after it was written".into() });
        }
        Some((_, _, Some(_))) => {}
        _ => out.breaks.push(Break {
            line: count,
            what: format!("`security.head` counts {head_seq} entries, but the log ends without a chained line"),
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained log of `n` lines and its head.
    fn log(n: u64) -> (Vec<String>, String) {
        let mut lines = Vec::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=n {
            let line = format!(r#"{{"action":"vault.get","outcome":"granted","seq":{seq},"prev":"{prev}"}}"#);
            prev = hash(&line);
            lines.push(line);
        }
        (lines, format!(r#"{{"seq":{n},"hash":"{prev}"}}"#))
    }

    fn text(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn an_intact_log_has_no_break() {
        let (lines, head) = log(5);
        let v = verify(&text(&lines), Some(&head));
        assert_eq!((v.chained, v.unchained, v.breaks), (5, 0, vec![]));
    }

    #[test]
    fn an_edited_line_breaks_the_next_link() {
        let (mut lines, head) = log(5);
        lines[2] = lines[2].replace("granted", "denied");
        let v = verify(&text(&lines), Some(&head));
        assert_eq!(v.breaks.len(), 1, "{v:?}");
        assert_eq!(v.breaks[0].line, 4);
    }

    #[test]
    fn removed_lines_at_either_end_show() {
        let (lines, head) = log(5);
        let v = verify(&text(&lines[2..]), Some(&head));
        assert!(v.breaks[0].what.contains("starts at entry 3"), "{v:?}");
        let v = verify(&text(&lines[..3]), Some(&head));
        assert!(v.breaks[0].what.contains("ends at entry 3, but 5"), "{v:?}");
        assert_eq!(v.breaks[0].line, 3);
    }

    #[test]
    fn unchained_lines_before_the_chain_are_counted_not_broken() {
        let legacy = r#"{"action":"vault.get","outcome":"granted"}"#.to_string();
        let first = format!(r#"{{"action":"x","outcome":"y","seq":1,"prev":"{}"}}"#, hash(&legacy));
        let head = format!(r#"{{"seq":1,"hash":"{}"}}"#, hash(&first));
        let v = verify(&text(&[legacy.clone(), first.clone()]), Some(&head));
        assert_eq!((v.unchained, v.chained, v.breaks.len()), (1, 1, 0), "{v:?}");
        // Inserted among chained lines, an unchained line is a break.
        let (mut lines, head) = log(3);
        lines.insert(2, legacy);
        assert!(!verify(&text(&lines), Some(&head)).breaks.is_empty());
    }

    #[test]
    fn a_missing_head_and_garbage_are_breaks() {
        let (lines, _) = log(2);
        assert!(verify(&text(&lines), None).breaks[0].what.contains("missing"));
        let (mut lines, head) = log(2);
        lines[0] = "not json".into();
        let v = verify(&text(&lines), Some(&head));
        assert!(v.breaks.iter().any(|b| b.line == 1 && b.what.contains("not a JSON")), "{v:?}");
    }

    #[test]
    fn the_last_line_is_read_backwards() {
        let dir = std::env::temp_dir().join(format!("pyra-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "").unwrap();
        assert_eq!(last_line(&mut File::open(&path).unwrap()).unwrap(), None);
        let long = "x".repeat(10_000);
        std::fs::write(&path, format!("first\n{long}\n")).unwrap();
        assert_eq!(last_line(&mut File::open(&path).unwrap()).unwrap(), Some(long));
        std::fs::write(&path, "only").unwrap();
        assert_eq!(last_line(&mut File::open(&path).unwrap()).unwrap().as_deref(), Some("only"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
