//! `channel_updates`: what the messaging channels parse from the outside — a Telegram
//! update (`channels::telegram::parse`) and a reaction's emoji (`channels::reaction`) —
//! over hostile JSON and text.
//!
//! Input: a mode byte, then the rest: mode 0 parses it as JSON and hands it to the update
//! parser, mode 1 reads it as a reaction key. Properties: never a panic; an update has an
//! id exactly when `update_id` is a whole number, and its cursor is the id plus one; a
//! button press or a skipped update has no text.

use channels::transport::What;
use serde_json::Value;

pub fn channel_updates(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 2 {
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
        _ => {
            let key = String::from_utf8_lossy(rest);
            let _ = channels::reaction(&key);
        }
    }
}
