//! Kinds over the markdown memory: `memory.search`, `memory.read`, `memory.write`,
//! `memory.append`.

use lang::KindSpec;
use serde_json::json;

use super::object;

pub fn specs() -> Vec<KindSpec> {
    let name = json!({ "type": "string", "description": "The note's name (`X` lives at `memory/X.md`)." });
    let category = json!({ "type": "string", "description": "A subfolder of the memory." });
    vec![
        KindSpec::new(
            "memory.search",
            "Search the memory (full text, ranked); the output is a list of hits.",
            object(
                json!({
                    "query": { "type": "string", "description": "What to look for." },
                    "limit": { "type": "integer", "minimum": 0, "maximum": 100, "description": "Most hits (default 5; 0 searches nothing)." },
                    "category": { "type": "string", "description": "Only this subfolder of the memory and the folders in it (empty: all)." },
                    "since": { "type": "string", "description": "Only notes changed since then: a date (`2026-01-31`, midnight local time), a date and time (`2026-01-31T09:00:00Z`) or an age (`7d`, `12h`)." }
                }),
                &["query"],
            ),
        ),
        KindSpec::new(
            "memory.read",
            "Read one note.",
            object(json!({ "name": name, "category": category }), &["name"]),
        ),
        KindSpec::new(
            "memory.write",
            "Write (replace) a note; untrusted content is scanned for injection first.",
            object(
                json!({
                    "name": name,
                    "content": { "type": "string" },
                    "summary": { "type": "string" },
                    "keywords": { "type": "array", "items": { "type": "string" } },
                    "category": category
                }),
                &["name", "content"],
            ),
        ),
        KindSpec::new(
            "memory.append",
            "Append to a note, creating it if needed.",
            object(
                json!({ "name": name, "content": { "type": "string" }, "category": category }),
                &["name", "content"],
            ),
        ),
    ]
}
