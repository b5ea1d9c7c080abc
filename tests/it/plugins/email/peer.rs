//! The mail peer of this test binary: Debian's Postfix (SMTP with STARTTLS and Dovecot
//! SASL logins, delivering example.test into Maildirs) and Dovecot (IMAP, and IMAPS with
//! a certificate authority made here), private instances in one temporary folder on free
//! loopback ports, configured from tests/fixtures/mail/. Both are stopped, and the folder
//! removed, when the test binary ends however it ends (a reaper waiting on a pipe only
//! this process holds). They need root (Postfix's and Dovecot's own users own the queue
//! and the mail); without root or the programs the tests say why and pass, unless
//! `PYRA_REQUIRE_PLUGIN_PEERS=1`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::harness::repo_root;

/// The accounts: user name = password prefix; addresses are `NAME@example.test`.
pub const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

pub fn password(user: &str) -> String {
    format!("{user}-secret-pass")
}

pub struct Mail {
    pub dir: PathBuf,
    pub imap: u16,
    pub imaps: u16,
    pub smtp: u16,
    /// The certificate authority of the IMAPS and STARTTLS certificate (PEM).
    pub ca: PathBuf,
    _dovecot: Mutex<Child>,
    _reaper: Mutex<ChildStdin>,
}

static MAIL: LazyLock<Option<Mail>> = LazyLock::new(|| match start() {
    Ok(m) => Some(m),
    Err(why) => {
        let required = std::env::var_os("PYRA_REQUIRE_PLUGIN_PEERS").is_some_and(|v| v == "1");
        assert!(!required, "PYRA_REQUIRE_PLUGIN_PEERS=1 but the mail peer cannot run: {why}");
        #[allow(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!("skipped: {why}");
        }
        None
    }
});

/// The peer, started on first use; `None` (the test returns) when it cannot run here.
pub fn mail() -> Option<&'static Mail> {
    MAIL.as_ref()
}

fn ids(user: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .ok_or_else(|| format!("no user `{user}` on this machine (installed with postfix and dovecot-core)"))
}

fn chown(path: &Path, (uid, gid): (u32, u32)) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {e}", path.display()))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A certificate authority and a certificate for 127.0.0.1 and localhost signed by it.
fn certificates(tls: &Path) -> Result<(), String> {
    std::fs::create_dir_all(tls).map_err(|e| e.to_string())?;
    let p = |f: &str| tls.join(f).to_string_lossy().into_owned();
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "3", "-subj", "/CN=Pyra test mail CA"]))?;
    run(Command::new("openssl")
        .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-keyout", &p("server.key"), "-out", &p("server.csr"), "-subj", "/CN=localhost"]))?;
    std::fs::write(tls.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .map_err(|e| e.to_string())?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-in", &p("server.csr"), "-CA", &p("ca.pem"), "-CAkey", &p("ca.key")])
        .args(["-CAcreateserial", "-days", "3", "-extfile", &p("ext"), "-out", &p("server.pem")]))
}

fn fill(template: &str, pairs: &[(&str, String)]) -> Result<String, String> {
    let mut text = std::fs::read_to_string(repo_root().join("tests/fixtures/mail").join(template))
        .map_err(|e| format!("{template}: {e}"))?;
    for (k, v) in pairs {
        text = text.replace(&format!("@{k}@"), v);
    }
    Ok(text)
}

fn wait_port(port: u16, what: &str, log: &Path) -> Result<(), String> {
    let began = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if began.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "{what} did not listen on {port}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn start() -> Result<Mail, String> {
    for program in ["/usr/sbin/postfix", "/usr/sbin/dovecot", "/usr/bin/openssl"] {
        if !Path::new(program).exists() {
            return Err(format!("{program} is not installed (Debian: postfix, dovecot-imapd, openssl)"));
        }
    }
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) != 0 {
        return Err("the mail peer runs Postfix and Dovecot, which need root".into());
    }
    let (mail_ids, postfix_ids) = (ids("mail")?, ids("postfix")?);
    ids("dovecot")?;
    ids("dovenull")?;
    let dir = tempfile::Builder::new().prefix("pyra-mail").tempdir().map_err(|e| e.to_string())?.keep();
    // Postfix's and Dovecot's users walk through it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let d = |p: &str| dir.join(p);
    for sub in ["postfix/spool", "postfix/data", "dovecot/run", "dovecot/state", "mail"] {
        std::fs::create_dir_all(d(sub)).map_err(|e| e.to_string())?;
    }
    chown(&d("postfix/data"), postfix_ids)?;
    chown(&d("mail"), mail_ids)?;
    certificates(&d("tls"))?;
    let (imap, imaps, smtp) = (free_port()?, free_port()?, free_port()?);
    let mailboxes: Vec<String> = USERS.iter().map(|u| format!("{u}@example.test={u}/Maildir/")).collect();
    let pairs = [
        ("DIR", dir.to_string_lossy().into_owned()),
        ("IMAP", imap.to_string()),
        ("IMAPS", imaps.to_string()),
        ("SMTP", smtp.to_string()),
        ("MAIL_UID", mail_ids.0.to_string()),
        ("MAIL_GID", mail_ids.1.to_string()),
        ("MAILBOXES", mailboxes.join(", ")),
    ];
    let users: String = USERS.iter().map(|u| format!("{u}:{{PLAIN}}{}\n", password(u))).collect();
    let write = |path: PathBuf, text: String| std::fs::write(path, text).map_err(|e| e.to_string());
    write(d("dovecot/users"), users)?;
    write(d("dovecot/dovecot.conf"), fill("dovecot.conf", &pairs)?)?;
    write(d("postfix/main.cf"), fill("main.cf", &pairs)?)?;
    write(d("postfix/master.cf"), fill("master.cf", &pairs)?)?;

    // Postfix first: Dovecot puts its SASL socket into Postfix's queue folder.
    let started = run(Command::new("/usr/sbin/postfix").arg("-c").arg(d("postfix")).arg("start"));
    let dovecot = std::fs::File::create(d("dovecot/out.log")).and_then(|log| {
        Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(d("dovecot/dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
    });
    let dovecot = match dovecot {
        Ok(child) => child,
        Err(e) => {
            let _ = run(Command::new("/usr/sbin/postfix").arg("-c").arg(d("postfix")).arg("stop"));
            return Err(format!("dovecot: {e}"));
        }
    };
    let master = std::fs::read_to_string(d("postfix/spool/pid/master.pid")).unwrap_or_default().trim().to_string();
    let groups = format!("-{} {}", dovecot.id(), if master.is_empty() { String::new() } else { format!("-{master}") });
    let script =
        "read _; postfix -c \"$1/postfix\" stop >/dev/null 2>&1; kill -KILL $2 2>/dev/null; sleep 1; rm -rf \"$1\"";
    let mut reaper = Command::new("sh")
        .args(["-c", script, "reaper", &dir.to_string_lossy(), &groups])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("reaper: {e}"))?;
    let reaper = reaper.stdin.take().ok_or("the reaper has no stdin")?;
    let mail = Mail {
        dir: dir.clone(),
        imap,
        imaps,
        smtp,
        ca: d("tls/ca.pem"),
        _dovecot: Mutex::new(dovecot),
        _reaper: Mutex::new(reaper),
    };
    started.map_err(|e| {
        format!("postfix start: {e}\n{}", std::fs::read_to_string(d("postfix/postfix.log")).unwrap_or_default())
    })?;
    wait_port(imap, "dovecot", &d("dovecot/dovecot.log"))?;
    wait_port(smtp, "postfix", &d("postfix/postfix.log"))?;
    // The SASL socket Postfix checks logins with.
    let began = Instant::now();
    while !d("postfix/spool/private/auth").exists() && began.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(mail)
}

impl Mail {
    /// Hands a message to Postfix over SMTP (from loopback, no login), to `to`@example.test.
    pub fn deliver(&self, to: &str, raw: &str) {
        let stream = TcpStream::connect(("127.0.0.1", self.smtp)).expect("postfix answers");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        let mut expect = |code: &str| {
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("an SMTP reply");
                assert!(line.starts_with(code), "wanted {code}, got {line}");
                if line.as_bytes().get(3) != Some(&b'-') {
                    break;
                }
            }
        };
        expect("220");
        for (cmd, code) in [
            ("EHLO test.example.test".to_string(), "250"),
            ("MAIL FROM:<sender@outside.test>".into(), "250"),
            (format!("RCPT TO:<{to}@example.test>"), "250"),
            ("DATA".into(), "354"),
        ] {
            write!(w, "{cmd}\r\n").unwrap();
            expect(code);
        }
        let body = raw.replace("\r\n", "\n").replace('\n', "\r\n").replace("\r\n.", "\r\n..");
        write!(w, "{body}\r\n.\r\n").unwrap();
        expect("250");
        write!(w, "QUIT\r\n").unwrap();
    }

    /// The messages in `user`'s folder (`""` is INBOX) that contain `needle`, as files.
    pub fn messages(&self, user: &str, folder: &str, needle: &str) -> Vec<PathBuf> {
        let base = self.dir.join("mail").join(user).join("Maildir");
        let base = if folder.is_empty() { base } else { base.join(format!(".{folder}")) };
        ["new", "cur"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(base.join(sub)).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
            .collect()
    }

    /// Waits until Postfix has delivered a message with `needle` to `user`'s INBOX.
    #[track_caller]
    pub fn wait_delivered(&self, user: &str, needle: &str) {
        crate::daemon::wait_for(&format!("a message with {needle} for {user}"), || {
            if self.messages(user, "", needle).is_empty() {
                Err(std::fs::read_to_string(self.dir.join("postfix/postfix.log")).unwrap_or_default())
            } else {
                Ok(())
            }
        });
    }
}
