//! The service files and plans: names per home and profile, the unit's keys and its
//! quoting checked by `systemd-analyze verify`, the plist read back by Python's
//! `plistlib`, the lingering check, `sd_notify` to a real socket, and plans applied in a
//! temporary home (with harmless commands standing in for `systemctl`).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use super::*;

const WEIRD: &str = "dir with space 100%h $HOME \"q\" 'a' \\b & <c> é";
/// What systemd accepts in an executable's path (no quotes, no backslash).
const WEIRD_EXE: &str = "dir with space 100%h $HOME & <c> é";

fn env_at(home: &Path) -> UserEnv {
    UserEnv { home: home.to_path_buf(), xdg_config_home: None, uid: 501 }
}

fn spec(exe: &str, home: &str, profile: Option<&str>) -> ServiceSpec {
    ServiceSpec { exe: exe.into(), home: home.into(), profile: profile.map(String::from) }
}

fn have(program: &str) -> bool {
    Command::new("which").arg(program).output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_default_home_gets_the_plain_names_and_others_a_stable_distinct_suffix() {
    let env = env_at(Path::new("/home/alice"));
    let default = spec("/usr/bin/pyra", "/home/alice/.pyra", None);
    assert_eq!(default.unit_name(&env), "pyra.service");
    assert_eq!(default.launchd_label(&env), "dev.pyra.daemon");
    assert_eq!(spec("/usr/bin/pyra", "/home/alice/./.pyra/", None).unit_name(&env), "pyra.service");

    let work = spec("/usr/bin/pyra", "/home/alice/.pyra", Some("work"));
    assert_eq!(work.unit_name(&env), "pyra-work.service");
    assert_eq!(work.launchd_label(&env), "dev.pyra.daemon.work");

    // Pinned: the name must not change between releases, or an upgrade would orphan the unit.
    let other = spec("/usr/bin/pyra", "/srv/pyra", None);
    assert_eq!(other.unit_name(&env), "pyra-03194432.service");
    assert_eq!(other.launchd_label(&env), "dev.pyra.daemon.03194432");
    assert_eq!(spec("/usr/bin/pyra", "/srv/pyra", Some("work")).unit_name(&env), "pyra-work-03194432.service");
    assert_ne!(spec("/usr/bin/pyra", "/srv/pyra2", None).unit_name(&env), other.unit_name(&env));
    // Another user's default home is not this user's.
    assert_ne!(default.unit_name(&env_at(Path::new("/home/bob"))), "pyra.service");
}

#[test]
fn specs_that_no_service_file_can_carry_are_refused() {
    assert!(spec("/usr/bin/pyra", "/h", Some("work_2-x")).check().is_ok());
    let err = |s: ServiceSpec| s.check().unwrap_err().to_string();
    assert_eq!(err(spec("pyra", "/h", None)), "the pyra executable must be an absolute path: pyra");
    assert_eq!(err(spec("/usr/bin/pyra", "h", None)), "the home must be an absolute path: h");
    assert!(err(spec("/usr/bin/pyra", "/h\nExecStartPre=/bin/evil", None)).contains("control characters"));
    let not_utf8 = ServiceSpec { home: PathBuf::from(OsStr::from_bytes(b"/h\xff")), ..spec("/p", "/h", None) };
    assert!(err(not_utf8).contains("not UTF-8"));
    for bad in ["/a\"b/pyra", "/a'b/pyra", "/a\\b/pyra"] {
        assert!(err(spec(bad, "/h", None)).starts_with("systemd cannot run an executable"), "{bad}");
    }
    assert!(spec("/opt/$x 100%/pyra", "/h'\"\\", None).check().is_ok());
    for bad in ["", "a b", "../x", "a.b", &"x".repeat(65)] {
        assert!(err(spec("/p", "/h", Some(bad))).starts_with("invalid profile name"), "{bad:?}");
    }
}

#[test]
fn the_unit_has_every_required_setting() {
    let unit = systemd_unit(&spec("/usr/local/bin/pyra", "/home/alice/.pyra", Some("work")));
    for line in [
        "[Unit]",
        "Description=Pyra assistant daemon (home /home/alice/.pyra, profile work)",
        "Documentation=man:pyra(1)",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=\"/usr/local/bin/pyra\" --home \"/home/alice/.pyra\" --profile work daemon start --foreground",
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=15",
        "KillMode=mixed",
        "[Install]",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line:?} in\n{unit}");
    }
    assert!(!unit.contains("Environment="), "{unit}");
}

#[test]
fn unit_words_are_quoted_for_systemd() {
    assert_eq!(systemd_quote_arg("/a b/100%/$HOME"), r#""/a b/100%%/$$HOME""#);
    assert_eq!(systemd_quote_arg(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
    assert_eq!(systemd_quote_arg("a\nb\tc\u{85}"), r#""a\x0ab\x09c\u0085""#);
    assert_eq!(systemd_quote_arg("l'été"), r#""l'été""#);
    // The executable's path is not variable-expanded by systemd: `$` stays single.
    assert_eq!(systemd_quote_exe("/opt/$x/100%/pyra"), r#""/opt/$x/100%%/pyra""#);
    let unit = systemd_unit(&spec("/p", "/h/50%\\", None));
    assert!(unit.contains("Description=Pyra assistant daemon (home /h/50%%\\)\n"), "{unit}");
    assert!(unit.contains(r#"--home "/h/50%%\\" daemon"#), "{unit}");
}

/// A real executable at a path full of characters systemd treats specially.
fn weird_exe(dir: &Path) -> PathBuf {
    let folder = dir.join(WEIRD_EXE);
    std::fs::create_dir_all(&folder).unwrap();
    let exe = folder.join("pyra 100%");
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &exe).unwrap();
    exe
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    if !have("systemd-analyze") {
        assert!(std::env::var_os("PYRA_REQUIRE_SYSTEMD_ANALYZE").is_none(), "systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let exe = weird_exe(dir.path());
    let home = dir.path().join(WEIRD).join("home");
    for profile in [None, Some("work")] {
        let spec = ServiceSpec { exe: exe.clone(), home: home.clone(), profile: profile.map(String::from) };
        spec.check().unwrap();
        let name = format!("pyra-verify-{}.service", profile.unwrap_or("default"));
        let file = dir.path().join(&name);
        std::fs::write(&file, systemd_unit(&spec)).unwrap();
        for user in [true, false] {
            let mut command = Command::new("systemd-analyze");
            if user {
                command.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
            }
            // `--man=no`: verify would look up `Documentation=man:pyra(1)`, a page that
            // is not installed where tests run.
            let output = command.args(["verify", "--man=no"]).arg(&file).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // Complaints about the machine (no D-Bus, other units) are fine; none may be
            // about this file. A badly quoted executable shows as "is not executable".
            assert!(output.status.success(), "user={user} {}\n{stderr}", output.status);
            assert!(!stderr.lines().any(|l| l.contains(&name)), "user={user}\n{stderr}");
        }
    }
    // The check would catch bad escaping: unquoted, or `%h` left to expand to the home.
    let unit = systemd_unit(&ServiceSpec { exe: exe.clone(), home, profile: None });
    let quoted = systemd_quote_exe(exe.to_str().unwrap());
    for broken in [unit.replace(&quoted, &quoted[1..quoted.len() - 1]), unit.replace("%%h", "%h")] {
        let file = dir.path().join("pyra-broken.service");
        std::fs::write(&file, broken).unwrap();
        let output = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains("pyra-broken.service: Command"), "{stderr}");
    }
}

#[test]
fn the_plist_reads_back_with_plistlib() {
    if !have("python3") {
        assert!(std::env::var_os("PYRA_REQUIRE_PYTHON").is_none(), "python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = ServiceSpec {
        exe: dir.path().join("a & b <c> é").join("pyra"),
        home: dir.path().join(WEIRD),
        profile: Some("work".into()),
    };
    spec.check().unwrap();
    let label = spec.launchd_label(&env_at(Path::new("/Users/alice")));
    let file = dir.path().join("agent.plist");
    std::fs::write(&file, launchd_plist(&spec, &label)).unwrap();
    let script = "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))";
    let output = Command::new("python3").args(["-c", script]).arg(&file).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plist: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let log = spec.home.join("profiles/work/logs/daemon.launchd.log").to_str().unwrap().to_string();
    assert_eq!(
        plist,
        serde_json::json!({
            "Label": label,
            "ProgramArguments": spec.argv(),
            "RunAtLoad": true,
            "KeepAlive": {"SuccessfulExit": false},
            "ExitTimeOut": 15,
            "ProcessType": "Background",
            "StandardOutPath": log,
            "StandardErrorPath": log,
        })
    );
    assert_eq!(plist["ProgramArguments"][0], lossy(&spec.exe));
    assert_eq!(plist["ProgramArguments"][2], lossy(&spec.home));
}

#[test]
fn xml_escaping() {
    assert_eq!(xml_escape(r#"a&b<c>"d"'e'"#), "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;");
    assert_eq!(xml_escape("tab\there\u{1}"), "tab\there\u{fffd}");
}

#[test]
fn unit_files_go_where_the_service_managers_look() {
    let spec = spec("/usr/bin/pyra", "/home/alice/.pyra", None);
    let mut env = env_at(Path::new("/home/alice"));
    assert_eq!(unit_path(&spec, Os::Linux, &env), Path::new("/home/alice/.config/systemd/user/pyra.service"));
    assert_eq!(unit_path(&spec, Os::MacOs, &env), Path::new("/home/alice/Library/LaunchAgents/dev.pyra.daemon.plist"));
    env.xdg_config_home = Some("/xdg".into());
    assert_eq!(unit_path(&spec, Os::Linux, &env), Path::new("/xdg/systemd/user/pyra.service"));
}

#[test]
fn lingering_is_read_from_systemds_linger_folder() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    assert_eq!(lingering_at(root, "alice"), None, "not booted with systemd");
    std::fs::create_dir_all(root.join("run/systemd/system")).unwrap();
    assert_eq!(lingering_at(root, "alice"), Some(false));
    std::fs::create_dir_all(root.join("var/lib/systemd/linger")).unwrap();
    std::fs::write(root.join("var/lib/systemd/linger/alice"), "").unwrap();
    assert_eq!(lingering_at(root, "alice"), Some(true));
    assert_eq!(lingering_at(root, "bob"), Some(false));
    for bad in ["", "..", "../linger/alice", ".hidden"] {
        assert_eq!(lingering_at(root, bad), None, "{bad:?}");
    }
    let warning = linger_warning("alice");
    assert!(warning.contains("stop at logout"), "{warning}");
    assert!(warning.ends_with("\n  loginctl enable-linger alice"), "{warning}");
}

#[test]
fn notify_sends_one_datagram_to_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let receiver = UnixDatagram::bind(&path).unwrap();
    notify_to(path.as_os_str(), &format!("{READY}\n{}", status("serving\n3 skills"))).unwrap();
    let mut buf = [0u8; 256];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving 3 skills");
    notify_to(path.as_os_str(), STOPPING).unwrap();
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
}

#[cfg(target_os = "linux")]
#[test]
fn notify_sends_to_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("pyra-notify-test-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let receiver = UnixDatagram::bind_addr(&address).unwrap();
    notify_to(OsStr::new(&format!("@{name}")), READY).unwrap();
    let mut buf = [0u8; 64];
    let n = receiver.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
}

#[test]
fn notify_without_a_socket_does_nothing() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        assert!(!notify(READY).unwrap());
    }
    let err = notify_to(OsStr::new("relative.sock"), READY).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

fn commands(plan: &Plan) -> Vec<String> {
    plan.steps.iter().filter(|s| matches!(s, Step::Run(_))).map(Step::to_string).collect()
}

#[test]
fn install_writes_the_unit_then_leaves_the_commands_and_a_reinstall_restarts() {
    let user = tempfile::tempdir().unwrap();
    let env = env_at(user.path());
    let mut spec = spec("/usr/bin/pyra", user.path().join(".pyra").to_str().unwrap(), None);
    let plan = install_plan(&spec, Os::Linux, &env).unwrap();
    assert!(!plan.file_exists);
    assert_eq!(plan.name, "pyra.service");
    assert_eq!(commands(&plan), ["systemctl --user daemon-reload", "systemctl --user enable --now pyra.service"]);
    let Step::Write { contents, mode, .. } = &plan.steps[0] else { panic!("{:?}", plan.steps) };
    assert_eq!((contents.as_str(), *mode), (systemd_unit(&spec).as_str(), 0o644));

    let report = apply(&plan, false).unwrap();
    assert_eq!(report.done, [Done::Ok(plan.steps[0].clone())]);
    assert_eq!(report.left, plan.steps[1..]);
    let meta = std::fs::metadata(&plan.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_to_string(&plan.path).unwrap(), systemd_unit(&spec));
    assert_eq!(std::fs::read_dir(plan.path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");

    let again = install_plan(&spec, Os::Linux, &env).unwrap();
    assert!(again.file_exists);
    assert_eq!(commands(&again), commands(&plan));
    spec.exe = "/opt/pyra/bin/pyra".into();
    let changed = install_plan(&spec, Os::Linux, &env).unwrap();
    assert_eq!(
        commands(&changed),
        [
            "systemctl --user daemon-reload",
            "systemctl --user enable pyra.service",
            "systemctl --user restart pyra.service"
        ]
    );
}

#[test]
fn uninstall_disables_before_removing_and_runs_nothing_unless_asked() {
    let user = tempfile::tempdir().unwrap();
    let env = env_at(user.path());
    let spec = spec("/usr/bin/pyra", "/srv/pyra", Some("work"));
    apply(&install_plan(&spec, Os::Linux, &env).unwrap(), false).unwrap();
    let plan = uninstall_plan(&spec, Os::Linux, &env).unwrap();
    assert!(plan.file_exists);
    let shown: Vec<String> = plan.steps.iter().map(Step::to_string).collect();
    let unit = "pyra-work-03194432.service";
    let path = user.path().join(".config/systemd/user").join(unit);
    assert_eq!(
        shown,
        [
            format!("systemctl --user disable --now {unit}"),
            format!("rm -f {}", shell_quote(path.to_str().unwrap())),
            "systemctl --user daemon-reload".to_string(),
        ]
    );
    let report = apply(&plan, false).unwrap();
    assert!(report.done.is_empty());
    assert_eq!(report.left, plan.steps);
    assert!(path.exists(), "not removed while the service may still run");
}

#[test]
fn launchd_plans_create_the_log_folder_and_bootstrap_the_agent() {
    let user = tempfile::tempdir().unwrap();
    let env = env_at(user.path());
    let spec = spec("/usr/local/bin/pyra", user.path().join("my home").to_str().unwrap(), None);
    let plan = install_plan(&spec, Os::MacOs, &env).unwrap();
    let label = plan.name.clone();
    let plist = user.path().join("Library/LaunchAgents").join(format!("{label}.plist"));
    assert_eq!(plan.path, plist);
    assert_eq!(plan.steps[0], Step::CreateDir { path: spec.home.join("logs") });
    assert_eq!(
        commands(&plan),
        [format!("launchctl enable gui/501/{label}"), format!("launchctl bootstrap gui/501 {}", plist.display())]
    );
    apply(&plan, false).unwrap();
    let logs = std::fs::metadata(spec.home.join("logs")).unwrap();
    assert_eq!(logs.permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_to_string(&plist).unwrap(), launchd_plist(&spec, &label));
    assert_eq!(
        commands(&install_plan(&spec, Os::MacOs, &env).unwrap())[0],
        format!("launchctl bootout gui/501/{label}")
    );
    let uninstall = uninstall_plan(&spec, Os::MacOs, &env).unwrap();
    assert_eq!(commands(&uninstall), [format!("launchctl bootout gui/501/{label}")]);
}

fn sh(must_succeed: bool, script: &str) -> Step {
    Step::Run(ServiceCommand { program: "sh".into(), args: vec!["-c".into(), script.into()], must_succeed })
}

#[test]
fn apply_runs_commands_tolerates_allowed_failures_and_stops_at_required_ones() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.service");
    let plan = Plan {
        os: Os::Linux,
        name: "pyra.service".into(),
        path: gone.clone(),
        file_exists: false,
        steps: vec![
            sh(false, "echo not loaded >&2; exit 5"),
            Step::Remove { path: gone.clone() },
            sh(true, "true"),
            sh(true, "echo broken >&2; exit 3"),
            sh(true, "true"),
        ],
    };
    let failed = apply(&plan, true).unwrap_err();
    assert_eq!(failed.to_string(), "`sh -c 'echo broken >&2; exit 3'` failed (exit status: 3): broken");
    let [Done::Failed { stderr, .. }, Done::AlreadyAbsent(path), Done::Ok(_)] = &failed.report.done[..] else {
        panic!("{:?}", failed.report.done)
    };
    assert_eq!((stderr.as_str(), path), ("not loaded", &gone));
    assert_eq!(failed.report.left, plan.steps[3..]);

    let missing = Plan { steps: vec![Step::Run(ServiceCommand::new(true, &["pyra-no-such-program"]))], ..plan };
    assert!(matches!(apply(&missing, true).unwrap_err().error, ServiceError::Spawn { .. }));
}

#[test]
fn steps_print_as_shell_commands() {
    assert_eq!(
        Step::Write { path: "/a b/pyra.service".into(), contents: String::new(), mode: 0o644 }.to_string(),
        "write '/a b/pyra.service' (mode 644)"
    );
    assert_eq!(Step::CreateDir { path: "/h/logs".into() }.to_string(), "mkdir -p -m 700 /h/logs");
    assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
    assert_eq!(shell_quote(""), "''");
}
