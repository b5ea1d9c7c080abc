//! `cron`: the one cron normaliser (`lang::cron`: Vixie 5-field cron and macros for the
//! `cron` crate) and its wall-clock evaluation in a time zone.
//!
//! Input: four bytes of a start time (seconds from 2020, within about 136 years), one byte
//! choosing the time zone, then the expression. Properties: an error names a field in
//! 0..5 or none; a parsed expression's 5-field form parses to itself; fire times are
//! after the start and strictly increasing.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// UTC, zones with DST both ways, a 30-minute DST change, and one that skipped a day.
const ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::Australia__Lord_Howe,
    Tz::Pacific__Apia,
    Tz::Asia__Kolkata,
];

/// 2020-01-01T00:00:00Z.
const EPOCH_2020: i64 = 1_577_836_800;

pub fn cron(data: &[u8]) {
    let [a, b, c, d, zone, expr @ ..] = data else { return };
    let text = String::from_utf8_lossy(expr);
    let parsed = match lang::cron::parse(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(e.field.is_none_or(|f| f < 5), "error in field {:?} of a 5-field expression", e.field);
            return;
        }
    };
    assert_eq!(parsed.five_field.split_whitespace().count(), 5, "{:?}", parsed.five_field);
    let again = lang::cron::parse(&parsed.five_field).expect("the 5-field form parses");
    assert_eq!(again.five_field, parsed.five_field);

    let seconds = EPOCH_2020 + i64::from(u32::from_le_bytes([*a, *b, *c, *d]));
    let tz = ZONES[usize::from(*zone) % ZONES.len()];
    let Some(start) = Utc.timestamp_opt(seconds, 0).single() else { return };
    let start: DateTime<Tz> = start.with_timezone(&tz);
    let times = parsed.upcoming(&start, 3);
    let mut last = start;
    for t in times {
        assert!(t > last, "`{}` in {tz}: {t} is not after {last} (from {start})", parsed.five_field);
        last = t;
    }
}
