//! The control socket against well-behaved and hostile clients: replies in order, errors
//! that keep the connection, a 10 MB line, a half-closed client, a wrong uid, a client
//! that stalls or crashes its handler — and everyone else still served.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::lock::{HomeLock, run_dir};

struct Server {
    _home: tempfile::TempDir,
    socket: PathBuf,
    stop: CancellationToken,
    _lock: HomeLock,
}

fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn handler() -> Handler {
    Arc::new(|request: Request| {
        Box::pin(async move {
            match request.op.as_str() {
                "echo" => Ok(request.args),
                "fail" => Err(ErrorBody::new("failed", "as asked")),
                "stall" => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(Value::Null)
                }
                "panic" => panic!("a handler bug"),
                other => Err(ErrorBody::new("unknown-op", format!("no operation `{other}`"))),
            }
        })
    })
}

async fn start(serve_uid: u32) -> Server {
    let home = tempfile::tempdir().unwrap();
    let dir = run_dir(home.path()).unwrap();
    let lock = HomeLock::acquire(&dir).unwrap();
    let listener = bind(&lock).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, handler(), serve_uid, stop.clone()));
    Server { socket: socket_path(&dir).unwrap(), _home: home, stop, _lock: lock }
}

async fn exchange(socket: &Path, lines: &[u8], shutdown_write: bool) -> Vec<Value> {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(lines).await.unwrap();
    if shutdown_write {
        write.shutdown().await.unwrap();
    }
    let mut replies = Vec::new();
    let mut reader = BufReader::new(read).lines();
    let expected = lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    while replies.len() < expected {
        match tokio::time::timeout(Duration::from_secs(10), reader.next_line()).await {
            Ok(Ok(Some(line))) => replies.push(serde_json::from_str(&line).unwrap()),
            _ => break,
        }
    }
    replies
}

#[tokio::test]
async fn replies_in_order_and_errors_keep_the_connection() {
    let server = start(uid()).await;
    let replies = exchange(
        &server.socket,
        b"{\"v\":1,\"id\":1,\"op\":\"echo\",\"args\":{\"a\":1}}\nnot json\n\n{\"v\":2,\"id\":3,\"op\":\"echo\"}\n\
          {\"v\":1,\"id\":4,\"op\":\"fail\"}\n{\"v\":1,\"id\":5,\"op\":\"nope\"}\n{\"v\":1,\"id\":6,\"op\":\"echo\",\"args\":\"\xc3\xa9\"}\n",
        false,
    )
    .await;
    assert_eq!(replies.len(), 6, "{replies:#?}");
    assert_eq!(replies[0], json!({"v": 1, "id": 1, "ok": true, "result": {"a": 1}}));
    assert_eq!((replies[1]["ok"].clone(), replies[1]["error"]["code"].clone()), (json!(false), json!("bad-request")));
    assert_eq!(replies[2]["error"]["code"], "version");
    assert_eq!(replies[2]["id"], 3);
    assert_eq!(replies[3]["error"], json!({"code": "failed", "message": "as asked"}));
    assert_eq!(replies[4]["error"]["code"], "unknown-op");
    assert_eq!(replies[5]["result"], "é");
    server.stop.cancel();
}

#[tokio::test]
async fn a_ten_megabyte_line_is_refused_and_others_are_still_served() {
    let server = start(uid()).await;
    let stream = UnixStream::connect(&server.socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 1 << 16];
        // The daemon stops reading after the limit; the rest may not be accepted.
        for _ in 0..160 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), BufReader::new(read).read_line(&mut reply)).await.unwrap().unwrap();
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["error"]["code"], "too-long", "{reply}");
    writer.abort();
    let others = exchange(&server.socket, b"{\"v\":1,\"id\":2,\"op\":\"echo\",\"args\":true}\n", false).await;
    assert_eq!(others[0]["result"], true);
    server.stop.cancel();
}

#[tokio::test]
async fn a_half_closed_client_still_gets_its_replies() {
    let server = start(uid()).await;
    let replies = exchange(
        &server.socket,
        b"{\"v\":1,\"id\":1,\"op\":\"echo\",\"args\":1}\n{\"v\":1,\"id\":2,\"op\":\"echo\",\"args\":2}",
        true,
    )
    .await;
    assert_eq!(replies.iter().map(|r| r["result"].clone()).collect::<Vec<_>>(), [json!(1), json!(2)]);
    server.stop.cancel();
}

#[tokio::test]
async fn another_uid_is_refused_before_anything_is_read() {
    let server = start(uid().wrapping_add(1)).await;
    let replies = exchange(&server.socket, b"{\"v\":1,\"id\":1,\"op\":\"echo\"}\n", false).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["error"]["code"], "forbidden");
    assert!(replies[0]["result"].is_null());
    server.stop.cancel();
}

#[tokio::test]
async fn a_stalled_or_crashed_handler_blocks_no_other_client() {
    let server = start(uid()).await;
    let stalled = UnixStream::connect(&server.socket).await.unwrap();
    let (_stalled_read, mut stalled_write) = stalled.into_split();
    stalled_write.write_all(b"{\"v\":1,\"id\":1,\"op\":\"stall\"}\n").await.unwrap();
    let crashed = exchange(&server.socket, b"{\"v\":1,\"id\":1,\"op\":\"panic\"}\n", false).await;
    assert!(crashed.is_empty(), "the crashed connection is closed without a reply");
    let reply = request(&server.socket, "echo", json!("still here")).await.unwrap();
    assert_eq!(reply.result, Some(json!("still here")));
    server.stop.cancel();
}

#[tokio::test]
async fn the_socket_is_owner_only_and_a_dead_daemons_socket_is_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let dir = run_dir(home.path()).unwrap();
    // A socket file a crashed daemon left behind.
    drop(std::os::unix::net::UnixListener::bind(dir.join(SOCKET)).unwrap());
    let lock = HomeLock::acquire(&dir).unwrap();
    let listener = bind(&lock).unwrap();
    let socket = socket_path(&dir).unwrap();
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, handler(), uid(), stop.clone()));
    assert_eq!(request(&socket, "echo", json!(1)).await.unwrap().result, Some(json!(1)));
    stop.cancel();
    let long = Path::new("/tmp").join("x".repeat(120));
    assert!(matches!(socket_path(&long), Err(IpcError::PathTooLong(_))));
}
