//! Fuzz target `mcp`: the body is [`pyra_fuzz::mcp`] (`harness/mcp.rs`), which
//! `tests/it/fuzz_corpus.rs` also replays over `corpus/mcp/` on stable.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pyra_fuzz::mcp(data));
