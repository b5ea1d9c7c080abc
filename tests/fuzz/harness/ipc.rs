//! `ipc`: the daemon's control protocol (`daemon::ipc::serve_lines`: NDJSON framing, the
//! line limit, request decoding, replies in order) driven with bytes, against a handler
//! that echoes the operation.
//!
//! Input: three bytes choosing where the reader cuts the stream, then the stream.
//! Properties: the replies are the same whatever the cuts; every reply line is a
//! protocol-1 reply; there is one per non-blank request line, in order, and each line that
//! is a version-1 request is answered `ok` with its id and operation echoed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use daemon::ipc::{ErrorBody, Handler, PROTOCOL, Reply, Request};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

/// A reader that hands out its pieces one read at a time.
struct Pieces<'a> {
    pieces: Vec<&'a [u8]>,
    next: usize,
    at: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while let Some(piece) = self.pieces.get(self.next).copied() {
            let rest = &piece[self.at..];
            if rest.is_empty() {
                self.next += 1;
                self.at = 0;
                continue;
            }
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.at += n;
            break;
        }
        Poll::Ready(Ok(()))
    }
}

fn handler() -> Handler {
    Arc::new(|request: Request| {
        Box::pin(async move { Ok::<Value, ErrorBody>(json!({ "op": request.op, "args": request.args })) })
    })
}

fn serve(pieces: Vec<&[u8]>) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let mut out = Vec::new();
    let reader = Pieces { pieces, next: 0, at: 0 };
    runtime.block_on(daemon::ipc::serve_lines(reader, &mut out, &handler(), Some(1)));
    out
}

pub fn ipc(data: &[u8]) {
    let [c1, c2, c3, stream @ ..] = data else { return };
    let whole = serve(vec![stream]);
    let cut = serve(super::pieces(stream, &[*c1, *c2, *c3]));
    assert_eq!(String::from_utf8_lossy(&cut), String::from_utf8_lossy(&whole), "cut at {c1}, {c2}, {c3} of 255");

    let replies: Vec<Reply> = whole
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| panic!("not a reply ({e}): {}", String::from_utf8_lossy(l)))
        })
        .collect();
    assert!(replies.iter().all(|r| r.v == PROTOCOL), "a reply of another version");
    if stream.len() > daemon::ipc::MAX_LINE {
        return;
    }
    // What each request line should get, worked out line by line (a last line without
    // its newline is a request too).
    let lines: Vec<&[u8]> = stream.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).collect();
    assert_eq!(replies.len(), lines.len(), "one reply per request line");
    for (line, reply) in lines.iter().zip(&replies) {
        match serde_json::from_slice::<Request>(line) {
            Ok(request) if request.v == PROTOCOL => {
                assert!(reply.ok, "a valid request refused: {reply:?}");
                assert_eq!(reply.id, request.id);
                assert_eq!(reply.result.as_ref().and_then(|r| r.get("op")), Some(&Value::from(request.op)));
            }
            _ => assert!(!reply.ok, "a bad request accepted: {reply:?}"),
        }
    }
}
