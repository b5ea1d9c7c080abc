//! Fuzz target `cron`: the body is [`pyra_fuzz::cron`] (`harness/cron.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/cron/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::cron(data));
