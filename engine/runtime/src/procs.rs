//! Child processes started by nodes, by process group, so that a second Ctrl-C can stop
//! every one of them before Pyra exits.

use std::collections::HashSet;
use std::sync::Mutex;

static GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

/// Remembers a process group leader started by a node.
pub fn register(pid: u32) {
    let mut groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    groups.get_or_insert_with(HashSet::new).insert(pid as i32);
}

/// Forgets a process group once its leader has exited.
pub fn unregister(pid: u32) {
    let mut groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(set) = groups.as_mut() {
        set.remove(&(pid as i32));
    }
}

/// Sends `signal` to one process group.
pub fn signal_group(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Kills every registered process group (SIGKILL): the last thing done before exiting.
pub fn kill_all() {
    let groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    for pid in groups.iter().flatten() {
        signal_group(*pid as u32, rustix::process::Signal::KILL);
    }
}
