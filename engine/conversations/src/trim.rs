//! Fitting a conversation into a model's token budget, with a tokenizer-free estimate,
//! and shaping what is kept into the history a model is given.

use super::{ChatMessage, Role};

/// Tokens counted for each message on top of its text: the role and the separators
/// chat formats wrap every message in (3 to 4 with OpenAI's, a few with the others).
pub const MESSAGE_OVERHEAD: usize = 4;

/// A rough token count of `text`, without a tokenizer: one token per 3 bytes of UTF-8,
/// rounded up.
///
/// Why it is conservative enough: BPE tokenizers average about 4 characters per token on
/// English prose (OpenAI's, Llama 3's) and 3.5 on Claude's and the 32k-vocabulary models',
/// so 3 ASCII characters per token over-counts prose by 15–35% and roughly matches dense
/// code and JSON. Other scripts take more bytes per character and more tokens per
/// character alike: 2 bytes for Cyrillic or Greek (estimated 1.5 characters per token,
/// tokenizers manage 2–3), 3 for CJK (estimated 1 token per character, where tokenizers
/// give 0.7–1.3). The estimate is for choosing which old messages to drop, so the caller
/// should still leave the reply its own room in the budget.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// The estimated tokens of one message: its content and [`MESSAGE_OVERHEAD`].
pub fn message_tokens(message: &ChatMessage) -> usize {
    estimate_tokens(&message.content) + MESSAGE_OVERHEAD
}

/// The messages to send a model with a budget of `budget` tokens (by [`message_tokens`]),
/// and how many were left out.
///
/// Always kept, whatever the budget: system messages (the system prompt), pinned
/// messages, and the last message (the user's new turn, even if it alone is over the
/// budget). With what the budget has left, the other messages are taken newest first,
/// until one does not fit: that one and every older one are dropped (an older short
/// message is not squeezed in past a gap, so what the model sees of the conversation is
/// its recent, unbroken end). The result keeps the original order.
pub fn trim(messages: &[ChatMessage], budget: usize) -> (Vec<ChatMessage>, usize) {
    let Some(last) = messages.len().checked_sub(1) else {
        return (Vec::new(), 0);
    };
    let always = |i: usize, m: &ChatMessage| i == last || m.pinned || m.role == Role::System;
    let mut keep: Vec<bool> = messages.iter().enumerate().map(|(i, m)| always(i, m)).collect();
    let mut used: usize = messages.iter().zip(&keep).filter(|(_, k)| **k).map(|(m, _)| message_tokens(m)).sum();
    for (i, message) in messages.iter().enumerate().rev() {
        if keep[i] {
            continue;
        }
        let cost = message_tokens(message);
        if used + cost > budget {
            break;
        }
        used += cost;
        keep[i] = true;
    }
    let kept: Vec<ChatMessage> = messages.iter().zip(&keep).filter(|(_, k)| **k).map(|(m, _)| m.clone()).collect();
    let dropped = messages.len() - kept.len();
    (kept, dropped)
}

/// The history given to a model, as `{role, content}` messages, from the kept messages
/// (without the new one): system messages only when pinned (the chat skill has its own
/// system prompt), no assistant message before the first user one (trimming can leave
/// one, and some APIs want the user to speak first), and consecutive messages of one role
/// joined into one (a turn that failed leaves a user message without a reply).
pub fn history_for_model(kept: &[ChatMessage]) -> Vec<serde_json::Value> {
    let mut out: Vec<(Role, String)> = Vec::new();
    for m in kept.iter().filter(|m| m.role != Role::System || m.pinned) {
        if out.is_empty() && m.role == Role::Assistant {
            continue;
        }
        match out.last_mut() {
            Some((role, content)) if *role == m.role => {
                content.push_str("\n\n");
                content.push_str(&m.content);
            }
            _ => out.push((m.role, m.content.clone())),
        }
    }
    out.into_iter().map(|(role, content)| serde_json::json!({ "role": role.as_str(), "content": content })).collect()
}
