//! Who may use the UI and how: the `Host` allow-list (DNS rebinding), the token exchanged
//! once for an HttpOnly, SameSite=Strict cookie named after the port (the Jupyter model;
//! cookies are not isolated by port), and the cross-origin check every state-changing
//! request passes (`Sec-Fetch-Site`, else `Origin`). Pure functions over headers.

use hyper::HeaderMap;
use hyper::header;

/// What a request may do after the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A known browser (the cookie) or client (`Authorization: Bearer`).
    Allowed,
    /// The token in the query: set the cookie and send the browser to `to` (no token).
    Exchange { to: String },
    /// No or a wrong credential.
    Unauthenticated,
}

/// The hosts a browser may name: loopback by name or address, with the port.
pub fn host_allowed(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let host = host.trim().to_ascii_lowercase();
    [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")].contains(&host)
}

/// The cookie's name: per port, so two daemons (two profiles) on one machine keep theirs.
pub fn cookie_name(port: u16) -> String {
    format!("pyra_web_{port}")
}

/// The `Set-Cookie` value that stores the token.
pub fn set_cookie(port: u16, token: &str) -> String {
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", cookie_name(port))
}

/// Equality that takes as long for every wrong value of the same length.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie_token(headers: &HeaderMap, port: u16) -> Option<String> {
    let name = cookie_name(port);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Decides a request by its credential: the cookie, a bearer token, or (a GET) the token
/// in the query, which is exchanged for the cookie.
pub fn authenticate(
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    token: &str,
    port: u16,
    get: bool,
) -> Verdict {
    if cookie_token(headers, port).is_some_and(|t| same(&t, token)) {
        return Verdict::Allowed;
    }
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|t| same(t.trim(), token)) {
        return Verdict::Allowed;
    }
    if get && let Some(query) = query {
        let mut given = None;
        let mut rest = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k == "token" {
                given = Some(v.into_owned());
            } else {
                rest.push((k.into_owned(), v.into_owned()));
            }
        }
        if given.is_some_and(|t| same(&t, token)) {
            let kept = form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish();
            let to = if kept.is_empty() { path.to_string() } else { format!("{path}?{kept}") };
            return Verdict::Exchange { to };
        }
    }
    Verdict::Unauthenticated
}

/// Whether a state-changing request comes from the UI's own pages: `Sec-Fetch-Site` is
/// `same-origin` (or `none`: typed by the person), or, from a browser that sends no
/// fetch metadata, `Origin` is this very origin. Anything else — another site's form, a
/// page on another local port — is refused.
pub fn same_origin(headers: &HeaderMap, port: u16) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // A client that is no browser (curl with the bearer token) sends neither.
        return headers.get(header::AUTHORIZATION).is_some();
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    host_allowed(headers, port) && origin.eq_ignore_ascii_case(&format!("http://{host}"))
}

/// The headers every response carries: no script but ours, no inline style or script, no
/// framing, no sniffing, the referrer kept to this origin (`no-referrer` would make
/// browsers send `Origin: null` and break the origin check).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn only_loopback_hosts_with_the_port_pass() {
        assert!(host_allowed(&headers(&[("host", "127.0.0.1:8790")]), 8790));
        assert!(host_allowed(&headers(&[("host", "LOCALHOST:8790")]), 8790));
        assert!(host_allowed(&headers(&[("host", "[::1]:8790")]), 8790));
        assert!(!host_allowed(&headers(&[("host", "evil.example:8790")]), 8790));
        assert!(!host_allowed(&headers(&[("host", "127.0.0.1:8791")]), 8790));
        assert!(!host_allowed(&headers(&[("host", "127.0.0.1")]), 8790));
        assert!(!host_allowed(&headers(&[]), 8790));
    }

    #[test]
    fn the_token_is_exchanged_once_and_the_cookie_then_suffices() {
        let none = headers(&[]);
        assert_eq!(authenticate(&none, "/", None, TOKEN, 1, true), Verdict::Unauthenticated);
        let q = format!("token={TOKEN}&page=2");
        assert_eq!(
            authenticate(&none, "/runs", Some(&q), TOKEN, 1, true),
            Verdict::Exchange { to: "/runs?page=2".into() }
        );
        assert_eq!(authenticate(&none, "/runs", Some(&q), TOKEN, 1, false), Verdict::Unauthenticated);
        assert_eq!(authenticate(&none, "/", Some("token=wrong"), TOKEN, 1, true), Verdict::Unauthenticated);
        let cookie = headers(&[("cookie", &format!("a=b; pyra_web_1={TOKEN}"))]);
        assert_eq!(authenticate(&cookie, "/", None, TOKEN, 1, false), Verdict::Allowed);
        // Another port's cookie is another daemon's.
        assert_eq!(authenticate(&cookie, "/", None, TOKEN, 2, false), Verdict::Unauthenticated);
        let bearer = headers(&[("authorization", &format!("Bearer {TOKEN}"))]);
        assert_eq!(authenticate(&bearer, "/", None, TOKEN, 1, false), Verdict::Allowed);
        assert!(set_cookie(1, TOKEN).contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn cross_origin_requests_are_refused() {
        let host = ("host", "127.0.0.1:8790");
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-origin")]), 8790));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")]), 8790));
        assert!(!same_origin(&headers(&[host, ("sec-fetch-site", "same-site")]), 8790));
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8790")]), 8790));
        assert!(!same_origin(&headers(&[host, ("origin", "http://localhost:8791")]), 8790));
        assert!(!same_origin(&headers(&[host, ("origin", "null")]), 8790));
        assert!(!same_origin(&headers(&[host]), 8790));
        assert!(same_origin(&headers(&[host, ("authorization", "Bearer x")]), 8790));
    }
}
