//! Skills embedded in the binary from the repository's `skills/` folder. A file of the same
//! name in `$PYRA_HOME/skills` overrides one of these.

/// (name, file name, YAML text) of every built-in skill.
pub const SKILLS: &[(&str, &str, &str)] = &[
    ("chat", "chat.yaml", include_str!("../../skills/chat.yaml")),
    ("draft-skill", "draft-skill.yaml", include_str!("../../skills/draft-skill.yaml")),
    ("recall", "recall.yaml", include_str!("../../skills/recall.yaml")),
    ("remember", "remember.yaml", include_str!("../../skills/remember.yaml")),
    ("security-audit", "security-audit.yaml", include_str!("../../skills/security-audit.yaml")),
];
