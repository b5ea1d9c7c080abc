//! Plugins in the daemon: a plugin added and approved while it runs is usable without a
//! restart; its server is reused across runs, stopped when idle, restarted by `pyra
//! plugin restart`, listed in `status`, and gone when the daemon stops.

use super::{add_fixture, alive, manifest_append, read_pid};
use crate::daemon::{Home, wait_for};

#[test]
fn the_daemon_reuses_stops_idle_and_never_orphans_plugin_servers() {
    let home = Home::new();
    let daemon = home.start_at("2026-12-07T10:00:00Z");
    let (starts, pidfile) = (home.out("starts"), home.out("pid"));
    add_fixture(
        &home.pyra,
        "fx",
        &["--count-starts", &starts.to_string_lossy(), "--pidfile", &pidfile.to_string_lossy()],
    )
    .success();
    manifest_append(&home.pyra, "fx", "timeouts:\n  idle_shutdown: 2s\npolicy:\n  default: allow\n");
    std::fs::remove_file(&starts).unwrap();
    home.install(
        "tooled",
        "name: tooled\ntriggers:\n  - event: tool.go\nnodes:\n  a:\n    uses: fx.echo\n    with: { text: one }\n  b:\n    uses: fx.echo\n    needs: a\n    with: { text: two }\n",
    );
    // The skill and the plugin were added after the start: the rescan arms them.
    wait_for("the skill armed", || {
        let s = daemon.status();
        if s["skills"].as_array().is_some_and(|a| a.iter().any(|k| k == "tooled")) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    home.pyra.run(["emit", "tool.go"]).success();
    wait_for("the first run", || {
        let runs = home.runs("tooled");
        if runs.iter().any(|r| r["status"] == "succeeded") { Ok(()) } else { Err(format!("{runs:?}\n{}", home.log())) }
    });
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 1, "one start for the run's two calls");
    let server = read_pid(&pidfile);
    // Idle for longer than `idle_shutdown`: stopped.
    // The process ends first, the log line once the daemon has reaped it.
    wait_for("the idle server stopped", || {
        if alive(server) || !home.log().contains("plugin fx: stopped its idle server") {
            Err(home.log())
        } else {
            Ok(())
        }
    });
    // The next run starts it again.
    home.pyra.run(["emit", "tool.go"]).success();
    wait_for("the second run", || {
        let ok = home.runs("tooled").iter().filter(|r| r["status"] == "succeeded").count() == 2;
        if ok { Ok(()) } else { Err(home.log()) }
    });
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 2);
    let status = daemon.status();
    let listed = status["plugins"].as_array().cloned().unwrap_or_default();
    let restart = home.pyra.run(["plugin", "restart", "fx"]);
    restart.success();
    if listed.iter().any(|p| p["name"] == "fx") {
        assert!(restart.stderr.contains("stopped `fx` in the daemon"), "{restart:?}");
    }
    let last = read_pid(&pidfile);
    daemon.stop();
    wait_for("no server left", || if alive(last) { Err("still there".into()) } else { Ok(()) });
}
