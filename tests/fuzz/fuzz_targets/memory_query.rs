//! Fuzz target `memory_query`: the body is [`pyra_fuzz::memory_query`] (`harness/memory_query.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/memory_query/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::memory_query(data));
