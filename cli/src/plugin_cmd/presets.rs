//! `pyra plugin add NAME --preset ID`: checks the preset's settings (folders exist and lie
//! outside Pyra's home; the browser is found), installs the server into the plugin's own
//! folder from its registry at the tested pin (npm into `server/`, pip into a `venv/`) or
//! takes the copy under `--preset-from DIR`, writes the manifest with the preset's
//! arguments, environment, policy and notes, then starts and reviews it like any `add`.
//! The data and the argument building are `mcp::presets`'.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mcp::manifest::SecretRef;
use mcp::presets::{self, Preset, Registry};

use super::{AddArgs, INSTALL_STARTUP, blank, pairs, review_with, write_manifest};
use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::plugin_host;
use term::output;

/// Where tests point `--preset-from` without the flag.
const FROM_ENV: &str = "PYRA_PRESET_FROM";

pub(super) fn add(home: &Home, args: AddArgs, id: &str) -> Result<u8, Failure> {
    let preset = presets::find(id).ok_or_else(|| Failure::usage(presets::unknown(id)))?;
    if !args.command.is_empty() {
        return Err(Failure::usage("give `--preset ID` or `-- COMMAND ARGS…`, not both"));
    }
    if !args.headers.is_empty() {
        return Err(Failure::usage("`--header` is for `--url` servers; a preset's server runs on stdio"));
    }
    let name = args.name.clone();
    let mut settings = presets::settings(preset, &pairs(&args.settings, "settings")?).map_err(Failure::usage)?;
    for key in preset.folders {
        if let Some(value) = settings.get(*key).cloned() {
            settings.insert(key.to_string(), folders(home, key, &value)?);
        }
    }
    let chromium = match preset.id {
        "playwright" => Some(chromium(settings.get("chromium").map(String::as_str))?),
        _ => None,
    };
    let host = plugin_host::host(home);
    let dir = host.dir(&name);
    if dir.join("plugin.yaml").exists() {
        return Err(Failure::failed(format!(
            "plugin `{name}` exists already ({}); `pyra plugin rm {name}` first, or edit its plugin.yaml",
            dir.display()
        )));
    }
    let from = args.preset_from.clone().or_else(|| std::env::var_os(FROM_ENV).map(PathBuf::from));
    let (program, installed) = match from {
        Some(root) => (installed_elsewhere(preset, &root)?, None),
        None => {
            let created = !dir.exists();
            home.ensure_dir(&dir).map_err(|e| Failure::failed(e.to_string()))?;
            match install(home, preset, &name, &dir) {
                Ok(folder) => (preset.installed_program(), Some(folder)),
                Err(f) => {
                    if created {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    return Err(f);
                }
            }
        }
    };
    let root = rustix::process::geteuid().is_root();
    let inputs = presets::Inputs { dir: &dir, program, settings: &settings, chromium, root };
    let launch = presets::launch(preset, &inputs).map_err(Failure::usage)?;
    for sub in &launch.dirs {
        home.ensure_dir(&dir.join(sub)).map_err(|e| Failure::failed(e.to_string()))?;
    }
    let mut m = blank(&name);
    m.description =
        Some(format!("{} (preset `{}`: {} {})", preset.description, preset.id, preset.package, preset.version));
    m.command = Some(launch.command);
    m.args = launch.args;
    m.cwd = launch.cwd;
    m.env = launch.env;
    m.env.extend(pairs(&args.env, "environment variables")?);
    m.secrets = pairs(&args.secrets, "secrets")?.into_iter().map(|(k, v)| (k, SecretRef::Key(v))).collect();
    m.policy.tools = launch.policy.into_iter().collect();
    write_manifest(home, &m)?;
    let path = dir.join("plugin.yaml");
    let mut text = std::fs::read_to_string(&path).map_err(|e| Failure::failed(e.to_string()))?;
    text.push_str(&presets::notes_comment(preset, &name, installed));
    crate::home::write_private(&path, text.as_bytes()).map_err(|e| Failure::failed(e.to_string()))?;
    output::err(&format!(
        "wrote plugins/{name}/plugin.yaml: preset `{}`, {} {}\n{}",
        preset.id,
        preset.package,
        preset.version,
        preset.notes.iter().map(|l| format!("  {l}\n")).collect::<String>()
    ));
    if args.no_start {
        output::err(&format!("`pyra plugin review {name}` starts it, lists its tools and asks you to approve them\n"));
        return Ok(exit::OK);
    }
    review_with(home, &name, args.yes, Some(INSTALL_STARTUP))
}

/// A folder setting's values made absolute with symlinks resolved, each an existing
/// folder outside Pyra's home.
fn folders(home: &Home, key: &str, value: &str) -> Result<String, Failure> {
    let home_real = std::fs::canonicalize(&home.root).unwrap_or_else(|_| home.root.clone());
    let mut out = Vec::new();
    for v in presets::folder_values(value) {
        let real =
            std::fs::canonicalize(v).map_err(|e| Failure::usage(format!("`--setting {key}={value}`: {v}: {e}")))?;
        if !real.is_dir() {
            return Err(Failure::usage(format!("`--setting {key}={value}`: {v} is not a folder")));
        }
        if let Some(why) = presets::folder_problem(&real, &home_real) {
            return Err(Failure::usage(format!(
                "`--setting {key}={value}`: {why}; a server never gets Pyra's home (the vault, the config and \
                 the plugins' approvals are there): name a folder outside it"
            )));
        }
        let text = real.to_str().ok_or_else(|| Failure::usage(format!("{} is not UTF-8", real.display())))?;
        if text.contains(',') {
            return Err(Failure::usage(format!("{text}: a folder with `,` in its path cannot be listed")));
        }
        out.push(text.to_string());
    }
    Ok(out.join(","))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| is_executable(p))
}

/// The browser: `--setting chromium=…` (a path, or a name on PATH), else the first of
/// the usual names on PATH.
fn chromium(given: Option<&str>) -> Result<PathBuf, Failure> {
    if let Some(g) = given {
        let found = if g.contains('/') { is_executable(Path::new(g)).then(|| PathBuf::from(g)) } else { on_path(g) };
        return found.ok_or_else(|| {
            Failure::usage(format!("`--setting chromium={g}`: no such program (give the browser's path)"))
        });
    }
    ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"]
        .iter()
        .find_map(|n| on_path(n))
        .ok_or_else(|| {
            Failure::usage(
                "no Chromium found (chromium, chromium-browser or google-chrome on PATH): install it \
                 (`apt install chromium`), or give its program with `--setting chromium=PATH`",
            )
        })
}

/// The version of the preset's package installed under `root` (which holds
/// `node_modules/` or `venv/`).
fn installed_version(preset: &Preset, root: &Path) -> Option<String> {
    match preset.registry {
        Registry::Npm => {
            let text =
                std::fs::read_to_string(root.join("node_modules").join(preset.package).join("package.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["version"].as_str().map(String::from)
        }
        Registry::PyPi => {
            let prefix = format!("{}-", preset.package.replace('-', "_"));
            for python in std::fs::read_dir(root.join("venv/lib")).ok()?.flatten() {
                for entry in std::fs::read_dir(python.path().join("site-packages")).into_iter().flatten().flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if let Some(v) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".dist-info")) {
                        return Some(v.to_string());
                    }
                }
            }
            None
        }
    }
}

/// `--preset-from DIR`: the program already installed there (absolute); a version other
/// than the tested pin is said, not refused.
fn installed_elsewhere(preset: &Preset, root: &Path) -> Result<String, Failure> {
    let program = root.join(preset.registry.bin_dir()).join(preset.bin);
    if !is_executable(&program) {
        return Err(Failure::usage(format!(
            "`--preset-from {}`: no {} there ({} installs {} into DIR/{})",
            root.display(),
            program.display(),
            preset.registry.name(),
            preset.requirement(),
            preset.registry.bin_dir()
        )));
    }
    match installed_version(preset, root) {
        Some(v) if v == preset.version => {}
        other => output::err(&format!(
            "note: {} there is {}, the preset is tested with {}\n",
            preset.package,
            other.as_deref().unwrap_or("of an unknown version"),
            preset.version
        )),
    }
    let absolute = std::path::absolute(&program).map_err(|e| Failure::failed(e.to_string()))?;
    Ok(absolute.to_string_lossy().into_owned())
}

/// Installs the server into the plugin's folder (`server/` for npm, `venv/` for PyPI) at
/// its pin; returns that folder's name. An install already there at the pin is kept.
fn install(home: &Home, preset: &Preset, name: &str, dir: &Path) -> Result<&'static str, Failure> {
    let (folder, root) = match preset.registry {
        Registry::Npm => ("server", dir.join("server")),
        Registry::PyPi => ("venv", dir.to_path_buf()),
    };
    if installed_version(preset, &root).as_deref() == Some(preset.version)
        && is_executable(&dir.join(preset.installed_program()))
    {
        output::err(&format!("{} is installed in plugins/{name}/{folder}/ already\n", preset.requirement()));
        return Ok(folder);
    }
    output::err(&format!(
        "installing {} from {} into plugins/{name}/{folder}/ …\n",
        preset.requirement(),
        preset.registry.name()
    ));
    let write = |path: &Path, text: &str| {
        crate::home::write_private(path, text.as_bytes()).map_err(|e| Failure::failed(e.to_string()))
    };
    match preset.registry {
        Registry::Npm => {
            home.ensure_dir(&root).map_err(|e| Failure::failed(e.to_string()))?;
            let package = serde_json::json!({
                "name": format!("pyra-plugin-{name}"),
                "private": true,
                "dependencies": { preset.package: preset.version },
            });
            write(&root.join("package.json"), &format!("{package:#}\n"))?;
            // The tested lock: npm keeps the pinned version of everything this package needs.
            write(&root.join("package-lock.json"), presets::NPM_LOCK)?;
            let mut npm = Command::new("npm");
            npm.args(["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", "--prefix"])
                .arg(&root)
                .current_dir(&root)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
            run_installer(npm, "npm", "Node.js and npm (`apt install nodejs npm`)")?;
        }
        Registry::PyPi => {
            let venv = root.join("venv");
            if !is_executable(&venv.join("bin/python3")) {
                home.ensure_dir(&venv).map_err(|e| Failure::failed(e.to_string()))?;
                let mut make = Command::new("python3");
                make.arg("-m").arg("venv").arg(&venv);
                run_installer(make, "python3 -m venv", "Python 3.10 or later with venv (`apt install python3-venv`)")?;
            }
            let constraints = venv.join("pyra-constraints.txt");
            write(&constraints, presets::PIP_CONSTRAINTS)?;
            let mut pip = Command::new(venv.join("bin/python3"));
            pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"])
                .args(["--require-virtualenv", "-c"])
                .arg(&constraints)
                .arg(preset.requirement());
            run_installer(pip, "pip", "Python 3.10 or later with pip")?;
        }
    }
    if !is_executable(&dir.join(preset.installed_program())) {
        return Err(Failure::failed(format!(
            "the install finished but plugins/{name}/{} is missing",
            preset.installed_program()
        )));
    }
    Ok(folder)
}

/// Runs an installer with its output on stderr (stdout is for results).
fn run_installer(mut cmd: Command, what: &str, needs: &str) -> Result<(), Failure> {
    cmd.stdin(Stdio::null()).stdout(Stdio::from(std::io::stderr()));
    let status = cmd.status().map_err(|e| {
        Failure::failed(format!(
            "cannot run {what}: {e}; install {needs}, or point `--preset-from DIR` at an installed copy"
        ))
    })?;
    if !status.success() {
        return Err(Failure::failed(format!(
            "{what} failed ({status}); its messages are above. No network? `--preset-from DIR` takes an installed copy"
        )));
    }
    Ok(())
}
