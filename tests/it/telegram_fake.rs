//! A local fake of the Telegram Bot API for the channel tests: `POST {url}/bot{TOKEN}/{method}`
//! with parameters as JSON, form or query string, answered in Telegram's envelope
//! (`{"ok":true,"result":…}` or `{"ok":false,"error_code":N,"description":…}`). It keeps
//! Telegram's rules where a client can get them wrong: long polls that wait for an update,
//! updates forgotten once confirmed by `offset`, `allowed_updates` that persists between
//! calls, 409 to the earlier of two pollers, 4096 UTF-16 units per message, 1–64 bytes of
//! `callback_data`, a callback query answered once, an unchanged edit refused. A test plays
//! the users (`send_text`, `press`, `push`), scripts failures (`fail_next`, `stall_polls`)
//! and reads what the bot did (`sent`, `calls`, `deleted`).
//!
//! Simplifications (see the module `methods`): message ids are unique across all chats
//! (Telegram numbers them per chat); lengths are counted on the raw text even with a
//! `parse_mode`; no files, webhooks, inline messages or time limits on callback answers.

mod http;
mod methods;
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One state-changing call the bot made, as recorded once it succeeded.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The canonical method name (`sendMessage`, `editMessageText`, …).
    pub method: String,
    /// The chat it acted on; 0 for `answerCallbackQuery`.
    pub chat_id: i64,
    /// `text` of sendMessage / editMessageText / answerCallbackQuery, else "".
    pub text: String,
    /// Every parameter, normalised (numbers as numbers, JSON-serialised fields parsed).
    pub params: Value,
    /// The new message (sendMessage), the target (edits, deleteMessage), else 0.
    pub message_id: i64,
}

/// What the fake knows; one lock for all of it.
struct State {
    token: String,
    bot_id: i64,
    next_update: i64,
    /// Updates not confirmed yet, oldest first.
    queue: VecDeque<Value>,
    /// The last `allowed_updates` a poll gave (None: never given).
    allowed: Option<Vec<String>>,
    /// Incremented by every getUpdates that reaches the server: a waiting poll that sees
    /// another number was overtaken (409).
    poll_seq: u64,
    stall: bool,
    next_message: i64,
    /// Messages by (chat id, message id), in their current version.
    messages: HashMap<(i64, i64), Value>,
    /// Chats the bot may write to (someone wrote from them), as Chat objects.
    chats: HashMap<i64, Value>,
    /// Callback query ids and whether they were answered.
    queries: HashMap<String, bool>,
    next_query: u64,
    sent: Vec<Sent>,
    calls: Vec<(String, Value)>,
    fails: VecDeque<(String, u16, Value)>,
    deleted: Vec<(i64, i64)>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change: new updates, new polls, new records.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TelegramFake {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    shared: Arc<Shared>,
}

impl TelegramFake {
    /// Serves the Bot API for `token`. The bot's id is the token's number before `:` when
    /// it has one (as in real tokens), else 7000000001.
    pub fn start(token: &str) -> TelegramFake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let bot_id = token.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(7_000_000_001);
        let state = State {
            token: token.to_string(),
            bot_id,
            next_update: 1,
            queue: VecDeque::new(),
            allowed: None,
            poll_seq: 0,
            stall: false,
            next_message: 0,
            messages: HashMap::new(),
            chats: HashMap::new(),
            queries: HashMap::new(),
            next_query: 0,
            sent: Vec::new(),
            calls: Vec::new(),
            fails: VecDeque::new(),
            deleted: Vec::new(),
        };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new() });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || http::serve(stream, &s));
            }
        });
        TelegramFake { url, shared }
    }

    pub fn bot_id(&self) -> i64 {
        self.shared.lock().bot_id
    }

    /// A private-chat message from user `from_id`; returns its message_id.
    pub fn send_text(&self, from_id: i64, text: &str) -> i64 {
        let chat = json!({"id": from_id, "first_name": user_name(from_id), "type": "private"});
        self.user_message(chat, from_id, text)
    }

    /// A message from user `from_id` in the (basic) group `chat_id`, which must be negative.
    pub fn send_group_text(&self, chat_id: i64, from_id: i64, text: &str) -> i64 {
        assert!(chat_id < 0, "group chat ids are negative in Telegram, got {chat_id}");
        let chat = json!({"id": chat_id, "title": format!("Group {}", -chat_id), "type": "group"});
        self.user_message(chat, from_id, text)
    }

    fn user_message(&self, chat: Value, from_id: i64, text: &str) -> i64 {
        let mut st = self.shared.lock();
        st.next_message += 1;
        let id = st.next_message;
        let mut msg = json!({"message_id": id, "from": user(from_id), "chat": chat, "date": now(), "text": text});
        if text.starts_with('/') {
            // Telegram marks a leading command, with its length in UTF-16 units.
            let command = text.split(char::is_whitespace).next().unwrap_or_default();
            let length = command.encode_utf16().count();
            msg["entities"] = json!([{"offset": 0, "length": length, "type": "bot_command"}]);
        }
        enqueue(&mut st, json!({"message": msg}));
        self.shared.changed.notify_all();
        id
    }

    /// User `from_id` presses a button under the bot's message `message_id` (looked up in
    /// the chat `from_id` first, then in any chat): a `callback_query` update with that
    /// message in its current version and `data`. Returns the query id.
    pub fn press(&self, from_id: i64, message_id: i64, data: &str) -> String {
        let mut st = self.shared.lock();
        let bot_id = st.bot_id;
        let by_bot = |m: &Value| m["from"]["id"].as_i64() == Some(bot_id);
        let message = match st.messages.get(&(from_id, message_id)).filter(|m| by_bot(m)) {
            Some(m) => m.clone(),
            None => {
                let found: Vec<&Value> =
                    st.messages.iter().filter(|((_, id), m)| *id == message_id && by_bot(m)).map(|(_, m)| m).collect();
                match found.as_slice() {
                    [m] => (*m).clone(),
                    _ => panic!("press: no message {message_id} sent by the bot (deleted, or never sent)"),
                }
            }
        };
        st.next_query += 1;
        let id = format!("{}", 4_611_686_018_427_387_904u64 + st.next_query * 7_919);
        let chat_id = message["chat"]["id"].as_i64().unwrap_or_default();
        let chat_instance = format!("{}", (chat_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1);
        let query =
            json!({"id": id, "from": user(from_id), "message": message, "chat_instance": chat_instance, "data": data});
        enqueue(&mut st, json!({"callback_query": query}));
        self.shared.changed.notify_all();
        id
    }

    /// Any raw update; `update_id` is assigned when absent. Chats, messages and callback
    /// queries in it become known to the fake. Returns the update_id.
    pub fn push(&self, update: Value) -> i64 {
        let mut st = self.shared.lock();
        let id = enqueue(&mut st, update);
        self.shared.changed.notify_all();
        id
    }

    /// Every successful sendMessage / editMessageText / editMessageReplyMarkup /
    /// answerCallbackQuery / deleteMessage / sendChatAction, in order. Refused calls are
    /// only in `calls`.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Waits until at least `n` calls are in `sent()`; panics with what there is on timeout.
    pub fn wait_sent(&self, n: usize, within: Duration) -> Vec<Sent> {
        let deadline = Instant::now() + within;
        let mut st = self.shared.lock();
        while st.sent.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("waited {within:?} for {n} sent, have {}: {:#?}", st.sent.len(), st.sent);
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        st.sent.clone()
    }

    /// The parameters of every call of `method` (case-insensitive, refused ones included).
    pub fn calls(&self, method: &str) -> Vec<Value> {
        let st = self.shared.lock();
        st.calls.iter().filter(|(m, _)| m.eq_ignore_ascii_case(method)).map(|(_, p)| p.clone()).collect()
    }

    /// The next call of `method` gets exactly this status and body (once; several queue up).
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        self.shared.lock().fails.push_back((method.to_string(), status, body));
    }

    /// While on, getUpdates is accepted and never answered, and the server knows nothing of
    /// it (no 409, nothing confirmed); the connection stays open until the client hangs up.
    pub fn stall_polls(&self, on: bool) {
        self.shared.lock().stall = on;
        self.shared.changed.notify_all();
    }

    /// (chat_id, message_id) of every message deleted via deleteMessage.
    pub fn deleted(&self) -> Vec<(i64, i64)> {
        self.shared.lock().deleted.clone()
    }
}

/// Queues `update`, numbering it when it has no `update_id`, and learns its chats,
/// messages and callback queries.
fn enqueue(st: &mut State, mut update: Value) -> i64 {
    let id = match update["update_id"].as_i64() {
        Some(id) => id,
        None => {
            update["update_id"] = json!(st.next_update);
            st.next_update
        }
    };
    st.next_update = st.next_update.max(id + 1);
    for key in ["message", "edited_message", "channel_post", "edited_channel_post"] {
        learn_message(st, &update[key]);
    }
    if let Some(q) = update["callback_query"]["id"].as_str() {
        st.queries.insert(q.to_string(), false);
        learn_message(st, &update["callback_query"]["message"]);
    }
    for key in ["my_chat_member", "chat_member", "chat_join_request"] {
        learn_chat(st, &update[key]["chat"]);
    }
    st.queue.push_back(update);
    id
}

fn learn_message(st: &mut State, msg: &Value) {
    learn_chat(st, &msg["chat"]);
    if let (Some(chat), Some(id)) = (msg["chat"]["id"].as_i64(), msg["message_id"].as_i64()) {
        st.next_message = st.next_message.max(id);
        st.messages.insert((chat, id), msg.clone());
    }
}

fn learn_chat(st: &mut State, chat: &Value) {
    if let Some(id) = chat["id"].as_i64() {
        st.chats.insert(id, chat.clone());
    }
}

fn user_name(id: i64) -> String {
    format!("User {id}")
}

/// A human User object.
fn user(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": user_name(id)})
}

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or_default()
}
