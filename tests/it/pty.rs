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
    /// What the program wrote, as bytes (a character may straddle two reads).
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Where the next `expect` starts looking.
    seen: usize,
    /// The terminal's rows and columns.
    size: (u16, u16),
}

impl Terminal {
    /// Starts `pyra ARGS` on a terminal with `PYRA_HOME` and the extra environment.
    pub fn start(pyra: &Pyra, args: &[&str], env: &[(&str, &str)]) -> Terminal {
        Terminal::start_sized(pyra, args, env, None)
    }

    /// [`Terminal::start`] on a terminal of `(rows, cols)`, for full-screen programs whose
    /// screen [`Terminal::rendered`] then shows as a person would see it.
    pub fn start_sized(pyra: &Pyra, args: &[&str], env: &[(&str, &str)], size: Option<(u16, u16)>) -> Terminal {
        let stty = size.map(|(rows, cols)| format!("stty rows {rows} cols {cols}; ")).unwrap_or_default();
        // `exec`: script(1) runs `$SHELL -c`, and a shell that stays as the parent (dash
        // does) is killed by the terminal's Ctrl-C, which script then reports as 130.
        let command = std::iter::once(format!("{stty}exec {}", env!("CARGO_BIN_EXE_pyra")))
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
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (s, b) = (screen.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        b.lock().unwrap().extend_from_slice(&buf[..n]);
                        s.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Terminal { child, stdin, screen, bytes, seen: 0, size: size.unwrap_or((24, 80)) }
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

    /// The screen as it stands now: everything written so far played on a terminal
    /// emulator of this size (cursor moves, the alternate screen and erasures obeyed),
    /// trailing blanks trimmed.
    pub fn rendered(&self) -> String {
        let nonzero = |n: u16| std::num::NonZero::new(n).unwrap_or(std::num::NonZero::<u16>::MIN);
        let mut parser = vt100::Parser::new(nonzero(self.size.0), nonzero(self.size.1), 0);
        parser.process(&self.bytes.lock().unwrap());
        let text = parser.screen().contents();
        text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
    }

    /// Waits until the rendered screen shows `text`, and returns that screen.
    pub fn expect_rendered(&mut self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let screen = self.rendered();
            if screen.contains(text) {
                return screen;
            }
            if started.elapsed() > PATIENCE {
                panic!("the screen never showed {text:?}; it shows:\n{screen}");
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
