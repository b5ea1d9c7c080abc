//! Finding skills: built-in ones, `$PYRA_HOME/skills`, directories given on the command
//! line; and resolving a `NAME|FILE` argument to one of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lang::{Checked, Registry, Validation};
use syntax::SourceFile;

use crate::builtin;
use crate::failure::Failure;
use crate::home::Home;

/// Where a skill comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    Home,
    Dir,
    File,
}

impl Origin {
    pub fn label(&self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Home => "home",
            Origin::Dir => "dir",
            Origin::File => "file",
        }
    }
}

/// Where a skill's text lives.
#[derive(Debug, Clone)]
enum Text {
    Embedded(&'static str),
    File(PathBuf),
}

/// A skill file to read: embedded text or a path.
#[derive(Debug, Clone)]
pub struct SkillSource {
    /// The skill's name as found (file stem for files, name for built-ins).
    pub name: String,
    pub origin: Origin,
    /// How diagnostics name the file.
    pub display: String,
    text: Text,
}

impl SkillSource {
    pub fn from_path(path: &Path, origin: Origin) -> Self {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        Self { name, origin, display: path.display().to_string(), text: Text::File(path.to_path_buf()) }
    }

    fn builtin(name: &str, file: &str, text: &'static str) -> Self {
        Self {
            name: name.to_string(),
            origin: Origin::Builtin,
            display: format!("<builtin>/skills/{file}"),
            text: Text::Embedded(text),
        }
    }

    /// The skill's text, for running it.
    pub fn text(&self) -> Result<runtime::SkillText, Failure> {
        let (path, source) = match &self.text {
            Text::Embedded(text) => (None, text.to_string()),
            Text::File(path) => {
                let bytes =
                    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
                let source = String::from_utf8(bytes)
                    .map_err(|_| Failure::failed(format!("{} is not UTF-8 text", path.display())))?;
                let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                (Some(abs.display().to_string()), source)
            }
        };
        Ok(runtime::SkillText { name: self.name.clone(), path, display: self.display.clone(), source })
    }

    /// Reads and validates the skill.
    pub fn validate(&self, registry: &Registry) -> Validation {
        match &self.text {
            Text::Embedded(text) => lang::validate_source(SourceFile::new(self.display.clone(), *text), registry),
            Text::File(path) => lang::validate::validate_path(path, &self.display, registry),
        }
    }
}

pub fn is_skill_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Skill files in a directory and its subdirectories (hidden ones skipped), sorted.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            let ty = entry.file_type()?;
            if ty.is_dir() && depth < 8 {
                stack.push((path, depth + 1));
            } else if ty.is_file() && is_skill_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Built-in skills, overridden by same-named files in `$PYRA_HOME/skills`.
pub fn known(home: &Home) -> BTreeMap<String, SkillSource> {
    let mut map = BTreeMap::new();
    for (name, file, text) in builtin::SKILLS {
        map.insert(name.to_string(), SkillSource::builtin(name, file, text));
    }
    if let Ok(files) = files_in(&home.skills_dir()) {
        for path in files {
            let source = SkillSource::from_path(&path, Origin::Home);
            map.insert(source.name.clone(), source);
        }
    }
    map
}

/// Resolves a `NAME|FILE` argument: an existing path wins, then a known skill name.
pub fn resolve(home: &Home, arg: &str) -> Result<SkillSource, Failure> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(SkillSource::from_path(path, Origin::File));
    }
    if path.is_dir() {
        return Err(Failure::usage(format!("`{arg}` is a directory; give a skill file or name")));
    }
    let known = known(home);
    if let Some(source) = known.get(arg) {
        return Ok(source.clone());
    }
    let looks_like_path = arg.contains('/') || is_skill_file(path);
    let mut message = if looks_like_path {
        format!("no such file: {arg}")
    } else {
        format!("no skill named `{arg}` (looked in the built-in skills and {})", home.skills_dir().display())
    };
    if let Some(close) = syntax::suggest::did_you_mean(arg, known.keys().map(String::as_str)) {
        message.push_str(&format!("\n  help: did you mean `{close}`?"));
    } else if !looks_like_path {
        message.push_str("\n  help: `pyra skill list` shows the skills Pyra knows");
    }
    Err(Failure::usage(message))
}

/// Resolves `NAME|FILE` and validates it; its diagnostics go to stderr, and an invalid
/// skill is a failure.
pub fn load_checked(home: &Home, registry: &Registry, arg: &str) -> Result<(SkillSource, Checked), Failure> {
    let source = resolve(home, arg)?;
    let validation = source.validate(registry);
    let color = term::output::color_stderr();
    for d in &validation.diagnostics {
        term::output::err(&format!("{}\n\n", d.render(&validation.file, color)));
    }
    match validation.checked {
        Some(checked) => Ok((source, checked)),
        None => Err(Failure::failed(format!(
            "{} is not a valid skill ({} error{}); fix it and try again",
            validation.file.name(),
            validation.errors().count(),
            if validation.errors().count() == 1 { "" } else { "s" }
        ))),
    }
}
