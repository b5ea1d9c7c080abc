//! A signal-cli mock for the Signal tests, following the contract of signal-cli's JSON-RPC
//! interface as its sources define it (AsamK/signal-cli: `man/signal-cli-jsonrpc.5.adoc`,
//! `jsonrpc/JsonRpcReader.java`, `jsonrpc/SignalJsonRpcDispatcherHandler.java`,
//! `jsonrpc/SignalJsonRpcCommandHandler.java`, `json/Json*.java`,
//! `util/SendMessageResultUtils.java`): line-delimited JSON-RPC 2.0 on a loopback TCP
//! port, as `signal-cli -a ACCOUNT daemon --tcp --receive-mode=manual` serves it, plus a
//! shim executable ([`SignalMock::shim`]) that stands in for `signal-cli -a ACCOUNT jsonRpc`
//! on stdio by relaying to the mock.
//!
//! The mock also plays Signal's server: incoming messages (`push_*`) wait in a queue until
//! a connection has called `subscribeReceive`, then go to every subscribed connection
//! (`{"subscription":N,"result":{"envelope":…,"account":…}}`) and leave the queue, as they
//! leave the server once signal-cli fetched them; a message pushed while nobody listens is
//! delivered, once, to the next subscriber. Envelopes carry signal-cli's `null`s. `send` and
//! `sendReaction` answer `{"timestamp":T,"results":[…]}` with a fresh, increasing
//! timestamp; a recipient marked [`SignalMock::unregistered`] fails the way signal-cli
//! fails (error -1 with the results in `data.response`); `echo_sends` makes each send come
//! back as a sync `sentMessage`, as from a linked device. Errors use signal-cli's codes
//! (-32700 parse, -32600 invalid request, -32601 "Method not implemented", -1 user error).
//!
//! Simplifications: no attachments, stickers, edits, stories or multi-device details; a
//! reaction's missing field is a -1 error (signal-cli fails less politely); every group
//! member is registered; `listAccounts` answers only in multi-account mode (launched
//! without `-a`, or [`SignalMock::multi_account`] for TCP), as in signal-cli.

mod rpc;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use rpc::handle;

/// What `version` answers.
pub const VERSION: &str = "0.13.22";
/// The account's own ACI.
pub const ACCOUNT_UUID: &str = "5e1f0000-0000-4000-8000-00000000acc7";

/// One successful `send` or `sendReaction`, per recipient or group.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// `send` or `sendReaction`.
    pub method: String,
    /// The recipient as given (number or UUID), or `group:<id>`.
    pub to: String,
    /// The message, or the reaction's emoji.
    pub text: String,
    pub timestamp: i64,
    pub params: Value,
}

enum Out {
    Line(String),
    /// Written after every line before it: the connection ends (signal-cli exits).
    Close,
}

struct Conn {
    out: mpsc::Sender<Out>,
    stream: TcpStream,
    /// (subscription id, wrapped in `{subscription, result}`), once receiving.
    subscription: Option<(i64, bool)>,
    /// Multi-account mode: started without `-a`.
    multi: bool,
}

struct State {
    account: String,
    queue: VecDeque<Value>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    next_subscription: i64,
    last_timestamp: i64,
    sent: Vec<SentMessage>,
    requests: Vec<(String, Value)>,
    echo: bool,
    receive_on_start: bool,
    multi_account: bool,
    launches: Vec<Vec<String>>,
    pids: Vec<u32>,
    /// ACI → number (None: the contact hides it).
    contacts: HashMap<String, Option<String>>,
    /// Group id → member ACIs.
    groups: HashMap<String, Vec<String>>,
    unregistered: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct SignalMock {
    /// `127.0.0.1:PORT` of the daemon (`Client::connect`).
    pub address: String,
    /// The port the shims relay to.
    stdio_port: u16,
    shared: Arc<Shared>,
}

impl SignalMock {
    /// A signal-cli for `account` (a number such as `+4915100000001`).
    pub fn start(account: &str) -> SignalMock {
        let state = State {
            account: account.to_string(),
            queue: VecDeque::new(),
            conns: HashMap::new(),
            next_conn: 0,
            next_subscription: 0,
            last_timestamp: 0,
            sent: Vec::new(),
            requests: Vec::new(),
            echo: false,
            receive_on_start: false,
            multi_account: false,
            launches: Vec::new(),
            pids: Vec::new(),
            contacts: HashMap::from([(ACCOUNT_UUID.to_string(), Some(account.to_string()))]),
            groups: HashMap::new(),
            unregistered: Vec::new(),
        };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new() });
        let daemon = TcpListener::bind("127.0.0.1:0").expect("bind");
        let stdio = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = daemon.local_addr().expect("addr").to_string();
        let stdio_port = stdio.local_addr().expect("addr").port();
        for (listener, is_stdio) in [(daemon, false), (stdio, true)] {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared, is_stdio));
                }
            });
        }
        SignalMock { address, stdio_port, shared }
    }

    /// Writes `dir/signal-cli`, a bash script that relays its stdio to the mock: it first
    /// sends `#argv ARGS` and `#pid PID`; `#stderr TEXT` from the mock goes to its stderr,
    /// `#exit N` ends it with N; the end of its stdin is sent as `#eof`; if the mock drops
    /// the connection it exits 1.
    pub fn shim(&self, dir: &Path) -> PathBuf {
        let script = SHIM.replace("PORT", &self.stdio_port.to_string());
        let path = dir.join("signal-cli");
        std::fs::write(&path, script).expect("write the shim");
        let mut permissions = std::fs::metadata(&path).expect("shim").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).expect("chmod the shim");
        path
    }

    /// A private message from `from_uuid` (with `from_number`, unless they hide it).
    pub fn push_text(&self, from_uuid: &str, from_number: Option<&str>, text: &str) -> i64 {
        let mut st = self.shared.lock();
        st.contacts.insert(from_uuid.to_string(), from_number.map(str::to_string));
        let ts = st.timestamp();
        let data = data_message(ts, Some(text));
        self.enqueue(st, from_uuid, ts, json!({"dataMessage": data}))
    }

    /// A message in group `group` (base64 id); the sender becomes a member.
    pub fn push_group_text(&self, group: &str, from_uuid: &str, from_number: Option<&str>, text: &str) -> i64 {
        let mut st = self.shared.lock();
        st.contacts.insert(from_uuid.to_string(), from_number.map(str::to_string));
        let members = st.groups.entry(group.to_string()).or_default();
        if !members.iter().any(|m| m == from_uuid) {
            members.push(from_uuid.to_string());
        }
        let ts = st.timestamp();
        let mut data = data_message(ts, Some(text));
        data["groupInfo"] =
            json!({"groupId": group, "groupName": format!("Group {group}"), "revision": 2, "type": "DELIVER"});
        self.enqueue(st, from_uuid, ts, json!({"dataMessage": data}))
    }

    /// `from_uuid` reacts with `emoji` to the message `target_author` (number or ACI) sent at
    /// `target_ts`.
    pub fn push_reaction(&self, from_uuid: &str, emoji: &str, target_author: &str, target_ts: i64) -> i64 {
        let mut st = self.shared.lock();
        let ts = st.timestamp();
        let target = st.address(target_author);
        let mut data = data_message(ts, None);
        data["reaction"] = json!({
            "emoji": emoji, "targetAuthor": legacy(&target), "targetAuthorNumber": target["number"],
            "targetAuthorUuid": target["uuid"], "targetSentTimestamp": target_ts, "isRemove": false,
        });
        self.enqueue(st, from_uuid, ts, json!({"dataMessage": data}))
    }

    /// The account's phone sent `text` to `destination` (a number, an ACI, or the account
    /// itself for a note to self): a sync message.
    pub fn push_sync_sent(&self, destination: &str, text: &str) -> i64 {
        let mut st = self.shared.lock();
        let ts = st.timestamp();
        let sync = sync_sent(&st, destination, ts, text);
        self.enqueue(st, ACCOUNT_UUID, ts, sync)
    }

    /// `from_uuid`'s device confirms delivery of the messages sent at `timestamps`.
    pub fn push_receipt(&self, from_uuid: &str, timestamps: &[i64]) -> i64 {
        let mut st = self.shared.lock();
        let ts = st.timestamp();
        let receipt =
            json!({"when": ts, "isDelivery": true, "isRead": false, "isViewed": false, "timestamps": timestamps});
        self.enqueue(st, from_uuid, ts, json!({"receiptMessage": receipt}))
    }

    /// `from_uuid` starts typing.
    pub fn push_typing(&self, from_uuid: &str) -> i64 {
        let mut st = self.shared.lock();
        let ts = st.timestamp();
        self.enqueue(st, from_uuid, ts, json!({"typingMessage": {"action": "STARTED", "timestamp": ts}}))
    }

    /// An envelope from `from_uuid` with these fields on top of the usual ones.
    pub fn push_envelope(&self, from_uuid: &str, fields: Value) -> i64 {
        let mut st = self.shared.lock();
        let ts = st.timestamp();
        self.enqueue(st, from_uuid, ts, fields)
    }

    fn enqueue(&self, mut st: MutexGuard<'_, State>, from_uuid: &str, ts: i64, fields: Value) -> i64 {
        let envelope = st.envelope(from_uuid, ts, fields);
        st.queue.push_back(envelope);
        deliver(&mut st);
        drop(st);
        self.shared.changed.notify_all();
        ts
    }

    /// Messages still waiting for a subscriber.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Every successful send and reaction, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Waits until `sent()` has at least `n`; panics with what there is on timeout.
    pub fn wait_sent(&self, n: usize, within: Duration) -> Vec<SentMessage> {
        self.wait(within, |st| st.sent.len() >= n, |st| format!("{n} sent, have {:#?}", st.sent));
        self.sent()
    }

    /// The params of every request of `method` (refused ones included).
    pub fn requests(&self, method: &str) -> Vec<Value> {
        self.shared.lock().requests.iter().filter(|(m, _)| m == method).map(|(_, p)| p.clone()).collect()
    }

    /// After each successful `send`, a sync `sentMessage` of it arrives, as signal-cli
    /// relays what another device of the account sent.
    pub fn echo_sends(&self, on: bool) {
        self.shared.lock().echo = on;
    }

    /// Daemon connections receive from the start with bare params (`--receive-mode=on-start`).
    pub fn receive_on_start(&self, on: bool) {
        self.shared.lock().receive_on_start = on;
    }

    /// Daemon connections are in multi-account mode (the daemon was started without `-a`).
    pub fn multi_account(&self, on: bool) {
        self.shared.lock().multi_account = on;
    }

    /// Sends to `recipient` fail as to a number that is not on Signal.
    pub fn unregistered(&self, recipient: &str) {
        self.shared.lock().unregistered.push(recipient.to_string());
    }

    /// Drops every connection at once, as when signal-cli dies (a shim then exits 1).
    pub fn kill_connections(&self) {
        let mut st = self.shared.lock();
        for (_, conn) in st.conns.drain() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        drop(st);
        self.shared.changed.notify_all();
    }

    /// Open connections (daemon and shims).
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Waits until exactly `n` connections are open.
    pub fn wait_connections(&self, n: usize, within: Duration) {
        self.wait(within, |st| st.conns.len() == n, |st| format!("{n} connections, have {}", st.conns.len()));
    }

    /// Waits until some connection has subscribed (or receives from the start).
    pub fn wait_subscribed(&self, within: Duration) {
        self.wait(within, |st| st.conns.values().any(|c| c.subscription.is_some()), |_| "a subscriber".into());
    }

    /// The arguments of the last shim launch ([] when none).
    pub fn launched_with(&self) -> Vec<String> {
        self.shared.lock().launches.last().cloned().unwrap_or_default()
    }

    /// The pids of every shim launched, in order.
    pub fn shim_pids(&self) -> Vec<u32> {
        self.shared.lock().pids.clone()
    }

    fn wait(&self, within: Duration, done: impl Fn(&State) -> bool, what: impl Fn(&State) -> String) {
        let deadline = Instant::now() + within;
        let mut st = self.shared.lock();
        while !done(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("waited {within:?} for {}", what(&st));
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl State {
    /// A fresh millisecond timestamp, later than every earlier one.
    fn timestamp(&mut self) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.last_timestamp = (now.as_millis() as i64).max(self.last_timestamp + 1);
        self.last_timestamp
    }

    /// `JsonRecipientAddress` of a number or ACI, with what the contacts know.
    fn address(&self, who: &str) -> Value {
        let (uuid, number) = if who.starts_with('+') {
            let uuid = self.contacts.iter().find(|(_, n)| n.as_deref() == Some(who)).map(|(u, _)| u.clone());
            (uuid, Some(who.to_string()))
        } else {
            (Some(who.to_string()), self.contacts.get(who).cloned().flatten())
        };
        json!({"uuid": uuid, "number": number, "username": null})
    }

    /// `{"envelope": JsonMessageEnvelope, "account": …}` from `from_uuid`.
    fn envelope(&self, from_uuid: &str, ts: i64, fields: Value) -> Value {
        let from = self.address(from_uuid);
        let own = from_uuid == ACCOUNT_UUID;
        let mut envelope = json!({
            "source": legacy(&from), "sourceNumber": from["number"], "sourceUuid": from_uuid,
            "sourceName": if own { "" } else { "Contact" }, "sourceDevice": 1, "timestamp": ts,
            "serverReceivedTimestamp": ts + 40, "serverDeliveredTimestamp": ts + 90,
        });
        if let Value::Object(fields) = fields {
            for (key, value) in fields {
                envelope[key] = value;
            }
        }
        json!({"envelope": envelope, "account": self.account})
    }
}

/// `RecipientAddress.getLegacyIdentifier()`: the number when known, else the ACI.
fn legacy(address: &Value) -> Value {
    if address["number"].is_string() { address["number"].clone() } else { address["uuid"].clone() }
}

/// `JsonDataMessage` with signal-cli's defaults.
fn data_message(ts: i64, text: Option<&str>) -> Value {
    json!({"timestamp": ts, "message": text, "expiresInSeconds": 0, "isExpirationUpdate": false, "viewOnce": false})
}

/// `{"syncMessage": {"sentMessage": JsonSyncDataMessage}}`: destination fields, then the
/// data message's own fields unwrapped beside them.
fn sync_sent(st: &State, destination: &str, ts: i64, text: &str) -> Value {
    let mut sent = data_message(ts, Some(text));
    if let Some(group) = destination.strip_prefix("group:") {
        sent["groupInfo"] =
            json!({"groupId": group, "groupName": format!("Group {group}"), "revision": 2, "type": "DELIVER"});
        for key in ["destination", "destinationNumber", "destinationUuid"] {
            sent[key] = Value::Null;
        }
    } else {
        let to = st.address(destination);
        sent["destination"] = legacy(&to);
        sent["destinationNumber"] = to["number"].clone();
        sent["destinationUuid"] = to["uuid"].clone();
    }
    json!({"syncMessage": {"sentMessage": sent}})
}

/// Hands every queued message to every subscribed connection, then forgets it.
fn deliver(st: &mut State) {
    let subscribed: Vec<(u64, i64, bool)> =
        st.conns.iter().filter_map(|(id, c)| c.subscription.map(|(sub, wrapped)| (*id, sub, wrapped))).collect();
    if subscribed.is_empty() {
        return;
    }
    while let Some(result) = st.queue.pop_front() {
        for (id, subscription, wrapped) in &subscribed {
            let params =
                if *wrapped { json!({"subscription": subscription, "result": result}) } else { result.clone() };
            let line = json!({"jsonrpc": "2.0", "method": "receive", "params": params}).to_string();
            let _ = st.conns[id].out.send(Out::Line(line));
        }
    }
}

/// One connection: a daemon client, or a shim (whose first lines say how it was launched).
fn serve(stream: TcpStream, shared: &Shared, stdio: bool) {
    let (Ok(reader), Ok(writer), Ok(killer)) = (stream.try_clone(), stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let (out, lines) = mpsc::channel();
    std::thread::spawn(move || write_lines(writer, &lines));
    let id = {
        let mut st = shared.lock();
        st.next_conn += 1;
        let id = st.next_conn;
        let subscription = (!stdio && st.receive_on_start).then(|| (st.next_subscription(), false));
        let multi = !stdio && st.multi_account;
        st.conns.insert(id, Conn { out: out.clone(), stream: killer, subscription, multi });
        deliver(&mut st);
        id
    };
    shared.changed.notify_all();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string();
        line.clear();
        let mut st = shared.lock();
        if !st.conns.contains_key(&id) {
            break; // killed
        }
        if stdio && text.starts_with('#') {
            header(&mut st, id, &text);
        } else if let Some(answer) = handle(&mut st, id, &text) {
            let _ = out.send(Out::Line(answer.to_string()));
        }
        deliver(&mut st);
        drop(st);
        shared.changed.notify_all();
    }
    shared.lock().conns.remove(&id);
    shared.changed.notify_all();
}

fn write_lines(mut stream: TcpStream, lines: &mpsc::Receiver<Out>) {
    for out in lines {
        match out {
            Out::Line(line) => {
                if stream.write_all(format!("{line}\n").as_bytes()).is_err() {
                    break;
                }
            }
            Out::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                break;
            }
        }
    }
}

impl State {
    fn next_subscription(&mut self) -> i64 {
        self.next_subscription += 1;
        self.next_subscription - 1
    }
}

/// A shim's `#argv`, `#pid` and `#eof` lines. signal-cli refuses an account it does not
/// have (`User … is not registered.`, exit 1, App.java).
fn header(st: &mut State, id: u64, line: &str) {
    let Some(conn) = st.conns.get(&id) else { return };
    let out = conn.out.clone();
    let fail = |message: String, code: i32| {
        let _ = out.send(Out::Line(format!("#stderr {message}")));
        let _ = out.send(Out::Line(format!("#exit {code}")));
        let _ = out.send(Out::Close);
    };
    if let Some(args) = line.strip_prefix("#argv") {
        let argv: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        st.launches.push(argv.clone());
        let value = |flag: &str| {
            let at = argv.iter().position(|a| a == flag)?;
            argv.get(at + 1).cloned()
        };
        let account = value("-a").or_else(|| value("--account"));
        let manual =
            argv.iter().any(|a| a == "--receive-mode=manual") || value("--receive-mode").as_deref() == Some("manual");
        if !argv.iter().any(|a| a == "jsonRpc") {
            return fail(format!("signal-cli mock: only the jsonRpc command is served, not {argv:?}"), 2);
        }
        if let Some(account) = &account
            && *account != st.account
        {
            return fail(format!("User {account} is not registered."), 1);
        }
        let subscription = (!manual).then(|| (st.next_subscription(), false));
        if let Some(conn) = st.conns.get_mut(&id) {
            conn.multi = account.is_none();
            conn.subscription = subscription;
        }
    } else if let Some(pid) = line.strip_prefix("#pid ").and_then(|p| p.trim().parse().ok()) {
        st.pids.push(pid);
    } else if line == "#eof" {
        // signal-cli ends at the end of its input.
        let _ = out.send(Out::Line("#exit 0".into()));
        let _ = out.send(Out::Close);
    }
}

/// The shim (`PORT` is replaced by the mock's stdio port).
const SHIM: &str = include_str!("signal_mock/shim.sh");
