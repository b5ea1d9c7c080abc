//! Validation in phases, each reporting *all* its findings before the next runs:
//!
//! 1. parse: YAML into a position-keeping tree ([`syntax::yaml`]);
//! 2. structure: the tree against the generated JSON Schema, then into the typed model;
//! 3. kinds: every `uses:` is registered, every literal `with:` fits the kind's schema;
//! 4. inputs: defaults match their declared types;
//! 5. triggers: cron expressions, time zones and trigger conditions;
//! 6. prompt files: read from the skill's folder, parsed, folded into `with:`;
//! 7. templates and graph: template syntax, references to inputs and nodes, cycles.
//!
//! A structural error in one place does not hide errors elsewhere: the offending value is
//! pruned and the later phases run on what is left.

mod inputs;
mod kinds;
mod prompts;
#[cfg(test)]
mod prompts_tests;
mod refs;
mod structure;
mod triggers;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::graph::SkillGraph;
use crate::model::Skill;
use crate::registry::Registry;
use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};
use syntax::yaml::{self, Node};

/// A skill that passed validation, with everything later stages need.
#[derive(Debug, Clone)]
pub struct Checked {
    pub skill: Skill,
    pub graph: SkillGraph,
    /// The parsed document, for locating runtime errors.
    pub doc: Node,
}

/// The result of validating one file.
#[derive(Debug, Clone)]
pub struct Validation {
    pub file: SourceFile,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Present when there are no errors.
    pub checked: Option<Checked>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// Where the files a skill names (prompt files) are found: the skill file's folder.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    /// The folder on disk; `None` for a skill without a file (built in, or given as text).
    pub dir: Option<PathBuf>,
    /// The same folder as diagnostics name it (as the skill's path was written).
    pub shown: Option<PathBuf>,
}

impl Folder {
    /// The folder of the skill file at `path`, which diagnostics call `display`.
    pub fn of(path: &Path, display: &str) -> Self {
        prompts::folder_of(path, display)
    }
}

/// A template that comes from a prompt file rather than the skill file.
#[derive(Debug, Clone)]
pub(crate) struct PromptSource {
    pub file: Arc<SourceFile>,
    /// Where the template is written in `file` (all of it for a Jinja file; one path for
    /// a Handlebars file).
    pub span: Span,
    /// The `prompt_file:` value in the skill file, where the node's edges to the nodes
    /// the file reads are drawn.
    pub origin: Span,
}

/// Shared state of the phases.
pub(crate) struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub doc: &'a Node,
    pub registry: &'a Registry,
    pub diags: Vec<Diagnostic>,
    /// Nodes whose structure was broken; later phases do not judge them further.
    pub broken_nodes: HashSet<String>,
    /// Original index of each trigger that survived pruning.
    pub trigger_map: Vec<usize>,
    /// `nodes.<id>` → (key span, node): pointer lookups under `/nodes` would otherwise
    /// scan the map, which is quadratic for big skills.
    pub node_index: HashMap<String, (Span, &'a Node)>,
    /// Templates loaded from prompt files, by the JSON pointer they took in the skill.
    pub prompt_sources: HashMap<String, PromptSource>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a SourceFile, doc: &'a Node, registry: &'a Registry) -> Self {
        let trigger_count = match doc.get("triggers").map(|t| &t.value) {
            Some(yaml::Value::Seq(items)) => items.len(),
            _ => 0,
        };
        let node_index = match doc.get("nodes").map(|n| &n.value) {
            Some(yaml::Value::Map(entries)) => {
                entries.iter().map(|(k, v)| (k.key_text(), (k.span.clone(), v))).collect()
            }
            _ => HashMap::new(),
        };
        Ctx {
            file,
            doc,
            registry,
            diags: Vec::new(),
            broken_nodes: HashSet::new(),
            trigger_map: (0..trigger_count).collect(),
            node_index,
            prompt_sources: HashMap::new(),
        }
    }

    /// Follows a JSON pointer into the document (see [`Node::pointer`]), fast for nodes.
    pub fn lookup(&self, pointer: &str) -> Option<(Option<Span>, &'a Node)> {
        if let Some(rest) = pointer.strip_prefix("/nodes/") {
            let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let id = unptr(id);
            if let Some((key, node)) = self.node_index.get(&id) {
                if tail.is_empty() {
                    return Some((Some(key.clone()), node));
                }
                return node.pointer(&format!("/{tail}"));
            }
        }
        self.doc.pointer(pointer)
    }

    /// The value node at a JSON pointer.
    pub fn node(&self, pointer: &str) -> Option<&Node> {
        self.lookup(pointer).map(|(_, n)| n)
    }

    /// The pointer of trigger `i` of the typed skill in the original document.
    pub fn trigger_ptr(&self, i: usize) -> String {
        format!("/triggers/{}", self.trigger_map.get(i).copied().unwrap_or(i))
    }

    /// The span of the value at a pointer, or of its nearest existing parent.
    pub fn value_span(&self, pointer: &str) -> Option<Span> {
        let mut p = pointer;
        loop {
            if let Some((_, node)) = self.lookup(p) {
                return Some(node.span.clone());
            }
            p = &p[..p.rfind('/')?];
        }
    }

    /// The span of the key at a pointer (the value's span for list items and the root).
    pub fn key_span(&self, pointer: &str) -> Option<Span> {
        match self.lookup(pointer) {
            Some((Some(key), _)) => Some(key),
            Some((None, node)) => Some(node.span.clone()),
            None => self.value_span(pointer),
        }
    }

    pub fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }
}

pub(crate) use syntax::yaml::{escape_segment as ptr, unescape_segment as unptr};

/// Validates a skill without a folder of its own (built in, or given as text): every
/// phase, every error. A relative prompt file is an error here.
pub fn validate_source(file: SourceFile, registry: &Registry) -> Validation {
    validate_in(file, registry, &Folder::default())
}

/// Validates a skill whose prompt files are found in `folder`: every phase, every error.
/// The checked skill carries the files' text in its nodes' `with:`.
pub fn validate_in(file: SourceFile, registry: &Registry, folder: &Folder) -> Validation {
    let doc = match yaml::parse(&file) {
        Ok(doc) => doc,
        Err(diag) => return Validation { file, diagnostics: vec![diag], checked: None },
    };
    let mut ctx = Ctx::new(&file, &doc, registry);
    let skill = structure::check(&mut ctx);
    let checked = skill.map(|mut skill| {
        kinds::check(&mut ctx, &skill);
        inputs::check(&mut ctx, &skill);
        triggers::check(&mut ctx, &skill);
        prompts::load(&mut ctx, &mut skill, folder);
        let graph = refs::check(&mut ctx, &skill);
        (skill, graph)
    });
    let mut diagnostics = std::mem::take(&mut ctx.diags);
    // The skill file's own diagnostics first, then each prompt file's, each in file order.
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            let file = d.file.as_ref().map(|f| f.name().to_string());
            (file, d.span.as_ref().map_or((0, 0), |s| (s.start, s.end)))
        };
        key(a).cmp(&key(b))
    });
    diagnostics.dedup();
    let valid = !diagnostics.iter().any(Diagnostic::is_error);
    let checked = match checked {
        Some((skill, graph)) if valid => Some(Checked { skill, graph, doc }),
        _ => None,
    };
    Validation { file, diagnostics, checked }
}

/// Reads and validates a file from disk (its prompt files relative to its folder); IO
/// errors become a diagnostic too.
pub fn validate_path(path: &Path, display: &str, registry: &Registry) -> Validation {
    match std::fs::read(path) {
        Ok(bytes) => match SourceFile::from_bytes(display, &bytes) {
            Ok(file) => validate_in(file, registry, &Folder::of(path, display)),
            Err((file, diag)) => Validation { file, diagnostics: vec![diag], checked: None },
        },
        Err(err) => Validation {
            file: SourceFile::new(display, String::new()),
            diagnostics: vec![Diagnostic::error("io", format!("cannot read {display}: {err}"))],
            checked: None,
        },
    }
}
