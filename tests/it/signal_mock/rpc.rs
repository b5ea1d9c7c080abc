//! The mock's JSON-RPC methods, as `JsonRpcReader` and `SignalJsonRpcCommandHandler`
//! answer them: parse errors (-32700) and invalid requests (-32600) with a null id,
//! batches, notifications answered by nothing, `subscribeReceive` / `unsubscribeReceive`,
//! `send` and `sendReaction` with signal-cli's checks and result shape, `version`,
//! `listAccounts` in multi-account mode, and -32601 "Method not implemented" for the rest.

use serde_json::{Value, json};

use super::{ACCOUNT_UUID, SentMessage, State, VERSION, sync_sent};

/// One input line, as `JsonRpcReader` takes it; `None` when nothing is answered.
pub(super) fn handle(st: &mut State, conn: u64, line: &str) -> Option<Value> {
    if line.trim().is_empty() {
        return Some(error(-32700, "Empty input line", None, Value::Null));
    }
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(e) => return Some(error(-32700, &format!("Unrecognized token: {e}"), None, Value::Null)),
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            let answers: Vec<Value> = items.into_iter().filter_map(|item| request(st, conn, item)).collect();
            (!answers.is_empty()).then(|| Value::Array(answers))
        }
        Value::Object(_) => request(st, conn, value),
        _ => Some(error(-32600, "invalid request", None, Value::Null)),
    }
}

fn error(code: i64, message: &str, data: Option<Value>, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message, "data": data}, "id": id})
}

/// One request object; responses from the client are ignored, as by signal-cli.
fn request(st: &mut State, conn: u64, item: Value) -> Option<Value> {
    if item.get("result").is_some() || item.get("error").is_some() {
        return None;
    }
    let id = item.get("id").cloned().unwrap_or_default();
    if item.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error(-32600, "only jsonrpc version 2.0 is supported", None, id));
    }
    let Some(method) = item.get("method").and_then(Value::as_str) else {
        return Some(error(-32600, "method field must be set", None, id));
    };
    let params = item.get("params").cloned().unwrap_or_default();
    if !(params.is_null() || params.is_object() || params.is_array()) {
        return Some(error(-32600, "params must be an object or an array", None, id));
    }
    st.requests.push((method.to_string(), params.clone()));
    let outcome = match method {
        "subscribeReceive" => {
            let subscription = st.next_subscription();
            if let Some(c) = st.conns.get_mut(&conn) {
                c.subscription = Some((subscription, true));
            }
            Ok(json!(subscription))
        }
        "unsubscribeReceive" => match st.conns.get_mut(&conn) {
            Some(c) if c.subscription.is_some_and(|(s, _)| params["subscription"].as_i64().is_none_or(|p| p == s)) => {
                c.subscription = None;
                Ok(json!({}))
            }
            _ => Err((-1, "Unknown subscription id".to_string(), None)),
        },
        "send" => send(st, &params),
        "sendReaction" => send_reaction(st, &params),
        "version" => Ok(json!({"version": VERSION})),
        "listAccounts" if st.conns.get(&conn).is_some_and(|c| c.multi) => Ok(json!([{"number": st.account}])),
        _ => Err((-32601, "Method not implemented".to_string(), None)),
    };
    if id.is_null() {
        return None; // a notification: signal-cli drops the answer
    }
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err((code, message, data)) => error(code, &message, data, id),
    })
}

type Refusal = (i64, String, Option<Value>);

/// A parameter that may be one value or a list (`recipient` / `recipients`), as
/// `JsonRpcNamespace.getList` reads it.
fn list(params: &Value, key: &str) -> Vec<String> {
    let mut found = Vec::new();
    for value in [&params[key], &params[format!("{key}s").as_str()]] {
        match value {
            Value::String(s) => found.push(s.clone()),
            Value::Array(items) => found.extend(items.iter().filter_map(Value::as_str).map(str::to_string)),
            _ => {}
        }
    }
    found
}

/// Recipients and groups of a send, checked as `CommandUtil.getRecipientIdentifiers` does.
fn targets(st: &State, params: &Value) -> Result<(Vec<String>, Vec<String>), Refusal> {
    let mut recipients = list(params, "recipient");
    if params["noteToSelf"] == json!(true) {
        recipients.push(st.account.clone());
    }
    let groups = list(params, "groupId");
    if recipients.is_empty() && groups.is_empty() {
        return Err((-1, "No recipients given".into(), None));
    }
    for r in &recipients {
        let number = r.len() > 7 && r.starts_with('+') && r[1..].bytes().all(|b| b.is_ascii_digit());
        let uuid = r.len() == 36 && r.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !number && !uuid {
            return Err((-1, format!("Invalid phone number '{r}': not a number or an ACI"), None));
        }
    }
    if let Some(g) = groups.iter().find(|g| !st.groups.contains_key(*g)) {
        return Err((-1, format!("Group not found: {g}"), None));
    }
    Ok((recipients, groups))
}

/// The results of a send (`JsonSendMessageResult`); `Err` when no recipient got it, as
/// `SendMessageResultUtils.outputResult` fails then.
fn deliver_send(st: &mut State, method: &str, text: &str, params: &Value) -> Result<Value, Refusal> {
    let (recipients, groups) = targets(st, params)?;
    let ts = st.timestamp();
    let mut results = Vec::new();
    let mut any = false;
    for r in &recipients {
        let ok = !st.unregistered.contains(r);
        any |= ok;
        let kind = if ok { "SUCCESS" } else { "UNREGISTERED_FAILURE" };
        results.push(json!({"recipientAddress": st.address(r), "type": kind}));
        if ok {
            let sent = SentMessage {
                method: method.into(),
                to: r.clone(),
                text: text.into(),
                timestamp: ts,
                params: params.clone(),
            };
            st.sent.push(sent);
        }
    }
    for g in &groups {
        for member in st.groups[g].clone() {
            results.push(json!({"recipientAddress": st.address(&member), "groupId": g, "type": "SUCCESS"}));
        }
        let to = format!("group:{g}");
        st.sent.push(SentMessage {
            method: method.into(),
            to,
            text: text.into(),
            timestamp: ts,
            params: params.clone(),
        });
    }
    let answer = json!({"timestamp": ts, "results": results});
    if groups.is_empty() && !any {
        return Err((-1, "Failed to send message".into(), Some(json!({"response": answer}))));
    }
    if st.echo && method == "send" {
        let destinations = recipients.iter().filter(|r| !st.unregistered.contains(r)).cloned();
        let destinations: Vec<String> = destinations.chain(groups.iter().map(|g| format!("group:{g}"))).collect();
        for destination in destinations {
            let sync = sync_sent(st, &destination, ts, text);
            let envelope = st.envelope(ACCOUNT_UUID, ts, sync);
            st.queue.push_back(envelope);
        }
    }
    Ok(answer)
}

fn send(st: &mut State, params: &Value) -> Result<Value, Refusal> {
    let text = params["message"].as_str().unwrap_or_default();
    if text.is_empty() && params["attachment"].is_null() && params["attachments"].is_null() {
        let message = "Sending empty message is not allowed, either a message, attachment or sticker must be given.";
        targets(st, params)?;
        return Err((-1, message.into(), None));
    }
    deliver_send(st, "send", text, params)
}

fn send_reaction(st: &mut State, params: &Value) -> Result<Value, Refusal> {
    let emoji = params["emoji"].as_str().unwrap_or_default().to_string();
    let complete = params["targetAuthor"].is_string() && params["targetTimestamp"].is_i64();
    if emoji.is_empty() || !complete {
        return Err((-1, "sendReaction needs emoji, targetAuthor and targetTimestamp".into(), None));
    }
    deliver_send(st, "sendReaction", &emoji, params)
}
