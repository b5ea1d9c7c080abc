//! Redaction of key-shaped strings in anything Pyra logs, whether or not the value came from the
//! vault: vault taint masks the secrets Pyra knows about, this masks the ones it does not (a key
//! pasted into a prompt, a token echoed by a program, a private key in a file a skill read).
//!
//! [`find_key_shaped`] returns the byte ranges and kinds; [`redact`] replaces each with
//! `[redacted:<kind>]` and borrows the input untouched when nothing matches (the common case,
//! decided by one linear scan). Header-shaped matches (`Bearer …`, `Authorization: Basic …`,
//! `aws_secret_access_key = …`) keep their label and lose only the value. Prefixed kinds are
//! checked for randomness so prose like "sk-learn-compatible" or "Bearer tokens are" survives.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{CaptureLocations, Regex};

/// One kind of key-shaped string.
struct Kind {
    name: &'static str,
    /// A regex; `(?P<v>…)` marks the part to redact when it is not the whole match.
    pattern: &'static str,
    /// Characters that may not follow the match (fixed-length kinds must end where the key ends).
    not_followed_by: Option<fn(char) -> bool>,
    /// Accepts the redacted part; rejects placeholders and prose.
    valid: Option<fn(&str) -> bool>,
}

const fn kind(name: &'static str, pattern: &'static str) -> Kind {
    Kind { name, pattern, not_followed_by: None, valid: None }
}

impl Kind {
    const fn bounded(self, f: fn(char) -> bool) -> Kind {
        Kind { not_followed_by: Some(f), ..self }
    }

    const fn valid(self, f: fn(&str) -> bool) -> Kind {
        Kind { valid: Some(f), ..self }
    }
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// Whether `s` looks generated rather than written: letters and digits mixed, and either both
/// cases or enough length. "sk-2023-annual-report" and "YOUR_API_KEY_HERE" are not.
fn looks_random(s: &str) -> bool {
    let body = s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let upper = body.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = body.bytes().filter(u8::is_ascii_lowercase).count();
    body.len() >= 16 && digits >= 1 && upper + lower >= 1 && ((upper >= 1 && lower >= 1) || body.len() >= 32)
}

/// Kinds in priority order: when two start at the same byte, the earlier one wins.
static KINDS: &[Kind] = &[
    kind(
        "private_key",
        concat!(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.)*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK",
            r")?-----|-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:(?:\r?\n|\\n",
            r"|\\r\\n)+[A-Za-z0-9+/=:, -]+)*",
        ),
    ),
    kind("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}").valid(looks_random),
    kind("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}").valid(looks_random),
    kind("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"),
    kind("github_token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}|\bgithub_pat_[A-Za-z0-9_]{22,}"),
    kind("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}").valid(|s| s.bytes().any(|b| b.is_ascii_digit())),
    kind("aws_access_key_id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}").bounded(token_char),
    kind(
        "aws_secret_access_key",
        r#"(?i:aws[_-]?secret[_-]?(?:access[_-]?)?key|secretaccesskey)["']?\s*[:=]\s*["']?(?P<v>[A-Za-z0-9/+=]{40})"#,
    )
    .bounded(base64_char),
    kind("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}").bounded(token_char),
    kind("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    kind("telegram_bot_token", r"\b[0-9]{8,10}:[A-Za-z0-9_-]{35}").bounded(token_char).valid(|s| {
        let secret = s.split_once(':').map_or("", |(_, t)| t);
        secret.bytes().any(|b| b.is_ascii_uppercase()) && secret.bytes().any(|b| b.is_ascii_lowercase())
    }),
    // Synapse's access tokens: `syt_`, the user's localpart in base64, 20 random
    // characters and a 6-character checksum.
    kind("matrix_access_token", r"\bsyt_[A-Za-z0-9_-]{2,}_[A-Za-z0-9]{20}_[A-Za-z0-9]{6}").bounded(token_char),
    kind("bearer_token", r"(?i:\bbearer)\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)").valid(looks_random),
    kind("basic_auth", r#"(?i:\bauthorization)["']?\s*[:=]\s*["']?(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})"#),
    kind(
        "authorization_header",
        r#"(?i:\bauthorization)["']?\s*[:=]\s*["']?(?i:token|apikey|api-key)\s+(?P<v>[A-Za-z0-9._~+/-]{12,}=*)"#,
    )
    .valid(looks_random),
    kind(
        "api_key_header",
        r#"(?i:\b(?:x-api-key|api-key|x-auth-token))["']?\s*:\s*["']?(?P<v>[A-Za-z0-9._~+/-]{16,}=*)"#,
    )
    .valid(looks_random),
];

struct Compiled {
    re: Regex,
    /// Per kind: the capture group of the whole kind and of its value part, if any.
    groups: Vec<(usize, Option<usize>)>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let alternatives: Vec<String> = KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let body = k.pattern.replace(r"\b", r"(?-u:\b)").replace("(?P<v>", &format!("(?P<v{i}>"));
            format!("(?P<k{i}>{body})")
        })
        .collect();
    let re = match Regex::new(&alternatives.join("|")) {
        Ok(re) => re,
        Err(e) => panic!("redaction patterns do not compile: {e}"),
    };
    let index = |name: &str| re.capture_names().position(|n| n == Some(name));
    let groups =
        (0..KINDS.len()).map(|i| (index(&format!("k{i}")).unwrap_or_default(), index(&format!("v{i}")))).collect();
    Compiled { re, groups }
});

/// Every key-shaped string in `text`: its byte range (the value only, for header-shaped kinds)
/// and its kind, in order, not overlapping.
pub fn find_key_shaped(text: &str) -> Vec<(Range<usize>, &'static str)> {
    let c = &*COMPILED;
    let mut found = Vec::new();
    if !c.re.is_match(text) {
        return found;
    }
    let mut locs: CaptureLocations = c.re.capture_locations();
    let mut pos = 0;
    while pos < text.len() {
        let Some(m) = c.re.captures_read_at(&mut locs, text, pos) else { break };
        let hit = c.groups.iter().enumerate().find_map(|(i, &(whole, value))| {
            locs.get(whole)?;
            let (start, end) = value.and_then(|v| locs.get(v)).or_else(|| locs.get(whole))?;
            Some((&KINDS[i], start..end))
        });
        let accepted = hit.filter(|(k, range)| {
            let next = text[m.end()..].chars().next();
            !(k.not_followed_by.is_some_and(|f| next.is_some_and(f))
                || k.valid.is_some_and(|f| !f(&text[range.clone()])))
        });
        match accepted {
            Some((k, range)) => {
                found.push((range, k.name));
                pos = m.end().max(pos + 1);
            }
            // Rejected here; a shorter or later match may still start just after.
            None => pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8),
        }
        while !text.is_char_boundary(pos) {
            pos += 1;
        }
    }
    found
}

/// `text` with each key-shaped string replaced by `[redacted:<kind>]`; borrowed when there is
/// nothing to replace.
pub fn redact(text: &str) -> Cow<'_, str> {
    let found = find_key_shaped(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, kind) in found {
        out.push_str(&text[last..range.start]);
        out.push_str("[redacted:");
        out.push_str(kind);
        out.push(']');
        last = range.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        find_key_shaped(text).into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn every_kind_is_found() {
        let cases = [
            ("key=sk-4f9Qx2LmN8pR7tVwZ1aBcDeFgHiJkLmNoPqRsTuVw", "openai_key"),
            ("OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_AbCdEfGh-IjKl", "openai_key"),
            ("sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA-zyxw_vuts", "anthropic_key"),
            ("token: ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ", "github_token"),
            ("gho_ZyXwVuTsRqPoNmLkJiHgFeDcBa0123456789", "github_token"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPqrstuvwxyz0123456789", "github_token"),
            ("SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token"),
            ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
            ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "google_api_key"),
            ("stripe: sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "stripe_key"),
            ("rk_live_51HxYzAbCdEfGhIjKlMnOpQr", "stripe_key"),
            (
                "cookie eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
            ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 ready", "telegram_bot_token"),
            ("token syt_cHlyYQ_VdLeIxkZYXhCSMoBZQsT_0S8v0C ok", "matrix_access_token"),
            ("Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0Zz", "bearer_token"),
            ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "basic_auth"),
            ("Authorization: token 0123456789abcdefABCDEF0123456789abcdef", "authorization_header"),
            ("x-api-key: 7d3f9a1b2c4e6f8a0b1c2d3e4f5a6b7cQ", "api_key_header"),
        ];
        for (text, kind) in cases {
            assert_eq!(kinds(text), vec![kind], "{text}");
        }
    }

    #[test]
    fn aws_secret_redacts_only_the_value() {
        let text = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-west-1";
        assert_eq!(redact(text), "aws_secret_access_key = [redacted:aws_secret_access_key]\nregion = eu-west-1");
        let json = r#"{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#;
        assert_eq!(redact(json), r#"{"SecretAccessKey": "[redacted:aws_secret_access_key]"}"#);
    }

    #[test]
    fn headers_keep_their_label() {
        assert_eq!(
            redact("curl -H 'Authorization: Bearer abcDEF0123456789ghiJKL' https://api.example"),
            "curl -H 'Authorization: Bearer [redacted:bearer_token]' https://api.example"
        );
        assert_eq!(redact("Authorization: Basic dXNlcjpwYXNz"), "Authorization: Basic [redacted:basic_auth]");
    }

    #[test]
    fn pem_blocks_go_whole() {
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----";
        let text = format!("key file:\n{pem}\ndone");
        assert_eq!(redact(&text), "key file:\n[redacted:private_key]\ndone");

        let json = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n", "x": 1}"#;
        assert_eq!(redact(json), r#"{"private_key": "[redacted:private_key]\n", "x": 1}"#);

        let truncated = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nQx9\n";
        assert_eq!(redact(truncated), "[redacted:private_key]\n");
        let encrypted =
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17\n\nMIIEow\n";
        assert_eq!(redact(encrypted), "[redacted:private_key]\n");

        let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----";
        assert!(matches!(redact(public), Cow::Borrowed(_)));
    }

    #[test]
    fn several_keys_in_one_line() {
        let text = "a=AKIAIOSFODNN7EXAMPLE b=ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ c=ok";
        assert_eq!(redact(text), "a=[redacted:aws_access_key_id] b=[redacted:github_token] c=ok");
        let found = find_key_shaped(text);
        assert_eq!(&text[found[0].0.clone()], "AKIAIOSFODNN7EXAMPLE");
    }

    #[test]
    fn lookalikes_are_left_alone() {
        let samples = [
            "request id 123e4567-e89b-12d3-a456-426614174000",
            "commit a94a8fe5ccb19ba61c4c0873d391e987982fbbd3 (HEAD -> main)",
            "data:image/png;base64,aGVsbG8gd29ybGQgdGhpcyBpcyBhIHBpY3R1cmUgb2YgYSBjYXQ=",
            "We use the sk- prefix for secret keys; sk-learn-compatible-estimators-are-fine.",
            "sk-2023-annual-report-final and sk-prod-deployment-checklist",
            "The bearer of bad news. Bearer tokens are sent in the Authorization header.",
            "Authorization: Bearer $OPENAI_API_KEY",
            "Authorization: Bearer <your-api-key>",
            "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
            "AKIA is the prefix of AWS access key ids; AKIAEXAMPLE is too short.",
            "eyJhbGciOiJIUzI1NiJ9 is just a base64 header",
            "xoxb-your-token-here",
            "at 12:30:45 on 2025-01-01, user 1234567890:logged_in_successfully_with_2fa_ok",
            "ghp_ tokens start with ghp_; github_pat_ with github_pat_",
            "Привет, мир — nothing to see here ✓",
        ];
        for s in samples {
            assert!(matches!(redact(s), Cow::Borrowed(_)), "{s}: {:?}", find_key_shaped(s));
        }
    }

    #[test]
    fn works_on_non_ascii_and_large_text() {
        let text = "ключ: sk-4f9Qx2LmN8pR7tVwZ1aBcDeFgHiJkLmNoPqRsTuVw — ок";
        assert_eq!(redact(text), "ключ: [redacted:openai_key] — ок");
        let mut big = "lorem ipsum dolor sit amet ".repeat(100_000);
        big.push_str("ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ");
        assert!(redact(&big).ends_with("[redacted:github_token]"));
    }
}
