//! `contacts.search` over CardDAV (RFC 6352): an `addressbook-query` REPORT asking the
//! server to match, then the same match here (a server may ignore filters), on the
//! name, emails, phones, organisation and nickname.

use serde_json::{Value, json};

use super::ical::{self, Component};
use super::{Ctx, required, result, xml};

const FIELDS: [&str; 6] = ["FN", "N", "EMAIL", "TEL", "ORG", "NICKNAME"];

fn matches(card: &Component, needle: &str) -> bool {
    FIELDS.iter().any(|f| card.all(f).any(|l| l.text_value().to_lowercase().replace(';', " ").contains(needle)))
}

fn contact_json(card: &Component, etag: Option<&str>, href: &str) -> Value {
    let name = card.text("FN").unwrap_or_else(|| {
        card.get("N")
            .map(|n| {
                let parts = ical::split_structured(&n.value);
                [parts.get(1), parts.first()]
                    .into_iter()
                    .flatten()
                    .filter(|p| !p.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    });
    let values = |field: &str| card.all(field).map(|l| l.text_value()).filter(|v| !v.is_empty()).collect::<Vec<_>>();
    let org = card
        .get("ORG")
        .map(|o| ical::split_structured(&o.value).into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(", "));
    json!({
        "uid": card.text("UID"),
        "name": name,
        "emails": values("EMAIL"),
        "phones": values("TEL"),
        "org": org.filter(|o| !o.is_empty()),
        "nickname": card.text("NICKNAME"),
        "etag": etag,
        "href": href,
    })
}

pub async fn search(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let query = required(args, "query")?.trim().to_string();
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20).clamp(1, 100) as usize;
    let (name, url) = ctx.collection(&ctx.contacts_home()?, args, "addressbook", "addressbook")?;
    let q = xml::escape(&query);
    let filters: String = ["FN", "EMAIL", "TEL", "ORG", "NICKNAME"]
        .iter()
        .map(|f| {
            format!(
                r#"<C:prop-filter name="{f}"><C:text-match match-type="contains">{q}</C:text-match></C:prop-filter>"#
            )
        })
        .collect();
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
  <C:filter test="anyof">{filters}</C:filter>
</C:addressbook-query>"#
    );
    let responses = ctx.dav.multistatus("REPORT", &url, "1", body).await?;
    let needle = query.to_lowercase();
    let mut found: Vec<Value> = Vec::new();
    for r in &responses {
        let Some(data) = &r.props.address_data else { continue };
        let Ok(cards) = ical::parse(data) else { continue };
        for card in cards.iter().filter(|c| c.name == "VCARD" && matches(c, &needle)) {
            found.push(contact_json(card, r.props.etag.as_deref(), &r.href));
        }
    }
    found.sort_by(|a, b| {
        a["name"].as_str().unwrap_or("").to_lowercase().cmp(&b["name"].as_str().unwrap_or("").to_lowercase())
    });
    let more = found.len().saturating_sub(limit);
    found.truncate(limit);
    let mut text = if found.is_empty() {
        format!("no contact in `{name}` matches \"{query}\"")
    } else {
        found
            .iter()
            .map(|c| {
                let mut parts = vec![c["name"].as_str().unwrap_or("").to_string()];
                for key in ["emails", "phones"] {
                    parts.extend(c[key].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
                }
                parts.extend(c["org"].as_str().map(str::to_string));
                parts.join(" · ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if more > 0 {
        text.push_str(&format!("\n({more} more; raise `limit` or narrow the query)"));
    }
    Ok(result(text, json!({ "addressbook": name, "query": query, "contacts": found })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_matches_on_any_field_and_reads_its_name_from_n_without_fn() {
        let cards = ical::parse(
            "BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nitem1.EMAIL;TYPE=INTERNET:jane@example.org\nTEL:+49 30 1234\nORG:ACME\\, Inc.;Research\nEND:VCARD\n",
        )
        .unwrap();
        let card = &cards[0];
        for q in ["jane", "doe", "example.org", "1234", "acme"] {
            assert!(matches(card, q), "{q}");
        }
        assert!(!matches(card, "bob"));
        let c = contact_json(card, None, "/x.vcf");
        assert_eq!(c["name"], "Jane Doe");
        assert_eq!(c["emails"][0], "jane@example.org");
        assert_eq!(c["org"], "ACME, Inc., Research");
    }
}
