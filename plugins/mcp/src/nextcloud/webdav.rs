//! The file tools over WebDAV (RFC 4918), every path confined under the files root:
//! `PROPFIND` to list, `GET` read up to a cap (text shown, binary described), `PUT`
//! (`If-None-Match: *` unless overwriting, missing folders made with `MKCOL`), `MOVE`
//! and `DELETE`.

use serde_json::{Value, json};

use super::dav::{self, Answer};
use super::{Ctx, required, result, str_arg};

const MAX_ENTRIES: usize = 1000;

/// The path as given, checked, and its URL under the root.
fn target(ctx: &Ctx<'_>, path: &str, dir: bool) -> Result<(String, Vec<String>, reqwest::Url), String> {
    let root = ctx.files_root()?;
    let segments = dav::segments(path)?;
    let url = dav::under(&root, &segments, dir);
    Ok((segments.join("/"), segments, url))
}

fn not_root(path: &str, segments: &[String]) -> Result<(), String> {
    if segments.is_empty() {
        return Err(format!("`{path}` is the files root itself: name a file or folder under it"));
    }
    Ok(())
}

pub async fn list(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let root = ctx.files_root()?;
    let (path, _, url) = target(ctx, str_arg(args, "path").unwrap_or(""), true)?;
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/><D:getcontenttype/><D:getetag/></D:prop></D:propfind>"#;
    let responses = match ctx.dav.multistatus("PROPFIND", &url, "1", body.to_string()).await {
        Err(e) if e.contains(" answered 404") => return Err(format!("no folder `{path}` under the files root")),
        other => other?,
    };
    let mut entries: Vec<Value> = responses
        .iter()
        .filter(|r| r.status.is_none_or(|s| (200..300).contains(&s)))
        .filter_map(|r| {
            let rel = dav::relative(&root, &r.href)?;
            (rel != path && !rel.is_empty()).then(|| {
                let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
                json!({
                    "name": name,
                    "path": rel,
                    "dir": r.props.collection,
                    "size": if r.props.collection { None } else { r.props.content_length },
                    "modified": r.props.last_modified,
                    "type": r.props.content_type,
                })
            })
        })
        .collect();
    entries.sort_by_key(|e| (!e["dir"].as_bool().unwrap_or(false), e["name"].as_str().unwrap_or("").to_lowercase()));
    let more = entries.len().saturating_sub(MAX_ENTRIES);
    entries.truncate(MAX_ENTRIES);
    let shown = if path.is_empty() { "/".to_string() } else { format!("{path}/") };
    let mut text = if entries.is_empty() {
        format!("{shown} is empty")
    } else {
        entries
            .iter()
            .map(|e| {
                let name = e["name"].as_str().unwrap_or("");
                match e["size"].as_u64() {
                    _ if e["dir"] == true => format!("{name}/"),
                    Some(n) => format!("{name}  ({n} bytes)"),
                    None => name.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if more > 0 {
        text.push_str(&format!("\n({more} more not shown)"));
    }
    Ok(result(text, json!({ "path": path, "entries": entries })))
}

/// The text of a body, or `None` when it is binary (a NUL, or not UTF-8 apart from a
/// character cut at the cap).
fn as_text(answer: &Answer) -> Option<&str> {
    let b = &answer.body;
    if b.contains(&0) {
        return None;
    }
    match std::str::from_utf8(b) {
        Ok(t) => Some(t),
        Err(e) if answer.cut && e.error_len().is_none() => std::str::from_utf8(&b[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

pub async fn get(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let (path, segments, url) = target(ctx, required(args, "path")?, false)?;
    not_root(&path, &segments)?;
    let cap = ctx.call.setting("max_file_bytes").and_then(|v| v.parse().ok()).unwrap_or(200_000usize);
    let answer = ctx.dav.send("GET", &url, &[], None, cap).await?;
    match answer.status {
        200 => {}
        404 => return Err(format!("no file `{path}` under the files root")),
        s => return Err(dav::status_error("GET", &url, s)),
    }
    let size = answer.length.or((!answer.cut).then_some(answer.body.len() as u64));
    let kind = answer.content_type.clone();
    let meta = json!({ "path": path, "size": size, "type": kind, "etag": answer.etag, "truncated": answer.cut });
    let Some(text) = as_text(&answer) else {
        let size = size.map(|n| format!("{n} bytes")).unwrap_or_else(|| format!("over {cap} bytes"));
        let text = format!(
            "`{path}` is a binary file ({size}, {}): its content is not shown",
            kind.as_deref().unwrap_or("unknown type")
        );
        let mut meta = meta;
        meta["binary"] = json!(true);
        return Ok(result(text, meta));
    };
    let mut text = text.to_string();
    if answer.cut {
        let of = size.map(|n| format!(" of {n}")).unwrap_or_default();
        text.push_str(&format!(
            "\n[cut: only the first {} bytes{of} are shown; `max_file_bytes` in the plugin's settings]",
            text.len()
        ));
    }
    let mut meta = meta;
    meta["binary"] = json!(false);
    Ok(result(text, meta))
}

/// Makes every folder on the way to `segments`' parent (an existing one is fine).
async fn make_parents(ctx: &Ctx<'_>, segments: &[String]) -> Result<(), String> {
    let root = ctx.files_root()?;
    for n in 1..segments.len() {
        let url = dav::under(&root, &segments[..n], true);
        let answer = ctx.dav.send("MKCOL", &url, &[], None, 64 * 1024).await?;
        if !matches!(answer.status, 200..=299 | 405) {
            return Err(dav::status_error("MKCOL", &url, answer.status));
        }
    }
    Ok(())
}

pub async fn put(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let (path, segments, url) = target(ctx, required(args, "path")?, false)?;
    not_root(&path, &segments)?;
    let content = str_arg(args, "content").ok_or("`content` is missing")?;
    let overwrite = args.get("overwrite").and_then(Value::as_bool).unwrap_or(false);
    let mut headers = vec![("Content-Type", "application/octet-stream".to_string())];
    if !overwrite {
        headers.push(("If-None-Match", "*".to_string()));
    }
    let mut answer = ctx.dav.send("PUT", &url, &headers, Some(content.as_bytes().to_vec()), 64 * 1024).await?;
    if answer.status == 409 && segments.len() > 1 {
        make_parents(ctx, &segments).await?;
        answer = ctx.dav.send("PUT", &url, &headers, Some(content.as_bytes().to_vec()), 64 * 1024).await?;
    }
    match answer.status {
        200..=299 => {}
        412 => {
            return Err(format!("`{path}` exists already; nothing was written (pass `overwrite: true` to replace it)"));
        }
        s => return Err(dav::status_error("PUT", &url, s)),
    }
    let created = answer.status == 201;
    let verb = if created { "wrote" } else { "replaced" };
    Ok(result(
        format!("{verb} `{path}` ({} bytes)", content.len()),
        json!({ "path": path, "bytes": content.len(), "created": created, "etag": answer.etag }),
    ))
}

pub async fn r#move(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let (from, from_segments, url) = target(ctx, required(args, "from")?, false)?;
    let (to, to_segments, destination) = target(ctx, required(args, "to")?, false)?;
    not_root(&from, &from_segments)?;
    not_root(&to, &to_segments)?;
    let overwrite = args.get("overwrite").and_then(Value::as_bool).unwrap_or(false);
    let headers =
        [("Destination", destination.to_string()), ("Overwrite", if overwrite { "T" } else { "F" }.to_string())];
    let answer = ctx.dav.send("MOVE", &url, &headers, None, 64 * 1024).await?;
    match answer.status {
        200..=299 => Ok(result(format!("moved `{from}` to `{to}`"), json!({ "from": from, "to": to }))),
        412 => Err(format!("`{to}` exists already; nothing was moved (pass `overwrite: true` to replace it)")),
        404 => Err(format!("no `{from}` under the files root")),
        409 => Err(format!("the folder `{to}` would go into does not exist")),
        s => Err(dav::status_error("MOVE", &url, s)),
    }
}

pub async fn delete(ctx: &Ctx<'_>, args: &Value) -> Result<Value, String> {
    let (path, segments, url) = target(ctx, required(args, "path")?, false)?;
    not_root(&path, &segments)?;
    let answer = ctx.dav.send("DELETE", &url, &[], None, 64 * 1024).await?;
    match answer.status {
        200..=299 => Ok(result(format!("deleted `{path}`"), json!({ "path": path, "deleted": true }))),
        404 => Err(format!("no `{path}` under the files root")),
        s => Err(dav::status_error("DELETE", &url, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &[u8], cut: bool) -> Answer {
        Answer { status: 200, etag: None, content_type: None, length: None, body: body.to_vec(), cut }
    }

    #[test]
    fn text_is_shown_and_binary_is_not() {
        assert_eq!(as_text(&answer(b"hello", false)), Some("hello"));
        assert_eq!(as_text(&answer(b"\x89PNG\r\n\x1a\n\0\0", false)), None);
        assert_eq!(as_text(&answer(b"\xff\xfe", false)), None);
        // A character cut at the cap is dropped, not taken for binary.
        assert_eq!(as_text(&answer("añ".as_bytes()[..2].as_ref(), true)), Some("a"));
    }
}
