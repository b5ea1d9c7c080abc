//! Durable approvals: a question bound to one run and one node, with an absolute
//! deadline and an explicit outcome when nobody answers. Answered once (the store
//! refuses a second answer); asked on the terminal when a person is there, answered later
//! by `pyra approve` / `pyra reject` otherwise.

use std::time::Duration;

use serde_json::Value;

use super::executor::{Asked, NodeCtx, NodeError};
use super::record::{ApprovalRecord, ApprovalState, now_ms};

/// What a node asks.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub message: String,
    pub details: Option<Value>,
    pub timeout: Duration,
    /// `Approved` or `Rejected`: what silence means.
    pub on_timeout: ApprovalState,
    /// For several approvals in one node (an agent's tool calls): the approval is recorded
    /// as `node#sub` (`pyra approve RUN node#sub`).
    pub sub: Option<String>,
}

/// A recorded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub approved: bool,
    /// `terminal`, `cli`, `timeout`, ...
    pub by: String,
    pub reason: Option<String>,
    /// Milliseconds since the epoch.
    pub at: i64,
}

impl Answer {
    fn from_record(record: &ApprovalRecord) -> Option<Self> {
        (record.state != ApprovalState::Pending).then(|| Answer {
            approved: record.state == ApprovalState::Approved,
            by: record.answered_by.clone().unwrap_or_default(),
            reason: record.reason.clone(),
            at: record.answered_at.unwrap_or_default(),
        })
    }

    /// The node output an answer becomes.
    pub fn to_output(&self) -> Value {
        serde_json::json!({
            "approved": self.approved,
            "by": self.by,
            "reason": self.reason,
            "at": chrono::DateTime::from_timestamp_millis(self.at).map(|t| t.to_rfc3339()),
        })
    }
}

/// What a terminal prompt shows.
#[derive(Debug, Clone)]
pub struct ApprovalPrompt {
    pub run_id: String,
    pub node: String,
    pub message: String,
    pub details: Option<Value>,
    /// Milliseconds since the epoch.
    pub deadline: i64,
}

fn store_err(e: super::store::StoreError) -> NodeError {
    NodeError::Fatal(e.to_string())
}

pub(crate) async fn request(ctx: &NodeCtx, request: ApprovalRequest) -> Result<Asked, NodeError> {
    let store = &ctx.services.store;
    let key = match &request.sub {
        Some(sub) => format!("{}#{sub}", ctx.key()),
        None => ctx.key(),
    };
    let record = match store.approval(&ctx.run_id, &key).map_err(store_err)? {
        Some(record) => record,
        None => {
            let now = now_ms();
            let record = ApprovalRecord {
                run_id: ctx.run_id.to_string(),
                node: key.clone(),
                message: request.message.clone(),
                details: request.details.clone(),
                created_at: now,
                deadline: now.saturating_add(request.timeout.as_millis() as i64),
                on_timeout: request.on_timeout,
                state: ApprovalState::Pending,
                answered_by: None,
                reason: None,
                answered_at: None,
            };
            store.insert_approval(&record).map_err(store_err)?;
            record
        }
    };
    let reread = || -> Result<Asked, NodeError> {
        let record = store.approval(&ctx.run_id, &key).map_err(store_err)?;
        match record.as_ref().and_then(Answer::from_record) {
            Some(answer) => Ok(Asked::Answered(answer)),
            None => Ok(Asked::Parked),
        }
    };
    if let Some(answer) = Answer::from_record(&record) {
        return Ok(Asked::Answered(answer));
    }
    let expire = || -> Result<Asked, NodeError> {
        let reason = format!("no answer before the deadline; on_timeout: {}", on_timeout_word(record.on_timeout));
        store.answer_approval(&ctx.run_id, &key, record.on_timeout, "timeout", Some(&reason)).map_err(store_err)?;
        reread()
    };
    let remaining = record.deadline - now_ms();
    if remaining <= 0 {
        return expire();
    }
    let Some(interaction) = ctx.services.interaction.clone() else {
        return Ok(Asked::Parked);
    };
    let prompt = ApprovalPrompt {
        run_id: ctx.run_id.to_string(),
        node: key.clone(),
        // What the person sees is masked like what is stored.
        message: ctx.services.runtime.masker.mask(&record.message).into_owned(),
        details: record.details.clone().map(|d| ctx.services.runtime.masker.mask_value(d)),
        deadline: record.deadline,
    };
    let poll = async {
        // Someone may answer from another terminal (`pyra approve`) while we ask here.
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(Some(r)) = store.approval(&ctx.run_id, &key)
                && r.state != ApprovalState::Pending
            {
                return;
            }
        }
    };
    tokio::select! {
        answer = interaction.ask(prompt) => match answer {
            Some((state, reason)) => {
                store.answer_approval(&ctx.run_id, &key, state, "terminal", reason.as_deref()).map_err(store_err)?;
                reread()
            }
            None => Ok(Asked::Parked),
        },
        () = poll => reread(),
        () = tokio::time::sleep(Duration::from_millis(remaining as u64)) => expire(),
        () = ctx.cancel.cancelled() => Err(NodeError::Cancelled),
    }
}

fn on_timeout_word(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Approved => "approve",
        _ => "reject",
    }
}
