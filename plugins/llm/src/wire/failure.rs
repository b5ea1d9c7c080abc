//! How a decoder fails, the same way in every wire format: an error is kept and returned
//! by every later call, events decoded before it in the same bytes come first, a stream
//! that ends before the reply is complete is an error, and a message quotes at most 200
//! bytes of what did not parse.

use serde_json::Value;

use crate::{StreamEvent, WireError};

/// The error a decoder's stream failed with, once it has; every later call returns it.
#[derive(Debug, Default)]
pub(crate) struct Failure(Option<WireError>);

impl Failure {
    /// The error the stream failed with, if it has.
    pub(crate) fn check(&self) -> Result<(), WireError> {
        match &self.0 {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.0.is_some()
    }

    /// Fails the stream with `e` (for a decoder that settles its end by itself).
    pub(crate) fn fail(&mut self, e: &WireError) {
        self.0 = Some(e.clone());
    }

    /// What a decoder's `feed` returns for `result`: the events, or the error, which is
    /// kept so every later call returns it. Events decoded before the error in the same
    /// bytes are returned now, and the error with the next call.
    pub(crate) fn settle(
        &mut self,
        result: Result<(), WireError>,
        out: Vec<StreamEvent>,
    ) -> Result<Vec<StreamEvent>, WireError> {
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                self.fail(&e);
                if out.is_empty() { Err(e) } else { Ok(out) }
            }
        }
    }

    /// What a decoder's `finish` returns for `result`: at the end an error is the
    /// stream's last word, whatever came before it (kept as [`Failure::settle`] does).
    pub(crate) fn settle_end(
        &mut self,
        result: Result<(), WireError>,
        out: Vec<StreamEvent>,
    ) -> Result<Vec<StreamEvent>, WireError> {
        result.map(|()| out).inspect_err(|e| self.fail(e))
    }
}

/// The stream ended before the protocol's last word (or before the finish reason).
pub(crate) fn early_end() -> WireError {
    WireError::Protocol("the stream ended before the reply was complete".into())
}

/// `what` (a chunk, an event) did not parse as JSON; the message quotes its start.
pub(crate) fn not_json(what: &str, e: &serde_json::Error, data: &str) -> WireError {
    let mut end = data.len().min(200);
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    WireError::Protocol(format!("{what} is not JSON ({e}): {}", &data[..end]))
}

/// The text of an `error` field: a non-empty string, or the first non-empty one of
/// `fields` in an object.
pub(crate) fn error_text(error: &Value, fields: &[&str]) -> Option<String> {
    match error {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => {
            fields.iter().find_map(|k| o.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty())).map(str::to_string)
        }
        _ => None,
    }
}
