//! Tests of the vector arm and fusion with a deterministic embedder (words mapped to
//! concepts, so paraphrases meet): what is embedded and when, the cache, a changed model,
//! the privacy rule, filters on both arms, RRF and weighted fusion, `provider: none`.

use std::sync::{Arc, Mutex};

use super::*;

/// Bag-of-concepts vectors: each word's concept (its synonym group, else the word) is
/// hashed into one of `dims` dimensions. Records every text it is given.
struct Concepts {
    identity: Identity,
    remote: bool,
    seen: Mutex<Vec<String>>,
    fail: Mutex<bool>,
}

const SYNONYMS: &[&[&str]] = &[&["spare", "extra", "second"], &["key", "keys"], &["put", "placed", "left", "under"]];

impl Concepts {
    fn new(model: &str, dims: usize, remote: bool) -> Arc<Concepts> {
        Arc::new(Concepts {
            identity: Identity { provider: "test".into(), model: model.into(), dims },
            remote,
            seen: Mutex::new(Vec::new()),
            fail: Mutex::new(false),
        })
    }

    fn seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Embedder for Concepts {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn is_remote(&self) -> bool {
        self.remote
    }

    fn embed(&self, texts: &[&str], _purpose: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        if *self.fail.lock().unwrap() {
            return Err(EmbedError("the test server is down".into()));
        }
        let dims = self.identity.dims;
        let mut out = Vec::new();
        for t in texts {
            self.seen.lock().unwrap().push(t.to_string());
            let mut v = vec![0f32; dims];
            for word in t.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
                let w = word.to_lowercase();
                let concept = SYNONYMS.iter().find(|g| g.contains(&w.as_str())).map_or(w.clone(), |g| g[0].to_string());
                let h =
                    concept.bytes().fold(1469598103934665603u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1099511628211));
                v[(h % dims as u64) as usize] += 1.0;
            }
            out.push(v);
        }
        Ok(out)
    }
}

fn mem_with(embedder: Arc<Concepts>) -> (tempfile::TempDir, Memory) {
    let home = tempfile::tempdir().unwrap();
    let memory = Memory::open(home.path()).unwrap().with_vectors(Some(VectorSettings::new(embedder)));
    (home, memory)
}

fn names(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn a_paraphrase_is_found_by_the_vector_arm_and_each_hit_says_which_arm() {
    let e = Concepts::new("m", 512, false);
    let (_home, m) = mem_with(e.clone());
    m.write("home/keys", "# Keys\n\nThe extra house key is under the blue pot.", None, &[]).unwrap();
    m.write("home/garden", "# Garden\n\nThe blue pot holds basil; water it on Sundays.", None, &[]).unwrap();
    m.write("work/nas", "# NAS\n\nRestart the backup job from the admin page.", None, &[]).unwrap();
    let report = m.reconcile().unwrap();
    assert_eq!(report.embedded, 3, "{report:?}");
    let hits = m.search("spare key placed", &SearchOptions::default()).unwrap();
    assert_eq!(hits[0].name, "home/keys", "{hits:#?}");
    assert_eq!(hits[0].matched, Matched::Both);
    assert_eq!((hits[0].vector_rank, hits[0].lines), (Some(1), Some((5, 7))), "after the front matter Pyra wrote");
    // bm25 alone: "spare" and "placed" are in no note; "key" is (any-term fallback).
    let hits = m.search("blue pot", &SearchOptions::default()).unwrap();
    assert_eq!(names(&hits)[..2].iter().collect::<std::collections::BTreeSet<_>>().len(), 2);
    assert!(hits.iter().all(|h| h.bm25_rank.is_some()));
    let hits = m.search("second keys", &SearchOptions::default()).unwrap();
    assert_eq!((hits[0].name.as_str(), hits[0].matched), ("home/keys", Matched::Both), "{hits:#?}");
    let hits = m.search("extra placed", &SearchOptions { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(m.vector_counts().unwrap(), (3, 3));
}

#[test]
fn only_changed_text_is_embedded_again_and_an_unchanged_reconcile_embeds_nothing() {
    let e = Concepts::new("m", 64, false);
    let (home, m) = mem_with(e.clone());
    m.write("a", "# A\n\nfirst paragraph about apples\n\n## Two\n\nsecond about pears", None, &[]).unwrap();
    m.write("b", "bananas", None, &[]).unwrap();
    assert_eq!(m.reconcile().unwrap().embedded, 3);
    e.seen();
    assert_eq!(m.reconcile().unwrap().embedded, 0);
    // An edit outside Pyra changes one chunk of `a`.
    let path = home.path().join("memory/a.md");
    let text = std::fs::read_to_string(&path).unwrap().replace("pears", "plums");
    std::fs::write(&path, text).unwrap();
    assert_eq!(m.reconcile().unwrap().embedded, 1);
    assert_eq!(e.seen(), vec!["A\n\n## Two\n\nsecond about plums".to_string()]);
    // A reindex rebuilds the index but takes every vector from the cache.
    assert_eq!(m.reindex().unwrap().embedded, 0);
    assert!(e.seen().is_empty());
}

#[test]
fn a_changed_model_pauses_the_vector_arm_until_a_reindex() {
    let first = Concepts::new("one", 64, false);
    let (home, m) = mem_with(first);
    m.write("keys", "The extra house key is under the blue pot.", None, &[]).unwrap();
    m.reconcile().unwrap();
    drop(m);
    let second = Concepts::new("two", 32, false);
    let m = Memory::open(home.path()).unwrap().with_vectors(Some(VectorSettings::new(second.clone())));
    let report = m.reconcile().unwrap();
    let warning = report.warnings.join("\n");
    assert!(
        warning.contains("made by test/one (64 dims)")
            && warning.contains("test/two (32 dims)")
            && warning.contains("pyra memory reindex"),
        "{warning}"
    );
    assert_eq!(report.embedded, 0);
    let hits = m.search("spare placed", &SearchOptions::default()).unwrap();
    assert!(hits.is_empty(), "bm25 alone finds no shared word: {hits:?}");
    assert!(m.take_warnings().is_empty(), "told once per handle");
    let fresh = Memory::open(home.path()).unwrap().with_vectors(Some(VectorSettings::new(second.clone())));
    assert!(fresh.search("spare placed", &SearchOptions::default()).unwrap().is_empty());
    assert!(fresh.take_warnings().iter().any(|w| w.contains("pyra memory reindex")));
    assert_eq!(m.reindex().unwrap().embedded, 1);
    let hits = m.search("spare placed", &SearchOptions::default()).unwrap();
    assert_eq!((names(&hits), hits[0].matched), (vec!["keys"], Matched::Vector));
    assert!(m.take_warnings().is_empty());
}

#[test]
fn private_notes_never_reach_a_remote_embedder_but_a_local_one_embeds_them() {
    let remote = Concepts::new("r", 64, true);
    let home = tempfile::tempdir().unwrap();
    let mut settings = VectorSettings::new(remote.clone());
    settings.exclude_categories = vec!["private".into()];
    let m = Memory::open(home.path()).unwrap().with_vectors(Some(settings));
    m.write("diary", "---\nembed: false\n---\nsecret diary text", None, &[]).unwrap();
    m.write("private/health/blood", "private blood test results", None, &[]).unwrap();
    m.write("privateer", "a ship called privateer", None, &[]).unwrap();
    m.write("public", "public shopping list", None, &[]).unwrap();
    let report = m.reconcile().unwrap();
    assert_eq!(report.embedded, 2);
    let seen = remote.seen().join("\n");
    assert!(seen.contains("shopping") && seen.contains("privateer"), "{seen}");
    assert!(!seen.contains("diary") && !seen.contains("blood"), "{seen}");
    // A query's own text is sent; a private note is found by bm25 only.
    let hits = m.search("diary", &SearchOptions::default()).unwrap();
    assert_eq!((names(&hits), hits[0].matched), (vec!["diary"], Matched::Bm25));
    assert_eq!(remote.seen(), vec!["diary".to_string()]);
    drop(m);
    let local = Concepts::new("r", 64, false);
    let m = Memory::open(home.path()).unwrap().with_vectors(Some(VectorSettings::new(local.clone())));
    assert_eq!(m.reindex().unwrap().embedded, 2);
    let seen = local.seen().join("\n");
    assert!(seen.contains("diary") && seen.contains("blood"), "{seen}");
}

#[test]
fn filters_apply_to_both_arms_before_fusion() {
    let (_home, m) = mem_with(Concepts::new("m", 256, false));
    m.write("home/keys", "the extra key is under the pot", None, &[]).unwrap();
    m.write("work/keys", "the second key is left at the desk", None, &[]).unwrap();
    m.reconcile().unwrap();
    let opts = SearchOptions { category: Some("work".into()), ..Default::default() };
    let hits = m.search("spare placed", &opts).unwrap();
    assert_eq!(names(&hits), vec!["work/keys"]);
    let opts = SearchOptions { since: Some(chrono::Utc::now() + chrono::Duration::days(1)), ..Default::default() };
    assert!(m.search("spare placed", &opts).unwrap().is_empty());
}

#[test]
fn a_failing_embedder_leaves_bm25_working_and_is_retried() {
    let e = Concepts::new("m", 64, true);
    let (_home, m) = mem_with(e.clone());
    m.write("keys", "the extra key is under the pot", None, &[]).unwrap();
    *e.fail.lock().unwrap() = true;
    let report = m.reconcile().unwrap();
    assert!(report.warnings.iter().any(|w| w.contains("the test server is down")), "{report:?}");
    let hits = m.search("key", &SearchOptions::default()).unwrap();
    assert_eq!((names(&hits), hits[0].matched), (vec!["keys"], Matched::Bm25));
    *e.fail.lock().unwrap() = false;
    assert_eq!(m.reconcile().unwrap().embedded, 1, "the next reconcile embeds what was left");
    *e.fail.lock().unwrap() = true;
    let hits = m.search("key", &SearchOptions::default()).unwrap();
    assert_eq!(names(&hits), vec!["keys"]);
    assert!(m.take_warnings().iter().any(|w| w.contains("could not be embedded") && w.contains("bm25 alone")));
}

/// bm25 is negative in FTS5; a fusion that took it as a similarity would rank every
/// keyword hit alike or drop them (OpenClaw #5767). Here a note found by bm25 alone ranks
/// by its bm25 rank, and the weighted fusion keeps the best keyword hit above a weak
/// vector-only one.
#[test]
fn fusion_keeps_keyword_hits_whatever_the_sign_of_bm25() {
    for fusion in [Fusion::Rrf { k: 60.0 }, Fusion::Weighted { vector_weight: 0.5 }] {
        let home = tempfile::tempdir().unwrap();
        let mut settings = VectorSettings::new(Concepts::new("m", 512, false));
        settings.fusion = fusion;
        let m = Memory::open(home.path()).unwrap().with_vectors(Some(settings));
        m.write("err", "# E1234\n\nE1234 means the disk is full.", None, &[]).unwrap();
        m.write("other", "E1234 was mentioned once among many other words about the weather today", None, &[]).unwrap();
        m.write("far", "nothing alike at all here", None, &[]).unwrap();
        m.reconcile().unwrap();
        let hits = m.search("E1234", &SearchOptions::default()).unwrap();
        assert_eq!(names(&hits)[..2], ["err", "other"], "{fusion:?}: {hits:#?}");
        assert!(hits[0].score > hits[1].score && hits[1].score > 0.0, "{fusion:?}: {hits:#?}");
    }
}

#[test]
fn without_vectors_search_is_bm25_exactly() {
    let home = tempfile::tempdir().unwrap();
    let plain = Memory::open(home.path()).unwrap();
    plain.write("a", "apples and pears", None, &[]).unwrap();
    plain.write("b", "apples", None, &[]).unwrap();
    let before = plain.search("apples", &SearchOptions::default()).unwrap();
    assert!(before.iter().all(|h| h.matched == Matched::Bm25 && h.vector_rank.is_none() && h.lines.is_none()));
    assert_eq!(plain.reconcile().unwrap().embedded, 0);
    assert_eq!(plain.vector_counts().unwrap(), (0, 0), "no chunks without embeddings");
}
