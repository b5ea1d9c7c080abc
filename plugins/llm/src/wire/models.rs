//! Model lists, the replies to the formats' model requests: an array of entries, each
//! naming a model in one of its fields.

use serde_json::Value;

use crate::WireError;

/// The entries of the list's `array`.
pub(crate) fn entries<'a>(body: &'a Value, array: &str) -> Result<&'a [Value], WireError> {
    body.get(array)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| WireError::Protocol(format!("the model list has no `{array}` array")))
}

/// The `field` of every entry of the list's `array` that has one, in the list's order.
pub(crate) fn ids(body: &Value, array: &str, field: &str) -> Result<Vec<String>, WireError> {
    Ok(entries(body, array)?.iter().filter_map(|m| m.get(field).and_then(Value::as_str)).map(str::to_string).collect())
}

/// `ids` sorted, each once.
pub(crate) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}
