//! Wire formats: each adapter builds the exact HTTP request of one API family and decodes
//! its streamed reply. Decoders are pure state machines fed bytes as they arrive; they
//! handle any split (inside an SSE line, a JSON value or a UTF-8 character).
//!
//! - [`openai`]: chat completions (`/chat/completions`), SSE; also every OpenAI-compatible
//!   server (OpenRouter, Groq, Mistral, DeepSeek, Together, xAI, LM Studio, llama.cpp, vLLM).
//! - [`anthropic`]: the Messages API (`/v1/messages`), SSE with typed events.
//! - [`ollama`]: `/api/chat`, NDJSON.
//! - [`gemini`]: `generateContent` / `streamGenerateContent?alt=sse`.
//!
//! Each is a folder: `mod.rs` builds the requests and reads error bodies, `decode.rs`
//! decodes the streamed reply, `tests.rs` checks both against recorded streams.
//!
//! [`sse`] and [`ndjson`] split a byte stream into events and lines. What the formats do
//! alike is shared: `failure` (how a decoder fails), `sse_decoder` (the decoder of an
//! event stream closed by a last message), `calls` (tool calls both ways), `headers`,
//! `models` (model lists).
//!
//! A decoder reports a tool call the provider sent without an id (Ollama, older Gemini,
//! some OpenAI-compatible servers) with an empty `id`: naming it is the client's job, so
//! decoders stay deterministic and ids stay unique across replies. An error found after
//! some events in the same bytes is returned by the next call (`feed` or `finish`), so
//! the text before it is delivered.

pub mod anthropic;
mod calls;
mod failure;
pub mod gemini;
mod headers;
mod models;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod sse;
mod sse_decoder;
#[cfg(test)]
mod testing;

use serde_json::Value;

use super::{ChatRequest, HttpRequest, StreamEvent, WireError};

/// The API families Pyra speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
    Ollama,
    Gemini,
}

/// How one provider's server differs from others speaking its wire format: registry
/// data ([`super::providers`]), used only by the OpenAI format, whose servers disagree on
/// two request fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Ask for token usage in the stream (`stream_options.include_usage`). Servers that
    /// reject unknown fields and report usage anyway (Mistral) must not get it.
    pub stream_usage: bool,
    /// The field the token limit goes in.
    pub max_tokens: MaxTokensField,
}

/// Where a request's token limit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens`: what most OpenAI-compatible servers take.
    MaxTokens,
    /// `max_completion_tokens`: OpenAI's own API (its reasoning models reject `max_tokens`).
    MaxCompletionTokens,
}

impl Dialect {
    /// What an OpenAI-compatible server takes unless the registry says otherwise.
    pub const STANDARD: Dialect = Dialect { stream_usage: true, max_tokens: MaxTokensField::MaxTokens };
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::STANDARD
    }
}

impl MaxTokensField {
    pub fn name(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// Turns the bytes of a streamed reply into events.
pub trait Decoder: Send {
    /// Feeds the next bytes; returns the events they complete.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, WireError>;
    /// The stream ended: returns what is left, or an error if it ended too early (no
    /// finish seen, a tool call unfinished).
    fn finish(&mut self) -> Result<Vec<StreamEvent>, WireError>;
    /// The protocol's last message was seen (OpenAI's `[DONE]`, Anthropic's
    /// `message_stop`, Ollama's `done` line): nothing after it counts, so the reply is
    /// complete without waiting for the server to close the connection (some keep it
    /// open). Gemini has no such message; its stream ends with the connection.
    fn done(&self) -> bool {
        false
    }
}

impl Format {
    /// The streaming request for `req` against `base_url` (no trailing slash needed),
    /// with `key` (if any) in the header this API expects, in the server's `dialect`.
    pub fn chat_request(self, base_url: &str, key: Option<&str>, req: &ChatRequest, dialect: Dialect) -> HttpRequest {
        match self {
            Format::OpenAi => openai::chat_request(base_url, key, req, dialect),
            Format::Anthropic => anthropic::chat_request(base_url, key, req),
            Format::Ollama => ollama::chat_request(base_url, key, req),
            Format::Gemini => gemini::chat_request(base_url, key, req),
        }
    }

    /// A fresh decoder for one streamed reply.
    pub fn decoder(self) -> Box<dyn Decoder> {
        match self {
            Format::OpenAi => Box::new(openai::Decoder::default()),
            Format::Anthropic => Box::new(anthropic::Decoder::default()),
            Format::Ollama => Box::new(ollama::Decoder::default()),
            Format::Gemini => Box::new(gemini::Decoder::default()),
        }
    }

    /// The request that lists the models the server offers.
    pub fn models_request(self, base_url: &str, key: Option<&str>) -> HttpRequest {
        match self {
            Format::OpenAi => openai::models_request(base_url, key),
            Format::Anthropic => anthropic::models_request(base_url, key),
            Format::Ollama => ollama::models_request(base_url, key),
            Format::Gemini => gemini::models_request(base_url, key),
        }
    }

    /// Model ids from the reply to [`Format::models_request`].
    pub fn parse_models(self, body: &Value) -> Result<Vec<String>, WireError> {
        match self {
            Format::OpenAi => openai::parse_models(body),
            Format::Anthropic => anthropic::parse_models(body),
            Format::Ollama => ollama::parse_models(body),
            Format::Gemini => gemini::parse_models(body),
        }
    }

    /// Whether an HTTP error reply says retrying cannot help although its status usually
    /// means "later" (OpenAI's 429 `insufficient_quota`: the account is out of credit).
    pub fn is_final_error(self, body: &[u8]) -> bool {
        match self {
            Format::OpenAi => openai::is_quota_error(body),
            Format::Anthropic | Format::Ollama | Format::Gemini => false,
        }
    }

    /// The message of an HTTP error reply's body (each API wraps it differently), or
    /// `None` when the body is not this API's error shape.
    pub fn error_message(self, body: &[u8]) -> Option<String> {
        match self {
            Format::OpenAi => openai::error_message(body),
            Format::Anthropic => anthropic::error_message(body),
            Format::Ollama => ollama::error_message(body),
            Format::Gemini => gemini::error_message(body),
        }
    }
}
