//! Fuzz target `template`: the body is [`pyra_fuzz::template`] (`harness/template.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/template/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::template(data));
