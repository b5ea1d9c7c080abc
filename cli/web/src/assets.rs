//! The UI's assets, compiled into the binary: nothing is fetched from the network.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::http::{Body, respond};

const CSS: &str = include_str!("../assets/pyra.css");
const JS: &str = include_str!("../assets/pyra.js");
const ICON: &str = include_str!("../assets/favicon.svg");

/// The asset at `path`, if it is one.
pub fn get(path: &str) -> Option<Response<Body>> {
    let (kind, body) = match path {
        "/assets/pyra.css" => ("text/css; charset=utf-8", CSS),
        "/assets/pyra.js" => ("text/javascript; charset=utf-8", JS),
        "/favicon.ico" | "/assets/favicon.svg" => ("image/svg+xml", ICON),
        _ => return None,
    };
    let mut response = respond(StatusCode::OK, kind, body);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    Some(response)
}
