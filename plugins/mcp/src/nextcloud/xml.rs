//! WebDAV `multistatus` answers (RFC 4918 §14.16) read into the few properties the
//! tools use. The answer is untrusted: quick-xml reads it as a stream (no entities beyond
//! XML's five and character references, no DTD expansion), elements nest at most
//! [`MAX_DEPTH`] deep, and anything that is not a multistatus is a clear error.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const DAV: &str = "DAV:";
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Deeper nesting than any real answer has: an answer past it is refused.
const MAX_DEPTH: usize = 64;

/// The properties of one `response` that came with a 2xx `propstat`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Props {
    pub etag: Option<String>,
    pub calendar_data: Option<String>,
    pub address_data: Option<String>,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
    pub display_name: Option<String>,
    pub collection: bool,
}

/// One `response` of a multistatus.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Response {
    /// As the server wrote it (a path, usually percent-encoded).
    pub href: String,
    /// The response-level status (`HTTP/1.1 404 Not Found`), when given instead of propstats.
    pub status: Option<u16>,
    pub props: Props,
}

/// Which element we are in, by namespace and local name.
#[derive(Debug, Clone, PartialEq)]
struct Name {
    ns: &'static str,
    local: String,
}

fn known_ns(ns: &ResolveResult<'_>) -> &'static str {
    match ns {
        ResolveResult::Bound(n) => match n.into_inner() {
            DAV => DAV,
            CALDAV => CALDAV,
            CARDDAV => CARDDAV,
            _ => "other",
        },
        _ => "",
    }
}

/// The code of a status line (`HTTP/1.1 200 OK` → 200).
fn status_code(line: &str) -> Option<u16> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a multistatus body. An answer that is not XML, or whose root is not
/// `DAV:multistatus`, is an error saying so (with the first bytes, quoted and cut).
pub fn multistatus(body: &str) -> Result<Vec<Response>, String> {
    let mut reader = quick_xml::NsReader::from_str(body);
    let mut stack: Vec<Name> = Vec::new();
    let mut out: Vec<Response> = Vec::new();
    let mut current: Option<Response> = None;
    let mut propstat: Option<(Props, Option<u16>)> = None;
    let mut text = String::new();
    let mut saw_root = false;
    let bad = |why: String| {
        let start: String = body.trim_start().chars().take(60).filter(|c| !c.is_control()).collect();
        format!("the server's answer is not a WebDAV multistatus ({why}); it began with {start:?}")
    };
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| bad(e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = Name { ns: known_ns(&ns), local: e.local_name().into_inner().to_string() };
                if stack.is_empty() {
                    if saw_root || name.ns != DAV || name.local != "multistatus" {
                        return Err(bad(format!("its root element is `{}`", name.local)));
                    }
                    saw_root = true;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(bad(format!("elements nest deeper than {MAX_DEPTH}")));
                }
                text.clear();
                if name.ns == DAV {
                    match name.local.as_str() {
                        "response" if stack.len() == 1 => current = Some(Response::default()),
                        "propstat" if current.is_some() => propstat = Some((Props::default(), None)),
                        "collection" => {
                            if let Some((props, _)) = propstat.as_mut()
                                && stack.last().is_some_and(|p| p.local == "resourcetype")
                            {
                                props.collection = true;
                            }
                        }
                        _ => {}
                    }
                }
                if !empty {
                    stack.push(name);
                } else {
                    end_of(&name, &stack, "", &mut current, &mut propstat, &mut out);
                }
            }
            Event::End(_) => {
                let Some(name) = stack.pop() else { return Err(bad("an unmatched end tag".into())) };
                end_of(&name, &stack, &text, &mut current, &mut propstat, &mut out);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| bad(e.to_string()))? {
                    text.push(c);
                } else {
                    let entity = r.xml10_content();
                    match quick_xml::escape::resolve_predefined_entity(&entity) {
                        Some(s) => text.push_str(s),
                        None => return Err(bad(format!("an unknown entity `&{entity};`"))),
                    }
                }
            }
            Event::DocType(_) => return Err(bad("a DOCTYPE, which WebDAV answers never have".into())),
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(bad("no root element".into()));
    }
    if !stack.is_empty() {
        return Err(bad("it ends before its elements do".into()));
    }
    Ok(out)
}

/// Files what an element held into the response or propstat it belongs to.
fn end_of(
    name: &Name,
    stack: &[Name],
    text: &str,
    current: &mut Option<Response>,
    propstat: &mut Option<(Props, Option<u16>)>,
    out: &mut Vec<Response>,
) {
    let parent = stack.last().map(|p| p.local.as_str()).unwrap_or("");
    let in_prop = parent == "prop" && propstat.is_some();
    let value = || Some(text.trim().to_string()).filter(|v| !v.is_empty());
    match (name.ns, name.local.as_str()) {
        (DAV, "response") if stack.len() == 1 => {
            if let Some(r) = current.take() {
                out.push(r);
            }
        }
        (DAV, "href") if parent == "response" => {
            if let Some(r) = current.as_mut() {
                r.href = text.trim().to_string();
            }
        }
        (DAV, "status") if parent == "response" => {
            if let Some(r) = current.as_mut() {
                r.status = status_code(text);
            }
        }
        (DAV, "status") if parent == "propstat" => {
            if let Some((_, status)) = propstat.as_mut() {
                *status = status_code(text);
            }
        }
        (DAV, "propstat") => {
            if let (Some((props, status)), Some(r)) = (propstat.take(), current.as_mut())
                && status.is_some_and(|s| (200..300).contains(&s))
            {
                merge(&mut r.props, props);
            }
        }
        _ if in_prop => {
            let Some((props, _)) = propstat.as_mut() else { return };
            match (name.ns, name.local.as_str()) {
                (DAV, "getetag") => props.etag = value(),
                (DAV, "getcontentlength") => props.content_length = text.trim().parse().ok(),
                (DAV, "getcontenttype") => props.content_type = value(),
                (DAV, "getlastmodified") => props.last_modified = value(),
                (DAV, "displayname") => props.display_name = value(),
                // iCalendar and vCard text keeps its line breaks: not trimmed.
                (CALDAV, "calendar-data") => {
                    props.calendar_data = Some(text.to_string()).filter(|t| !t.trim().is_empty())
                }
                (CARDDAV, "address-data") => {
                    props.address_data = Some(text.to_string()).filter(|t| !t.trim().is_empty())
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn merge(into: &mut Props, from: Props) {
    into.etag = from.etag.or(into.etag.take());
    into.calendar_data = from.calendar_data.or(into.calendar_data.take());
    into.address_data = from.address_data.or(into.address_data.take());
    into.content_length = from.content_length.or(into.content_length);
    into.content_type = from.content_type.or(into.content_type.take());
    into.last_modified = from.last_modified.or(into.last_modified.take());
    into.display_name = from.display_name.or(into.display_name.take());
    into.collection |= from.collection;
}

/// `text` escaped for an XML element's content or attribute.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <response>
    <href>/remote.php/dav/calendars/alice/personal/a%20b.ics</href>
    <propstat>
      <prop>
        <getetag>"e1"</getetag>
        <C:calendar-data>BEGIN:VCALENDAR&#13;
SUMMARY:Tea &amp; cake&#13;
END:VCALENDAR&#13;
</C:calendar-data>
      </prop>
      <status>HTTP/1.1 200 OK</status>
    </propstat>
    <propstat>
      <prop><getcontenttype/></prop>
      <status>HTTP/1.1 404 Not Found</status>
    </propstat>
  </response>
  <response>
    <href>/remote.php/dav/files/alice/Docs/</href>
    <propstat><prop><resourcetype><collection/></resourcetype><getlastmodified>Tue, 08 Dec 2026 09:00:00 GMT</getlastmodified></prop>
      <status>HTTP/1.1 200 OK</status></propstat>
  </response>
  <response><href>/gone</href><status>HTTP/1.1 404 Not Found</status></response>
</multistatus>"#;

    #[test]
    fn a_multistatus_gives_hrefs_etags_data_and_collections() {
        let r = multistatus(ANSWER).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].href, "/remote.php/dav/calendars/alice/personal/a%20b.ics");
        assert_eq!(r[0].props.etag.as_deref(), Some("\"e1\""));
        assert_eq!(
            r[0].props.calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR\r\nSUMMARY:Tea & cake\r\nEND:VCALENDAR\r\n")
        );
        assert!(!r[0].props.collection && r[0].props.content_type.is_none());
        assert!(r[1].props.collection);
        assert_eq!(r[1].props.last_modified.as_deref(), Some("Tue, 08 Dec 2026 09:00:00 GMT"));
        assert_eq!(r[2].status, Some(404));
    }

    #[test]
    fn prefixes_do_not_matter_namespaces_do() {
        let xml = r#"<d:multistatus xmlns:d="DAV:"><d:response><d:href>/x</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><other xmlns="urn:x"><d:getetag>"no"</d:getetag></other></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#;
        let r = multistatus(xml).unwrap();
        assert_eq!(r[0].props.etag.as_deref(), Some("\"1\""));
        let foreign = r#"<multistatus xmlns="urn:not-dav"><response/></multistatus>"#;
        assert!(multistatus(foreign).unwrap_err().contains("root element is `multistatus`"));
    }

    #[test]
    fn hostile_or_broken_answers_are_clear_errors() {
        for (body, why) in [
            ("<html><body>Login</body></html>", "its root element is `html`"),
            ("", "no root element"),
            ("<multistatus xmlns=\"DAV:\"><response>", "ends before its elements do"),
            ("<multistatus xmlns=\"DAV:\"><a></b></multistatus>", "not a WebDAV multistatus"),
            ("<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><multistatus xmlns=\"DAV:\">&lol;</multistatus>", "DOCTYPE"),
            ("<multistatus xmlns=\"DAV:\"><href>&lol;</href></multistatus>", "unknown entity `&lol;`"),
        ] {
            let e = multistatus(body).unwrap_err();
            assert!(e.contains(why) && e.contains("not a WebDAV multistatus"), "{body}: {e}");
        }
        let deep = format!("<multistatus xmlns=\"DAV:\">{}", "<a>".repeat(100));
        assert!(multistatus(&deep).unwrap_err().contains("nest deeper than 64"));
        assert_eq!(escape("a<b&\"c"), "a&lt;b&amp;&quot;c");
    }
}
