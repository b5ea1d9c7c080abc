//! Durations as users write them in skills: `500ms`, `2s`, `5m`, `1h30m`, `1d`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration as StdDuration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern in the JSON Schema; [`parse`] accepts exactly these strings.
pub const PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

/// A duration written as text in a skill file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub StdDuration);

/// Parses `1h30m`-style text. Returns `None` for anything else.
pub fn parse(text: &str) -> Option<StdDuration> {
    let mut total = StdDuration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (StdDuration::from_millis(1), 2)
        } else {
            let secs = match rest.chars().next()? {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return None,
            };
            (StdDuration::from_secs(secs), 1)
        };
        rest = &rest[len..];
        total = total.checked_add(unit.checked_mul(u32::try_from(n).ok()?)?)?;
    }
    Some(total)
}

/// Formats a duration the way users write it (`1h30m`, `500ms`).
pub fn format(d: StdDuration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text)
            .map(Duration)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a duration like `30s`, `5m` or `1h30m`")))
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h, d), e.g. `30s`, `5m`, `1h30m`.",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse("2s"), Some(StdDuration::from_secs(2)));
        assert_eq!(parse("1h30m"), Some(StdDuration::from_secs(5400)));
        assert_eq!(parse("500ms"), Some(StdDuration::from_millis(500)));
        assert_eq!(parse("1d"), Some(StdDuration::from_secs(86_400)));
        for bad in ["", "2", "s", "2 s", "1.5s", "-1s", "2sec", "99999999999999999999s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(format(StdDuration::from_millis(5_400_500)), "1h30m500ms");
        let re_ok = |s: &str| parse(s).is_some();
        assert!(re_ok("10m5s"));
    }
}
