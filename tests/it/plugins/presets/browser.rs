//! The `playwright` preset with Debian's Chromium: `examples/browse-title.yaml` opens a
//! loopback page (navigating waits for its approval, then returns the title); script
//! evaluation is denied by the shipped policy before anything runs; every file the browser
//! writes lands under the plugin's 0700 folder, none in the working folder; no browser or
//! server process is left. One test, so the browser starts as few times as it can.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{Pages, add, policies, wait_for_no_process};
use crate::harness::{Pyra, repo_root};
use crate::plugins::peers;

const PAGE: &str = "<!doctype html><html><head><title>Pyra loopback page 7f3a</title></head>\
<body><h1>Opening hours</h1><p>Mondays closed.</p></body></html>";

/// The peers with Playwright's server, and a Chromium; `None` (saying why) to skip.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn browser_peers() -> Option<PathBuf> {
    let dir = peers()?;
    let required = std::env::var_os("PYRA_REQUIRE_MCP_PEERS").is_some_and(|v| v == "1");
    let server = dir.join("node_modules/.bin/playwright-mcp");
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().any(|p| std::path::Path::new(p).exists());
    if !server.exists() || !chromium {
        assert!(!required, "PYRA_REQUIRE_MCP_PEERS=1 but {} or /usr/bin/chromium is missing", server.display());
        eprintln!("skipped: {} or /usr/bin/chromium is missing (tests/peers/install-mcp-peers.sh)", server.display());
        return None;
    }
    Some(dir)
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_browser_preset_reads_a_title_denies_evaluation_and_keeps_its_files() {
    let Some(peers) = browser_peers() else { return };
    let pages = Pages::start(PAGE);
    let cwd = tempfile::tempdir().unwrap();
    let pyra = Pyra::new().in_dir(cwd.path());
    let plugin = pyra.home_path().join("plugins/browser");

    let added = add(&pyra, &peers, "browser", "playwright", &[]);
    added.success().stdout_has("browser.browser_navigate").stderr_has("approved 25 tool(s) of `browser`");
    let rows = policies(&pyra, "browser");
    let of = |tool: &str| rows.iter().find(|(t, _)| t == tool).map(|(_, d)| d.clone()).unwrap_or_default();
    assert_eq!(of("browser.browser_evaluate"), "deny");
    assert_eq!(of("browser.browser_run_code_unsafe"), "deny");
    assert_eq!(of("browser.browser_navigate"), "ask");
    assert_eq!(of("browser.browser_snapshot"), "allow");
    for dir in [&plugin, &plugin.join("artefacts"), &plugin.join("state")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }

    // The example: navigating waits for its approval, and nothing is fetched before.
    let example = repo_root().join("examples/browse-title.yaml");
    let example = example.to_string_lossy();
    let out = pyra.run(["run", &example, "-i", &format!("url={}", pages.url)]);
    out.code(3).stderr_has("`browser.browser_navigate` waits for an approval");
    assert!(pages.paths().is_empty(), "the page was opened before the approval: {:?}", pages.paths());
    let id = pyra.last_run();
    let sub = pyra.show(&id)["approvals"][0]["node"].as_str().unwrap().to_string();
    pyra.run(["approve", &id, &sub]).success();
    let run = pyra.show(&id);
    assert_eq!(run["outputs"]["title"], "Pyra loopback page 7f3a", "{run}");
    assert!(run["outputs"]["page"].as_str().unwrap().contains("Mondays closed."), "{run}");
    assert!(pages.paths().contains(&"/".to_string()), "{:?}", pages.paths());

    // Script evaluation is denied by the shipped policy: the skill never starts.
    let evaluate = pyra.skill(
        "evaluate",
        &format!(
            "name: evaluate\nnodes:\n  open:\n    uses: browser.browser_navigate\n    with: {{ url: '{}' }}\n  \
             run_script:\n    uses: browser.browser_evaluate\n    needs: open\n    with:\n      function: \"() => fetch('/evaluated')\"\n",
            pages.url
        ),
    );
    let before = pages.paths().len();
    pyra.run(["run", &evaluate]).code(1).stderr_has("denied by policy rule `browser_evaluate: deny`");
    assert_eq!(pages.paths().len(), before, "nothing ran: {:?}", pages.paths());
    assert!(!pages.paths().iter().any(|p| p.contains("evaluated")));

    // Its files: under the plugin's folder, none where Pyra ran.
    let artefacts: Vec<String> = std::fs::read_dir(plugin.join("artefacts"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(artefacts.iter().any(|f| f.starts_with("page-") || f.starts_with("console-")), "{artefacts:?}");
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "the working folder got {left:?}");
    for root in [pyra.home_path().to_path_buf(), repo_root()] {
        assert!(!root.join(".playwright-mcp").exists(), "{}", root.display());
    }
    assert!(plugin.join("state/.config").exists() || plugin.join("state/.cache").exists(), "Chromium's HOME is state/");

    // No server and no browser outlives the commands that started them.
    wait_for_no_process(&plugin.to_string_lossy());
}
