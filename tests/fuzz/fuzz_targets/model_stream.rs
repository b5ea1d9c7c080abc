//! Fuzz target `model_stream`: the body is [`pyra_fuzz::model_stream`] (`harness/model_stream.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/model_stream/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::model_stream(data));
