//! Fuzz target `ipc`: the body is [`pyra_fuzz::ipc`] (`harness/ipc.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/ipc/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::ipc(data));
