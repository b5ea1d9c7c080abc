//! Turns what a user (or a model) typed into a safe FTS5 query.
//!
//! User text is never handed to FTS5 as is: its query language would turn `-`, `:`, `*`,
//! `(`, `"`, `NEAR`, `AND`, `OR` and `NOT` into syntax, and most stray uses into a syntax
//! error. Instead the text is tokenised here and every term is re-emitted as a quoted FTS5
//! string (inside which only `"` is special, and it is doubled):
//!
//! - `"two words"` stays a phrase (an unbalanced quote runs to the end of the text);
//! - `word*` (or `"a phrase"*`) stays a prefix query;
//! - `-word` at the start of a term excludes it, when there is something else to search for;
//! - bare upper-case `AND`, `OR`, `NOT` and `NEAR` are dropped as operators the user meant,
//!   unless the query holds nothing else: then they are the words searched for;
//! - everything else is split on whitespace, `:` and parentheses and each piece becomes a
//!   quoted term (FTS5's tokenizer then splits `e-mail` or `don't` into a phrase itself).
//!
//! Terms are joined by AND ([`Query::to_fts`] with [`Join::All`]) or, as a fallback, by OR.
//! Pieces without a letter or a digit are dropped, so a query may turn out empty.

/// The most terms one query keeps; the rest are ignored.
const MAX_TERMS: usize = 32;

/// How the positive terms of a query are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Every term must match.
    All,
    /// Any term may match.
    Any,
}

/// One quoted FTS5 string, possibly a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

impl Term {
    fn fts(&self) -> String {
        let mut out = format!("\"{}\"", self.text.replace('"', "\"\""));
        if self.prefix {
            out.push('*');
        }
        out
    }
}

/// A parsed user query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
    pub excluded: Vec<Term>,
}

fn searchable(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

fn is_operator(word: &str) -> bool {
    matches!(word, "AND" | "OR" | "NOT" | "NEAR")
}

impl Query {
    /// Tokenises `input`; never fails.
    pub fn parse(input: &str) -> Query {
        let mut query = Query::default();
        // Operator words dropped, kept in case nothing else is left to search for.
        let mut operators: Vec<Term> = Vec::new();
        let chars: Vec<char> = input.chars().filter(|c| !c.is_control() || c.is_whitespace()).collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() || matches!(c, ':' | '(' | ')' | '{' | '}' | '^') {
                i += 1;
                continue;
            }
            let negated = c == '-' && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric() || *n == '"');
            if negated {
                i += 1;
            }
            let (text, prefix) = if chars[i] == '"' {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '"' {
                    end += 1;
                }
                let text: String = chars[start..end].iter().collect();
                i = (end + 1).min(chars.len());
                let prefix = chars.get(i) == Some(&'*');
                if prefix {
                    i += 1;
                }
                (text, prefix)
            } else {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], ':' | '(' | ')' | '"') {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                if !negated && is_operator(&raw) {
                    let term = Term { text: raw, prefix: false };
                    if operators.len() < MAX_TERMS && !operators.contains(&term) {
                        operators.push(term);
                    }
                    continue;
                }
                let trimmed = raw.trim_end_matches('*');
                let prefix = trimmed.len() < raw.len();
                (trimmed.to_string(), prefix)
            };
            if !searchable(&text) {
                continue;
            }
            let term = Term { text: text.split_whitespace().collect::<Vec<_>>().join(" "), prefix };
            let list = if negated { &mut query.excluded } else { &mut query.terms };
            if list.len() < MAX_TERMS && !list.contains(&term) {
                list.push(term);
            }
        }
        if query.terms.is_empty() {
            // Only exclusions: the user probably searched for the words themselves.
            query.terms = std::mem::take(&mut query.excluded);
        }
        if query.terms.is_empty() {
            // Only operator words (`NEAR`, `AND OR NOT`): they are what the user looks for.
            query.terms = operators;
        }
        query
    }

    /// True when there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The FTS5 MATCH expression, or `None` for an empty query.
    pub fn to_fts(&self, join: Join) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        let sep = match join {
            Join::All => " AND ",
            Join::Any => " OR ",
        };
        let mut expr = self.terms.iter().map(Term::fts).collect::<Vec<_>>().join(sep);
        for ex in &self.excluded {
            expr = format!("({expr}) NOT {}", ex.fts());
        }
        Some(expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(s: &str) -> Option<String> {
        Query::parse(s).to_fts(Join::All)
    }

    #[test]
    fn plain_phrase_prefix_and_exclusion() {
        assert_eq!(fts("cat dog").as_deref(), Some("\"cat\" AND \"dog\""));
        assert_eq!(fts("\"big cat\" dog").as_deref(), Some("\"big cat\" AND \"dog\""));
        assert_eq!(fts("gard*").as_deref(), Some("\"gard\"*"));
        assert_eq!(fts("\"big ca\"*").as_deref(), Some("\"big ca\"*"));
        assert_eq!(fts("cat -dog").as_deref(), Some("(\"cat\") NOT \"dog\""));
        assert_eq!(fts("-dog").as_deref(), Some("\"dog\""));
        assert_eq!(Query::parse("cat dog").to_fts(Join::Any).as_deref(), Some("\"cat\" OR \"dog\""));
    }

    #[test]
    fn syntax_becomes_text() {
        assert_eq!(fts("cats AND dogs").as_deref(), Some("\"cats\" AND \"dogs\""));
        assert_eq!(fts("title:foo").as_deref(), Some("\"title\" AND \"foo\""));
        assert_eq!(fts("e-mail").as_deref(), Some("\"e-mail\""));
        assert_eq!(fts("say \"hi").as_deref(), Some("\"say\" AND \"hi\""));
        assert_eq!(fts("a\"\"b").as_deref(), Some("\"a\" AND \"b\""));
        assert_eq!(fts("NEAR(a b)").as_deref(), Some("\"a\" AND \"b\""));
        assert_eq!(fts("- * \" ( ) : ''"), None);
        assert_eq!(fts(""), None);
        assert_eq!(fts("a AND OR NOT"), Some("\"a\"".into()));
    }

    #[test]
    fn a_query_of_only_operator_words_searches_for_them() {
        // They used to be dropped as operators, leaving nothing to search for.
        assert_eq!(fts("AND OR NOT").as_deref(), Some("\"AND\" AND \"OR\" AND \"NOT\""));
        assert_eq!(fts("NEAR").as_deref(), Some("\"NEAR\""));
        assert_eq!(fts("AND AND").as_deref(), Some("\"AND\""));
        assert_eq!(fts("NEAR(a b)").as_deref(), Some("\"a\" AND \"b\""), "not when there is more");
    }
}
