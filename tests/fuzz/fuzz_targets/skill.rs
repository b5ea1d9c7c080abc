//! Fuzz target `skill`: the body is [`pyra_fuzz::skill`] (`harness/skill.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/skill/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::skill(data));
