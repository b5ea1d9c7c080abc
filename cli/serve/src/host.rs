//! What the MCP handler needs from whoever runs skills: the exposed skills as tool
//! definitions, and one call run to its end. The CLI and the daemon supply it (both
//! through [`crate::RuntimeHost`]); tests can supply their own.

use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

/// A boxed future, as the trait's calls return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One skill as an MCP tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposedSkill {
    /// The tool's name: the skill's name as `pyra run NAME` knows it.
    pub name: String,
    pub description: String,
    /// The JSON Schema (an object) of the skill's inputs.
    pub input_schema: Map<String, Value>,
    /// The JSON Schema of its outputs, when the skill declares some.
    pub output_schema: Option<Map<String, Value>>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The run succeeded: its outputs (an object; `None` when the skill declares none)
    /// and a text saying so.
    Done { run_id: String, outputs: Option<Value>, text: String },
    /// The call was refused or the run failed: a message for the caller (masked).
    Failed(String),
}

/// What a call brings besides its inputs.
#[derive(Clone)]
pub struct Call {
    /// Fired when the client cancels the request or the connection closes.
    pub cancel: CancellationToken,
    /// Sends a note to the client while the call goes on (an approval to answer).
    pub notify: Arc<dyn Fn(String) + Send + Sync>,
}

impl Call {
    /// A call nobody cancels and whose notes go nowhere.
    pub fn detached() -> Self {
        Self { cancel: CancellationToken::new(), notify: Arc::new(|_| {}) }
    }
}

/// Runs the skills a configuration exposes.
pub trait SkillHost: Send + Sync + 'static {
    /// The exposed skills, in a stable order (read afresh: an edited skill shows).
    fn tools(&self) -> Vec<ExposedSkill>;

    /// Whether `name` is an exposed skill.
    fn exposes(&self, name: &str) -> bool {
        self.tools().iter().any(|t| t.name == name)
    }

    /// Runs the exposed skill `name` with `inputs`, to its end.
    fn call(&self, name: &str, inputs: Map<String, Value>, call: Call) -> BoxFuture<'static, CallOutcome>;
}
