//! The client against signal-cli played by the test on the other end of an in-memory pipe:
//! routing by id, notifications in order, the end of input, the line cap, timeouts, and
//! the loopback rule. The real contract is tested against the mock in `tests/it/signal_client.rs`.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Client, MAX_LINE, Notifications, RpcError, loopback, start};

/// A client on one end of an in-memory pipe; the test plays signal-cli on the other.
fn pair() -> (
    Client,
    Notifications,
    BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    tokio::io::WriteHalf<tokio::io::DuplexStream>,
) {
    let (ours, theirs) = tokio::io::duplex(4 << 20);
    let (read, write) = tokio::io::split(ours);
    let (client, notes) = start(BufReader::new(read), write, None, Default::default());
    let (their_read, their_write) = tokio::io::split(theirs);
    (client, notes, BufReader::new(their_read), their_write)
}

async fn request(from: &mut BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>) -> Value {
    let mut line = String::new();
    from.read_line(&mut line).await.unwrap();
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn answers_are_routed_by_id_and_notifications_pass_in_order() {
    let (client, mut notes, mut requests, mut server) = pair();
    let wait = Duration::from_secs(5);
    let (a, b) = (client.clone(), client.clone());
    let first = tokio::spawn(async move { a.call("version", Value::Null, wait).await });
    let one = request(&mut requests).await;
    let second = tokio::spawn(async move { b.call("listGroups", json!({}), wait).await });
    let two = request(&mut requests).await;
    assert_eq!((one["method"].as_str(), one.get("params")), (Some("version"), None));
    assert_ne!(one["id"], two["id"]);
    let lines = [
        "not json at all".to_string(),
        json!({"jsonrpc": "2.0", "result": "stale", "id": 999}).to_string(),
        json!({"jsonrpc": "2.0", "method": "receive", "params": {"subscription": 0, "result": {"n": 1}}}).to_string(),
        json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not implemented"}, "id": two["id"]})
            .to_string(),
        json!({"jsonrpc": "2.0", "method": "receive", "params": {"envelope": {}, "n": 2}}).to_string(),
        json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "x"}, "id": null}).to_string(),
        json!({"jsonrpc": "2.0", "result": {"version": "0.13.22"}, "id": one["id"]}).to_string(),
    ];
    server.write_all((lines.join("\n") + "\n").as_bytes()).await.unwrap();
    assert_eq!(first.await.unwrap(), Ok(json!({"version": "0.13.22"})));
    let refused = Err(RpcError::Rpc { code: -32601, message: "Method not implemented".into() });
    assert_eq!(second.await.unwrap(), refused);
    assert_eq!(notes.recv().await, Some(json!({"n": 1})));
    assert_eq!(notes.recv().await, Some(json!({"envelope": {}, "n": 2})));
    // The end of the input fails what waits and closes the notifications.
    let c = client.clone();
    let waiting = tokio::spawn(async move { c.call("send", json!({}), wait).await });
    request(&mut requests).await;
    drop((server, requests));
    assert_eq!(waiting.await.unwrap(), Err(RpcError::Closed));
    assert_eq!(notes.recv().await, None);
    assert_eq!(client.call("version", Value::Null, wait).await, Err(RpcError::Closed));
}

#[tokio::test]
async fn an_overlong_line_ends_the_connection_and_a_silent_server_times_out() {
    let (client, mut notes, mut requests, mut server) = pair();
    assert_eq!(client.call("version", Value::Null, Duration::from_millis(50)).await, Err(RpcError::Timeout));
    request(&mut requests).await;
    server.write_all(&vec![b'x'; MAX_LINE + 10]).await.unwrap();
    assert_eq!(notes.recv().await, None);
    let ended = client.call("version", Value::Null, Duration::from_secs(1)).await;
    assert!(matches!(&ended, Err(RpcError::Io(m)) if m.contains("1024 KiB")), "{ended:?}");
}

#[test]
fn only_loopback_daemons() {
    assert!(loopback("127.0.0.1:7583").is_ok() && loopback("[::1]:7583").is_ok());
    assert_eq!(loopback("LocalHost:7583").unwrap().len(), 2);
    for refused in ["10.0.0.5:7583", "0.0.0.0:7583", "signal.example.org:7583", "localhost", "localhost:x"] {
        let Err(RpcError::Io(message)) = loopback(refused) else { panic!("{refused} accepted") };
        assert!(message.contains("no authentication"), "{message}");
    }
}
