//! Fuzz target `channel_updates`: the body is [`pyra_fuzz::channel_updates`]
//! (`harness/channel_updates.rs`), which `tests/it/fuzz_corpus.rs` also replays over
//! `corpus/channel_updates/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::channel_updates(data));
