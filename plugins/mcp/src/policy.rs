//! Who decides whether a tool call runs. Per tool `allow | ask | deny`, matched by globs
//! anchored to the plugin's tool names; the most specific rule wins and deny beats
//! everything. Annotations are the server's claims: they can only lower the default `ask`
//! to `allow` for a read-only tool, and only when the user turned that on. Once untrusted
//! content is in play, a tool that is not read-only asks even where a rule allows it.
//! A skill narrows (`deny`/`ask` for its nodes), never widens.

use globset::{GlobBuilder, GlobMatcher};

use crate::manifest::{Decision, Policy};

/// Compiles a tool glob (`*`, `?`, `[..]`, `{a,b}`; `/` is an ordinary character).
pub fn compile_glob(glob: &str) -> Result<GlobMatcher, String> {
    if glob.is_empty() {
        return Err("an empty glob matches nothing".into());
    }
    GlobBuilder::new(glob)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

pub fn glob_matches(glob: &str, name: &str) -> bool {
    compile_glob(glob).is_ok_and(|m| m.is_match(name))
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// What a rule's specificity is: an exact name beats any glob; among globs, the one
/// with more literal characters.
fn specificity(rule: &str) -> usize {
    if is_glob(rule) {
        rule.chars().filter(|c| !matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',')).count()
    } else {
        usize::MAX
    }
}

/// Why a decision was taken, shown with approvals and in `pyra plugin tools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub why: String,
}

/// What is known about a call when it is decided.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    /// The server says the tool only reads (`readOnlyHint: true`).
    pub read_only_hint: bool,
    /// Untrusted content (a tool result, a fetched page, tainted arguments) is in play.
    pub untrusted: bool,
}

/// The plugin policy's decision for `tool`, before a skill narrows it.
pub fn decide(policy: &Policy, tool: &str, facts: Facts) -> Verdict {
    let matching: Vec<(&String, &Decision)> =
        policy.tools.iter().filter(|(rule, _)| glob_matches(rule, tool)).collect();
    let mut verdict = if let Some((rule, _)) = matching.iter().find(|(_, d)| **d == Decision::Deny) {
        Verdict { decision: Decision::Deny, why: format!("policy rule `{rule}: deny`") }
    } else if let Some((rule, d)) = matching.iter().max_by_key(|(rule, _)| specificity(rule)) {
        Verdict { decision: **d, why: format!("policy rule `{rule}: {}`", d.as_str()) }
    } else if policy.default == Decision::Ask && policy.trust_read_only_hints && facts.read_only_hint {
        Verdict {
            decision: Decision::Allow,
            why: "read-only by the server's hint (`trust_read_only_hints: true`)".into(),
        }
    } else {
        Verdict {
            decision: policy.default,
            why: format!("the policy's default (`default: {}`)", policy.default.as_str()),
        }
    };
    if verdict.decision == Decision::Allow && facts.untrusted && !facts.read_only_hint {
        verdict = Verdict {
            decision: Decision::Ask,
            why: format!("{}, but untrusted content is in play and the tool is not read-only", verdict.why),
        };
    }
    verdict
}

/// A skill's narrowing: rules (`<plugin>.<tool>` globs) that can only make a decision
/// stricter.
pub fn narrow(verdict: Verdict, rules: &[(String, Decision)], qualified: &str) -> Verdict {
    let mut out = verdict;
    for (rule, decision) in rules {
        if glob_matches(rule, qualified) && *decision > out.decision {
            out = Verdict { decision: *decision, why: format!("the skill's rule `{rule}: {}`", decision.as_str()) };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn policy(rules: &[(&str, Decision)], default: Decision, trust: bool) -> Policy {
        let tools: IndexMap<String, Decision> = rules.iter().map(|(r, d)| (r.to_string(), *d)).collect();
        Policy { default, trust_read_only_hints: trust, tools }
    }

    #[test]
    fn deny_beats_everything_and_specific_beats_glob() {
        let p = policy(
            &[("read_*", Decision::Allow), ("read_secret", Decision::Deny), ("*", Decision::Ask)],
            Decision::Ask,
            false,
        );
        assert_eq!(decide(&p, "read_file", Facts::default()).decision, Decision::Allow);
        assert_eq!(decide(&p, "read_secret", Facts::default()).decision, Decision::Deny);
        assert_eq!(decide(&p, "write_file", Facts::default()).decision, Decision::Ask);
        let p = policy(&[("*", Decision::Deny), ("read_file", Decision::Allow)], Decision::Ask, false);
        assert_eq!(decide(&p, "read_file", Facts::default()).decision, Decision::Deny);
    }

    #[test]
    fn hints_only_lower_ask_when_trusted() {
        let ro = Facts { read_only_hint: true, untrusted: false };
        assert_eq!(decide(&policy(&[], Decision::Ask, false), "t", ro).decision, Decision::Ask);
        assert_eq!(decide(&policy(&[], Decision::Ask, true), "t", ro).decision, Decision::Allow);
        // A hint never lowers deny, nor a rule's ask.
        assert_eq!(decide(&policy(&[], Decision::Deny, true), "t", ro).decision, Decision::Deny);
        assert_eq!(decide(&policy(&[("t", Decision::Ask)], Decision::Allow, true), "t", ro).decision, Decision::Ask);
    }

    #[test]
    fn untrusted_content_makes_writes_ask() {
        let p = policy(&[("*", Decision::Allow)], Decision::Ask, false);
        let tainted = Facts { read_only_hint: false, untrusted: true };
        assert_eq!(decide(&p, "write", tainted).decision, Decision::Ask);
        let tainted_ro = Facts { read_only_hint: true, untrusted: true };
        assert_eq!(decide(&p, "read", tainted_ro).decision, Decision::Allow);
    }

    #[test]
    fn skills_narrow_never_widen() {
        let allow = Verdict { decision: Decision::Allow, why: String::new() };
        let deny = Verdict { decision: Decision::Deny, why: String::new() };
        let rules = vec![("fs.write_*".to_string(), Decision::Ask), ("fs.*".to_string(), Decision::Allow)];
        assert_eq!(narrow(allow.clone(), &rules, "fs.write_file").decision, Decision::Ask);
        assert_eq!(narrow(allow, &rules, "fs.read_file").decision, Decision::Allow);
        assert_eq!(narrow(deny, &rules, "fs.read_file").decision, Decision::Deny);
    }

    #[test]
    fn globs_are_checked() {
        assert!(compile_glob("[").is_err());
        assert!(compile_glob("").is_err());
        assert!(glob_matches("admin.*", "admin.tools.list"));
        assert!(!glob_matches("read_*", "write_file"));
    }
}
