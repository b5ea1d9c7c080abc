//! Which skills are tools: those config.yaml's `mcp.serve.skills` names (names or globs
//! with `*` and `?`), narrowed further by `pyra mcp serve --skill` — which can only take
//! away, never add. Nothing is exposed by default.

/// The skills a server exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    /// From config.yaml: names or globs.
    configured: Vec<String>,
    /// From the command line: names or globs; empty means "all the configured ones".
    narrowed: Vec<String>,
}

impl Exposure {
    pub fn new(configured: &[String], narrowed: &[String]) -> Self {
        Self { configured: configured.to_vec(), narrowed: narrowed.to_vec() }
    }

    /// Whether nothing at all is configured.
    pub fn is_empty(&self) -> bool {
        self.configured.is_empty()
    }

    /// Whether the skill `name` is a tool.
    pub fn allows(&self, name: &str) -> bool {
        self.configured.iter().any(|p| glob(p, name))
            && (self.narrowed.is_empty() || self.narrowed.iter().any(|p| glob(p, name)))
    }

    /// The `--skill` values that select no skill the configuration exposes (among `names`,
    /// the skills that exist): each is a mistake, or an attempt to widen.
    pub fn narrowing_misses<'a>(&self, names: impl IntoIterator<Item = &'a str> + Clone) -> Vec<String> {
        self.narrowed
            .iter()
            .filter(|p| !names.clone().into_iter().any(|n| glob(p, n) && self.configured.iter().any(|c| glob(c, n))))
            .cloned()
            .collect()
    }
}

/// `*` any run of characters, `?` one character, everything else itself.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        // A `*` is a wildcard even where the name holds a `*` (tried first, or it matched
        // that one character literally and `*` failed on `*x`).
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob("weather", "weather"));
        assert!(!glob("weather", "weathers"));
        assert!(glob("notes-*", "notes-add"));
        assert!(glob("notes-*", "notes-"));
        assert!(!glob("notes-*", "note"));
        assert!(glob("*", "anything"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*-*-x", "a-b-c-x"));
        assert!(!glob("", "a"));
    }

    #[test]
    fn a_star_is_a_wildcard_also_over_a_star_in_the_name() {
        // Found by the fuzz target `mcp`: `*` took the name's `*` literally, then failed.
        assert!(glob("*", "*x"));
        assert!(glob("a*", "a*b"));
        assert!(glob("**x", "**ax"));
        assert!(glob("*?", "*"));
        assert!(!glob("*b", "*a"));
    }

    #[test]
    fn nothing_by_default_and_narrowing_never_widens() {
        let none = Exposure::new(&[], &strings(&["weather"]));
        assert!(none.is_empty());
        assert!(!none.allows("weather"), "--skill cannot expose what config does not");

        let some = Exposure::new(&strings(&["weather", "notes-*"]), &[]);
        assert!(some.allows("weather") && some.allows("notes-add"));
        assert!(!some.allows("shell"));

        let narrow = Exposure::new(&strings(&["weather", "notes-*"]), &strings(&["notes-add", "shell"]));
        assert!(narrow.allows("notes-add"));
        assert!(!narrow.allows("weather") && !narrow.allows("notes-rm") && !narrow.allows("shell"));
        let names = ["weather", "notes-add", "notes-rm", "shell"];
        assert_eq!(narrow.narrowing_misses(names.iter().copied()), ["shell"]);
    }
}
