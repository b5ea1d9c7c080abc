//! The `memory:` section through the crate's API: absent or `provider: none` is bm25
//! alone, each provider's required keys, choices with "did you mean", ranges, secrets, and
//! every finding located.

use crate::ConfigError;
use crate::tests::{EXAMPLE, parse};

/// Every diagnostic of an invalid text: (code, the text its span covers, help).
fn errors(text: &str) -> Vec<(&'static str, String, String)> {
    match parse(text) {
        Err(ConfigError::Invalid(i)) => i
            .diagnostics
            .iter()
            .map(|d| {
                let span = d.span.clone().expect("located");
                (d.code, text[span].to_string(), d.help.clone().unwrap_or_default())
            })
            .collect(),
        other => panic!("expected errors for {text:?}, got {other:?}"),
    }
}

#[test]
fn absent_or_none_means_no_embedder() {
    for text in [EXAMPLE, "", "memory:\n", "memory:\n  embeddings:\n", "memory: { embeddings: { provider: none } }\n"] {
        assert_eq!(parse(text).unwrap().memory.embedder(), None, "{text:?}");
    }
    let text = format!(
        "{EXAMPLE}memory:\n  embeddings:\n    provider: openai   # mine\n    model: text-embedding-3-small\n    \
         dimensions: 256\n    key: MY_EMBED_KEY\n    base_url: http://127.0.0.1:9/v1\n    fusion: weighted\n    \
         vector_weight: 0.6\n    exclude_categories: [private, health]\n"
    );
    let e = parse(&text).unwrap().memory.embedder().cloned().unwrap();
    assert_eq!(
        (e.provider.as_str(), e.model.as_deref(), e.dimensions),
        ("openai", Some("text-embedding-3-small"), Some(256))
    );
    assert_eq!((e.key.as_deref(), e.vector_weight, e.batch()), (Some("MY_EMBED_KEY"), Some(0.6), 64));
    assert_eq!(e.exclude_categories, ["private", "health"]);
}

#[test]
fn each_provider_says_what_it_needs() {
    let got = errors("memory:\n  embeddings:\n    provider: local\n");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1.as_str()), ("missing-key", "embeddings"));
    assert!(got[0].2.contains("path: ~/.cache/pyra-embed-model"), "{got:?}");
    let got = errors("memory:\n  embeddings:\n    provider: ollama\n");
    assert_eq!((got[0].0, got[0].2.as_str()), ("missing-key", "e.g. `model: nomic-embed-text`"));
    let got = errors("memory:\n  embeddings:\n    model: x\n");
    assert!(got[0].2.contains("`none` (bm25 alone)"), "{got:?}");
}

#[test]
fn bad_values_are_located_with_help() {
    let text = "memory:\n  embeddings:\n    provider: olama\n    model: m\n    fusion: rff\n    rrf_k: 0\n    \
                quantize: int4\n    vector_weight: 2\n    exclude_categories: private\n    batchsize: 3\n";
    let got = errors(text);
    let codes: Vec<(&str, &str)> = got.iter().map(|(c, s, _)| (*c, s.as_str())).collect();
    assert_eq!(
        codes,
        vec![
            ("config-value", "olama"),
            ("config-value", "rff"),
            ("config-range", "0"),
            ("config-value", "int4"),
            ("config-value", "vector_weight"),
            ("config-range", "2"),
            ("config-type", "private"),
            ("unknown-key", "batchsize"),
        ]
    );
    assert_eq!(got[0].2, "did you mean `ollama`?");
    assert_eq!(got[1].2, "did you mean `rrf`?");
    assert!(got[4].2.contains("fusion: weighted"), "{got:?}");
    assert_eq!(got[7].2, "did you mean `batch`?");
}

#[test]
fn a_key_is_a_vault_name_never_the_secret() {
    let got = errors(
        "memory:\n  embeddings:\n    provider: openai\n    model: m\n    key: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\n",
    );
    assert!(got.iter().all(|(c, _, _)| *c == "secret-in-config"), "{got:?}");
    let got = errors(
        "memory:\n  embeddings:\n    provider: openai\n    model: m\n    base_url: https://u:p@example.org/v1\n",
    );
    assert_eq!(got[0].0, "secret-in-config");
}
