//! iCalendar (RFC 5545) and vCard (RFC 6350) text: content lines (§3.1: folding,
//! parameters with quoted values, TEXT escaping) into a tree of components and back.
//! Properties the tools do not touch are kept as they were, so an update changes only
//! what it names. Dates and times are in [`crate::nextcloud::when`].

/// One content line: `NAME;PARAM=a,b:value` (name upper-cased, value still escaped).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub params: Vec<(String, Vec<String>)>,
    pub value: String,
}

impl Line {
    pub fn new(name: &str, value: impl Into<String>) -> Line {
        Line { name: name.to_ascii_uppercase(), params: Vec::new(), value: value.into() }
    }

    /// A TEXT property: the value escaped.
    pub fn text(name: &str, value: &str) -> Line {
        Line::new(name, escape(value))
    }

    pub fn with_param(mut self, name: &str, value: &str) -> Line {
        self.params.push((name.to_ascii_uppercase(), vec![value.to_string()]));
        self
    }

    /// The first value of a parameter (`TZID`, `VALUE`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first()).map(String::as_str)
    }

    /// The value read as TEXT (escapes undone).
    pub fn text_value(&self) -> String {
        unescape(&self.value)
    }

    fn render(&self) -> String {
        let mut s = self.name.clone();
        for (name, values) in &self.params {
            s.push(';');
            s.push_str(name);
            s.push('=');
            let quoted: Vec<String> = values
                .iter()
                .map(|v| {
                    let v: String = v.chars().filter(|c| *c != '"' && !c.is_control()).collect();
                    if v.contains([':', ';', ',']) { format!("\"{v}\"") } else { v }
                })
                .collect();
            s.push_str(&quoted.join(","));
        }
        s.push(':');
        s.push_str(&self.value);
        s
    }
}

/// A component (`VCALENDAR`, `VEVENT`, `VCARD`, …) with its lines and sub-components.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Component {
    pub name: String,
    pub lines: Vec<Line>,
    pub subs: Vec<Component>,
}

impl Component {
    pub fn new(name: &str) -> Component {
        Component { name: name.to_string(), ..Component::default() }
    }

    pub fn get(&self, name: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.name.eq_ignore_ascii_case(name))
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.lines.iter().filter(move |l| l.name.eq_ignore_ascii_case(name))
    }

    /// A TEXT property's value, unescaped; `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(Line::text_value).filter(|v| !v.is_empty())
    }

    /// Removes every `name` line and, when given, adds `line` in the first one's place.
    pub fn set(&mut self, name: &str, line: Option<Line>) {
        let at = self.lines.iter().position(|l| l.name.eq_ignore_ascii_case(name));
        self.lines.retain(|l| !l.name.eq_ignore_ascii_case(name));
        if let Some(line) = line {
            let at = at.unwrap_or(self.lines.len()).min(self.lines.len());
            self.lines.insert(at, line);
        }
    }

    /// The text form, CRLF line ends, folded at 75 octets (never inside a character).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        fold_into(out, &format!("BEGIN:{}", self.name));
        for line in &self.lines {
            fold_into(out, &line.render());
        }
        for sub in &self.subs {
            sub.render_into(out);
        }
        fold_into(out, &format!("END:{}", self.name));
    }
}

fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// Unfolds: a line break followed by a space or a tab continues the line.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ if raw.trim().is_empty() => {}
            _ => lines.push(raw.to_string()),
        }
    }
    lines
}

/// One unfolded content line.
fn parse_line(line: &str) -> Result<Line, String> {
    let bad = |why: &str| {
        let shown: String = line.chars().take(40).filter(|c| !c.is_control()).collect();
        format!("a malformed content line ({why}): {shown:?}")
    };
    let name_end = line.find([';', ':']).ok_or_else(|| bad("no `:`"))?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(bad("a bad property name"));
    }
    // A vCard group (`item1.EMAIL`) is dropped: the property is what matters here.
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    let mut params = Vec::new();
    let mut rest = &line[name_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=').ok_or_else(|| bad("a parameter without `=`"))?;
        let pname = after[..eq].to_ascii_uppercase();
        let mut values = Vec::new();
        let mut s = &after[eq + 1..];
        loop {
            let (value, tail) = if let Some(q) = s.strip_prefix('"') {
                let close = q.find('"').ok_or_else(|| bad("an unclosed quote"))?;
                (&q[..close], &q[close + 1..])
            } else {
                let end = s.find([',', ';', ':']).unwrap_or(s.len());
                (&s[..end], &s[end..])
            };
            values.push(value.to_string());
            match tail.strip_prefix(',') {
                Some(more) => s = more,
                None => {
                    s = tail;
                    break;
                }
            }
        }
        params.push((pname, values));
        rest = s;
    }
    let value = rest.strip_prefix(':').ok_or_else(|| bad("no `:` after the parameters"))?;
    Ok(Line { name, params, value: value.to_string() })
}

/// The components of a text (`VCALENDAR`s, `VCARD`s), nested as written.
pub fn parse(text: &str) -> Result<Vec<Component>, String> {
    let mut stack: Vec<Component> = Vec::new();
    let mut top = Vec::new();
    for raw in unfold(text) {
        let line = parse_line(&raw)?;
        match line.name.as_str() {
            "BEGIN" => {
                if stack.len() >= 16 {
                    return Err("components nest deeper than 16".into());
                }
                stack.push(Component::new(&line.value.trim().to_ascii_uppercase()));
            }
            "END" => {
                let done = stack.pop().ok_or("an END without its BEGIN")?;
                if !done.name.eq_ignore_ascii_case(line.value.trim()) {
                    return Err(format!("END:{} closes BEGIN:{}", line.value.trim(), done.name));
                }
                match stack.last_mut() {
                    Some(parent) => parent.subs.push(done),
                    None => top.push(done),
                }
            }
            _ => match stack.last_mut() {
                Some(c) => c.lines.push(line),
                None => return Err(format!("`{}` outside any BEGIN/END", line.name)),
            },
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("BEGIN:{} is never closed", open.name));
    }
    Ok(top)
}

/// TEXT escaping (§3.3.11): backslash, semicolon, comma, newline.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            ';' => s.push_str("\\;"),
            ',' => s.push_str("\\,"),
            '\n' => s.push_str("\\n"),
            '\r' => {}
            c if c.is_control() && c != '\t' => {}
            c => s.push(c),
        }
    }
    s
}

pub fn unescape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            s.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => s.push('\n'),
            Some(other) => s.push(other),
            None => s.push('\\'),
        }
    }
    s
}

/// A structured value's components (`N`, `ADR`: split at unescaped `;`), unescaped.
pub fn split_structured(value: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if let Some(p) = parts.last_mut() {
                p.extend(['\\', c]);
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ';' {
            parts.push(String::new());
        } else if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts.iter().map(|p| unescape(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_quoted_params_and_escapes() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Tea\\, cake \\; a long\r\n  line\\nnext\r\nDTSTART;TZID=\"Europe/Berlin\":20261208T090000\r\nATTENDEE;CN=\"Doe, J\";ROLE=REQ-PARTICIPANT:mailto:j@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let cal = parse(text).unwrap();
        let ev = &cal[0].subs[0];
        assert_eq!(ev.name, "VEVENT");
        assert_eq!(ev.text("summary").as_deref(), Some("Tea, cake ; a long line\nnext"));
        assert_eq!(ev.get("DTSTART").unwrap().param("tzid"), Some("Europe/Berlin"));
        let att = ev.get("ATTENDEE").unwrap();
        assert_eq!(att.param("CN"), Some("Doe, J"));
        assert_eq!(att.value, "mailto:j@example.org");
    }

    #[test]
    fn rendering_folds_at_75_octets_and_reads_back_the_same() {
        let mut ev = Component::new("VEVENT");
        let long = "Zürich ünd ".repeat(20);
        ev.lines.push(Line::text("SUMMARY", &format!("{long}; a, b\\c\nd")));
        ev.lines.push(Line::new("DTSTART", "20261208").with_param("VALUE", "DATE"));
        ev.lines.push(Line::new("X-ODD", "v").with_param("X-P", "a:b"));
        let text = ev.render();
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
        let back = parse(&text).unwrap().remove(0);
        assert_eq!(back, ev);
        assert_eq!(back.text("summary").unwrap(), format!("{long}; a, b\\c\nd"));
    }

    #[test]
    fn set_replaces_in_place_and_structured_values_split() {
        let mut c = parse("BEGIN:VCARD\nFN:A\nEMAIL:a@x\nitem1.EMAIL;TYPE=work:b@x\nN:Doe;Jane\\; Q;;;\nEND:VCARD\n")
            .unwrap()
            .remove(0);
        assert_eq!(c.all("EMAIL").map(|l| l.value.as_str()).collect::<Vec<_>>(), ["a@x", "b@x"]);
        assert_eq!(split_structured(&c.get("N").unwrap().value), ["Doe", "Jane; Q", "", "", ""]);
        c.set("FN", Some(Line::text("FN", "B")));
        assert_eq!(c.lines[0].value, "B");
        c.set("EMAIL", None);
        assert_eq!(c.lines.len(), 2);
    }

    #[test]
    fn broken_text_is_an_error_not_a_panic() {
        for (text, why) in [
            ("BEGIN:VEVENT\nSUMMARY\nEND:VEVENT", "no `:`"),
            ("BEGIN:VEVENT\nX;P=\"open:v\nEND:VEVENT", "unclosed quote"),
            ("BEGIN:VEVENT\n", "never closed"),
            ("END:VEVENT\n", "without its BEGIN"),
            ("BEGIN:A\nEND:B\n", "END:B closes BEGIN:A"),
            ("SUMMARY:x\n", "outside any BEGIN"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(parse(&"BEGIN:X\n".repeat(40)).unwrap_err().contains("deeper"));
        assert_eq!(unescape("a\\"), "a\\");
    }
}
