//! The webhook receiver against real TCP clients speaking raw HTTP/1.1: signatures
//! (GitHub, Standard Webhooks), replays, limits, rate, hostile and slow clients.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::*;

const NOW: i64 = 1_700_000_000;
const GH_SECRET: &[u8] = b"It's a Secret to Everybody";
/// The Standard Webhooks spec's example secret.
const SW_SECRET: &[u8] = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A sink that counts what it is asked: hooks `gh` and `sw`; the id `stored` is a
/// duplicate for its durable store, `fail` makes it fail, `slow` waits for `release`.
#[derive(Default)]
struct TestHooks {
    secret_calls: AtomicUsize,
    deliver_calls: AtomicUsize,
    delivered: Mutex<Vec<(String, String, Value)>>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl Hooks for TestHooks {
    fn secret(&self, name: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.secret_calls.fetch_add(1, Ordering::SeqCst);
        match name {
            "gh" => Some(Zeroizing::new(GH_SECRET.to_vec())),
            "sw" => Some(Zeroizing::new(SW_SECRET.to_vec())),
            _ => None,
        }
    }

    fn deliver(&self, name: &str, id: &str, data: Value) -> Delivery {
        self.deliver_calls.fetch_add(1, Ordering::SeqCst);
        match id {
            "stored" => Box::pin(std::future::ready(Ok(Accepted::Duplicate))),
            "fail" => Box::pin(std::future::ready(Err("the event store is busy".to_owned()))),
            _ => {
                lock(&self.delivered).push((name.to_owned(), id.to_owned(), data));
                let (entered, release, slow) = (self.entered.clone(), self.release.clone(), id == "slow");
                Box::pin(async move {
                    if slow {
                        entered.notify_one();
                        release.notified().await;
                    }
                    Ok(Accepted::New)
                })
            }
        }
    }
}

struct Server {
    addr: SocketAddr,
    hooks: Arc<TestHooks>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start_with(config: Config, now: i64) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hooks = Arc::new(TestHooks::default());
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, hooks.clone(), config, Arc::new(move || now), stop.clone()));
    Server { addr, hooks, stop, task }
}

async fn start() -> Server {
    start_with(Config::default(), NOW).await
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// Sends raw bytes and reads the reply until the server closes.
async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_reply(&mut stream).await
}

async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Reply { status, head: head.to_ascii_lowercase(), body: body.to_owned() }
}

fn request(method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex_encode(&mac.finalize().into_bytes()))
}

fn github(id: &str, body: &[u8]) -> Vec<u8> {
    let headers = [("X-Hub-Signature-256", github_signature(GH_SECRET, body)), ("X-GitHub-Delivery", id.to_owned())];
    request("POST", "/hooks/gh", &headers, body)
}

fn standard_signature(id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD.decode(&SW_SECRET[6..]).unwrap();
    let mut mac = HmacSha256::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn standard(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        // A rotated-out signature first: any one of the list may match.
        ("webhook-signature", format!("v1,AAAA {}", standard_signature(id, timestamp, body))),
    ];
    request("POST", "/hooks/sw", &headers, body)
}

fn delivered(server: &Server) -> Vec<(String, String, Value)> {
    lock(&server.hooks.delivered).clone()
}

#[test]
fn known_answers_from_github_and_the_standard_webhooks_spec() {
    let mut headers = HeaderMap::new();
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    headers.insert("x-hub-signature-256", HeaderValue::from_static(signature));
    let id = verify(&headers, b"Hello, World!", GH_SECRET, NOW).unwrap();
    assert_eq!(id, hex_encode(&Sha256::digest(b"Hello, World!")), "no X-GitHub-Delivery: the body's hash");

    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_static("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    headers.insert("webhook-timestamp", HeaderValue::from_static("1614265330"));
    headers.insert("webhook-signature", HeaderValue::from_static("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(verify(&headers, body, SW_SECRET, 1614265330 + 299).unwrap(), "msg_p5jXN8AQM9LWM0D4loKWxJek");
    // Without the prefix the secret's own bytes are the key, so the signature differs.
    assert_eq!(verify(&headers, body, &SW_SECRET[6..], 1614265330), Err(unauthorized("signature does not match")));
    let refusal = verify(&headers, body, b"whsec_%%%", 1614265330).unwrap_err();
    assert_eq!(refusal.0, StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn hook_names_follow_the_pattern() {
    for good in ["a", "github", "gh.push", "a-b_c.9", &"x".repeat(64)] {
        assert!(is_hook_name(good), "{good}");
    }
    for bad in ["", "A", "9a", "_a", "a/b", "a b", "é", "a%2f", &"x".repeat(65)] {
        assert!(!is_hook_name(bad), "{bad}");
    }
}

#[test]
fn check_bind_allows_loopback_only() {
    for ok in ["127.0.0.1:8080", "127.1.2.3:0", "[::1]:9000", "[::ffff:127.0.0.1]:80"] {
        assert_eq!(check_bind(&ok.parse().unwrap()), Ok(()), "{ok}");
    }
    for refused in ["0.0.0.0:8080", "192.168.1.2:8080", "[::]:8080", "10.0.0.1:80"] {
        let message = check_bind(&refused.parse().unwrap()).unwrap_err();
        assert!(message.contains(refused) && message.contains("not a loopback address"), "{message}");
        assert!(message.contains("127.0.0.1:"), "{message}");
    }
}

#[test]
fn seen_forgets_the_oldest_beyond_its_capacity() {
    let mut seen = Seen::new(3);
    let a = seen.insert("a").unwrap();
    assert_eq!(seen.insert("a"), None);
    seen.remove("a", a);
    assert!(seen.insert("a").is_some(), "a released id may come again");
    for key in ["b", "c", "d"] {
        seen.insert(key).unwrap();
    }
    assert!(seen.order.len() <= 3 && seen.live.len() <= 3);
    assert!(seen.insert("a").is_some(), "the oldest was forgotten");
    assert_eq!(seen.insert("d"), None);
}

#[test]
fn a_bucket_refills_at_its_rate() {
    let start = Instant::now();
    let mut bucket = Bucket { tokens: 2.0, at: start };
    assert_eq!(bucket.take(start, 1.0, 2.0), Ok(()));
    assert_eq!(bucket.take(start, 1.0, 2.0), Ok(()));
    assert_eq!(bucket.take(start, 1.0, 2.0), Err(1));
    assert_eq!(bucket.take(start + Duration::from_millis(1500), 1.0, 2.0), Ok(()));
    assert_eq!(bucket.take(start + Duration::from_secs(100), 1.0, 2.0), Ok(()), "never over the burst");
    assert_eq!(bucket.take(start + Duration::from_secs(100), 1.0, 2.0), Ok(()));
    assert_eq!(bucket.take(start + Duration::from_secs(100), 1.0 / 60.0, 2.0), Err(60));
}

#[tokio::test]
async fn a_good_github_delivery_is_accepted_and_delivered() {
    let server = start().await;
    let reply = raw(server.addr, &github("d-1", br#"{"action":"opened","n":1}"#)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(reply.head.contains("content-type: application/json"));
    assert_eq!(serde_json::from_str::<Value>(&reply.body).unwrap(), serde_json::json!({"event": "gh", "id": "d-1"}));
    assert_eq!(delivered(&server), [("gh".into(), "d-1".into(), serde_json::json!({"action": "opened", "n": 1}))]);

    // No delivery header: the id is the body's SHA-256; a body that is not JSON is a string.
    let body = b"plain words";
    let headers = [("X-Hub-Signature-256", github_signature(GH_SECRET, body))];
    let reply = raw(server.addr, &request("POST", "/hooks/gh", &headers, body)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = hex_encode(&Sha256::digest(body));
    assert_eq!(delivered(&server)[1], ("gh".into(), id, Value::String("plain words".into())));
}

#[tokio::test]
async fn a_good_standard_webhooks_delivery_is_accepted() {
    let server = start().await;
    let reply = raw(server.addr, &standard("msg_1", NOW - 60, br#"{"type":"ping"}"#)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(delivered(&server), [("sw".into(), "msg_1".into(), serde_json::json!({"type": "ping"}))]);
}

#[tokio::test]
async fn a_wrong_or_missing_signature_is_refused_without_showing_the_expected_one() {
    let server = start().await;
    let body = br#"{"a":1}"#;
    let expected = github_signature(GH_SECRET, body);
    let wrong = [("X-Hub-Signature-256", github_signature(b"not the secret", body))];
    let reply = raw(server.addr, &request("POST", "/hooks/gh", &wrong, body)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, "signature does not match\n");
    assert!(!reply.body.contains(&expected[7..]) && !reply.body.contains("Secret to Everybody"));

    let tampered = [("X-Hub-Signature-256", expected)];
    let reply = raw(server.addr, &request("POST", "/hooks/gh", &tampered, br#"{"a":2}"#)).await;
    assert_eq!(reply.status, 401);

    let reply = raw(server.addr, &request("POST", "/hooks/gh", &[], body)).await;
    assert_eq!(reply.status, 401);
    assert!(reply.body.starts_with("missing signature"), "{}", reply.body);

    let garbled = [("X-Hub-Signature-256", "sha1=abc".to_owned())];
    let reply = raw(server.addr, &request("POST", "/hooks/gh", &garbled, body)).await;
    assert_eq!((reply.status, reply.body.as_str()), (401, "malformed X-Hub-Signature-256: expected sha256=<hex>\n"));
    assert!(delivered(&server).is_empty());
}

#[tokio::test]
async fn a_stale_timestamp_is_refused() {
    // The sender's clock is right; ours is 10 minutes ahead.
    let server = start_with(Config::default(), NOW + 600).await;
    let reply = raw(server.addr, &standard("msg_old", NOW, b"{}")).await;
    assert_eq!(reply.status, 401);
    assert!(reply.body.starts_with("stale webhook-timestamp"), "{}", reply.body);
    // And 10 minutes behind.
    let reply = raw(server.addr, &standard("msg_new", NOW + 1200, b"{}")).await;
    assert_eq!(reply.status, 401);
    assert!(delivered(&server).is_empty());
}

#[tokio::test]
async fn a_replayed_id_is_refused_here_or_by_the_sink() {
    let server = start().await;
    assert_eq!(raw(server.addr, &github("d-1", b"{}")).await.status, 202);
    let reply = raw(server.addr, &github("d-1", b"{}")).await;
    assert_eq!((reply.status, reply.body.as_str()), (409, "this delivery id was already accepted\n"));
    assert_eq!(raw(server.addr, &standard("msg_1", NOW, b"{}")).await.status, 202);
    assert_eq!(raw(server.addr, &standard("msg_1", NOW + 5, b"{}")).await.status, 409);
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 2, "replays never reach the sink");

    // Remembered by the sink's durable store (from before a restart): refused too.
    assert_eq!(raw(server.addr, &github("stored", b"{}")).await.status, 409);
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 3);
    assert_eq!(raw(server.addr, &github("stored", b"{}")).await.status, 409);
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 3, "now remembered here as well");
    assert_eq!(delivered(&server).len(), 2);
}

#[tokio::test]
async fn a_failed_delivery_is_503_and_may_be_retried() {
    let server = start().await;
    let reply = raw(server.addr, &github("fail", b"{}")).await;
    assert_eq!((reply.status, reply.body.as_str()), (503, "the event store is busy\n"));
    assert_eq!(raw(server.addr, &github("fail", b"{}")).await.status, 503, "not a replay: it was never accepted");
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_any_work() {
    let server = start().await;
    let head = format!(
        "POST /hooks/gh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Hub-Signature-256: sha256=00\r\n\
         Content-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let reply = raw(server.addr, head.as_bytes()).await;
    assert_eq!((reply.status, reply.body.as_str()), (413, "the body is over 1 MiB\n"));
    assert_eq!(server.hooks.secret_calls.load(Ordering::SeqCst), 0);
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_refused() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /hooks/gh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                X-Hub-Signature-256: sha256=00\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    // 17 chunks of 64 KiB: one past 1 MiB. The server may stop reading (and close)
    // before all are sent, so write errors are expected.
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..17 {
            if write.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        let _ = write.write_all(b"0\r\n\r\n").await;
    });
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), read.read_to_end(&mut bytes)).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    writer.await.unwrap();
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn wrong_methods_paths_and_hooks_are_refused() {
    let server = start().await;
    let reply = raw(server.addr, &request("GET", "/hooks/gh", &[], b"")).await;
    assert_eq!(reply.status, 405);
    assert!(reply.head.contains("allow: post"), "{}", reply.head);
    for path in ["/", "/hooks", "/hooks/", "/hooks/gh/x", "/hooks/GH", "/other/gh", "/hooks/../hooks/gh"] {
        assert_eq!(raw(server.addr, &request("POST", path, &[], b"")).await.status, 404, "{path}");
    }
    let headers = [("X-Hub-Signature-256", github_signature(GH_SECRET, b"{}"))];
    let reply = raw(server.addr, &request("POST", "/hooks/nope", &headers, b"{}")).await;
    assert_eq!((reply.status, reply.body.as_str()), (404, "no hook named nope\n"));
    assert_eq!(server.hooks.deliver_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_hook_over_its_rate_gets_429_with_retry_after() {
    let config = Config { rate_per_minute: 1, burst: 2, ..Config::default() };
    let server = start_with(config, NOW).await;
    assert_eq!(raw(server.addr, &github("d-1", b"{}")).await.status, 202);
    // A bad signature spends a token too: the limit guards the HMAC work.
    assert_eq!(raw(server.addr, &request("POST", "/hooks/gh", &[], b"{}")).await.status, 401);
    let reply = raw(server.addr, &github("d-2", b"{}")).await;
    assert_eq!(reply.status, 429);
    let retry = reply.head.lines().find_map(|line| line.strip_prefix("retry-after: ")).unwrap();
    assert!((1..=60).contains(&retry.parse::<u64>().unwrap()), "{retry}");
    // Another hook has a bucket of its own.
    assert_eq!(raw(server.addr, &standard("msg_1", NOW, b"{}")).await.status, 202);
}

#[tokio::test]
async fn garbage_and_slow_clients_do_not_stop_the_server() {
    let config = Config { read_timeout: Duration::from_millis(300), ..Config::default() };
    let server = start_with(config, NOW).await;
    let reply = raw(server.addr, b"\x00\xffGARBAGE \r\n\r\n").await;
    assert_eq!(reply.status, 400);
    let reply = raw(server.addr, b"POST /hooks/gh HTTP/1.1\r\nContent-Length: nope\r\n\r\n").await;
    assert_eq!(reply.status, 400);
    // Headers that never end: the connection is dropped after the read timeout.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /hooks/gh HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let _ = read_reply(&mut slow).await;
    // A body that never ends: 408.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let headers = [("X-Hub-Signature-256", "sha256=00".to_owned())];
    let mut partial = request("POST", "/hooks/gh", &headers, b"{}");
    let len = partial.len();
    partial.truncate(len - 1);
    slow.write_all(&partial).await.unwrap();
    assert_eq!(read_reply(&mut slow).await.status, 408);
    assert_eq!(raw(server.addr, &github("d-1", b"{}")).await.status, 202);
}

#[tokio::test]
async fn stop_ends_accepting_and_lets_requests_in_flight_finish() {
    let server = start().await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { raw(addr, &github("slow", b"{}")).await });
    server.hooks.entered.notified().await;
    server.stop.cancel();
    server.hooks.release.notify_one();
    assert_eq!(in_flight.await.unwrap().status, 202);
    tokio::time::timeout(Duration::from_secs(20), server.task).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
