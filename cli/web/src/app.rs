//! The routes. Every request reaching [`App::route`] passed the checks in `http.rs`
//! (loopback `Host`, the credential, a same-origin POST). Reads go to the run store and
//! the daemon's armed skills; actions go through the daemon (start, resume) and the
//! store (cancel, approvals), the same records the terminal, `pyra approve` and the
//! channels use.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use minijinja::Environment;
use serde_json::{Value, json};

use daemon::core::Daemon;

use crate::http::{Body, text};
use crate::{approvals, pages, runs, view};

pub struct App {
    pub port: u16,
    pub token: String,
    pub daemon: Arc<Daemon>,
    pub env: Environment<'static>,
    /// The profile this daemon serves (`default` for the main home).
    pub profile: String,
    pub memory: crate::MemoryOpener,
}

/// A request's query as pairs.
pub fn query(parts: &Parts) -> Vec<(String, String)> {
    parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// The first value of `key` in pairs, trimmed, `None` when empty.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

impl App {
    /// What every page's layout needs: the profile and the count of pending approvals.
    pub fn base(&self, title: &str, nav: &str) -> Value {
        let pending = self.daemon.setup.sqlite.pending_approvals().map(|a| a.len()).unwrap_or(0);
        json!({ "title": title, "nav": nav, "profile": self.profile, "pending": pending })
    }

    /// A page with the layout's context merged in.
    pub fn page(&self, template: &str, title: &str, nav: &str, context: Value) -> Response<Body> {
        self.page_with(template, title, nav, context, StatusCode::OK)
    }

    pub fn page_with(
        &self,
        template: &str,
        title: &str,
        nav: &str,
        context: Value,
        status: StatusCode,
    ) -> Response<Body> {
        let mut all = self.base(title, nav);
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), context) {
            all.extend(more);
        }
        view::page_with(&self.env, template, all, status)
    }

    /// A page that says one thing (a refusal, a missing run).
    pub fn message(&self, status: StatusCode, title: &str, message: &str) -> Response<Body> {
        self.page_with("message.html", title, "", json!({ "message": message, "error": !status.is_success() }), status)
    }

    pub fn masker(&self) -> Arc<runtime::secrets::Masker> {
        self.daemon.runtime().masker.clone()
    }

    pub async fn route(self: &Arc<Self>, parts: &Parts, form: Vec<(String, String)>) -> Response<Body> {
        let path = parts.uri.path();
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let get = parts.method == Method::GET || parts.method == Method::HEAD;
        match (get, segs.as_slice()) {
            (true, [""]) => crate::http::see_other("/skills"),
            (true, ["skills"]) => pages::skills(self),
            (true, ["skills", name]) => pages::skill(self, name, &[], Vec::new(), StatusCode::OK),
            (false, ["skills", name, "run"]) => pages::start(self, name, form),
            (true, ["skills", name, "history"]) => pages::history(self, name, &query(parts)),
            (true, ["runs"]) => runs::list(self, &query(parts)),
            (true, ["runs", id]) => runs::show(self, id, &query(parts)),
            (true, ["runs", id, "events"]) => runs::events(self, id, parts),
            (false, ["runs", id, "cancel"]) => runs::cancel(self, id),
            (false, ["runs", id, "retry"]) => runs::retry(self, id, &form),
            (true, ["approvals"]) => approvals::list(self, None),
            (false, ["approvals", run, node]) => approvals::answer(self, run, node, &form),
            (true, ["memory"]) => pages::memory(self, &query(parts)),
            (true, ["memory", "note"]) => pages::note(self, &query(parts)),
            (false, _) => text(StatusCode::NOT_FOUND, "no such action"),
            (true, _) => self.message(StatusCode::NOT_FOUND, "Not found", &format!("Nothing is at {path}.")),
        }
    }
}

/// A path segment with its `%XX` escapes decoded (not `+`: that is a form's space).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(super::percent_decode("a%5B0%5D"), "a[0]");
        assert_eq!(super::percent_decode("a+b%2"), "a+b%2");
        assert_eq!(super::percent_decode("%E2%9C%93"), "✓");
    }
}
