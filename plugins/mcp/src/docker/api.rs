//! A small Docker Engine API client: HTTP/1.1 over the daemon's Unix socket (hyper, one
//! connection per request), the API version negotiated down to what the daemon speaks
//! (Debian 12's dockerd stops at 1.41; Podman answers the same API), bodies capped, and
//! the daemon's error messages turned into what to do. No TCP: a Docker socket is root on
//! its host, and plain TCP would give that to the network.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The newest API this client speaks; a daemon that speaks less is talked to in its own
/// version (every call here exists since 1.25). Docker 29 accepts nothing older than 1.44.
pub const OURS: Version = Version(1, 47);
/// The oldest API this client can use.
const OLDEST: Version = Version(1, 25);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.trim().trim_start_matches('v').split_once('.')?;
        Some(Version(major.parse().ok()?, minor.parse().ok()?))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// A daemon's answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub truncated: bool,
    api_version: Option<String>,
}

impl Answer {
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("the daemon did not answer JSON ({e})"))
    }

    /// The daemon's `{"message": …}`, or the body as text.
    pub fn message(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| text.trim().chars().take(500).collect())
    }
}

/// A daemon, with the API version both sides speak.
pub struct Api {
    pub socket: PathBuf,
    pub version: Version,
    /// Whether `settings.api_version` pinned the version (then a mismatch is the setting's).
    pub pinned: bool,
}

/// The socket a `host` setting (or `DOCKER_HOST`) names: `unix:///path` or a path.
pub fn socket_of(host: Option<&str>) -> Result<PathBuf, String> {
    let env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let Some(host) = host.map(str::to_string).or(env) else {
        let candidates = [
            Some(PathBuf::from("/var/run/docker.sock")),
            std::env::var_os("XDG_RUNTIME_DIR").map(|d| Path::new(&d).join("podman/podman.sock")),
            Some(PathBuf::from("/run/podman/podman.sock")),
        ];
        let found = candidates.iter().flatten().find(|p| p.exists()).cloned();
        return Ok(found.unwrap_or_else(|| PathBuf::from("/var/run/docker.sock")));
    };
    match host.strip_prefix("unix://") {
        Some(path) => Ok(PathBuf::from(path)),
        None if host.starts_with('/') => Ok(PathBuf::from(host)),
        None => Err(format!(
            "`{host}` is not a Unix socket: only `unix:///path/to/docker.sock` is supported (a Docker socket \
             over TCP would hand root on the host to the network); set `settings.host`"
        )),
    }
}

/// One request on a fresh connection; the body is kept up to `cap` bytes.
pub async fn send(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<&Value>,
    cap: usize,
) -> Result<Answer, String> {
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
        let at = socket.display();
        match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no Docker socket at {at}: is the daemon running? Set `settings.host` to its socket \
                 (Podman: `systemctl --user start podman.socket`, then unix://$XDG_RUNTIME_DIR/podman/podman.sock)"
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("no permission to use {at}: the user running Pyra must be in the `docker` group")
            }
            std::io::ErrorKind::ConnectionRefused => format!("nothing answers on {at}: is the Docker daemon running?"),
            _ => format!("cannot connect to {at}: {e}"),
        }
    })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("the Docker socket {}: {e}", socket.display()))?;
    let driver = tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("Host", "docker");
    let payload = match body {
        Some(v) => {
            request = request.header("Content-Type", "application/json");
            Full::new(Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?))
        }
        None => Full::new(Bytes::new()),
    };
    let request = request.body(payload).map_err(|e| format!("a bad request to the daemon: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("the Docker daemon: {e}"))?;
    let status = response.status();
    let api_version = response.headers().get("api-version").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut body = response.into_body();
    let (mut kept, mut truncated) = (Vec::new(), false);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the daemon's answer: {e}"))?;
        if let Some(data) = frame.data_ref() {
            let room = cap - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                truncated = true;
                break;
            }
        }
    }
    driver.abort();
    Ok(Answer { status, body: Bytes::from(kept), truncated, api_version })
}

impl Api {
    /// Connects and agrees on a version: the daemon's (from `/_ping`'s `API-Version`, or
    /// `/version`) when it is older than ours, else ours; `pinned` (a setting) is used as
    /// given.
    pub async fn connect(socket: PathBuf, pinned: Option<&str>) -> Result<Api, String> {
        if let Some(p) = pinned {
            let version =
                Version::parse(p).ok_or_else(|| format!("`settings.api_version: {p}` is not a version like 1.41"))?;
            return Ok(Api { socket, version, pinned: true });
        }
        let ping = send(&socket, Method::GET, "/_ping", None, 4096).await?;
        let theirs = match ping.api_version.as_deref().and_then(Version::parse) {
            Some(v) => v,
            None => {
                let answer = send(&socket, Method::GET, "/version", None, 1 << 16).await?;
                let v = answer.json()?;
                v.get("ApiVersion").and_then(Value::as_str).and_then(Version::parse).ok_or_else(|| {
                    format!("the daemon at {} did not say which API version it speaks", socket.display())
                })?
            }
        };
        if theirs < OLDEST {
            return Err(format!(
                "the daemon at {} speaks Docker API {theirs}; Pyra needs {OLDEST} or newer (Docker 1.13+, Podman 2+)",
                socket.display()
            ));
        }
        Ok(Api { socket, version: theirs.min(OURS), pinned: false })
    }

    /// A request under the agreed version's prefix (`/v1.41/containers/json`).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, cap: usize) -> Result<Answer, String> {
        let answer = send(&self.socket, method, &format!("/v{}{path}", self.version), body, cap).await?;
        if answer.status == StatusCode::BAD_REQUEST && answer.message().contains("client version") {
            let fix = if self.pinned {
                "remove `settings.api_version` (Pyra then negotiates) or set one the daemon speaks"
            } else {
                "this should not happen after negotiating: report it with `docker version`"
            };
            return Err(format!("the daemon refused API version {}: {}; {fix}", self.version, answer.message()));
        }
        Ok(answer)
    }

    /// A JSON answer of a 2xx request, or an error with the daemon's message.
    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>, cap: usize) -> Result<Value, String> {
        let answer = self.call(method, path, body, cap).await?;
        if !answer.status.is_success() {
            return Err(failure(&answer));
        }
        if answer.truncated {
            return Err(format!("the daemon's answer is larger than `settings.max_output` ({cap} bytes)"));
        }
        answer.json()
    }
}

/// A failed answer as a message: the daemon's words and, where it helps, what to do.
pub fn failure(answer: &Answer) -> String {
    let said = answer.message();
    let hint = match answer.status {
        StatusCode::NOT_FOUND if said.contains("image") => {
            " (the image is not on this host: `docker pull` it, or `docker import` a root file system)"
        }
        StatusCode::CONFLICT if said.contains("running container") => " (stop it first, or pass `force: true`)",
        _ => "",
    };
    format!("the Docker daemon answered {}: {said}{hint}", answer.status)
}

/// A container log in Docker's multiplexed form (an 8-byte header per chunk: the stream,
/// three zero bytes, the length) as stdout and stderr text; `None` when it is not that
/// form (a container with a TTY has one raw stream, told apart by its `Config.Tty`).
pub fn demux(bytes: &[u8]) -> Option<(String, String)> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut rest = bytes;
    while !rest.is_empty() {
        // A header cut by the size cap ends the log.
        let Some(header) = rest.get(..8) else { break };
        if !matches!(header[0], 0..=2) || header[1..4] != [0, 0, 0] {
            return None;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        // A chunk cut by the size cap keeps what arrived.
        let payload = &rest[8..(8 + len).min(rest.len())];
        if header[0] == 2 {
            err.extend_from_slice(payload)
        } else {
            out.extend_from_slice(payload)
        }
        rest = &rest[(8 + len).min(rest.len())..];
    }
    Some((String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_and_the_lower_wins() {
        assert!(Version::parse("1.41").unwrap() < OURS);
        assert!(Version::parse("1.9").unwrap() < Version::parse("1.41").unwrap());
        assert_eq!(Version::parse("1.52").unwrap().min(OURS), OURS);
        assert_eq!(Version::parse("x"), None);
    }

    #[test]
    fn the_socket_comes_from_the_setting() {
        assert_eq!(socket_of(Some("unix:///tmp/d.sock")).unwrap(), PathBuf::from("/tmp/d.sock"));
        assert_eq!(socket_of(Some("/tmp/d.sock")).unwrap(), PathBuf::from("/tmp/d.sock"));
        assert!(socket_of(Some("tcp://10.0.0.1:2375")).unwrap_err().contains("only `unix://"));
    }

    #[test]
    fn multiplexed_logs_are_split_and_raw_ones_are_not() {
        let mut bytes = vec![1, 0, 0, 0, 0, 0, 0, 3];
        bytes.extend_from_slice(b"hi\n");
        bytes.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        bytes.extend_from_slice(b"oops");
        assert_eq!(demux(&bytes), Some(("hi\n".into(), "oops".into())));
        assert_eq!(demux(b"plain text from a tty"), None);
        // Cut mid-chunk by the cap: what arrived is kept.
        assert_eq!(demux(&bytes[..13]), Some(("hi\n".into(), "".into())));
    }
}
