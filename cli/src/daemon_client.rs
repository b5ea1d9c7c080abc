//! Talking to the home's daemon from a command: whether one runs (its lock, never a guess
//! from a leftover file) and one request over its socket.

use std::path::PathBuf;

use serde_json::Value;

use crate::failure::Failure;
use crate::home::Home;

/// The home's run folder (created 0700 if missing).
pub fn run_dir(home: &Home) -> Result<PathBuf, Failure> {
    daemon::lock::run_dir(&home.root).map_err(|e| Failure::failed(e.to_string()))
}

/// The pid of the daemon running for this home, if one runs.
pub fn running(home: &Home) -> Option<u32> {
    let dir = home.root.join(daemon::lock::RUN_DIR);
    match daemon::lock::holder(&dir) {
        Ok(Some(r)) => Some(r.pid.unwrap_or(0)),
        _ => None,
    }
}

/// Why a request did not get an answer.
#[derive(Debug)]
pub enum AskError {
    /// No daemon runs for this home.
    NotRunning,
    /// It answered with an error.
    Refused { code: String, message: String },
    /// The socket could not be reached or the reply read.
    Io(String),
}

impl AskError {
    pub fn into_failure(self) -> Failure {
        match self {
            AskError::NotRunning => Failure::failed("the daemon is not running; `pyra daemon start` starts it"),
            AskError::Refused { message, .. } => Failure::failed(message),
            AskError::Io(e) => Failure::failed(format!("cannot reach the daemon: {e}")),
        }
    }
}

/// Sends one request to the home's daemon.
pub fn ask(home: &Home, op: &str, args: Value) -> Result<Value, AskError> {
    if running(home).is_none() {
        return Err(AskError::NotRunning);
    }
    let dir = home.root.join(daemon::lock::RUN_DIR);
    let socket = daemon::ipc::socket_path(&dir).map_err(|e| AskError::Io(e.to_string()))?;
    // Blocking: a command may ask from inside its own async runtime (a run reading a
    // secret).
    let reply = daemon::ipc::request_blocking(&socket, op, args, std::time::Duration::from_secs(30))
        .map_err(|e| AskError::Io(e.to_string()))?;
    if reply.ok {
        Ok(reply.result.unwrap_or(Value::Null))
    } else {
        let error = reply.error.unwrap_or_else(|| daemon::ipc::ErrorBody::new("unknown", "the daemon refused"));
        Err(AskError::Refused { code: error.code, message: error.message })
    }
}
