//! Hybrid memory search through the real binary: each embedding wire format against a local
//! server (`memory_embed_server.rs`) — keys only in headers, batching, `truncate: false`,
//! document and query task types, retries on 429 and 503, a context limit and a dead
//! server reported without losing bm25, the privacy rule (`embed: false`, excluded
//! categories), a changed model pausing the vector arm until `pyra memory reindex`, located
//! config errors — and the local model files driving the chat's recall of a paraphrase.

#[cfg(feature = "local-embeddings")]
use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{Output, Pyra};
use crate::memory_embed_server::{EmbedServer, Failure};

const PASS: &str = "embedding tests passphrase";
const OPENAI_KEY: &str = "sk-embed-test-0123456789abcdefghijklmnop";
const GEMINI_KEY: &str = "AIzaEmbedTest0123456789abcdefghijklmno";

fn run(pyra: &Pyra, args: &[&str], stdin: Option<&str>) -> Output {
    pyra.run_unlocked(PASS, args, stdin)
}

/// A home with a vault holding both keys and `memory.embeddings` as given.
fn home(embeddings: &str) -> Pyra {
    let pyra = Pyra::new();
    run(&pyra, &["vault", "init"], None).success();
    run(&pyra, &["vault", "set", "EMBED_KEY"], Some(OPENAI_KEY)).success();
    run(&pyra, &["vault", "set", "GEMINI_API_KEY"], Some(GEMINI_KEY)).success();
    set_embeddings(&pyra, embeddings);
    pyra
}

fn set_embeddings(pyra: &Pyra, embeddings: &str) {
    std::fs::write(pyra.home_path().join("config.yaml"), format!("memory:\n  embeddings:\n{embeddings}")).unwrap();
}

fn write(pyra: &Pyra, name: &str, text: &str) {
    run(pyra, &["memory", "write", name], Some(text)).success();
}

fn search(pyra: &Pyra, query: &str) -> (Vec<Value>, String) {
    let out = run(pyra, &["memory", "search", query, "--json"], None);
    out.success();
    (out.json().as_array().unwrap().clone(), out.stderr)
}

fn names(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["name"].as_str().unwrap()).collect()
}

#[test]
fn openai_compatible_embeddings_find_a_paraphrase_and_private_notes_never_leave() {
    let server = EmbedServer::start();
    let pyra = home(&format!(
        "    provider: openai\n    model: test-embed\n    base_url: {}/v1\n    key: EMBED_KEY\n    batch: 2\n    \
         exclude_categories: [private]\n",
        server.url
    ));
    write(&pyra, "home/keys", "The extra house key is under the blue pot.");
    write(&pyra, "work/nas", "Restart the backup job from the admin page.");
    write(&pyra, "food/pasta", "Lemon spaghetti with butter and parmesan.");
    write(&pyra, "private/diary", "Diary: today I moved the extra key somewhere new.");
    write(&pyra, "secret", "---\nembed: false\n---\nThe duplicate key story nobody may read.");
    let (hits, stderr) = search(&pyra, "spare one placed");
    assert_eq!(hits[0]["name"], "home/keys", "{hits:#?}\n{stderr}");
    assert_eq!(hits[0]["matched"], "vector", "no word is shared: only the vectors find it");
    let requests = server.requests();
    assert!(requests.len() >= 3, "three notes in batches of two, then the query: {requests:#?}");
    for r in &requests {
        assert_eq!(r.path, "/v1/embeddings");
        assert_eq!(r.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
        assert_eq!(r.body["model"], "test-embed");
        assert!(r.texts().len() <= 2, "batch: 2 {:?}", r.texts());
        assert!(!r.path.contains(OPENAI_KEY));
    }
    let sent = server.texts().join("\n");
    assert!(sent.contains("blue pot") && sent.contains("spaghetti"), "{sent}");
    assert!(!sent.contains("Diary") && !sent.contains("nobody may read"), "private notes were sent: {sent}");
    assert_eq!(requests.last().unwrap().texts(), ["spare one placed"]);
    // The private notes are still found, by bm25.
    let (hits, _) = search(&pyra, "diary");
    assert_eq!((hits[0]["name"].as_str(), hits[0]["matched"].as_str()), (Some("private/diary"), Some("bm25")));
    let explained = run(&pyra, &["memory", "search", "spare one placed", "--explain"], None);
    explained.success().stdout_has("matched: vector (bm25 -, vector #1, similarity");
    let stats = run(&pyra, &["memory", "stats"], None);
    stats.success().stdout_has("embeddings  openai/test-embed (model's size)");
}

#[test]
fn ollama_is_never_asked_to_truncate_429_and_503_are_retried_and_a_too_long_chunk_is_explained() {
    let server = EmbedServer::start();
    let pyra = home(&format!("    provider: ollama\n    model: nomic-embed-text\n    base_url: {}\n", server.url));
    server.fail(vec![
        Failure::status(429, r#"{"error":"too many requests"}"#).retry_after("1"),
        Failure::status(503, r#"{"error":"loading model"}"#),
    ]);
    write(&pyra, "home/keys", "The extra house key is under the blue pot.");
    let (hits, stderr) = search(&pyra, "spare placed");
    assert_eq!(names(&hits), ["home/keys"], "{stderr}");
    assert_eq!(hits[0]["matched"], "vector");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "429, 503, the note, the query: {requests:#?}");
    assert!(requests.iter().all(|r| r.path == "/api/embed" && r.body["truncate"] == false));
    assert!(requests.iter().all(|r| r.header("authorization").is_none()), "Ollama needs no key");
    // A model whose context is shorter than a chunk: an error with what to do, and the
    // note is still found by its words.
    server.context(40);
    write(&pyra, "work/long", &"The quarterly report needs the revenue table and the hiring plan. ".repeat(3));
    let out = run(&pyra, &["memory", "search", "quarterly report", "--json"], None);
    out.success().stderr_has("the input length exceeds the context length").stderr_has("choose another model");
    let hits = out.json().as_array().unwrap().clone();
    let long = hits.iter().find(|h| h["name"] == "work/long").expect("found by its words");
    assert_eq!((long["matched"].as_str(), long["bm25_rank"].as_u64()), (Some("bm25"), Some(1)), "{hits:#?}");
}

#[test]
fn gemini_embeds_notes_as_documents_and_queries_as_queries_with_the_key_in_a_header() {
    let server = EmbedServer::start();
    let pyra = home(&format!(
        "    provider: gemini\n    model: gemini-embedding-001\n    base_url: {}\n    dimensions: 32\n",
        server.url
    ));
    write(&pyra, "home/keys", "The extra house key is under the blue pot.");
    let (hits, stderr) = search(&pyra, "spare placed");
    assert_eq!(names(&hits), ["home/keys"], "{stderr}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
        assert_eq!(r.header("x-goog-api-key"), Some(GEMINI_KEY));
        assert!(r.header("authorization").is_none() && !r.path.contains("key="));
        assert_eq!(r.body["requests"][0]["outputDimensionality"], 32);
        assert_eq!(r.body["requests"][0]["model"], "models/gemini-embedding-001");
    }
    assert_eq!(requests[0].body["requests"][0]["taskType"], "RETRIEVAL_DOCUMENT");
    assert_eq!(requests[1].body["requests"][0]["taskType"], "RETRIEVAL_QUERY");
}

#[test]
fn a_changed_model_pauses_the_vectors_until_reindex_and_a_dead_server_leaves_bm25() {
    let server = EmbedServer::start();
    let config = |model: &str| {
        format!("    provider: openai\n    model: {model}\n    base_url: {}/v1\n    key: EMBED_KEY\n", server.url)
    };
    let pyra = home(&config("model-a"));
    write(&pyra, "home/keys", "The extra house key is under the blue pot.");
    let (hits, _) = search(&pyra, "spare placed");
    assert_eq!(hits[0]["matched"], "vector");
    set_embeddings(&pyra, &config("model-b"));
    let (hits, stderr) = search(&pyra, "spare placed");
    assert!(hits.is_empty(), "bm25 alone shares no word: {hits:?}");
    assert!(
        stderr.contains("made by openai/model-a (model's size)")
            && stderr.contains("now gives openai/model-b")
            && stderr.contains("run `pyra memory reindex`"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("memory reindex").count(), 1, "said once: {stderr}");
    run(&pyra, &["memory", "reindex"], None)
        .success()
        .stderr_has("1 chunk(s) embedded by openai/model-b (model's size)");
    let (hits, stderr) = search(&pyra, "spare placed");
    assert_eq!((names(&hits), hits[0]["matched"].as_str()), (vec!["home/keys"], Some("vector")), "{stderr}");
    // Back to model-a: its vectors are still in the cache; nothing is sent again.
    set_embeddings(&pyra, &config("model-a"));
    let before = server.requests().len();
    run(&pyra, &["memory", "reindex"], None).success().stderr_has("0 chunk(s) embedded by openai/model-a");
    assert_eq!(server.requests().len(), before);
    // The server fails every attempt: a warning, and the words still find the note.
    server.fail((0..8).map(|_| Failure::status(500, r#"{"error":{"message":"internal error"}}"#)).collect());
    write(&pyra, "work/nas", "Restart the backup job from the admin page.");
    let (hits, stderr) = search(&pyra, "backup job");
    assert_eq!((names(&hits), hits[0]["matched"].as_str()), (vec!["work/nas"], Some("bm25")), "{stderr}");
    assert!(stderr.contains("could not be embedded") && stderr.contains("HTTP 500: internal error"), "{stderr}");
    assert!(stderr.contains("gave up after 4 attempts") && !stderr.contains(OPENAI_KEY), "{stderr}");
}

#[test]
fn a_missing_key_and_bad_settings_are_explained() {
    let server = EmbedServer::start();
    let pyra = Pyra::new();
    set_embeddings(&pyra, &format!("    provider: gemini\n    model: m\n    base_url: {}\n", server.url));
    write(&pyra, "home/keys", "The extra house key is under the blue pot.");
    let out = run(&pyra, &["memory", "search", "house key"], None);
    out.success().stderr_has("memory search uses bm25 alone: the gemini embedder needs the key `GEMINI_API_KEY`");
    out.stdout_has("home/keys");
    assert!(server.requests().is_empty());
    set_embeddings(&pyra, "    provider: olama\n    model: m\n    fusion: rff\n");
    let out = run(&pyra, &["memory", "search", "house key"], None);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("config.yaml:3:15") && out.stderr.contains("did you mean `ollama`?"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `rrf`?"), "{}", out.stderr);
}

/// The local model files, when present (`tests/fixtures/embed-model/fetch.sh`).
#[cfg(feature = "local-embeddings")]
fn model_dir() -> Option<PathBuf> {
    match std::env::var_os("PYRA_EMBED_MODEL").map(PathBuf::from) {
        Some(dir) if dir.is_dir() => Some(dir),
        _ => {
            assert!(std::env::var_os("PYRA_REQUIRE_EMBED_MODEL").is_none(), "PYRA_EMBED_MODEL names no folder");
            None
        }
    }
}

/// The chat recalls the spare-key note from a question that shares no word with it, among
/// the 200 notes of the evaluation set, with the local model files; bm25 alone does not.
#[test]
#[cfg(feature = "local-embeddings")]
fn the_chat_recalls_the_spare_key_note_from_a_paraphrase_with_the_local_model() {
    use crate::harness::repo_root;
    use crate::llm_server::{LlmServer, Reply};
    let Some(dir) = model_dir() else { return };
    let question = "where did I hide a duplicate for getting in if I am locked out";
    let recalled = |embeddings: bool| {
        let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
        let pyra = Pyra::new();
        let mut config = format!(
            "default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: gpt-4o-mini\n    \
             base_url: {}/v1\n",
            server.url
        );
        if embeddings {
            config.push_str(&format!("memory:\n  embeddings:\n    provider: local\n    path: {}\n", dir.display()));
        }
        std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
        crate::memory_eval::copy_tree(
            &repo_root().join("tests/fixtures/memory-eval/notes"),
            &pyra.home_path().join("memory"),
        );
        pyra.run(["chat", question]).success();
        server.requests()[0].body["messages"][0]["content"].as_str().unwrap_or_default().to_string()
    };
    let with = recalled(true);
    assert!(with.contains("home/spare-key") && with.contains("blue flower pot"), "{with}");
    assert!(!recalled(false).contains("home/spare-key"), "bm25 alone should not find it");
}
