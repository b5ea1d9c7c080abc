//! `channel_updates`: what the messaging channels parse from the outside — a Telegram
//! update (`channels::telegram::parse`), a signal-cli notification (`channels::signal::
//! incoming` over `plugins::signal::parse`), a Matrix `/sync` answer
//! (`plugins::matrix::parse_sync`, then `channels::matrix::incoming` per event) and a
//! reaction's emoji (`channels::reaction`) — over hostile JSON and text.
//!
//! Input: a mode byte, then the rest: modes 0, 2 and 3 parse it as JSON for Telegram,
//! Signal and Matrix, mode 1 reads it as a reaction key. Properties: never a panic; a
//! Telegram update has an id exactly when `update_id` is a whole number, and its cursor is
//! the id plus one; a button press or a skipped update has no text; Signal and Matrix
//! deliveries from Pyra's own account are never taken as someone else's.

use channels::transport::{Policy, What};
use serde_json::Value;

const ACCOUNT: &str = "+4915100000001";
const ME: &str = "@pyra:localhost";

pub fn channel_updates(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            let Ok(update) = serde_json::from_slice::<Value>(rest) else { return };
            let parsed = channels::telegram::parse(&update, "pyra_bot");
            let id = update.get("update_id").and_then(Value::as_i64);
            assert_eq!(parsed.is_some(), id.is_some(), "an update is taken exactly when it has an id: {update}");
            if let (Some((incoming, cursor)), Some(id)) = (parsed, id) {
                assert_eq!(cursor, id.saturating_add(1).to_string());
                assert_eq!(incoming.id, id.to_string());
                if matches!(incoming.what, What::Button { .. } | What::Skip) {
                    assert!(incoming.text.is_empty(), "{incoming:?}");
                }
            }
        }
        1 => {
            let key = String::from_utf8_lossy(rest);
            let _ = channels::reaction(&key);
        }
        2 => {
            let Ok(note) = serde_json::from_slice::<Value>(rest) else { return };
            if let Some(incoming) = channels::signal::incoming(&note, ACCOUNT)
                && incoming.sender == ACCOUNT
                && incoming.what == What::Message
            {
                // Pyra's own number: its own sends, or a note to self (checked against the outbox).
                assert!(incoming.from_self || incoming.chat == ACCOUNT, "{incoming:?}");
            }
        }
        _ => {
            let Ok(sync) = serde_json::from_slice::<Value>(rest) else { return };
            let batch = plugins::matrix::parse_sync(&sync);
            let policy = Policy { groups: vec!["!g".into()], ..Policy::default() };
            for room in &batch.rooms {
                for event in &room.events {
                    if let Some(incoming) = channels::matrix::incoming(event, &room.room_id, ME, &policy) {
                        assert_eq!(incoming.from_self, incoming.sender == ME, "{incoming:?}");
                        assert_eq!(incoming.chat, room.room_id);
                    }
                }
            }
        }
    }
}
