//! The local embedder against WordLlama's files from the PyPI wheel (fetched by
//! `tests/fixtures/embed-model/fetch.sh`, found through `PYRA_EMBED_MODEL`; skipped without
//! them unless `PYRA_REQUIRE_EMBED_MODEL=1`), and the half-precision conversion.

use super::*;

#[allow(clippy::print_stderr)] // says why a test passes without checking anything
/// The model folder, or `None` (the test then passes vacuously, loudly) when it is absent.
pub(crate) fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PYRA_EMBED_MODEL").map(PathBuf::from);
    match dir {
        Some(d) if d.is_dir() => Some(d),
        _ if std::env::var_os("PYRA_REQUIRE_EMBED_MODEL").is_some() => {
            panic!(
                "PYRA_REQUIRE_EMBED_MODEL is set but PYRA_EMBED_MODEL names no folder: run tests/fixtures/embed-model/fetch.sh"
            )
        }
        _ => {
            eprintln!("skipped: set PYRA_EMBED_MODEL (tests/fixtures/embed-model/fetch.sh prints it)");
            None
        }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn half_precision_values() {
    for (h, f) in [
        (0x3c00u16, 1.0f32),
        (0xc000, -2.0),
        (0x3555, 0.333_251_95),
        (0x0001, 5.960_464_5e-8),
        (0x7bff, 65504.0),
        (0, 0.0),
    ] {
        assert_eq!(f16_to_f32(h), f, "{h:#06x}");
    }
    assert!(f16_to_f32(0x7c00).is_infinite() && f16_to_f32(0x7e00).is_nan());
}

#[test]
fn wordllama_matches_the_python_reference() {
    let Some(dir) = model_dir() else { return };
    let model = StaticEmbedder::load(&dir, None).unwrap();
    assert_eq!(model.identity().dims, 256);
    assert_eq!(model.identity().model, "l2_supercat_256");
    let v = model.vector("How do I restart the backup job on the NAS?");
    // The Python reference (`WordLlamaInference.embed`, research file B.3), normalised.
    let reference = [0.0012015f32, -0.0203885, 0.1342443, -0.0782557];
    let ratio = v[2] / reference[2];
    for (got, want) in v.iter().zip(reference) {
        assert!((got - want * ratio).abs() < 1e-5, "{:?} vs {reference:?}", &v[..4]);
    }
    let backup = model.vector("Restarting the NAS backup job: open the admin page, stop the job, start it again.");
    let pasta = model.vector("Spaghetti with lemon, butter and parmesan.");
    let lemon = model.vector("lemon pasta");
    assert!(cosine(&v, &backup) > 0.35, "{}", cosine(&v, &backup));
    assert!(cosine(&lemon, &pasta) > cosine(&lemon, &backup) + 0.2);
    let short = StaticEmbedder::load(&dir, Some(64)).unwrap();
    assert_eq!(short.vector("lemon pasta").len(), 64);
    assert!(StaticEmbedder::load(&dir, Some(300)).is_err());
}

#[test]
fn wordllama_tokenizes_word_by_word_as_the_whole_text() {
    let Some(dir) = model_dir() else { return };
    let model = StaticEmbedder::load(&dir, None).unwrap();
    let text = "Überweisung für  die Miete 1,240 EUR!\n\n- item one\n- item two\tdone 😀 naïve café";
    let normalized = format!("\u{2581}{}", text.replace(' ', "\u{2581}"));
    assert_eq!(model.tokenizer.encode(text), model.tokenizer.merge(&normalized));
}

#[test]
fn a_folder_without_the_files_is_explained() {
    let empty = tempfile::tempdir().unwrap();
    let e = StaticEmbedder::load(empty.path(), None).err().unwrap();
    assert!(e.0.contains("has no .safetensors file"), "{e}");
}
