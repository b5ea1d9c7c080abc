//! Optional YAML front matter of a memory note: parse it, render it, bump `updated`.
//!
//! A note may start with a `---` line, YAML, and a closing `---` (or `...`) line. The known
//! fields are `title`, `summary`, `keywords` (a list, or one comma-separated string),
//! `created`, `updated` and `injection` (the prompt-injection categories found in content
//! that came from an untrusted source; the user deletes the line once they have looked).
//! Other top-level fields (a user's `source:`, `tags:`, comments) are kept verbatim in
//! [`FrontMatter::extra`] and written back by [`render`] and [`touch`]: nothing a user
//! put there is lost. Front matter that is not valid YAML never fails a read: the fields are
//! left empty and the error is returned for the caller to report.

use serde::Deserialize;

/// The known fields of a note's front matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub keywords: Vec<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    /// Categories of prompt-injection findings in untrusted content written to the note.
    pub injection: Vec<String>,
    /// Every other top-level field and comment, as the YAML lines they were written in.
    pub extra: String,
    /// `embed: false`: the note is never sent to a remote embedding provider. Read from
    /// the YAML but kept in [`FrontMatter::extra`], so it is written back as the user wrote it.
    pub embed: Option<bool>,
}

impl FrontMatter {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.summary.is_none()
            && self.keywords.is_empty()
            && self.created.is_none()
            && self.updated.is_none()
            && self.injection.is_empty()
            && self.extra.is_empty()
    }
}

/// The fields [`FrontMatter`] reads; the others stay in [`FrontMatter::extra`].
const KNOWN: &[&str] = &["title", "summary", "keywords", "created", "updated", "injection"];

/// The key of a top-level line (`key: …`, `"key": …`), `None` for a continuation line
/// (indented, a list item, blank) or a comment.
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '-', '#']) || line.trim().is_empty() {
        return None;
    }
    let key = line.split(':').next()?.trim();
    Some(key.trim_matches(['"', '\'']))
}

/// The lines of `yaml` that belong to fields other than [`KNOWN`], and top-level comments.
fn extra_lines(yaml: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in yaml.split_inclusive('\n') {
        if line.starts_with('#') {
            keep = true;
        } else if let Some(key) = top_level_key(line) {
            keep = !KNOWN.contains(&key);
        }
        if keep {
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    title: Option<String>,
    summary: Option<String>,
    keywords: Option<Keywords>,
    created: Option<String>,
    updated: Option<String>,
    injection: Option<Keywords>,
    embed: Option<Flag>,
}

/// A yes/no a person may write as `false`, `"no"` or `off` (strict booleans keep `no` a string).
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn value(&self) -> Option<bool> {
        match self {
            Flag::Bool(b) => Some(*b),
            Flag::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "false" | "no" | "off" => Some(false),
                "true" | "yes" | "on" => Some(true),
                _ => None,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Keywords {
    List(Vec<String>),
    One(String),
}

/// A note split into its front matter and its body.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub meta: FrontMatter,
    /// The text after the front matter (the whole text when there is none).
    pub body: &'a str,
    /// Why the front matter could not be read, when it could not.
    pub error: Option<String>,
}

/// Splits `text` into (YAML, body) when it starts with a front matter block.
fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare == "..." {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Reads the front matter of `text` (a leading byte order mark is ignored).
pub fn parse(text: &str) -> Parsed<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some((yaml, body)) = split(text) else {
        return Parsed { meta: FrontMatter::default(), body: text, error: None };
    };
    if yaml.trim().is_empty() {
        return Parsed { meta: FrontMatter::default(), body, error: None };
    }
    match serde_saphyr::from_str::<Raw>(yaml) {
        Ok(raw) => {
            let list = |k: Option<Keywords>| -> Vec<String> {
                let items = match k {
                    Some(Keywords::List(list)) => list,
                    Some(Keywords::One(one)) => one.split(',').map(str::to_string).collect(),
                    None => Vec::new(),
                };
                items.into_iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect()
            };
            let keywords = list(raw.keywords);
            let injection = list(raw.injection);
            let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            let meta = FrontMatter {
                title: clean(raw.title),
                summary: clean(raw.summary),
                keywords,
                created: clean(raw.created),
                updated: clean(raw.updated),
                injection,
                extra: extra_lines(yaml),
                embed: raw.embed.as_ref().and_then(Flag::value),
            };
            Parsed { meta, body, error: None }
        }
        Err(e) => Parsed { meta: FrontMatter::default(), body, error: Some(format!("front matter is not valid: {e}")) },
    }
}

/// A YAML double-quoted scalar: JSON string escapes are valid YAML escapes.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// `key: ["a", "b"]` and a newline.
fn list_line(key: &str, items: &[String]) -> String {
    let list: Vec<String> = items.iter().map(|k| quoted(k)).collect();
    format!("{key}: [{}]\n", list.join(", "))
}

/// Renders `meta` as front matter followed by `body` (no block when `meta` is empty).
pub fn render(meta: &FrontMatter, body: &str) -> String {
    if meta.is_empty() {
        return body.to_string();
    }
    let mut out = String::from("---\n");
    let mut field = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push_str(&format!("{key}: {}\n", quoted(v)));
        }
    };
    field("title", &meta.title);
    field("summary", &meta.summary);
    if !meta.keywords.is_empty() {
        out.push_str(&list_line("keywords", &meta.keywords));
    }
    let mut field = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push_str(&format!("{key}: {}\n", quoted(v)));
        }
    };
    field("created", &meta.created);
    field("updated", &meta.updated);
    if !meta.injection.is_empty() {
        out.push_str(&list_line("injection", &meta.injection));
    }
    out.push_str(&meta.extra);
    out.push_str("---\n");
    out.push_str(body);
    out
}

/// Sets `updated` in the front matter of `text` and adds `injection` categories to the
/// ones already there, keeping every other line as it is; adds a front matter block (with
/// `created` and `updated`) when the note has none.
pub fn touch(text: &str, now: &str, injection: &[String]) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some((yaml, body)) = split(text) else {
        let meta = FrontMatter {
            created: Some(now.to_string()),
            updated: Some(now.to_string()),
            injection: injection.to_vec(),
            ..Default::default()
        };
        return render(&meta, text);
    };
    let mut lines = vec![format!("updated: {}\n", quoted(now))];
    if !injection.is_empty() {
        let mut all = parse(text).meta.injection;
        for c in injection {
            if !all.contains(c) {
                all.push(c.clone());
            }
        }
        lines.push(list_line("injection", &all));
    }
    let mut out = String::from("---\n");
    let mut replaced = vec![false; lines.len()];
    for l in yaml.split_inclusive('\n') {
        let at =
            lines.iter().position(|new| new.split(':').next().is_some_and(|key| l.starts_with(&format!("{key}:"))));
        match at {
            Some(i) if !replaced[i] => {
                out.push_str(&lines[i]);
                replaced[i] = true;
            }
            _ => {
                out.push_str(l);
                if !l.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    for (line, done) in lines.iter().zip(replaced) {
        if !done {
            out.push_str(line);
        }
    }
    out.push_str("---\n");
    out.push_str(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_body() {
        let p = parse("---\nsummary: A cat\nkeywords: [pets, cats]\ncreated: 2026-01-02\nextra: 1\n---\n# Tom\nbody\n");
        assert_eq!(p.error, None);
        assert_eq!(p.meta.summary.as_deref(), Some("A cat"));
        assert_eq!(p.meta.keywords, vec!["pets", "cats"]);
        assert_eq!(p.meta.created.as_deref(), Some("2026-01-02"));
        assert_eq!(p.body, "# Tom\nbody\n");
    }

    #[test]
    fn keywords_as_one_string_and_no_front_matter() {
        let p = parse("---\nkeywords: a, b ,c\n---\nx");
        assert_eq!(p.meta.keywords, vec!["a", "b", "c"]);
        let p = parse("just text\n---\n");
        assert_eq!(p.meta, FrontMatter::default());
        assert_eq!(p.body, "just text\n---\n");
        let p = parse("---\nnot closed\n");
        assert_eq!(p.body, "---\nnot closed\n");
    }

    #[test]
    fn embed_false_is_read_and_kept_as_written() {
        for (line, want) in [("embed: false", Some(false)), ("embed: no", Some(false)), ("embed: true", Some(true))] {
            let text = format!("---\n{line}\n---\nbody");
            let p = parse(&text);
            assert_eq!((p.meta.embed, p.error.as_deref()), (want, None), "{line}");
            assert_eq!(p.meta.extra, format!("{line}\n"));
        }
        assert_eq!(parse("---\nembed: maybe\n---\nbody").meta.embed, None);
    }

    #[test]
    fn bad_yaml_is_reported_not_fatal() {
        let p = parse("---\nsummary: [unclosed\n---\nbody");
        assert!(p.error.is_some());
        assert_eq!(p.body, "body");
    }

    #[test]
    fn render_round_trips() {
        let meta = FrontMatter {
            title: None,
            summary: Some("quotes \" and: colons\nnewline # hash".into()),
            keywords: vec!["a, b".into(), "c'd".into()],
            created: Some("2026-01-01T00:00:00Z".into()),
            updated: Some("2026-01-02T00:00:00Z".into()),
            injection: vec!["instruction_override".into()],
            extra: "# mine\nsource: https://example.org/a\ntags:\n  - home\n".into(),
            embed: None,
        };
        let text = render(&meta, "body\n");
        let p = parse(&text);
        assert_eq!(p.error, None, "{text}");
        assert_eq!(p.meta, meta);
        assert_eq!(p.body, "body\n");
    }

    #[test]
    fn fields_pyra_does_not_know_are_kept_in_order() {
        let text = "---\n# from my phone\nsource: web\nsummary: s\ntags:\n  - a\n  - b\nkeywords: [k]\nmood: 'ok: fine'\n---\nbody\n";
        let p = parse(text);
        assert_eq!(p.error, None);
        assert_eq!(p.meta.extra, "# from my phone\nsource: web\ntags:\n  - a\n  - b\nmood: 'ok: fine'\n");
        let rendered = render(&p.meta, p.body);
        assert_eq!(parse(&rendered).meta, p.meta, "{rendered}");
    }

    #[test]
    fn set_updated_keeps_other_lines() {
        let text = "---\nsummary: s\ncustom: keep\nupdated: old\n---\nbody\n";
        let out = touch(text, "NOW", &[]);
        assert!(out.contains("custom: keep\n"));
        assert_eq!(parse(&out).meta.updated.as_deref(), Some("NOW"));
        assert_eq!(parse(&out).body, "body\n");
        let out = touch("plain\n", "NOW", &[]);
        assert_eq!(parse(&out).meta.created.as_deref(), Some("NOW"));
        assert_eq!(parse(&out).body, "plain\n");
    }

    #[test]
    fn touch_adds_injection_categories_once() {
        let flagged = vec!["exfiltration".to_string()];
        let out = touch("---\nsummary: s\n---\nbody\n", "NOW", &flagged);
        assert_eq!(parse(&out).meta.injection, flagged);
        let out = touch(&out, "LATER", &["exfiltration".to_string(), "role_hijack".to_string()]);
        let meta = parse(&out).meta;
        assert_eq!(meta.injection, vec!["exfiltration", "role_hijack"]);
        assert_eq!(meta.summary.as_deref(), Some("s"));
        assert_eq!(meta.updated.as_deref(), Some("LATER"));
        assert_eq!(out.matches("injection:").count(), 1);
        let out = touch("plain\n", "NOW", &flagged);
        assert_eq!(parse(&out).meta.injection, flagged);
    }
}
