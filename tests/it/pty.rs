//! An expect-style driver for the real binary on a pseudo-terminal (util-linux `script`):
//! type lines or keys, and wait until the screen shows a text — no fixed sleeps, so a
//! slow machine only makes a test slower, never wrong.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::Pyra;

/// How long `expect` waits before the test fails with the screen so far.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Terminal {
    child: Child,
    stdin: Option<ChildStdin>,
    screen: Arc<Mutex<String>>,
    /// Where the next `expect` starts looking.
    seen: usize,
}

impl Terminal {
    /// Starts `pyra ARGS` on a terminal with `PYRA_HOME` and the extra environment.
    pub fn start(pyra: &Pyra, args: &[&str], env: &[(&str, &str)]) -> Terminal {
        // `exec`: script(1) runs `$SHELL -c`, and a shell that stays as the parent (dash
        // does) is killed by the terminal's Ctrl-C, which script then reports as 130.
        let command = std::iter::once(format!("exec {}", env!("CARGO_BIN_EXE_pyra")))
            .chain(args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("PYRA_HOME", pyra.home_path())
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .current_dir(pyra.work())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("script(1) from util-linux");
        let mut stdout = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let s = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        let stdin = child.stdin.take();
        Terminal { child, stdin, screen, seen: 0 }
    }

    /// Everything the terminal showed so far.
    pub fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until `text` appears after what earlier `expect`s matched.
    pub fn expect(&mut self, text: &str) {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(at) = screen.get(self.seen..).and_then(|rest| rest.find(text)) {
                self.seen += at + text.len();
                return;
            }
            if started.elapsed() > PATIENCE {
                panic!("the terminal never showed {text:?}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a line and Enter.
    pub fn line(&mut self, text: &str) {
        self.keys(&format!("{text}\r"));
    }

    /// Types raw keys (`"\x03"` is Ctrl-C, `"\x04"` Ctrl-D).
    pub fn keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("terminal open");
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the program to exit; returns its code and the whole screen.
    pub fn wait(mut self) -> (i32, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (status.code().unwrap_or(-1), self.screen());
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the program did not exit; the terminal shows:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
