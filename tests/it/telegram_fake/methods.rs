//! The Bot API methods the fake answers, with Telegram's checks and error descriptions:
//! getMe, deleteWebhook, getUpdates (long poll, offset, limit, allowed_updates, 409),
//! sendMessage, editMessageText, editMessageReplyMarkup, answerCallbackQuery,
//! deleteMessage, sendChatAction. Method names are case-insensitive, as in Telegram.
//!
//! Not modelled: a chat id given as `@username`; `inline_message_id`; entity parsing
//! (`parse_mode` is recorded, lengths count the raw text); the 48-hour limit on deleting;
//! the bot is never a group admin, so it can delete only its own messages in groups.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Sent, Shared, State, now};

const METHODS: &[&str] = &[
    "getMe",
    "deleteWebhook",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
    "sendChatAction",
];
const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];
/// Update kinds left out when `allowed_updates` is empty or was never given.
const NOT_BY_DEFAULT: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];
const TOO_OLD: &str = "Bad Request: query is too old and response timeout expired or query ID is invalid";
const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content and reply markup \
                            are exactly the same as a current content and reply markup of the message";
const CONFLICT: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

type Answer = (u16, Value);

fn ok(result: Value) -> Answer {
    (200, json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str) -> Answer {
    (code, json!({"ok": false, "error_code": code, "description": description}))
}

fn bad(description: &str) -> Answer {
    error(400, &format!("Bad Request: {description}"))
}

/// Answers one request for `path` (`/bot{TOKEN}/{method}`); None: close without answering.
pub(super) fn handle(
    shared: &Shared,
    path: &str,
    params: Map<String, Value>,
    gone: &dyn Fn() -> bool,
) -> Option<Answer> {
    let Some((token, method)) = path.strip_prefix("/bot").and_then(|rest| rest.split_once('/')) else {
        return Some(error(404, "Not Found"));
    };
    let known = METHODS.iter().find(|m| m.eq_ignore_ascii_case(method)).copied();
    let p = Value::Object(params);
    let mut st = shared.lock();
    st.calls.push((known.unwrap_or(method).to_string(), p.clone()));
    shared.changed.notify_all();
    if token != st.token {
        return Some(error(401, "Unauthorized"));
    }
    let Some(method) = known else {
        return Some(error(404, "Not Found"));
    };
    if let Some(i) = st.fails.iter().position(|(m, ..)| m.eq_ignore_ascii_case(method)) {
        let (_, status, body) = st.fails.remove(i).expect("position");
        return Some((status, body));
    }
    if method == "getUpdates" {
        drop(st);
        return get_updates(shared, &p, gone);
    }
    let answer = match method {
        "getMe" => ok(json!({
            "id": st.bot_id, "is_bot": true, "first_name": "Pyra test bot", "username": "pyra_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "deleteWebhook" => {
            if p["drop_pending_updates"] == json!(true) {
                st.queue.clear();
            }
            (200, json!({"ok": true, "result": true, "description": "Webhook is already deleted"}))
        }
        _ => state_changing(&mut st, method, &p).unwrap_or_else(|e| e),
    };
    shared.changed.notify_all();
    Some(answer)
}

fn get_updates(shared: &Shared, p: &Value, gone: &dyn Fn() -> bool) -> Option<Answer> {
    let mut st = shared.lock();
    if st.stall {
        drop(st);
        while !gone() {
            std::thread::sleep(Duration::from_millis(50));
        }
        return None;
    }
    st.poll_seq += 1;
    let me = st.poll_seq;
    shared.changed.notify_all();
    if let Some(list) = p["allowed_updates"].as_array() {
        st.allowed = Some(list.iter().filter_map(|k| k.as_str().map(str::to_string)).collect());
    }
    let offset = p["offset"].as_i64().unwrap_or(0);
    let limit = usize::try_from(p["limit"].as_i64().unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let timeout = p["timeout"].as_i64().unwrap_or(0).max(0);
    let deadline = Instant::now() + Duration::from_secs(timeout.unsigned_abs());
    drop_unwanted(&mut st);
    if offset > 0 {
        st.queue.retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
    } else if offset < 0 {
        let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
        while st.queue.len() > keep {
            st.queue.pop_front();
        }
    }
    loop {
        if st.poll_seq != me {
            return Some(error(409, CONFLICT));
        }
        drop_unwanted(&mut st);
        if !st.queue.is_empty() {
            return Some(ok(st.queue.iter().take(limit).cloned().collect()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(ok(json!([])));
        }
        st = shared.changed.wait_timeout(st, left.min(Duration::from_millis(50))).unwrap_or_else(|e| e.into_inner()).0;
        if gone() {
            return None;
        }
    }
}

/// Forgets queued updates of kinds the last `allowed_updates` leaves out.
fn drop_unwanted(st: &mut State) {
    let allowed = st.allowed.clone().unwrap_or_default();
    st.queue.retain(|u| {
        let kind = u.as_object().and_then(|o| o.keys().find(|k| *k != "update_id")).map(String::as_str);
        let kind = kind.unwrap_or_default();
        if allowed.is_empty() { !NOT_BY_DEFAULT.contains(&kind) } else { allowed.iter().any(|a| a == kind) }
    });
}

fn state_changing(st: &mut State, method: &str, p: &Value) -> Result<Answer, Answer> {
    if method == "answerCallbackQuery" {
        let id = p["callback_query_id"].as_str().unwrap_or_default();
        match st.queries.get_mut(id) {
            Some(answered) if !*answered => *answered = true,
            _ => return Err(error(400, TOO_OLD)),
        }
        record(st, method, 0, text_of(p), p, 0);
        return Ok(ok(json!(true)));
    }
    let chat_id = match &p["chat_id"] {
        Value::Null => return Err(bad("chat_id is empty")),
        v => v.as_i64().ok_or_else(|| bad("chat not found"))?,
    };
    let chat = st.chats.get(&chat_id).cloned().ok_or_else(|| bad("chat not found"))?;
    match method {
        "sendMessage" => {
            let text = checked_text(p)?;
            check_markup(p)?;
            st.next_message += 1;
            let id = st.next_message;
            let mut msg = json!({"message_id": id, "from": bot_user(st), "chat": chat, "date": now(), "text": text});
            let reply_to = p["reply_parameters"]["message_id"].as_i64().or(p["reply_to_message_id"].as_i64());
            if let Some(reply_to) = reply_to {
                match st.messages.get(&(chat_id, reply_to)) {
                    Some(original) => msg["reply_to_message"] = original.clone(),
                    None if p["reply_parameters"]["allow_sending_without_reply"] == json!(true)
                        || p["allow_sending_without_reply"] == json!(true) => {}
                    None => return Err(bad("message to be replied not found")),
                }
            }
            set_content(&mut msg, p);
            st.messages.insert((chat_id, id), msg.clone());
            record(st, method, chat_id, text, p, id);
            Ok(ok(msg))
        }
        "editMessageText" | "editMessageReplyMarkup" => {
            let id = p["message_id"].as_i64().ok_or_else(|| bad("message identifier is not specified"))?;
            let old = st.messages.get(&(chat_id, id)).cloned().ok_or_else(|| bad("message to edit not found"))?;
            if old["from"]["id"].as_i64() != Some(st.bot_id) {
                return Err(bad("message can't be edited"));
            }
            let text = if method == "editMessageText" { checked_text(p)? } else { text_of(p) };
            check_markup(p)?;
            let mut msg = old.clone();
            if method == "editMessageText" {
                msg["text"] = json!(text);
                forget(&mut msg, "entities");
            }
            // Without reply_markup an edit takes the inline keyboard away, as Telegram does.
            forget(&mut msg, "reply_markup");
            set_content(&mut msg, p);
            if msg["text"] == old["text"] && msg["reply_markup"] == old["reply_markup"] {
                return Err(error(400, NOT_MODIFIED));
            }
            msg["edit_date"] = json!(now());
            st.messages.insert((chat_id, id), msg.clone());
            record(st, method, chat_id, text, p, id);
            Ok(ok(msg))
        }
        "deleteMessage" => {
            let id = p["message_id"].as_i64().ok_or_else(|| bad("message identifier is not specified"))?;
            let msg = st.messages.get(&(chat_id, id)).ok_or_else(|| bad("message to delete not found"))?;
            let by_bot = msg["from"]["id"].as_i64() == Some(st.bot_id);
            if chat["type"] != "private" && !by_bot {
                return Err(bad("message can't be deleted"));
            }
            st.messages.remove(&(chat_id, id));
            st.deleted.push((chat_id, id));
            record(st, method, chat_id, String::new(), p, id);
            Ok(ok(json!(true)))
        }
        "sendChatAction" => {
            let action = p["action"].as_str().unwrap_or_default();
            if !CHAT_ACTIONS.contains(&action) {
                return Err(bad("wrong parameter action in request"));
            }
            record(st, method, chat_id, String::new(), p, 0);
            Ok(ok(json!(true)))
        }
        _ => Err(error(404, "Not Found")),
    }
}

fn text_of(p: &Value) -> String {
    p["text"].as_str().unwrap_or_default().to_string()
}

/// `text` as Telegram checks it: not blank, at most 4096 UTF-16 code units.
fn checked_text(p: &Value) -> Result<String, Answer> {
    let text = text_of(p);
    if text.trim().is_empty() {
        return Err(bad("message text is empty"));
    }
    if text.encode_utf16().count() > 4096 {
        return Err(bad("message is too long"));
    }
    Ok(text)
}

/// An inline keyboard's buttons: each needs an action; `callback_data` is 1–64 bytes.
fn check_markup(p: &Value) -> Result<(), Answer> {
    let Some(rows) = p["reply_markup"].get("inline_keyboard") else { return Ok(()) };
    let rows = rows.as_array().ok_or_else(|| bad("can't parse inline keyboard button: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays"))?;
    for row in rows {
        let row = row
            .as_array()
            .ok_or_else(|| bad("can't parse inline keyboard button: InlineKeyboardButton should be an Array"))?;
        for button in row {
            if let Some(data) = button.get("callback_data") {
                let len = data.as_str().map_or(0, str::len);
                if !(1..=64).contains(&len) {
                    return Err(bad("BUTTON_DATA_INVALID"));
                }
                continue;
            }
            let actions = [
                "url",
                "login_url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "web_app",
                "pay",
                "copy_text",
                "callback_game",
                "switch_inline_query_chosen_chat",
            ];
            if !actions.iter().any(|a| button.get(a).is_some()) {
                return Err(bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                ));
            }
        }
    }
    Ok(())
}

/// Copies what a sent or edited message shows: its entities and its inline keyboard (the
/// only kind of markup a Message carries; an empty one is none).
fn set_content(msg: &mut Value, p: &Value) {
    if p["entities"].as_array().is_some_and(|e| !e.is_empty()) {
        msg["entities"] = p["entities"].clone();
    }
    let keyboard = &p["reply_markup"]["inline_keyboard"];
    if keyboard.as_array().is_some_and(|rows| rows.iter().any(|r| r.as_array().is_some_and(|r| !r.is_empty()))) {
        msg["reply_markup"] = json!({"inline_keyboard": keyboard});
    }
}

fn forget(msg: &mut Value, key: &str) {
    if let Some(fields) = msg.as_object_mut() {
        fields.shift_remove(key);
    }
}

/// The bot as a message's `from`.
fn bot_user(st: &State) -> Value {
    json!({"id": st.bot_id, "is_bot": true, "first_name": "Pyra test bot", "username": "pyra_test_bot"})
}

fn record(st: &mut State, method: &str, chat_id: i64, text: String, p: &Value, message_id: i64) {
    st.sent.push(Sent { method: method.to_string(), chat_id, text, params: p.clone(), message_id });
}
