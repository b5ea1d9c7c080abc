//! Function names for models. Tools are `<plugin>.<tool>` and MCP tool names may hold
//! dots, slashes and more, while providers accept `[A-Za-z0-9_-]{1,64}`: the name becomes
//! `<plugin>__<tool>` with other characters turned into `_`, cut with a hash suffix when
//! too long, and a hash suffix again on a collision. The agent keeps the table to map a
//! model's call back.

use std::collections::HashMap;

/// The most characters providers accept in a function name.
pub const MAX: usize = 64;

fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// FNV-1a, 32 bits as 8 hex digits: stable across builds, so a saved conversation's
/// calls map back after an upgrade.
fn short_hash(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The function name of one tool, before collisions are looked at.
pub fn function_name(qualified: &str) -> String {
    let (plugin, tool) = qualified.split_once('.').unwrap_or(("", qualified));
    let name = if plugin.is_empty() { sanitize(tool) } else { format!("{}__{}", sanitize(plugin), sanitize(tool)) };
    if name.len() <= MAX { name } else { format!("{}_{}", &name[..MAX - 9], short_hash(qualified)) }
}

/// Function names for a set of tools: unique, reversible (name → qualified).
pub fn assign(qualified: &[String], taken: &[String]) -> (Vec<String>, HashMap<String, String>) {
    let mut reverse: HashMap<String, String> = HashMap::new();
    let mut names = Vec::new();
    for q in qualified {
        let mut name = function_name(q);
        if reverse.contains_key(&name) || taken.contains(&name) {
            let base = if name.len() > MAX - 9 { name[..MAX - 9].to_string() } else { name.clone() };
            name = format!("{base}_{}", short_hash(q));
        }
        reverse.insert(name.clone(), q.clone());
        names.push(name);
    }
    (names, reverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_provider_safe_unique_and_reversible() {
        assert_eq!(function_name("fs.read_file"), "fs__read_file");
        assert_eq!(function_name("admin.tools.list"), "admin__tools_list");
        let long = format!("p.{}", "x".repeat(100));
        assert_eq!(function_name(&long).len(), MAX);
        let q = vec!["a.b.c".to_string(), "a.b_c".to_string()];
        let (names, rev) = assign(&q, &[]);
        assert_ne!(names[0], names[1]);
        assert_eq!(rev[&names[1]], "a.b_c");
        assert!(
            names
                .iter()
                .all(|n| n.len() <= MAX && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        );
    }
}
