//! Every stdio server's process group this process started, so that none outlives it:
//! [`kill_all`] runs when a command ends, on Ctrl-C and from the panic hook; a connection
//! dropped without [`crate::conn::Conn::stop`] kills its group at once.

use std::sync::Mutex;

use rustix::process::{Pid, Signal, kill_process_group};

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn register(pid: i32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

pub(crate) fn unregister(pid: i32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != pid);
}

/// Signals a process group: SIGTERM, or SIGKILL when `hard`.
pub(crate) fn signal(pid: i32, hard: bool) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process_group(pid, if hard { Signal::KILL } else { Signal::TERM });
    }
}

pub(crate) fn kill_now(pid: i32) {
    signal(pid, true);
    unregister(pid);
}

/// Kills every server group still registered (SIGKILL: this is the last resort, when the
/// process is ending). Returns how many there were.
pub fn kill_all() -> usize {
    let groups = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in &groups {
        signal(*pid, true);
    }
    groups.len()
}
