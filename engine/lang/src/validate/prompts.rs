//! Phase 5½: prompt files. A node's `prompt_file` / `system_file` is read (relative to
//! the skill's folder), checked and folded into the node's `with:` so that it runs
//! exactly like an inline prompt:
//!
//! - a Jinja file (`.j2`, `.jinja`, `.md`, `.txt`) becomes the text of `prompt` /
//!   `system`: the templates phase then checks it (syntax, `inputs`, `nodes`, `secret()`),
//!   its `nodes.<id>` become edges, and the runtime renders it with the run's scope and
//!   taint tracking like any template;
//! - a Handlebars file (`.hbs`) is parsed here; each top-level path it reads becomes a
//!   one-expression template under `<key>_file.data` (`data.inputs.city: "{{ inputs.city }}"`),
//!   which the templates phase checks and draws edges from, the runtime renders into
//!   plain JSON (tainted per value), and the `llm`/`agent` executor hands to
//!   Handlebars with the file's text.
//!
//! Either way `<key>_file` keeps the file's absolute path, which the executor checks
//! against the path policy before the prompt is used. Every template of a file is
//! registered in [`Ctx::prompt_sources`], so its diagnostics point inside the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{Ctx, Folder, PromptSource, ptr};
use crate::hbs;
use crate::model::Skill;
use crate::template::has_template_syntax;
use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};

/// The `with:` keys that may name a file, and the key whose text the file replaces.
const FILE_KEYS: &[(&str, &str)] = &[("prompt_file", "prompt"), ("system_file", "system")];

/// How a prompt file is rendered, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Jinja,
    Handlebars,
}

const JINJA_EXTENSIONS: &[&str] = &["j2", "jinja", "md", "txt"];

fn dialect(path: &str) -> Option<Dialect> {
    let ext = Path::new(path).extension()?.to_str()?;
    if ext == "hbs" { Some(Dialect::Handlebars) } else { JINJA_EXTENSIONS.contains(&ext).then_some(Dialect::Jinja) }
}

pub(crate) fn load(ctx: &mut Ctx<'_>, skill: &mut Skill, folder: &Folder) {
    for (id, node) in skill.nodes.iter_mut() {
        if ctx.broken_nodes.contains(id) {
            continue;
        }
        let Some(spec) = ctx.registry.get(&node.uses) else { continue };
        for &(file_key, text_key) in FILE_KEYS {
            let declared = spec.with_schema.pointer(&format!("/properties/{file_key}")).is_some();
            let Some(value) = node.with.get(file_key).filter(|_| declared) else { continue };
            let with_ptr = format!("/nodes/{}/with", ptr(id));
            let at = format!("{with_ptr}/{file_key}");
            let Some(given) = given_path(ctx, value, &at, file_key) else { continue };
            if node.with.contains_key(text_key) {
                let mut diag = Diagnostic::error(
                    "conflicting-fields",
                    format!("node `{id}` gives both `{text_key}` and `{file_key}`"),
                )
                .at_opt(ctx.key_span(&at))
                .with_label(format!("`{file_key}` replaces `{text_key}`"))
                .with_help(format!("keep one: the text inline in `{text_key}`, or in the file `{file_key}` names"));
                if let Some(span) = ctx.key_span(&format!("{with_ptr}/{}", ptr(text_key))) {
                    diag = diag.with_related(span, format!("`{text_key}` is given here"));
                }
                ctx.push(diag);
                continue;
            }
            let Some(loaded) = read(ctx, folder, &given, &at, file_key) else { continue };
            let origin = ctx.value_span(&at).unwrap_or(0..0);
            let text_ptr = format!("{with_ptr}/{}", ptr(text_key));
            match loaded.dialect {
                Dialect::Jinja => {
                    let span = 0..loaded.file.text().len();
                    let text = loaded.file.text().to_string();
                    ctx.prompt_sources.insert(text_ptr, PromptSource { file: loaded.file, span, origin });
                    node.with.insert(text_key.to_string(), Value::String(text));
                    node.with.insert(file_key.to_string(), Value::String(loaded.path));
                }
                Dialect::Handlebars => {
                    let Some(data) = handlebars(ctx, &loaded.file, &at, &origin) else { continue };
                    let compiled = json!({
                        "path": loaded.path,
                        "handlebars": split_text(loaded.file.text()),
                        "data": data,
                    });
                    node.with.insert(file_key.to_string(), compiled);
                }
            }
        }
    }
}

/// The path as written: a literal string (it is read when the skill is checked, so it
/// cannot depend on the run).
fn given_path(ctx: &mut Ctx<'_>, value: &Value, at: &str, key: &str) -> Option<String> {
    let problem = match value {
        Value::String(s) if has_template_syntax(s) => {
            "a prompt file is read when the skill is checked, so its path cannot be a template"
        }
        Value::String(s) if !s.trim().is_empty() => return Some(s.clone()),
        _ => "write the file's path, relative to the skill's folder, e.g. `prompts/summary.j2`",
    };
    ctx.push(
        Diagnostic::error("prompt-file-path", format!("`{key}` takes the path of a file"))
            .at_opt(ctx.value_span(at))
            .with_label("not a literal path")
            .with_help(problem),
    );
    None
}

struct Loaded {
    file: Arc<SourceFile>,
    /// The absolute path the executor checks against the path policy.
    path: String,
    dialect: Dialect,
}

fn read(ctx: &mut Ctx<'_>, folder: &Folder, given: &str, at: &str, key: &str) -> Option<Loaded> {
    let span = ctx.value_span(at);
    let fail = |ctx: &mut Ctx<'_>, code: &'static str, message: String, label: &str, help: String| {
        ctx.push(Diagnostic::error(code, message).at_opt(span.clone()).with_label(label).with_help(help));
        None
    };
    let Some(dialect) = dialect(given) else {
        return fail(
            ctx,
            "prompt-file-type",
            format!("`{given}` is not a prompt file Pyra knows"),
            "unknown file type",
            "prompt files end in `.j2`, `.jinja`, `.md` or `.txt` (Jinja, like inline templates) or `.hbs` (Handlebars)"
                .into(),
        );
    };
    let relative = Path::new(given);
    let (disk, shown) = if relative.is_absolute() {
        (relative.to_path_buf(), relative.to_path_buf())
    } else {
        match (&folder.dir, &folder.shown) {
            (Some(dir), shown) => (dir.join(relative), shown.as_deref().unwrap_or(dir).join(relative)),
            (None, _) => {
                return fail(
                    ctx,
                    "prompt-file-no-folder",
                    format!("`{key}: {given}` cannot be found: this skill has no folder"),
                    "relative to nothing",
                    "a skill built into Pyra or given as text has no folder of its own; give it as a file, or \
                     write an absolute path"
                        .into(),
                );
            }
        }
    };
    let shown = display(&shown);
    let disk = std::path::absolute(&disk).unwrap_or(disk);
    let bytes = match std::fs::metadata(&disk) {
        Ok(meta) if meta.is_dir() => Err(format!("`{shown}` is a folder")),
        Ok(meta) if meta.len() > syntax::source::MAX_SOURCE_BYTES as u64 => {
            Err(format!("`{shown}` is {} bytes; prompt files are limited to 16 MiB", meta.len()))
        }
        Ok(_) => std::fs::read(&disk).map_err(|e| format!("cannot read `{shown}`: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("prompt file `{shown}` does not exist")),
        Err(e) => Err(format!("cannot read `{shown}`: {e}")),
    };
    let help = match &folder.shown.as_ref().or(folder.dir.as_ref()) {
        Some(dir) if !relative.is_absolute() => {
            format!("paths are relative to the skill's folder, `{}`", display(dir))
        }
        _ => "check the path".to_string(),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(message) => return fail(ctx, "prompt-file-missing", message, "cannot be read", help),
    };
    let file = match SourceFile::from_bytes(shown, &bytes) {
        Ok(file) => Arc::new(file),
        Err((file, diag)) => {
            ctx.push(diag.in_file(Arc::new(file)));
            return None;
        }
    };
    Some(Loaded { file, path: disk.to_string_lossy().into_owned(), dialect })
}

fn display(path: &Path) -> String {
    let text = path.to_string_lossy();
    text.strip_prefix("./").unwrap_or(&text).to_string()
}

/// Checks a Handlebars file and builds the templates of the data it reads; `None` when
/// the file does not parse.
fn handlebars(ctx: &mut Ctx<'_>, file: &Arc<SourceFile>, at: &str, origin: &Span) -> Option<Value> {
    let analysis = match hbs::analyze(file.text()) {
        Ok(analysis) => analysis,
        Err(problem) => {
            ctx.push(problem_diag(problem, file));
            return None;
        }
    };
    let mut data = Map::new();
    let mut spans: Vec<(Vec<String>, Span)> = Vec::new();
    for reference in &analysis.refs {
        let keep = match reference.path[0].as_str() {
            "nodes" => 3,
            "inputs" | "env" | "run" => 2,
            _ => 1,
        };
        let leaf: Vec<String> = reference.path.iter().take(keep).cloned().collect();
        if insert(&mut data, &leaf) {
            spans.push((leaf, reference.span.clone()));
        }
    }
    for (leaf, span) in spans {
        let pointer: String = leaf.iter().map(|s| format!("/{}", ptr(s))).collect();
        // A later, wider reference may have replaced this leaf (`inputs` after `inputs.a`).
        if data_at(&data, &leaf).is_some_and(Value::is_string) {
            let source = PromptSource { file: file.clone(), span, origin: origin.clone() };
            ctx.prompt_sources.insert(format!("{at}/data{pointer}"), source);
        }
    }
    for problem in analysis.problems {
        ctx.push(problem_diag(problem, file));
    }
    Some(Value::Object(data))
}

fn problem_diag(problem: hbs::Problem, file: &Arc<SourceFile>) -> Diagnostic {
    Diagnostic::error(problem.code, problem.message)
        .at(problem.span)
        .with_label(problem.label)
        .with_help_opt(problem.help)
        .in_file(file.clone())
}

/// Adds the template reading `leaf` (`{{ inputs.city }}`) to the data tree, unless a
/// wider one is there already; a wider one replaces narrower ones. `true` when added.
fn insert(data: &mut Map<String, Value>, leaf: &[String]) -> bool {
    let mut map = data;
    for (i, seg) in leaf.iter().enumerate() {
        if i + 1 == leaf.len() {
            if map.get(seg).is_some_and(Value::is_string) {
                return false;
            }
            map.insert(seg.clone(), Value::String(format!("{{{{ {} }}}}", expression(leaf))));
            return true;
        }
        let entry = map.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
        match entry {
            Value::Object(inner) => map = inner,
            _ => return false,
        }
    }
    false
}

fn data_at<'a>(data: &'a Map<String, Value>, leaf: &[String]) -> Option<&'a Value> {
    let (first, rest) = leaf.split_first()?;
    rest.iter().try_fold(data.get(first)?, |v, seg| v.get(seg))
}

/// `inputs.city`, or `inputs["a key"]` for a segment that is not an identifier.
fn expression(leaf: &[String]) -> String {
    let mut out = leaf[0].clone();
    for seg in &leaf[1..] {
        let ident = seg.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ident {
            out.push('.');
            out.push_str(seg);
        } else {
            out.push_str(&format!("[{}]", Value::String(seg.clone())));
        }
    }
    out
}

/// A Handlebars text as pieces none of which holds `{{`, `{%` or `{#` (cut between the
/// two characters): the runtime would otherwise take the text for a Jinja template. The
/// executor joins them again.
pub fn split_text(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 1..bytes.len() {
        if bytes[i - 1] == b'{' && matches!(bytes[i], b'{' | b'%' | b'#') {
            pieces.push(text[start..i].to_string());
            start = i;
        }
    }
    pieces.push(text[start..].to_string());
    pieces
}

/// The folder a skill file's relative paths start from.
pub(crate) fn folder_of(path: &Path, display: &str) -> Folder {
    let parent =
        |p: &Path| p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
    Folder { dir: parent(path), shown: parent(Path::new(display)) }
}
