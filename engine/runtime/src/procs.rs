//! Child processes started by nodes, by process group, so that a second Ctrl-C can stop
//! every one of them before Pyra exits; and reading a child's output with a cap.

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

/// A registered process group that is killed (SIGKILL) if dropped while live: the group of
/// a child whose future was dropped (cancelled, timed out) goes with it. Forgotten by the
/// registry when dropped.
pub struct Group {
    pid: u32,
    live: bool,
}

impl Group {
    /// Registers the group led by `pid` (a child started with `process_group(0)`).
    pub fn register(pid: u32) -> Group {
        register(pid);
        Group { pid, live: true }
    }

    /// Its leader was waited for: nothing is killed when it is dropped.
    pub fn ended(&mut self) {
        self.live = false;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.live {
            signal_group(self.pid, rustix::process::Signal::KILL);
        }
        unregister(self.pid);
    }
}

/// Reads a stream to its end, keeping at most `cap` bytes (the rest is read and dropped so
/// the program never blocks on a full pipe); whether anything was dropped.
pub async fn read_capped(reader: Option<impl tokio::io::AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let (mut kept, mut truncated) = (Vec::new(), false);
    let Some(mut reader) = reader else { return (kept, truncated) };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        let room = cap - kept.len();
        truncated |= n > room;
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    (kept, truncated)
}
