//! The HTTP side: one reqwest client speaking WebDAV's methods with Basic auth (the
//! password from the vault), answers read up to a cap, and the URL rules that keep every
//! call under its configured home: a path's `..` is refused, a server's href outside the
//! home is refused.

use std::time::Duration;

use reqwest::Url;

use super::xml;

/// The most a multistatus answer may weigh.
pub const XML_CAP: usize = 8 * 1024 * 1024;

/// What came back: the status, a few headers and the body (cut at the cap).
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub length: Option<u64>,
    pub body: Vec<u8>,
    /// Whether the body went past the cap (and `body` holds only the cap's worth).
    pub cut: bool,
}

pub struct Dav {
    http: reqwest::Client,
    pub user: String,
    password: String,
    /// The vault key the password comes from, for messages.
    pub password_key: String,
}

impl Dav {
    pub fn new(user: &str, password: &str, password_key: String) -> Dav {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("pyra/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the password elsewhere or turn a PROPFIND into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Dav { http, user: user.to_string(), password: password.to_string(), password_key }
    }

    /// Sends one request. A refused password is an error naming the vault key; any
    /// other status is the caller's to read.
    pub async fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        cap: usize,
    ) -> Result<Answer, String> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.http.request(m, url.clone()).basic_auth(&self.user, Some(&self.password));
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let host = url.host_str().unwrap_or("the server").to_string();
        let mut response = request.send().await.map_err(|e| format!("cannot reach {host}: {}", e.without_url()))?;
        let status = response.status().as_u16();
        if status == 401 {
            return Err(format!(
                "{host} refused user `{}` with the password in vault key `{}`: check `settings.username` and the \
                 password (for Nextcloud an app password: Settings → Security → Devices & sessions), then \
                 `pyra vault set {}`",
                self.user, self.password_key, self.password_key
            ));
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if (300..400).contains(&status) && status != 304 {
            let to: String =
                header("location").unwrap_or_default().chars().filter(|c| !c.is_control()).take(200).collect();
            return Err(format!(
                "{method} {} was redirected ({status}) to `{to}`: set `settings.url` (or the home settings) to the \
                 address the server uses; redirects are not followed, so the password goes nowhere else",
                decode(url.path())
            ));
        }
        let etag = header("etag");
        let content_type = header("content-type");
        let length = response.content_length();
        let mut body = Vec::new();
        let mut cut = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{host}: {}", e.without_url()))? {
            let room = cap.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, etag, content_type, length, body, cut })
    }

    /// A PROPFIND or REPORT whose answer must be a 207 multistatus.
    pub async fn multistatus(
        &self,
        method: &str,
        url: &Url,
        depth: &str,
        body: String,
    ) -> Result<Vec<xml::Response>, String> {
        let headers = [("Depth", depth.to_string()), ("Content-Type", "application/xml; charset=utf-8".to_string())];
        let answer = self.send(method, url, &headers, Some(body.into_bytes()), XML_CAP).await?;
        if answer.status != 207 {
            return Err(status_error(method, url, answer.status));
        }
        if answer.cut {
            return Err(format!(
                "the server's answer to {method} {} is over {} MB: narrow the request (a shorter time range, a \
                 smaller folder)",
                url.path(),
                XML_CAP / (1024 * 1024)
            ));
        }
        let text = String::from_utf8(answer.body)
            .map_err(|_| format!("the server's answer to {method} {} is not UTF-8 text", url.path()))?;
        xml::multistatus(&text)
    }
}

/// Whether two ETags name the same version (a weak `W/` prefix aside).
pub fn same_etag(a: &str, b: &str) -> bool {
    let strong = |e: &str| e.trim().trim_start_matches("W/").to_string();
    strong(a) == strong(b)
}

/// What a status other than the expected one means, with the fix where there is one.
pub fn status_error(method: &str, url: &Url, status: u16) -> String {
    let path = decode(url.path());
    let why = match status {
        403 => "forbidden: the user may not do this here",
        404 => "not found: check the path, or the `calendar`, `addressbook` and `*_home`/`files_root` settings",
        405 => "not allowed on this resource (is it a folder, or does it exist already?)",
        409 => "a conflict: the parent folder does not exist",
        412 => "a precondition failed",
        423 => "locked",
        507 => "the server is out of space (quota)",
        s if s >= 500 => "the server failed",
        _ => "unexpected",
    };
    format!("{method} {path} answered {status}: {why}")
}

/// A URL with a trailing `/` (a collection).
pub fn as_dir(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url
}

/// `setting` (a full URL, or a path on `base`) as a collection URL.
pub fn home(base: &Url, setting: &str) -> Result<Url, String> {
    let url = match Url::parse(setting) {
        Ok(u) => u,
        Err(_) => base.join(setting).map_err(|e| format!("`{setting}`: {e}"))?,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{setting}` is not an http(s) URL"));
    }
    Ok(as_dir(url))
}

/// A path given to a tool, as segments under its root: empty and `.` segments dropped,
/// `..` and control characters refused.
pub fn segments(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "`{}`: `..` is refused — paths stay under the files root",
                    path.chars().filter(|c| !c.is_control()).collect::<String>()
                ));
            }
            s if s.chars().any(char::is_control) => return Err("a path holds a control character".into()),
            s => out.push(s.to_string()),
        }
    }
    Ok(out)
}

/// `root` + `segments` (each percent-encoded), with a trailing `/` for a collection.
pub fn under(root: &Url, segments: &[String], dir: bool) -> Url {
    let mut url = root.clone();
    if let Ok(mut p) = url.path_segments_mut() {
        p.pop_if_empty();
        p.extend(segments);
        if dir {
            p.push("");
        }
    }
    url
}

/// A server's or a caller's href as a URL, refused unless it lies under `root` (same
/// origin, a path below the root's, no `..`).
pub fn href_in(root: &Url, href: &str) -> Result<Url, String> {
    let shown: String = href.chars().filter(|c| !c.is_control()).take(200).collect();
    let raw_path = match Url::parse(href) {
        Ok(u) => u.path().to_string(),
        Err(_) => href.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    if decode(&raw_path).split('/').any(|s| s == "..") {
        return Err(format!("`{shown}`: `..` is refused"));
    }
    let url = root.join(href).map_err(|e| format!("`{shown}` is not an href: {e}"))?;
    let same_origin = url.scheme() == root.scheme()
        && url.host() == root.host()
        && url.port_or_known_default() == root.port_or_known_default();
    if !same_origin || !decode(url.path()).starts_with(&decode(root.path())) {
        return Err(format!("`{shown}` is not under {}", decode(root.path())));
    }
    Ok(url)
}

/// The path of `href` relative to `root` (decoded, no leading or trailing `/`), or `None`
/// when it is not under it.
pub fn relative(root: &Url, href: &str) -> Option<String> {
    let url = root.join(href).ok()?;
    let path = decode(url.path());
    let base = decode(root.path());
    let rest = path.strip_prefix(base.trim_end_matches('/'))?;
    (rest.is_empty() || rest.starts_with('/')).then(|| rest.trim_matches('/').to_string())
}

/// Percent-decoding; an invalid escape or non-UTF-8 result is kept as written.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Url::parse("https://cloud.example/remote.php/dav/files/alice/").unwrap();
        let seg = segments("/Docs/./a b#1.txt").unwrap();
        assert_eq!(
            under(&root, &seg, false).as_str(),
            "https://cloud.example/remote.php/dav/files/alice/Docs/a%20b%231.txt"
        );
        assert_eq!(under(&root, &[], true).as_str(), root.as_str());
        for bad in ["../bob", "Docs/../../x", "a/..", ".."] {
            assert!(segments(bad).unwrap_err().contains("`..` is refused"), "{bad}");
        }
        assert!(segments("a\nb").is_err());
        assert_eq!(relative(&root, "/remote.php/dav/files/alice/Docs/a%20b.txt").as_deref(), Some("Docs/a b.txt"));
        assert_eq!(relative(&root, "/remote.php/dav/files/alice/").as_deref(), Some(""));
        assert_eq!(relative(&root, "/remote.php/dav/files/alicex/y"), None);
    }

    #[test]
    fn hrefs_outside_the_home_are_refused() {
        let cal = Url::parse("http://127.0.0.1:8/remote.php/dav/calendars/alice/").unwrap();
        assert!(href_in(&cal, "/remote.php/dav/calendars/alice/personal/x.ics").is_ok());
        assert!(href_in(&cal, "http://127.0.0.1:8/remote.php/dav/calendars/alice/personal/x.ics").is_ok());
        for bad in [
            "/remote.php/dav/calendars/bob/personal/x.ics",
            "/remote.php/dav/calendars/alice/../bob/x.ics",
            "/remote.php/dav/calendars/alice/%2e%2e/bob/x.ics",
            "http://evil.example/remote.php/dav/calendars/alice/x.ics",
            "http://127.0.0.1:9/remote.php/dav/calendars/alice/x.ics",
        ] {
            assert!(href_in(&cal, bad).is_err(), "{bad}");
        }
        let base = Url::parse("https://cloud.example/nc/").unwrap();
        assert_eq!(home(&base, "/dav/cal").unwrap().as_str(), "https://cloud.example/dav/cal/");
        assert_eq!(home(&base, "https://other.example/x").unwrap().as_str(), "https://other.example/x/");
        assert!(home(&base, "ftp://x/").is_err());
        assert_eq!(decode("a%20b%zz%C3%A9"), "a b%zzé");
        assert!(same_etag("W/\"1\"", "\"1\"") && !same_etag("\"1\"", "\"2\""));
    }
}
