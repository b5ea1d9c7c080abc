//! Presets: known MCP servers that `pyra plugin add NAME --preset ID` installs and sets up —
//! the package and its pinned version, the program it installs, the settings it takes, how
//! they become the server's arguments and environment, and the policy shipped with it.
//!
//! Pure data and argument building: finding a browser, checking folders and installing
//! from the registries are the CLI's (`cli/src/plugin_cmd/presets.rs`). The pins are the
//! ones the tests run against (`tests/peers/`), so what a user installs is what was tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::fields::{Field, Kind};
use indexmap::IndexMap;

use crate::manifest::Decision;
use crate::manifest::Decision::{Allow, Deny};

/// The npm lock the tests' peers are installed from; an install writes it beside its own
/// `package.json`, so npm keeps every dependency it needs at the tested version (and drops
/// the rest).
pub const NPM_LOCK: &str = include_str!("../../../tests/peers/package-lock.json");

/// The PyPI peers and everything they pull in, pinned (a `pip freeze`): the constraints of
/// a PyPI install.
pub const PIP_CONSTRAINTS: &str = include_str!("../../../tests/peers/requirements.txt");

/// Where a preset's server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// `npm install` into the plugin's `server/`.
    Npm,
    /// `pip install` into a venv, the plugin's `venv/`.
    PyPi,
}

impl Registry {
    pub fn name(self) -> &'static str {
        match self {
            Registry::Npm => "npm",
            Registry::PyPi => "PyPI",
        }
    }

    /// Where an install keeps the program, relative to the folder it installed into
    /// (the layout of `tests/peers/install-mcp-peers.sh` too).
    pub fn bin_dir(self) -> &'static str {
        match self {
            Registry::Npm => "node_modules/.bin",
            Registry::PyPi => "venv/bin",
        }
    }
}

/// A known MCP server.
#[derive(Debug)]
pub struct Preset {
    /// `--preset ID`.
    pub id: &'static str,
    pub description: &'static str,
    pub registry: Registry,
    pub package: &'static str,
    pub version: &'static str,
    /// The program the package installs.
    pub bin: &'static str,
    /// The settings it takes (`--setting KEY=VALUE`); they become arguments.
    pub fields: &'static [Field],
    /// Settings that name folders: each must exist, and lie outside Pyra's home.
    pub folders: &'static [&'static str],
    /// The shipped policy over a default of `ask`: read-only tools allowed, what must
    /// never run denied.
    pub policy: &'static [(&'static str, Decision)],
    /// What to know, written into the manifest as comments.
    pub notes: &'static [&'static str],
}

impl Preset {
    /// What the registry's client is asked for: `@playwright/mcp@0.0.83`,
    /// `mcp-server-time==2026.10.19`.
    pub fn requirement(&self) -> String {
        match self.registry {
            Registry::Npm => format!("{}@{}", self.package, self.version),
            Registry::PyPi => format!("{}=={}", self.package, self.version),
        }
    }

    /// The program, relative to the plugin's folder, after an install.
    pub fn installed_program(&self) -> String {
        match self.registry {
            Registry::Npm => format!("server/{}/{}", self.registry.bin_dir(), self.bin),
            Registry::PyPi => format!("{}/{}", self.registry.bin_dir(), self.bin),
        }
    }
}

const SANDBOX: &[&str] = &["auto", "on", "off"];

static PRESETS: &[Preset] = &[
    Preset {
        id: "playwright",
        description: "a headless browser: Playwright's MCP server driving the system Chromium",
        registry: Registry::Npm,
        package: "@playwright/mcp",
        version: "0.0.83",
        bin: "playwright-mcp",
        fields: &[
            Field::new(
                "chromium",
                "Chromium",
                Kind::Text,
                "the browser's program (default: chromium, chromium-browser or google-chrome found on PATH)",
            ),
            Field::new(
                "sandbox",
                "Sandbox",
                Kind::Choice(SANDBOX),
                "Chromium's sandbox: auto is off when Pyra runs as root (Chromium refuses it there), on otherwise",
            )
            .default("auto"),
        ],
        folders: &[],
        policy: &[
            // Arbitrary script: in the page, and in the server process (RCE-equivalent).
            ("browser_evaluate", Deny),
            ("browser_run_code_unsafe", Deny),
            // Local files handed to a web page.
            ("browser_file_upload", Deny),
            ("browser_drop", Deny),
            ("browser_snapshot", Allow),
            ("browser_take_screenshot", Allow),
            ("browser_find", Allow),
            ("browser_console_messages", Allow),
            ("browser_network_requests", Allow),
            ("browser_network_request", Allow),
            ("browser_wait_for", Allow),
        ],
        notes: &[
            "The browser runs headless and isolated (no profile kept), with WebMCP tools of pages off.",
            "Snapshots, screenshots and console logs go to artefacts/ (its working folder); the browser's",
            "caches and temporary files to state/ (its HOME and TMPDIR): nothing is written outside this folder.",
            "Denied: browser_evaluate and browser_run_code_unsafe (arbitrary script), browser_file_upload and",
            "browser_drop (local files to a page). Navigating, clicking and typing ask; reading the page is allowed.",
        ],
    },
    Preset {
        id: "fetch",
        description: "web pages as markdown: the reference fetch server",
        registry: Registry::PyPi,
        package: "mcp-server-fetch",
        version: "2026.10.24",
        bin: "mcp-server-fetch",
        fields: &[
            Field::new(
                "allow_private_ips",
                "Private addresses",
                Kind::Bool,
                "also fetch loopback, private and link-local addresses (your LAN); `fetch` then asks",
            )
            .default("false"),
            Field::new("user_agent", "User-Agent", Kind::Text, "the User-Agent header it sends"),
        ],
        folders: &[],
        policy: &[("fetch", Allow)],
        notes: &[
            "`fetch` reads any public web page without asking; what it returns is untrusted.",
            "Loopback, private and link-local addresses are refused unless allow_private_ips is true.",
        ],
    },
    Preset {
        id: "git",
        description: "a git repository: status, diffs, log; staging and commits ask",
        registry: Registry::PyPi,
        package: "mcp-server-git",
        version: "2026.10.19",
        bin: "mcp-server-git",
        fields: &[Field::new("repository", "Repository", Kind::Text, "the repository's folder").required()],
        folders: &["repository"],
        policy: &[
            ("git_status", Allow),
            ("git_diff_unstaged", Allow),
            ("git_diff_staged", Allow),
            ("git_diff", Allow),
            ("git_log", Allow),
            ("git_show", Allow),
            ("git_branch", Allow),
        ],
        notes: &["Reading is allowed; git_add, git_commit, git_reset, git_create_branch and git_checkout ask."],
    },
    Preset {
        id: "filesystem",
        description: "files in the folders you name: reading allowed, writing asks",
        registry: Registry::Npm,
        package: "@modelcontextprotocol/server-filesystem",
        version: "2026.8.31",
        bin: "mcp-server-filesystem",
        fields: &[Field::new(
            "dirs",
            "Folders",
            Kind::List,
            "the folders it may use, comma-separated (outside Pyra's home)",
        )
        .required()],
        folders: &["dirs"],
        policy: &[
            ("read_file", Allow),
            ("read_text_file", Allow),
            ("read_media_file", Allow),
            ("read_multiple_files", Allow),
            ("list_directory", Allow),
            ("list_directory_with_sizes", Allow),
            ("directory_tree", Allow),
            ("search_files", Allow),
            ("get_file_info", Allow),
            ("list_allowed_directories", Allow),
        ],
        notes: &[
            "The server refuses any path outside the folders in its arguments; Pyra's home is never one of them.",
            "Reading is allowed; write_file, edit_file, move_file and create_directory ask.",
        ],
    },
    Preset {
        id: "time",
        description: "the current time and time zone conversions",
        registry: Registry::PyPi,
        package: "mcp-server-time",
        version: "2026.10.19",
        bin: "mcp-server-time",
        fields: &[Field::new(
            "timezone",
            "Time zone",
            Kind::Text,
            "the local time zone, an IANA name like Europe/Berlin (default: the system's)",
        )],
        folders: &[],
        policy: &[("get_current_time", Allow), ("convert_time", Allow)],
        notes: &["Both tools only read the clock."],
    },
    Preset {
        id: "memory",
        description: "a knowledge graph of entities and relations, kept in the plugin's folder",
        registry: Registry::Npm,
        package: "@modelcontextprotocol/server-memory",
        version: "2026.8.31",
        bin: "mcp-server-memory",
        fields: &[],
        folders: &[],
        policy: &[("read_graph", Allow), ("search_nodes", Allow), ("open_nodes", Allow)],
        notes: &["The graph is memory.jsonl in this folder.", "Reading is allowed; creating, adding and deleting ask."],
    },
];

/// Every preset.
pub fn all() -> &'static [Preset] {
    PRESETS
}

pub fn find(id: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.id == id)
}

pub fn ids() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.id).collect()
}

/// The message for an unknown preset: the closest one, and the list.
pub fn unknown(id: &str) -> String {
    let mean = syntax::suggest::help(id, ids()).map(|h| format!(" — {h}")).unwrap_or_default();
    format!("there is no preset `{id}`{mean} (presets: {})", ids().join(", "))
}

/// The settings in effect: the given ones checked against the preset's fields, then the
/// defaults. An unknown key, a value of the wrong kind or a missing required one is an
/// error naming the fix.
pub fn settings(preset: &Preset, given: &IndexMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let keys: Vec<&str> = preset.fields.iter().map(|f| f.key).collect();
    for key in given.keys() {
        if !keys.contains(&key.as_str()) {
            let mean = syntax::suggest::help(key, keys.iter().copied()).map(|h| format!(" — {h}")).unwrap_or_default();
            let known = if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
            return Err(format!("preset `{}` has no setting `{key}`{mean} (its settings: {known})", preset.id));
        }
    }
    let mut out = BTreeMap::new();
    for f in preset.fields {
        match given.get(f.key).map(String::as_str).filter(|v| !v.trim().is_empty()).or(f.default) {
            Some(v) => {
                crate::builtin::check_value(f, v)
                    .map_err(|why| format!("`--setting {}={}` {why}", f.key, crate::builtin::shown(v)))?;
                out.insert(f.key.to_string(), v.to_string());
            }
            None if f.required => {
                return Err(format!("preset `{}` needs `--setting {}=…`: {}", preset.id, f.key, f.description));
            }
            None => {}
        }
    }
    Ok(out)
}

/// The values of a folder setting (a list is comma-separated).
pub fn folder_values(value: &str) -> Vec<&str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect()
}

/// What the caller found out about this machine, and where the server is.
pub struct Inputs<'a> {
    /// The plugin's folder, absolute.
    pub dir: &'a Path,
    /// The server's program: relative to the plugin's folder (installed there) or absolute.
    pub program: String,
    /// The settings in effect ([`settings`]), folder settings made absolute and checked.
    pub settings: &'a BTreeMap<String, String>,
    /// The browser, for `playwright`.
    pub chromium: Option<PathBuf>,
    /// Whether Pyra runs as root (Chromium's sandbox does not start as root).
    pub root: bool,
}

/// How the preset's server starts: what the manifest says.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub command: String,
    pub args: Vec<String>,
    /// The working folder, relative to the plugin's folder (`None`: the default `work/`).
    pub cwd: Option<String>,
    pub env: IndexMap<String, String>,
    /// Folders under the plugin's folder to create (0700) before it starts.
    pub dirs: Vec<&'static str>,
    /// The policy rules of the manifest.
    pub policy: Vec<(String, Decision)>,
}

/// The arguments, environment and policy of `preset` with these settings.
pub fn launch(preset: &Preset, inputs: &Inputs<'_>) -> Result<Launch, String> {
    let s = |k: &str| inputs.settings.get(k).map(String::as_str);
    let under = |rel: &str| inputs.dir.join(rel).to_string_lossy().into_owned();
    let mut out = Launch {
        command: inputs.program.clone(),
        args: Vec::new(),
        cwd: None,
        env: IndexMap::new(),
        dirs: Vec::new(),
        policy: preset.policy.iter().map(|(t, d)| (t.to_string(), *d)).collect(),
    };
    match preset.id {
        "playwright" => {
            let chromium = inputs.chromium.as_ref().ok_or_else(|| {
                "no Chromium found (chromium, chromium-browser or google-chrome on PATH): install it \
                 (`apt install chromium`), or give its program with `--setting chromium=PATH`"
                    .to_string()
            })?;
            out.args = vec![
                "--headless".into(),
                "--isolated".into(),
                "--no-webmcp".into(),
                "--executable-path".into(),
                chromium.to_string_lossy().into_owned(),
            ];
            let sandbox_off = match s("sandbox").unwrap_or("auto") {
                "off" => true,
                "on" => false,
                _ => inputs.root,
            };
            if sandbox_off {
                out.args.push("--no-sandbox".into());
            }
            out.args.extend(["--output-dir".into(), under("artefacts")]);
            // Its working folder is its workspace root: files it is asked to name land there.
            out.cwd = Some("artefacts".into());
            out.env.insert("HOME".into(), under("state"));
            out.env.insert("TMPDIR".into(), under("state/tmp"));
            out.dirs = vec!["artefacts", "state", "state/tmp"];
        }
        "fetch" => {
            if s("allow_private_ips") == Some("true") {
                out.args.push("--allow-private-ips".into());
                // It can reach the LAN and loopback services now: each fetch asks.
                for (tool, d) in &mut out.policy {
                    if tool == "fetch" {
                        *d = Decision::Ask;
                    }
                }
            }
            if let Some(ua) = s("user_agent") {
                out.args.extend(["--user-agent".into(), ua.to_string()]);
            }
        }
        "git" => {
            let repo = s("repository").ok_or("preset `git` needs `--setting repository=PATH`")?;
            out.args = vec!["--repository".into(), repo.to_string()];
        }
        "filesystem" => {
            out.args = folder_values(s("dirs").unwrap_or_default()).into_iter().map(String::from).collect();
            if out.args.is_empty() {
                return Err("preset `filesystem` needs `--setting dirs=PATH[,PATH…]`".into());
            }
        }
        "time" => {
            if let Some(tz) = s("timezone") {
                out.args = vec!["--local-timezone".into(), tz.to_string()];
            }
        }
        "memory" => {
            out.env.insert("MEMORY_FILE_PATH".into(), under("memory.jsonl"));
        }
        other => return Err(unknown(other)),
    }
    Ok(out)
}

/// Whether `inner` is `outer` or lies under it (both absolute, symlinks resolved).
pub fn within(inner: &Path, outer: &Path) -> bool {
    inner.starts_with(outer)
}

/// Why a folder may not be given to a server: it is Pyra's home, lies in it, or holds it
/// (the vault, the config and the plugins' approvals are there). Both paths absolute,
/// symlinks resolved.
pub fn folder_problem(folder: &Path, home: &Path) -> Option<String> {
    if within(folder, home) {
        Some(format!("{} is inside Pyra's home ({})", folder.display(), home.display()))
    } else if within(home, folder) {
        Some(format!("{} holds Pyra's home ({})", folder.display(), home.display()))
    } else {
        None
    }
}

/// The comment block written at the end of a preset's manifest.
pub fn notes_comment(preset: &Preset, name: &str, installed: Option<&str>) -> String {
    let mut text = format!(
        "\n# Preset `{}` (`pyra plugin add {name} --preset {}`): {} {} from {}",
        preset.id,
        preset.id,
        preset.package,
        preset.version,
        preset.registry.name()
    );
    match installed {
        Some(folder) => text.push_str(&format!(", installed in {folder}/.\n")),
        None => text.push_str(", already installed where `command` points.\n"),
    }
    for line in preset.notes {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str(&format!(
        "# Change `args` or `policy` here; `pyra plugin review {name}` approves a changed launch command.\n",
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(dir: &'a Path, settings: &'a BTreeMap<String, String>) -> Inputs<'a> {
        Inputs {
            dir,
            program: "server/node_modules/.bin/x".into(),
            settings,
            chromium: Some(PathBuf::from("/usr/bin/chromium")),
            root: true,
        }
    }

    fn given(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_pin_is_the_tested_one() {
        let lock: serde_json::Value = serde_json::from_str(NPM_LOCK).unwrap();
        for p in all() {
            match p.registry {
                Registry::Npm => {
                    let pinned = &lock["packages"][format!("node_modules/{}", p.package)]["version"];
                    assert_eq!(pinned, p.version, "{}: tests/peers/package-lock.json has {pinned}", p.id);
                }
                Registry::PyPi => {
                    let line = format!("{}=={}", p.package, p.version);
                    assert!(
                        PIP_CONSTRAINTS.lines().any(|l| l.trim() == line),
                        "{}: {line} is not in requirements.txt",
                        p.id
                    );
                }
            }
            assert!(p.requirement().contains(p.version));
        }
    }

    #[test]
    fn every_policy_rule_is_a_plain_tool_name_and_nothing_is_allowed_and_denied() {
        for p in all() {
            for (tool, _) in p.policy {
                assert!(crate::policy::compile_glob(tool).is_ok() && !tool.contains('*'), "{}: {tool}", p.id);
                assert_eq!(p.policy.iter().filter(|(t, _)| t == tool).count(), 1, "{}: {tool} twice", p.id);
            }
        }
    }

    #[test]
    fn playwright_denies_script_evaluation_and_keeps_its_files_in_the_plugin_folder() {
        let p = find("playwright").unwrap();
        let dir = Path::new("/home/u/.pyra/plugins/browser");
        let settings = settings(p, &IndexMap::new()).unwrap();
        assert_eq!(settings["sandbox"], "auto");
        let l = launch(p, &inputs(dir, &settings)).unwrap();
        for denied in ["browser_evaluate", "browser_run_code_unsafe", "browser_file_upload"] {
            assert!(l.policy.contains(&(denied.to_string(), Decision::Deny)), "{denied}");
        }
        assert!(!l.policy.iter().any(|(t, _)| t == "browser_navigate"), "navigating asks (the default)");
        let args = l.args.join(" ");
        assert!(
            args.contains("--headless --isolated --no-webmcp --executable-path /usr/bin/chromium --no-sandbox"),
            "{args}"
        );
        assert!(args.ends_with("--output-dir /home/u/.pyra/plugins/browser/artefacts"), "{args}");
        assert_eq!(l.cwd.as_deref(), Some("artefacts"));
        assert_eq!(l.env["HOME"], "/home/u/.pyra/plugins/browser/state");
        assert_eq!(l.env["TMPDIR"], "/home/u/.pyra/plugins/browser/state/tmp");
        // Not root: the sandbox stays on unless turned off.
        let l = launch(p, &Inputs { root: false, ..inputs(dir, &settings) }).unwrap();
        assert!(!l.args.contains(&"--no-sandbox".to_string()));
        let off = super::settings(p, &given(&[("sandbox", "off")])).unwrap();
        let l = launch(p, &Inputs { root: false, ..inputs(dir, &off) }).unwrap();
        assert!(l.args.contains(&"--no-sandbox".to_string()));
        let none = launch(p, &Inputs { chromium: None, ..inputs(dir, &settings) }).unwrap_err();
        assert!(none.contains("--setting chromium=PATH"), "{none}");
    }

    #[test]
    fn settings_are_checked_and_suggested() {
        let git = find("git").unwrap();
        let e = settings(git, &IndexMap::new()).unwrap_err();
        assert!(e.contains("needs `--setting repository=…`"), "{e}");
        let e = settings(git, &given(&[("repositry", "/x")])).unwrap_err();
        assert!(e.contains("has no setting `repositry` — did you mean `repository`?"), "{e}");
        let fetch = find("fetch").unwrap();
        let e = settings(fetch, &given(&[("allow_private_ips", "yes")])).unwrap_err();
        assert!(e.contains("is not `true` or `false`"), "{e}");
        let on = settings(fetch, &given(&[("allow_private_ips", "true")])).unwrap();
        let l = launch(fetch, &inputs(Path::new("/p"), &on)).unwrap();
        assert_eq!(l.args, ["--allow-private-ips"]);
        assert_eq!(l.policy, [("fetch".to_string(), Decision::Ask)], "the LAN in reach: each fetch asks");
        let e = settings(find("memory").unwrap(), &given(&[("file", "x")])).unwrap_err();
        assert!(e.contains("(its settings: none)"), "{e}");
    }

    #[test]
    fn arguments_of_the_other_presets() {
        let dir = Path::new("/p");
        let fs = find("filesystem").unwrap();
        let s = settings(fs, &given(&[("dirs", "/a, /b")])).unwrap();
        assert_eq!(launch(fs, &inputs(dir, &s)).unwrap().args, ["/a", "/b"]);
        let time = find("time").unwrap();
        let s = settings(time, &given(&[("timezone", "Europe/Berlin")])).unwrap();
        assert_eq!(launch(time, &inputs(dir, &s)).unwrap().args, ["--local-timezone", "Europe/Berlin"]);
        let memory = find("memory").unwrap();
        let l = launch(memory, &inputs(dir, &BTreeMap::new())).unwrap();
        assert_eq!(l.env["MEMORY_FILE_PATH"], "/p/memory.jsonl");
    }

    #[test]
    fn an_unknown_preset_suggests_the_closest() {
        assert!(unknown("playwrite").contains("did you mean `playwright`?"));
        assert!(unknown("zzz").contains("presets: playwright, fetch, git, filesystem, time, memory"));
    }

    #[test]
    fn a_folder_in_or_around_the_home_is_refused() {
        let home = Path::new("/home/u/.pyra");
        assert!(folder_problem(Path::new("/home/u/.pyra/vault"), home).is_some());
        assert!(folder_problem(Path::new("/home/u"), home).is_some());
        assert!(folder_problem(Path::new("/"), home).is_some());
        assert!(folder_problem(Path::new("/home/u/.pyra-notes"), home).is_none());
        assert!(folder_problem(Path::new("/home/u/src"), home).is_none());
    }
}
