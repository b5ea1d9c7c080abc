//! The HTTP server: hyper on the loopback listener, a bounded number of connections, each
//! request checked (`Host`, credential, origin for a POST) before [`crate::app`] sees it,
//! and every response given the security headers. A connection's error ends only it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::guard::{self, Verdict};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// The largest request body (a form).
pub const MAX_BODY: usize = 256 * 1024;

pub type Body = BoxBody<Bytes, Infallible>;

/// A body fed by a channel: what a Server-Sent Events stream sends as it happens.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// A response of `status` with `content_type`.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// `303 See Other` to `to` (after a POST, or the token exchange).
pub fn see_other(to: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Serves `app` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, app: Arc<App>, stop: CancellationToken) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).max_header_size(32 * 1024);
    let service = move || {
        let app = app.clone();
        service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(checked(&app, req).await) }
        })
    };
    // An open event stream ends with its connection: a stop waits for it at most 2 s.
    serve::accept::accept_loop(listener, http, MAX_CONNECTIONS, Duration::from_secs(2), stop, service).await;
}

/// The checks before any route, then the route, then the security headers.
async fn checked(app: &Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let mut response = guarded(app, req).await;
    for (name, value) in guard::SECURITY_HEADERS {
        response.headers_mut().insert(*name, HeaderValue::from_static(value));
    }
    response
}

async fn guarded(app: &Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let port = app.port;
    if !guard::host_allowed(req.headers(), port) {
        return text(
            StatusCode::FORBIDDEN,
            &format!("this UI answers only to http://127.0.0.1:{port} or http://localhost:{port}"),
        );
    }
    let path = req.uri().path().to_string();
    // The stylesheet, the script and the icon carry nothing private.
    if req.method() == Method::GET
        && let Some(asset) = crate::assets::get(&path)
    {
        return asset;
    }
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match guard::authenticate(req.headers(), &path, req.uri().query(), &app.token, port, get) {
        Verdict::Allowed => {}
        Verdict::Exchange { to } => {
            let mut response = see_other(&to);
            if let Ok(v) = HeaderValue::from_str(&guard::set_cookie(port, &app.token)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            return response;
        }
        Verdict::Unauthenticated => {
            return crate::pages::unauthenticated();
        }
    }
    if !get {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and POST");
        }
        if !guard::same_origin(req.headers(), port) {
            return text(StatusCode::FORBIDDEN, "refused: this request did not come from this UI's own pages");
        }
    }
    let (parts, body) = req.into_parts();
    let form = if parts.method == Method::POST {
        match read_form(body).await {
            Ok(f) => f,
            Err(r) => return r,
        }
    } else {
        Vec::new()
    };
    app.route(&parts, form).await
}

/// A POST's `application/x-www-form-urlencoded` body as pairs, at most [`MAX_BODY`].
async fn read_form(mut body: Incoming) -> Result<Vec<(String, String)>, Response<Body>> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| text(StatusCode::BAD_REQUEST, &format!("the request body broke off: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(text(StatusCode::PAYLOAD_TOO_LARGE, "the form is over 256 KiB"));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
}
