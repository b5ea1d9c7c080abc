//! Pattern rules: how a rule is declared ([`Rule`] and its builders), how its pattern is
//! compiled (fragments expanded, spaces and word boundaries adapted to the normalised text) and
//! which extra checks decide whether a hit counts (negation, context, what follows, a check on
//! the original text). The rules themselves live in one file per category.

mod exfiltration;
mod fragments;
mod instruction_override;
mod role_hijack;
mod tool_call_smuggling;

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::chars::{Fold, fold};
use super::normalize::Normalized;
use super::{Category, ceil_char_boundary, floor_char_boundary};
use fragments::FRAGMENTS;

/// A phrase rule over the normalised text. Patterns are written in lower case with single
/// spaces; [`compile`] turns every literal space into `\s`, every `\b` into an ASCII word
/// boundary, expands `%FRAGMENT%`s and folds non-ASCII letters the way the text is folded.
pub(super) struct Rule {
    name: &'static str,
    category: Category,
    pattern: &'static str,
    /// Drop the hit when the sentence before it is negated, reported or descriptive ("never send
    /// your password to …", "phishing mails ask you to …", "the agent can call …").
    negatable: bool,
    /// Keep the hit only if this also matches within [`CONTEXT_WINDOW`] bytes around it.
    context: Option<&'static str>,
    /// Drop the hit if this matches right after it ("ignore the previous instructions *I sent*").
    unless_followed_by: Option<&'static str>,
    /// Keep the hit only if this accepts the original text of the hit.
    check: Option<fn(&str) -> bool>,
}

const CONTEXT_WINDOW: usize = 300;
const NEGATION_WINDOW: usize = 60;
const FOLLOW_WINDOW: usize = 40;

const fn rule(name: &'static str, category: Category, pattern: &'static str) -> Rule {
    Rule { name, category, pattern, negatable: false, context: None, unless_followed_by: None, check: None }
}

impl Rule {
    const fn negatable(self) -> Rule {
        Rule { negatable: true, ..self }
    }

    const fn in_context(self, context: &'static str) -> Rule {
        Rule { context: Some(context), ..self }
    }

    const fn unless_followed_by(self, pattern: &'static str) -> Rule {
        Rule { unless_followed_by: Some(pattern), ..self }
    }

    const fn checked(self, check: fn(&str) -> bool) -> Rule {
        Rule { check: Some(check), ..self }
    }
}

/// Every rule, category by category, in the order the rules run. When two rules of a category hit
/// the same span, the merged finding keeps the name of the one listed first.
pub(super) static TABLES: [&[Rule]; 4] =
    [instruction_override::RULES, role_hijack::RULES, exfiltration::RULES, tool_call_smuggling::RULES];

pub(super) static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?:\bnever|\bnot|n't|\bno longer|\bnor|\bcannot|\bavoid|\brefuse to|\bbeware of",
        r"|\bwarn(?:s|ed|ing)?(?: you| users)? (?:about|against))(?: [^ \n]+){0,3} ?$",
        r"|\b(?:can|could|may|might|how to|lets you|allows you to|able to) ?$",
        r"|\b(?:ask|asks|asked|asking|tell|tells|told|trick|tricks|tricked|convince|convinces|persuade",
        r"|persuades|lure|lures|urge|urges)(?: (?:you|users|people|customers|victims|employees|staff|them",
        r"|him|her))? (?:in)?to ?$|^ ?(?:to|in order to) ?$",
    ))
});

pub(super) struct CompiledRule {
    pub(super) name: &'static str,
    pub(super) category: Category,
    pub(super) re: Regex,
    negatable: bool,
    context: Option<Regex>,
    unless_followed_by: Option<Regex>,
    check: Option<fn(&str) -> bool>,
}

impl CompiledRule {
    pub(super) fn accepts(&self, norm: &str, hit: Range<usize>, orig: &str, map: &Normalized) -> bool {
        if self.negatable {
            let from = floor_char_boundary(norm, hit.start.saturating_sub(NEGATION_WINDOW));
            let before = &norm[from..hit.start];
            let sentence = before.rfind(['.', '!', '?', '\n', ';']).map_or(before, |k| &before[k + 1..]);
            if NEGATION.is_match(sentence) {
                return false;
            }
        }
        if let Some(after) = &self.unless_followed_by {
            let to = ceil_char_boundary(norm, hit.end + FOLLOW_WINDOW);
            if after.is_match(&norm[hit.end..to]) {
                return false;
            }
        }
        if let Some(ctx) = &self.context {
            let from = floor_char_boundary(norm, hit.start.saturating_sub(CONTEXT_WINDOW));
            let to = ceil_char_boundary(norm, hit.end + CONTEXT_WINDOW);
            if !ctx.is_match(&norm[from..to]) {
                return false;
            }
        }
        if let Some(check) = self.check {
            return check(&orig[map.to_original(hit)]);
        }
        true
    }
}

pub(super) fn rules() -> &'static [CompiledRule] {
    static COMPILED: LazyLock<Vec<CompiledRule>> = LazyLock::new(|| {
        TABLES
            .iter()
            .flat_map(|table| table.iter())
            .map(|r| CompiledRule {
                name: r.name,
                category: r.category,
                re: compile(r.pattern),
                negatable: r.negatable,
                context: r.context.map(compile),
                unless_followed_by: r.unless_followed_by.map(|p| compile(&format!("^(?:{p})"))),
                check: r.check,
            })
            .collect()
    });
    &COMPILED
}

/// Expands fragments, turns literal spaces into `\s`, `\b` into an ASCII word boundary (which
/// keeps the fast DFA engines usable on non-ASCII text), and folds non-ASCII literals.
fn compile(pattern: &str) -> Regex {
    let mut expanded = pattern.to_owned();
    // Fragments may use other fragments: expand until nothing changes.
    while expanded.contains('%') {
        let before = expanded.clone();
        for (name, body) in FRAGMENTS {
            expanded = expanded.replace(name, body);
        }
        if expanded == before {
            break;
        }
    }
    let mut out = String::from("(?m)");
    let mut chars = expanded.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().unwrap_or('\\');
                if next == 'b' && !in_class {
                    out.push_str(r"(?-u:\b)");
                } else {
                    out.push('\\');
                    out.push(next);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            ' ' if !in_class => out.push_str(r"\s"),
            c if !c.is_ascii() => match fold(c) {
                Fold::Char(f) => out.push(f),
                Fold::Skip => {}
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    match Regex::new(&out) {
        Ok(re) => re,
        Err(e) => panic!("injection rule {pattern:?} does not compile: {e}"),
    }
}
