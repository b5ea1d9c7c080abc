//! The fake against a real HTTP client (reqwest on a current-thread runtime): the Telegram
//! rules a channel client relies on, one test each.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::TelegramFake;

const TOKEN: &str = "123456789:AAE-fake-token_for_tests";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// `POST {url}/bot{token}/{method}` with a JSON body: (status, answer).
async fn call_as(
    client: &reqwest::Client,
    fake: &TelegramFake,
    token: &str,
    method: &str,
    body: Value,
) -> (u16, Value) {
    let response = client
        .post(format!("{}/bot{token}/{method}", fake.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON answer"))
}

async fn call(client: &reqwest::Client, fake: &TelegramFake, method: &str, body: Value) -> (u16, Value) {
    call_as(client, fake, TOKEN, method, body).await
}

fn ids(answer: &Value) -> Vec<i64> {
    answer["result"].as_array().expect("a list").iter().map(|u| u["update_id"].as_i64().expect("update_id")).collect()
}

#[test]
fn long_poll_waits_for_an_update_then_returns_it() {
    let fake = TelegramFake::start(TOKEN);
    let client = reqwest::Client::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(400));
            fake.send_text(42, "/start now");
        });
        let started = Instant::now();
        let (status, answer) = runtime().block_on(call(&client, &fake, "getUpdates", json!({"timeout": 10})));
        let waited = started.elapsed();
        assert_eq!(status, 200);
        assert!(waited >= Duration::from_millis(350) && waited < Duration::from_secs(5), "{waited:?}");
        let update = &answer["result"][0];
        assert_eq!(update["update_id"], 1);
        let message = &update["message"];
        assert_eq!((message["chat"]["id"].as_i64(), message["chat"]["type"].as_str()), (Some(42), Some("private")));
        assert_eq!(message["from"]["id"], 42);
        assert_eq!(message["text"], "/start now");
        assert_eq!(message["entities"], json!([{"offset": 0, "length": 6, "type": "bot_command"}]));
    });
    // Nothing new: a short poll answers [] after its timeout.
    let started = Instant::now();
    let (_, answer) = runtime().block_on(call(&client, &fake, "getUpdates", json!({"offset": 2, "timeout": 1})));
    assert_eq!(answer, json!({"ok": true, "result": []}));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn offset_confirms_and_forgets_for_good() {
    let fake = TelegramFake::start(TOKEN);
    for text in ["one", "two", "three"] {
        fake.send_text(7, text);
    }
    let group_message = fake.send_group_text(-1001, 7, "in the group");
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let (_, all) = call(&client, &fake, "getUpdates", json!({})).await;
        assert_eq!(ids(&all), [1, 2, 3, 4]);
        assert_eq!(all["result"][3]["message"]["chat"]["type"], "group");
        assert_eq!(all["result"][3]["message"]["message_id"], group_message);
        // Unconfirmed updates come again; `limit` caps them.
        let (_, two) = call(&client, &fake, "getUpdates", json!({"limit": 2})).await;
        assert_eq!(ids(&two), [1, 2]);
        let (_, rest) = call(&client, &fake, "getUpdates", json!({"offset": 3})).await;
        assert_eq!(ids(&rest), [3, 4]);
        // Confirmed ones never come back, even without an offset.
        let (_, again) = call(&client, &fake, "getUpdates", json!({})).await;
        assert_eq!(ids(&again), [3, 4]);
        // A negative offset keeps the last |offset| and forgets the others.
        let (_, last) = call(&client, &fake, "getUpdates", json!({"offset": -1})).await;
        assert_eq!(ids(&last), [4]);
        let (_, after) = call(&client, &fake, "getUpdates", json!({})).await;
        assert_eq!(ids(&after), [4]);
    });
    assert_eq!(fake.push(json!({"update_id": 40, "message": {"message_id": 90, "chat": {"id": 8, "type": "private"}, "date": 0, "text": "x"}})), 40);
    assert_eq!(fake.push(json!({"edited_message": {}})), 41);
    assert_eq!(fake.calls("getupdates").len(), 6);
}

#[test]
fn allowed_updates_persists_and_filters() {
    let fake = TelegramFake::start(TOKEN);
    let client = reqwest::Client::new();
    let rt = runtime();
    fake.send_text(5, "hello");
    let (_, answer) = rt.block_on(call(&client, &fake, "sendMessage", json!({"chat_id": 5, "text": "pick", "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}})));
    let sent = answer["result"]["message_id"].as_i64().expect("message_id");
    fake.press(5, sent, "y");
    // Only callback queries: the message update is dropped, not kept for later.
    let (_, first) = rt.block_on(call(&client, &fake, "getUpdates", json!({"allowed_updates": ["callback_query"]})));
    assert_eq!(ids(&first), [2]);
    assert_eq!(first["result"][0]["callback_query"]["data"], "y");
    fake.send_text(5, "again");
    fake.push(json!({"message_reaction": {"chat": {"id": 5, "type": "private"}, "message_id": 1}}));
    fake.press(5, sent, "y");
    // No allowed_updates given: the last list still holds.
    let (_, second) = rt.block_on(call(&client, &fake, "getUpdates", json!({"offset": 3})));
    assert_eq!(ids(&second), [5]);
    // An empty list is the default again: everything but chat_member and reactions.
    fake.send_text(5, "third");
    fake.push(json!({"message_reaction": {"chat": {"id": 5, "type": "private"}, "message_id": 1}}));
    let (_, third) = rt.block_on(call(&client, &fake, "getUpdates", json!({"offset": 6, "allowed_updates": []})));
    assert_eq!(ids(&third), [6]);
    // Given as a JSON-serialised string in a form body, as Telegram also accepts.
    fake.press(5, sent, "y");
    let form = rt.block_on(async {
        let response = client
            .post(format!("{}/bot{TOKEN}/getUpdates?offset=7", fake.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("allowed_updates=%5B%22message%22%5D&limit=5")
            .send()
            .await
            .expect("send");
        serde_json::from_slice::<Value>(&response.bytes().await.expect("body")).expect("JSON")
    });
    assert_eq!(form, json!({"ok": true, "result": []}));
    assert_eq!(fake.calls("getUpdates")[3], json!({"offset": 7, "allowed_updates": ["message"], "limit": 5}));
}

#[test]
fn a_second_poll_ends_the_first_with_409() {
    let fake = TelegramFake::start(TOKEN);
    let (a, b) = (reqwest::Client::new(), reqwest::Client::new());
    let (first, second) = runtime().block_on(async {
        tokio::join!(call(&a, &fake, "getUpdates", json!({"timeout": 5})), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            call(&b, &fake, "getUpdates", json!({"timeout": 0})).await
        })
    });
    assert_eq!(
        first,
        (
            409,
            json!({"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})
        )
    );
    assert_eq!(second, (200, json!({"ok": true, "result": []})));
}

#[test]
fn fail_next_answers_once_with_the_given_body() {
    let fake = TelegramFake::start(TOKEN);
    fake.send_text(9, "hi");
    let too_many = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}});
    fake.fail_next("sendMessage", 429, too_many.clone());
    let client = reqwest::Client::new();
    let (refused, accepted) = runtime().block_on(async {
        let body = json!({"chat_id": 9, "text": "hello", "parse_mode": "HTML"});
        (call(&client, &fake, "sendMessage", body.clone()).await, call(&client, &fake, "sendMessage", body).await)
    });
    assert_eq!(refused, (429, too_many));
    assert_eq!(refused.1["parameters"]["retry_after"], 2);
    assert_eq!(accepted.0, 200);
    let message = &accepted.1["result"];
    assert_eq!((message["chat"]["id"].as_i64(), message["text"].as_str()), (Some(9), Some("hello")));
    assert_eq!(message["from"]["id"], fake.bot_id());
    assert_eq!(fake.bot_id(), 123_456_789);
    let sent = fake.wait_sent(1, Duration::from_secs(1));
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].method.as_str(), sent[0].chat_id, sent[0].text.as_str()), ("sendMessage", 9, "hello"));
    assert_eq!(sent[0].params["parse_mode"], "HTML");
    assert_eq!(sent[0].message_id, message["message_id"].as_i64().expect("id"));
    assert_eq!(fake.calls("sendMessage").len(), 2);
}

#[test]
fn message_length_is_counted_in_utf16_units() {
    let fake = TelegramFake::start(TOKEN);
    fake.send_text(3, "hi");
    let client = reqwest::Client::new();
    let emoji = "\u{1F600}"; // one char, two UTF-16 units
    let send =
        |text: String| runtime().block_on(call(&client, &fake, "sendMessage", json!({"chat_id": 3, "text": text})));
    assert_eq!(send(emoji.repeat(2048)).0, 200);
    let too_long = send(format!("{}a", emoji.repeat(2048)));
    assert_eq!(
        too_long,
        (400, json!({"ok": false, "error_code": 400, "description": "Bad Request: message is too long"}))
    );
    assert_eq!(send("a".repeat(4096)).0, 200);
    assert_eq!(send("a".repeat(4097)).1["description"], "Bad Request: message is too long");
    assert_eq!(send(" \n".into()).1["description"], "Bad Request: message text is empty");
    let stranger = runtime().block_on(call(&client, &fake, "sendMessage", json!({"chat_id": 4, "text": "hi"})));
    assert_eq!(stranger.1["description"], "Bad Request: chat not found");
    assert_eq!(fake.sent().len(), 2);
}

#[test]
fn a_callback_query_is_answered_once() {
    let fake = TelegramFake::start(TOKEN);
    fake.send_text(11, "run it?");
    let client = reqwest::Client::new();
    let rt = runtime();
    let keyboard = |data: &str| json!({"inline_keyboard": [[{"text": "Allow", "callback_data": data}, {"text": "Docs", "url": "https://example.org"}]]});
    let long = "x".repeat(65);
    let (status, answer) = rt.block_on(call(
        &client,
        &fake,
        "sendMessage",
        json!({"chat_id": 11, "text": "Approve?", "reply_markup": keyboard(&long)}),
    ));
    assert_eq!((status, answer["description"].as_str()), (400, Some("Bad Request: BUTTON_DATA_INVALID")));
    let (_, answer) = rt.block_on(call(
        &client,
        &fake,
        "sendMessage",
        json!({"chat_id": 11, "text": "Approve?", "reply_markup": keyboard("a:1")}),
    ));
    let message_id = answer["result"]["message_id"].as_i64().expect("message_id");
    assert_eq!(answer["result"]["reply_markup"], keyboard("a:1"));
    let query = fake.press(11, message_id, "a:1");
    let (_, updates) = rt.block_on(call(&client, &fake, "getUpdates", json!({"offset": 2})));
    let pressed = &updates["result"][0]["callback_query"];
    assert_eq!((pressed["id"].as_str(), pressed["data"].as_str()), (Some(query.as_str()), Some("a:1")));
    assert_eq!(pressed["from"]["id"], 11);
    assert_eq!(pressed["message"]["message_id"], message_id);
    assert_eq!(pressed["message"]["reply_markup"], keyboard("a:1"));
    let answer_query = || {
        rt.block_on(call(&client, &fake, "answerCallbackQuery", json!({"callback_query_id": query, "text": "Allowed"})))
    };
    assert_eq!(answer_query(), (200, json!({"ok": true, "result": true})));
    let again = answer_query();
    assert_eq!(again.0, 400);
    assert_eq!(
        again.1["description"],
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
    // The edit drops the keyboard; the same edit again is "not modified".
    let edit = json!({"chat_id": 11, "message_id": message_id, "text": "Allowed."});
    let (status, edited) = rt.block_on(call(&client, &fake, "editMessageText", edit.clone()));
    assert_eq!((status, edited["result"]["reply_markup"].is_null()), (200, true));
    let (status, unchanged) = rt.block_on(call(&client, &fake, "editMessageText", edit));
    assert_eq!(status, 400);
    assert!(unchanged["description"].as_str().expect("text").starts_with("Bad Request: message is not modified"));
    let missing =
        rt.block_on(call(&client, &fake, "editMessageReplyMarkup", json!({"chat_id": 11, "message_id": 999})));
    assert_eq!(missing.1["description"], "Bad Request: message to edit not found");
    let deleted = rt.block_on(call(&client, &fake, "deleteMessage", json!({"chat_id": 11, "message_id": 1})));
    assert_eq!(deleted.0, 200);
    assert_eq!(fake.deleted(), [(11, 1)]);
    let typing = rt.block_on(call(&client, &fake, "sendChatAction", json!({"chat_id": 11, "action": "typing"})));
    assert_eq!(typing.0, 200);
    let methods: Vec<String> = fake.sent().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["sendMessage", "answerCallbackQuery", "editMessageText", "deleteMessage", "sendChatAction"]);
}

#[test]
fn a_wrong_token_is_401_and_an_unknown_method_404() {
    let fake = TelegramFake::start(TOKEN);
    let client = reqwest::Client::new();
    let rt = runtime();
    let (status, answer) = rt.block_on(call_as(&client, &fake, "123456789:wrong", "getMe", json!({})));
    assert_eq!((status, answer), (401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"})));
    let (status, answer) = rt.block_on(call(&client, &fake, "sendTelepathy", json!({})));
    assert_eq!((status, answer), (404, json!({"ok": false, "error_code": 404, "description": "Not Found"})));
    // Method names are case-insensitive; a GET with no body works too.
    let me = rt.block_on(async {
        let response = client.get(format!("{}/bot{TOKEN}/getme", fake.url)).send().await.expect("send");
        serde_json::from_slice::<Value>(&response.bytes().await.expect("body")).expect("JSON")
    });
    assert_eq!(me["result"]["username"], "pyra_test_bot");
    assert_eq!(me["result"]["is_bot"], true);
}

#[test]
fn a_stalled_poll_never_answers() {
    let fake = TelegramFake::start(TOKEN);
    fake.send_text(1, "waiting");
    fake.stall_polls(true);
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().expect("client");
    let rt = runtime();
    let stalled = rt.block_on(async { client.post(format!("{}/bot{TOKEN}/getUpdates", fake.url)).send().await });
    assert!(stalled.expect_err("no answer").is_timeout());
    fake.stall_polls(false);
    let (_, answer) = rt.block_on(call(&client, &fake, "getUpdates", json!({})));
    assert_eq!(ids(&answer), [1]);
    assert_eq!(fake.calls("getUpdates").len(), 2);
}
