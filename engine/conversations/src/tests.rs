//! Tests of the chat store (in memory and on file, beside the run store) and of trimming.

use super::*;

fn store() -> ChatStore {
    ChatStore::open_in_memory().unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn create_list_latest_by_name_and_get_by_prefix() {
    let store = store();
    assert!(store.latest().unwrap().is_none());
    assert!(store.list().unwrap().is_empty());

    let a = store.create(None, Some("local")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2)); // distinct times, a certain order
    let b = store.create(Some("work"), None).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!((a.messages, a.title.as_str(), a.model.as_deref()), (0, "", Some("local")));
    assert!(a.id.len() >= 10 && a.id.chars().all(|c| c.is_ascii_alphanumeric()));

    // Created in that order; `a` then gets a message and becomes the latest.
    assert_eq!(store.latest().unwrap().unwrap().id, b.id);
    std::thread::sleep(std::time::Duration::from_millis(2));
    store.append(&a.id, Role::User, "first question\n  on   two lines", &[]).unwrap();
    store.append(&a.id, Role::Assistant, "an answer", &[]).unwrap();
    let latest = store.latest().unwrap().unwrap();
    assert_eq!(latest.id, a.id);
    assert_eq!((latest.messages, latest.title.as_str()), (2, "first question on two lines"));
    let list = store.list().unwrap();
    assert_eq!(list.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [a.id.as_str(), b.id.as_str()]);
    assert_eq!(list[0], latest);
    // An unnamed conversation without a message is neither resumed nor listed, and is
    // forgotten on request (a named one is kept).
    std::thread::sleep(std::time::Duration::from_millis(2));
    let empty = store.create(None, None).unwrap();
    assert_eq!(store.latest().unwrap().unwrap().id, a.id);
    assert_eq!(store.list().unwrap().len(), 2);
    assert!(store.forget_if_empty(&empty.id).unwrap());
    assert!(store.get(&empty.id).unwrap().is_none());
    assert!(!store.forget_if_empty(&a.id).unwrap() && !store.forget_if_empty(&b.id).unwrap());

    assert_eq!(store.by_name("work").unwrap().unwrap().id, b.id);
    assert!(store.by_name("play").unwrap().is_none());
    assert_eq!(store.get(&a.id).unwrap().unwrap().id, a.id);
    assert!(store.get("").unwrap().is_none());
    assert!(store.get("zzzzzzzzzzzzzzzz").unwrap().is_none());
    // Both ids share the time prefix: a short prefix is ambiguous, a long one unique.
    let common = a.id.chars().zip(b.id.chars()).take_while(|(x, y)| x == y).count();
    let err = store.get(&a.id[..common]).unwrap_err();
    assert!(matches!(err, ChatError::Ambiguous { ref ids, .. } if ids.len() == 2), "{err}");
    assert!(err.to_string().contains("matches several conversations"));
    assert_eq!(store.get(&a.id[..common + 1]).unwrap().unwrap().id, a.id);
    // `find`: a name first, then an id or its prefix.
    assert_eq!(store.find("work").unwrap().unwrap().id, b.id);
    assert_eq!(store.find(&a.id[..common + 1]).unwrap().unwrap().id, a.id);
    assert!(store.find("nothing").unwrap().is_none());

    // A taken or bad name is refused when creating.
    assert!(matches!(store.create(Some("work"), None), Err(ChatError::NameTaken(n)) if n == "work"));
    assert!(matches!(store.create(Some("a b"), None), Err(ChatError::BadName { .. })));
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn append_numbers_messages_in_order_and_keeps_findings() {
    let store = store();
    let s = store.create(None, None).unwrap();
    let first = store.append(&s.id, Role::System, "You are Pyra.", &[]).unwrap();
    let second = store.append(&s.id, Role::User, "hello", &strings(&["instruction_override"])).unwrap();
    let third = store.append(&s.id, Role::Assistant, "hi", &[]).unwrap();
    assert_eq!((first.seq, second.seq, third.seq), (1, 2, 3));
    let messages = store.messages(&s.id).unwrap();
    assert_eq!(messages, vec![first, second, third]);
    assert_eq!(messages[1].findings, ["instruction_override"]);
    assert_eq!(messages.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::System, Role::User, Role::Assistant]);
    assert!(messages.windows(2).all(|w| w[0].at <= w[1].at));
    // Content is kept byte for byte.
    let odd = "tabs\tand\nnewlines, \u{1b}[31m escapes, ünïcode 日本";
    assert_eq!(store.append(&s.id, Role::User, odd, &[]).unwrap().seq, 4);
    assert_eq!(store.messages(&s.id).unwrap()[3].content, odd);
    // Other sessions have their own numbering; unknown sessions are errors.
    let other = store.create(None, None).unwrap();
    assert_eq!(store.append(&other.id, Role::User, "x", &[]).unwrap().seq, 1);
    assert!(store.messages(&other.id).unwrap().len() == 1);
    assert!(matches!(store.append("nope", Role::User, "x", &[]), Err(ChatError::NoSession(_))));
    assert!(matches!(store.messages("nope"), Err(ChatError::NoSession(_))));
    assert!(store.messages(&store.create(None, None).unwrap().id).unwrap().is_empty());
}

#[test]
fn rename_checks_names_and_conflicts() {
    let store = store();
    let a = store.create(Some("alpha"), None).unwrap();
    let b = store.create(None, None).unwrap();
    store.rename(&b.id, "beta").unwrap();
    assert_eq!(store.by_name("beta").unwrap().unwrap().id, b.id);
    assert!(matches!(store.rename(&b.id, "alpha"), Err(ChatError::NameTaken(_))));
    store.rename(&a.id, "alpha").unwrap(); // its own name again
    store.rename(&a.id, "gamma").unwrap();
    assert!(store.by_name("alpha").unwrap().is_none());
    store.rename(&b.id, "alpha").unwrap(); // freed
    assert!(matches!(store.rename("nope", "delta"), Err(ChatError::NoSession(_))));

    for bad in ["", "two words", "tab\there", "a/b", "bell\u{7}", &"x".repeat(65)] {
        let err = store.rename(&a.id, bad).unwrap_err();
        assert!(matches!(err, ChatError::BadName { .. }), "{bad:?}: {err}");
    }
    assert!(store.rename(&a.id, "").unwrap_err().to_string().contains("cannot be empty"));
    assert!(store.rename(&a.id, "a/b").unwrap_err().to_string().contains('/'));
    store.rename(&a.id, &"é".repeat(64)).unwrap(); // 64 characters, 128 bytes
    store.rename(&a.id, "projet-été_2").unwrap();
    assert_eq!(store.get(&a.id).unwrap().unwrap().name.as_deref(), Some("projet-été_2"));
}

#[test]
fn set_model_delete_and_clear() {
    let store = store();
    let s = store.create(None, Some("default")).unwrap();
    store.set_model(&s.id, Some("local/llama3")).unwrap();
    assert_eq!(store.get(&s.id).unwrap().unwrap().model.as_deref(), Some("local/llama3"));
    store.set_model(&s.id, None).unwrap();
    assert_eq!(store.get(&s.id).unwrap().unwrap().model, None);
    assert!(matches!(store.set_model("nope", None), Err(ChatError::NoSession(_))));

    store.append(&s.id, Role::System, "system", &[]).unwrap();
    store.append(&s.id, Role::User, "keep me", &[]).unwrap();
    store.append(&s.id, Role::Assistant, "noted", &[]).unwrap();
    store.append(&s.id, Role::User, "chatter", &[]).unwrap();
    store.pin(&s.id, 2, true).unwrap();
    store.pin(&s.id, 3, true).unwrap();
    store.pin(&s.id, 3, false).unwrap();
    assert!(matches!(store.pin(&s.id, 99, true), Err(ChatError::NoMessage { seq: 99, .. })));
    assert!(matches!(store.pin("nope", 1, true), Err(ChatError::NoSession(_))));

    // `/clear` keeps the session, the system prompt and the pinned message.
    assert_eq!(store.clear(&s.id).unwrap(), 2);
    let left = store.messages(&s.id).unwrap();
    assert_eq!(
        left.iter().map(|m| (m.seq, m.content.as_str(), m.pinned)).collect::<Vec<_>>(),
        [(1, "system", false), (2, "keep me", true)]
    );
    assert_eq!(store.append(&s.id, Role::User, "again", &[]).unwrap().seq, 3);
    assert!(matches!(store.clear("nope"), Err(ChatError::NoSession(_))));

    store.delete(&s.id).unwrap();
    assert!(store.get(&s.id).unwrap().is_none());
    assert!(matches!(store.messages(&s.id), Err(ChatError::NoSession(_))));
    assert!(matches!(store.delete(&s.id), Err(ChatError::NoSession(_))));
}

#[test]
fn titles_are_one_short_clean_line() {
    let store = store();
    let s = store.create(None, None).unwrap();
    store.append(&s.id, Role::System, "not the title", &[]).unwrap();
    store.append(&s.id, Role::Assistant, "nor this", &[]).unwrap();
    let long = format!("  \u{1b}[2J plan\u{202E}  my\n\n{}", "trip to the mountains ".repeat(100));
    store.append(&s.id, Role::User, &long, &[]).unwrap();
    store.append(&s.id, Role::User, "later", &[]).unwrap();
    let title = store.get(&s.id).unwrap().unwrap().title;
    assert_eq!(title.chars().count(), TITLE_CHARS, "{title}");
    assert!(title.starts_with("[2J plan my trip to the mountains trip"), "{title}");
    assert!(title.ends_with('…') && !title.contains(char::is_control));

    assert_eq!(super::title("short", false), "short");
    assert_eq!(super::title(&"x".repeat(60), false), "x".repeat(60));
    assert_eq!(super::title(&"x".repeat(61), false), format!("{}…", "x".repeat(59)));
    assert_eq!(super::title("cut in the database", true), "cut in the database…");
    // A first message longer than what the query reads: still one short line.
    let spaced = format!("{}end", " ".repeat(2000));
    let s2 = store.create(None, None).unwrap();
    store.append(&s2.id, Role::User, &spaced, &[]).unwrap();
    assert_eq!(store.get(&s2.id).unwrap().unwrap().title, "…");
}

fn msg(seq: i64, role: Role, content: &str, pinned: bool) -> ChatMessage {
    ChatMessage { seq, role, content: content.to_owned(), pinned, at: seq, findings: Vec::new() }
}

fn seqs(messages: &[ChatMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

#[test]
fn estimates_are_a_third_of_the_bytes() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abc"), 1);
    assert_eq!(estimate_tokens("abcd"), 2);
    assert_eq!(estimate_tokens("日本語"), 3); // 9 bytes: a token a character
    assert_eq!(message_tokens(&msg(1, Role::User, &"a".repeat(30), false)), 10 + MESSAGE_OVERHEAD);
}

#[test]
fn trim_keeps_system_pinned_and_last_and_drops_oldest_first() {
    // Every content of 30 bytes costs 10 + 4 = 14 tokens.
    let text = "x".repeat(30);
    let conversation = vec![
        msg(1, Role::System, &text, false),
        msg(2, Role::User, &text, false),
        msg(3, Role::Assistant, &text, false),
        msg(4, Role::User, &text, true),
        msg(5, Role::Assistant, &text, false),
        msg(6, Role::User, &text, false),
        msg(7, Role::Assistant, &text, false),
        msg(8, Role::User, &text, false),
    ];
    // Everything fits.
    let (all, dropped) = trim(&conversation, 8 * 14);
    assert_eq!((seqs(&all), dropped), (vec![1, 2, 3, 4, 5, 6, 7, 8], 0));
    assert_eq!(all, conversation);
    // One short: the oldest unpinned (2) goes.
    let (kept, dropped) = trim(&conversation, 8 * 14 - 1);
    assert_eq!((seqs(&kept), dropped), (vec![1, 3, 4, 5, 6, 7, 8], 1));
    // System (1), pinned (4), last (8) cost 42; 30 more buys 7 and 6, newest first; 5 and
    // older unpinned ones are dropped, and the order is the original one.
    let (kept, dropped) = trim(&conversation, 42 + 30);
    assert_eq!((seqs(&kept), dropped), (vec![1, 4, 6, 7, 8], 3));
    // Nothing more than the always-kept ones fits.
    let (kept, dropped) = trim(&conversation, 42);
    assert_eq!((seqs(&kept), dropped), (vec![1, 4, 8], 5));
    // A budget smaller than those still returns them (the caller sees it is over).
    let (kept, dropped) = trim(&conversation, 0);
    assert_eq!((seqs(&kept), dropped), (vec![1, 4, 8], 5));
    // The last message is kept even when it alone is over the budget.
    let mut long_last = conversation.clone();
    long_last.push(msg(9, Role::User, &"y".repeat(3000), false));
    let (kept, dropped) = trim(&long_last, 100);
    assert_eq!((seqs(&kept), dropped), (vec![1, 4, 9], 6));
    // Dropping stops at the first message that does not fit: an older, shorter one is not
    // squeezed in past the gap.
    let gap = vec![
        msg(1, Role::User, "short", false),
        msg(2, Role::Assistant, &"z".repeat(300), false),
        msg(3, Role::User, &text, false),
    ];
    let (kept, dropped) = trim(&gap, 40);
    assert_eq!((seqs(&kept), dropped), (vec![3], 2));
    // Edge cases.
    assert_eq!(trim(&[], 10), (Vec::new(), 0));
    let one = [msg(1, Role::User, &text, false)];
    assert_eq!(trim(&one, 0), (one.to_vec(), 0));
}

#[test]
fn two_processes_appending_to_one_conversation_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pyra.db");
    let id = ChatStore::open(&path).unwrap().create(None, None).unwrap().id;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (path, id) = (&path, &id);
            scope.spawn(move || {
                let store = ChatStore::open(path).unwrap();
                for i in 0..25 {
                    store.append(id, Role::User, &format!("{t}:{i}"), &[]).unwrap();
                }
            });
        }
    });
    let messages = ChatStore::open(&path).unwrap().messages(&id).unwrap();
    assert_eq!(seqs(&messages), (1..=100).collect::<Vec<_>>());
}

#[test]
fn the_history_for_a_model_starts_with_the_user_and_alternates() {
    use crate::history_for_model;
    let shaped = |messages: &[ChatMessage]| -> Vec<(String, String)> {
        history_for_model(messages)
            .iter()
            .map(|m| (m["role"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap().to_owned()))
            .collect()
    };
    let pair = |r: &str, c: &str| (r.to_owned(), c.to_owned());
    // Trimming left a reply first; a failed turn left two user messages in a row; an
    // unpinned system message stays out, a pinned one goes in.
    let kept = [
        msg(1, Role::System, "old system note", false),
        msg(3, Role::Assistant, "a reply whose question was trimmed", false),
        msg(4, Role::User, "first try (the server was down)", false),
        msg(5, Role::User, "second try", false),
        msg(6, Role::Assistant, "the answer", false),
        msg(7, Role::System, "keep this in mind", true),
    ];
    assert_eq!(
        shaped(&kept),
        [
            pair("user", "first try (the server was down)\n\nsecond try"),
            pair("assistant", "the answer"),
            pair("system", "keep this in mind"),
        ]
    );
    assert!(shaped(&[]).is_empty());
}

#[test]
fn a_turn_waiting_for_an_approval_is_remembered_until_cleared() {
    let store = store();
    let a = store.create(None, None).unwrap();
    assert_eq!(store.pending(&a.id).unwrap(), None);
    store.set_pending(&a.id, "run1").unwrap();
    store.set_pending(&a.id, "run2").unwrap();
    assert_eq!(store.pending(&a.id).unwrap().as_deref(), Some("run2"));
    store.clear_pending(&a.id).unwrap();
    assert_eq!(store.pending(&a.id).unwrap(), None);
    store.set_pending(&a.id, "run3").unwrap();
    store.delete(&a.id).unwrap();
    assert_eq!(store.pending(&a.id).unwrap(), None);
}
