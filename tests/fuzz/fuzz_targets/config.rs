//! Fuzz target `config`: the body is [`pyra_fuzz::config`] (`harness/config.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/config/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::config(data));
