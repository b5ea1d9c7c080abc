//! Fuzz target `webhook`: the body is [`pyra_fuzz::webhook`] (`harness/webhook.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/webhook/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::webhook(data));
