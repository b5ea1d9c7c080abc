//! The small decisions about single values: which `${…}` references a string holds, whether
//! an environment or header value is a secret, and the Pyra name a server's key becomes.

use super::EnvValue;

/// Longest plugin name: `[a-z][a-z0-9-]{0,39}`.
pub(crate) const MAX_NAME: usize = 40;

/// One `${…}` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ref {
    /// `${VAR}`, `${VAR:-default}`, `${env:VAR}`: a variable of the process environment.
    Env { var: String, default: Option<String> },
    /// `${input:id}`: VS Code asks the user when the server starts.
    Input(String),
    /// Anything else (`${workspaceFolder}`, `${userHome}`, `${config:x}`): a variable of the
    /// client the file came from, which Pyra does not know.
    Client(String),
}

/// A string split into literal text and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Ref(Ref, String),
}

/// VS Code's and Cursor's own variables, which look like `${NAME}` but are not environment
/// variables.
const CLIENT_VARIABLES: &[&str] = &[
    "workspaceFolder",
    "workspaceFolderBasename",
    "workspaceRoot",
    "userHome",
    "pathSeparator",
    "cwd",
    "file",
    "fileDirname",
    "relativeFile",
    "execPath",
    "defaultBuildTask",
];

/// Splits `text` at its `${…}` references. A `${` without a closing `}` is text.
pub(crate) fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        let raw = &rest[start..start + len + 1];
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_string()));
        }
        out.push(Piece::Ref(classify_ref(&raw[2..raw.len() - 1]), raw.to_string()));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    out
}

fn classify_ref(inner: &str) -> Ref {
    if let Some(id) = inner.strip_prefix("input:") {
        return Ref::Input(id.trim().to_string());
    }
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default.to_string())),
        None => (inner, None),
    };
    let name = name.strip_prefix("env:").unwrap_or(name).trim();
    let is_var = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_var && (inner.starts_with("env:") || !CLIENT_VARIABLES.contains(&name)) {
        Ref::Env { var: name.to_string(), default }
    } else {
        Ref::Client(inner.to_string())
    }
}

/// `text` with every environment reference written `${env:VAR}` (or `${env:VAR:-d}`), the
/// one form Pyra reads; other references are kept as they are. Also returns the
/// references Pyra cannot resolve, for a warning.
pub(crate) fn normalise(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut unresolved = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Ref(Ref::Env { var, default }, _) => {
                out.push_str("${env:");
                out.push_str(&var);
                if let Some(d) = default {
                    out.push_str(":-");
                    out.push_str(&d);
                }
                out.push('}');
            }
            Piece::Ref(_, raw) => {
                out.push_str(&raw);
                unresolved.push(raw);
            }
        }
    }
    (out, unresolved)
}

/// Whether a variable or header name says its value is a credential.
pub(crate) fn secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    const WORDS: &[&str] = &["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE"];
    // `PAT` (a personal access token) only as a whole word: `PATH` is not a secret.
    WORDS.iter().any(|w| upper.contains(w)) || upper.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "PAT")
}

/// Whether a secret's literal is a placeholder a sample left for the user to fill (`""`,
/// `<YOUR_TOKEN>`, `your-api-key-here`, `ghp_...`, `sk-xxxx`), not a value worth keeping.
fn placeholder(value: &str) -> bool {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    v.is_empty()
        || (v.starts_with('<') && v.ends_with('>') && !v[1..v.len() - 1].contains(['<', '>']))
        || lower.starts_with("your")
        || lower.contains("...")
        || lower.contains('\u{2026}')
        || lower.contains("xxxx")
}

/// What an environment or header value becomes, and the references in it Pyra cannot
/// resolve (for a warning).
pub(crate) fn env_value(key: &str, value: &str) -> (EnvValue, Vec<String>) {
    let parts = pieces(value);
    let refs = parts.iter().filter(|p| matches!(p, Piece::Ref(..))).count();
    if refs == 0 {
        let secret = secret_key(key) || !security::redact::find_key_shaped(value).is_empty();
        return match secret {
            true if placeholder(value) => (EnvValue::AskUser, Vec::new()),
            true => (EnvValue::Secret(value.to_string()), Vec::new()),
            false => (EnvValue::Plain(value.to_string()), Vec::new()),
        };
    }
    match parts.as_slice() {
        [Piece::Ref(Ref::Env { var, default }, _)] => {
            (EnvValue::FromEnv { var: var.clone(), default: default.clone() }, Vec::new())
        }
        [Piece::Ref(Ref::Input(_), _)] => (EnvValue::AskUser, Vec::new()),
        _ => {
            let (text, unresolved) = normalise(value);
            (EnvValue::Template(text), unresolved)
        }
    }
}

/// The Pyra name of a server key: lowercased, `_`, `.` and spaces turned into `-`, other
/// characters dropped, runs of `-` merged, leading characters up to the first letter and
/// trailing `-` removed, at most [`MAX_NAME`] characters. Empty when nothing is left.
pub(crate) fn sanitise_name(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        let c = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' => c.to_ascii_lowercase(),
            '-' | '_' | '.' | ' ' => '-',
            _ => continue,
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        if out.is_empty() && !c.is_ascii_lowercase() {
            continue;
        }
        out.push(c);
    }
    out.truncate(MAX_NAME);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitise_name("github"), "github");
        assert_eq!(sanitise_name("My Server.v2"), "my-server-v2");
        assert_eq!(sanitise_name("brave_search"), "brave-search");
        assert_eq!(sanitise_name("@scope/pkg"), "scopepkg");
        assert_eq!(sanitise_name("1password"), "password");
        assert_eq!(sanitise_name("__x__"), "x");
        assert_eq!(sanitise_name("日本"), "");
        assert_eq!(sanitise_name(&"a".repeat(50)).len(), MAX_NAME);
        assert_eq!(sanitise_name(&format!("{}-b", "a".repeat(39))), "a".repeat(39));
    }

    #[test]
    fn secret_keys() {
        for key in [
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "apiKey",
            "X-API-Key",
            "Authorization",
            "Cookie",
            "GITLAB_PAT",
            "DB_PASSWD",
        ] {
            assert!(secret_key(key), "{key}");
        }
        for key in ["LOG_LEVEL", "PATH", "PYTHONPATH", "NODE_ENV", "Accept"] {
            assert!(!secret_key(key), "{key}");
        }
    }

    #[test]
    fn references() {
        assert_eq!(env_value("T", "${env:TOKEN}").0, EnvValue::FromEnv { var: "TOKEN".into(), default: None });
        assert_eq!(env_value("T", "${TOKEN}").0, EnvValue::FromEnv { var: "TOKEN".into(), default: None });
        assert_eq!(
            env_value("U", "${URL:-http://localhost:1}").0,
            EnvValue::FromEnv { var: "URL".into(), default: Some("http://localhost:1".into()) }
        );
        assert_eq!(env_value("Authorization", "Bearer ${TOKEN}").0, EnvValue::Template("Bearer ${env:TOKEN}".into()));
        assert_eq!(env_value("TOKEN", "${input:gh-token}").0, EnvValue::AskUser);
        let (value, unresolved) = env_value("ROOT", "${workspaceFolder}/data");
        assert_eq!(value, EnvValue::Template("${workspaceFolder}/data".into()));
        assert_eq!(unresolved, ["${workspaceFolder}"]);
        assert_eq!(
            env_value("X", "${env:workspaceFolder}").0,
            EnvValue::FromEnv { var: "workspaceFolder".into(), default: None }
        );
        assert_eq!(env_value("X", "costs ${5").0, EnvValue::Plain("costs ${5".into()));
    }

    #[test]
    fn literals() {
        assert_eq!(env_value("LOG_LEVEL", "info").0, EnvValue::Plain("info".into()));
        assert_eq!(env_value("GITHUB_TOKEN", "abc").0, EnvValue::Secret("abc".into()));
        assert_eq!(env_value("GITHUB_TOKEN", "").0, EnvValue::AskUser);
        for placeholder in
            ["<YOUR_TOKEN>", "your-api-key-here", "YOUR_GITHUB_TOKEN", "ghp_...", "sk-xxxxxxxx", "\u{2026}"]
        {
            assert_eq!(env_value("GITHUB_TOKEN", placeholder).0, EnvValue::AskUser, "{placeholder}");
        }
        // Only secrets are checked for placeholders.
        assert_eq!(env_value("GREETING", "your name...").0, EnvValue::Plain("your name...".into()));
        // A key-shaped value is a secret whatever its name.
        let key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_AbCdEfGh-IjKl";
        assert_eq!(env_value("CONFIG", key).0, EnvValue::Secret(key.into()));
    }
}
