//! Profiles through the real binary: `pyra profile new|list|rm`, chosen with `--profile`
//! or `PYRA_PROFILE`; two profiles keep separate memories and run two daemons at once,
//! each status naming its profile; `rm` refuses the active profile, one whose daemon runs,
//! and (without a terminal) anything not confirmed with `--yes`.

use crate::harness::{Output, Pyra};

/// `pyra ARGS` in profile `name`, chosen through the environment.
fn as_profile(pyra: &Pyra, name: &str, args: &[&str]) -> Output {
    Output::from(pyra.command(args).env("PYRA_PROFILE", name).output().expect("pyra runs"))
}

fn daemon_started(pyra: &Pyra, name: &str) {
    let out = Output::from(
        pyra.command(["--profile", name, "daemon", "start"])
            .env("PYRA_VAULT_PASSPHRASE", "profiles test")
            .output()
            .expect("pyra runs"),
    );
    out.success();
}

#[test]
fn two_profiles_keep_their_memories_apart_and_run_two_daemons() {
    let pyra = Pyra::new();
    pyra.run(["profile", "new", "work"]).success().stdout_has("PYRA_PROFILE=work");
    pyra.run(["profile", "new", "personal"]).success();
    pyra.run(["profile", "new", "work"]).code(2).stderr_has("exists");
    pyra.run(["profile", "new", "../up"]).code(2).stderr_has("invalid profile name");

    as_profile(
        &pyra,
        "work",
        &["run", "remember", "-i", "text=The quarterly report is due Friday", "-i", "note=work/dates"],
    )
    .success();
    let work = as_profile(&pyra, "work", &["memory", "search", "quarterly", "--json"]);
    work.success();
    assert_eq!(work.json().as_array().map(Vec::len), Some(1), "{}", work.stdout);
    let personal = pyra.run(["--profile", "personal", "memory", "search", "quarterly", "--json"]);
    personal.success();
    assert_eq!(personal.json().as_array().map(Vec::len), Some(0), "{}", personal.stdout);
    let base = pyra.run(["memory", "search", "quarterly", "--json"]);
    assert_eq!(base.json().as_array().map(Vec::len), Some(0), "the base home has none either");

    daemon_started(&pyra, "work");
    daemon_started(&pyra, "personal");
    let status = as_profile(&pyra, "work", &["daemon", "status", "--json"]);
    status.success();
    assert_eq!(status.json()["profile"], "work");
    as_profile(&pyra, "personal", &["daemon", "status"]).success().stdout_has("profile  personal");
    let list = pyra.run(["profile", "list", "--json"]).json();
    let rows = list.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "personal", "work"]);
    assert!(rows[0]["active"] == true && rows[1]["daemon"] == true && rows[2]["daemon"] == true, "{list}");
    as_profile(&pyra, "work", &["profile", "list"]).success().stdout_has("* work");

    // rm: never the active one, never with its daemon running, only when confirmed.
    as_profile(&pyra, "work", &["profile", "rm", "work", "--yes"]).code(2).stderr_has("active profile");
    pyra.run(["profile", "rm", "work", "--yes"]).code(2).stderr_has("daemon stop");
    pyra.run(["--profile", "work", "daemon", "stop"]).success();
    pyra.run(["profile", "rm", "work"]).code(2).stderr_has("--yes");
    pyra.run(["profile", "rm", "work", "--yes"]).success();
    assert!(!pyra.home_path().join("profiles/work").exists());
    pyra.run(["profile", "rm", "default", "--yes"]).code(2);
    pyra.run(["--profile", "personal", "daemon", "stop"]).success();
}
