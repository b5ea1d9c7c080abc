//! Phase 6: templates and the graph. Every template and `if:` is parsed; the variables
//! it reads are checked (`inputs.<name>` declared, `nodes.<id>` existing, `item` only
//! under `for_each`, `env.<NAME>` declared) and `nodes.<id>` references become edges.
//! With `needs:` edges added, cycles are reported with their whole chain. Templates that
//! came from a prompt file are checked the same way, their diagnostics located in it.

use std::sync::Arc;

use minijinja::Environment;
use serde_json::Value;

use super::structure::backticked;
use super::{Ctx, ptr};
use crate::graph::{Edge, EdgeKind, SkillGraph};
use crate::model::{Condition, ForEach, Skill, Trigger};
use crate::template::{self, GLOBALS, TemplateError};
use syntax::diag::Diagnostic;
use syntax::source::{SourceFile, Span};
use syntax::suggest;

/// Where a template is written.
#[derive(Clone)]
struct Place {
    /// The prompt file it came from; `None`: the skill file.
    file: Option<Arc<SourceFile>>,
    /// The scalar holding it, or where it is written in the prompt file.
    span: Span,
    /// Where the edges it draws are located in the skill file (`None`: at each reference).
    edge: Option<Span>,
}

/// Where a template sits, which decides what it may read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope<'a> {
    /// Inside node `id`; `fan_out` when it has `for_each`.
    Node {
        id: &'a str,
        fan_out: bool,
    },
    /// The `for_each:` of a node (evaluated before fan-out: no `item`).
    ForEach {
        id: &'a str,
    },
    /// The `if:` of node `id` (evaluated once, before any fan-out).
    Condition {
        id: &'a str,
    },
    Outputs,
    /// A trigger's `with:` or `if:`; `watch` for a watch trigger (it has `trigger`, no
    /// `event`).
    Trigger {
        watch: bool,
    },
}

struct Refs<'a, 'c> {
    ctx: &'a mut Ctx<'c>,
    skill: &'a Skill,
    env: Environment<'static>,
    graph: SkillGraph,
    /// Where the template whose references are being checked is written.
    current: Option<Place>,
}

pub(crate) fn check(ctx: &mut Ctx<'_>, skill: &Skill) -> SkillGraph {
    let graph = SkillGraph::with_nodes(skill.nodes.keys().map(String::as_str));
    let mut refs = Refs { ctx, skill, env: template::environment(), graph, current: None };
    refs.walk();
    refs.report_cycles();
    refs.graph
}

impl Refs<'_, '_> {
    /// Where the template at `pointer` is written: a prompt file registered for it, or
    /// the scalar in the skill file.
    fn place(&self, pointer: &str) -> Option<Place> {
        if let Some(source) = self.ctx.prompt_sources.get(pointer) {
            return Some(Place {
                file: Some(source.file.clone()),
                span: source.span.clone(),
                edge: Some(source.origin.clone()),
            });
        }
        self.ctx.value_span(pointer).map(|span| Place { file: None, span, edge: None })
    }

    /// The file a place's spans point into.
    fn file_of<'p>(&'p self, place: &'p Place) -> &'p SourceFile {
        place.file.as_deref().unwrap_or(self.ctx.file)
    }

    /// Reports a diagnostic located at `place` (in its prompt file, if it has one).
    fn report(&mut self, place: &Place, diag: Diagnostic) {
        self.ctx.push(match &place.file {
            Some(file) => diag.in_file(file.clone()),
            None => diag,
        });
    }

    /// How messages name the template at `pointer`.
    fn describe(&self, pointer: &str) -> String {
        match self.ctx.prompt_sources.get(pointer) {
            Some(source) => format!("`{}`", source.file.name()),
            None => super::structure::describe(pointer),
        }
    }

    fn walk(&mut self) {
        let skill = self.skill;
        for (id, node) in &skill.nodes {
            let node_ptr = format!("/nodes/{}", ptr(id));
            for (i, dep) in node.needs().iter().enumerate() {
                let p = match &node.needs {
                    Some(crate::model::OneOrMany::Many(_)) => format!("{node_ptr}/needs/{i}"),
                    _ => format!("{node_ptr}/needs"),
                };
                let span = self.ctx.value_span(&p).unwrap_or(0..0);
                if skill.nodes.contains_key(dep) {
                    self.graph.add_dependency(dep, id, Edge { kind: EdgeKind::Needs, span });
                } else {
                    let diag = self.unknown_node(dep, span, &format!("node `{id}` needs `{dep}`"), Some(id));
                    self.ctx.push(diag);
                }
            }
            let fan_out = node.for_each.is_some();
            for (key, value) in &node.with {
                self.walk_value(value, &format!("{node_ptr}/with/{}", ptr(key)), Scope::Node { id, fan_out });
            }
            if let Some(ForEach::Template(text)) = &node.for_each {
                let p = format!("{node_ptr}/for_each");
                if template::has_template_syntax(text) {
                    self.check_template(text, &p, Scope::ForEach { id });
                } else {
                    self.ctx.push(
                        Diagnostic::error("for-each", format!("`for_each` of node `{id}` is plain text, not a list"))
                            .at_opt(self.ctx.value_span(&p))
                            .with_label("not a list")
                            .with_expected("a list, or a template that yields one")
                            .with_help(format!("write `for_each: \"{{{{ {text} }}}}\"` to use a value as the list")),
                    );
                }
            }
            if let Some(ForEach::Items(items)) = &node.for_each {
                for (i, item) in items.iter().enumerate() {
                    self.walk_value(item, &format!("{node_ptr}/for_each/{i}"), Scope::ForEach { id });
                }
            }
            if let Some(Condition::Expression(expr)) = &node.condition {
                self.check_expression(expr, &format!("{node_ptr}/if"), Scope::Condition { id });
            }
        }
        for (key, value) in &skill.outputs {
            self.walk_value(value, &format!("/outputs/{}", ptr(key)), Scope::Outputs);
        }
        for (i, trigger) in skill.triggers.iter().enumerate() {
            let base = self.ctx.trigger_ptr(i);
            let (with, condition) = match trigger {
                Trigger::Cron(c) => (&c.with, None),
                Trigger::Watch(w) => (&w.with, w.condition.as_ref()),
                Trigger::Event(e) => (&e.with, e.condition.as_ref()),
            };
            let scope = Scope::Trigger { watch: matches!(trigger, Trigger::Watch(_)) };
            for (key, value) in with {
                self.walk_value(value, &format!("{base}/with/{}", ptr(key)), scope);
            }
            if let Some(expr) = condition {
                self.check_expression(expr, &format!("{base}/if"), scope);
            }
        }
    }

    fn walk_value(&mut self, value: &Value, pointer: &str, scope: Scope<'_>) {
        match value {
            Value::String(text) if template::has_template_syntax(text) => self.check_template(text, pointer, scope),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk_value(item, &format!("{pointer}/{i}"), scope);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk_value(v, &format!("{pointer}/{}", ptr(k)), scope);
                }
            }
            _ => {}
        }
    }

    fn check_template(&mut self, text: &str, pointer: &str, scope: Scope<'_>) {
        match template::analyze_template(&self.env, text) {
            Ok(analysis) => {
                self.check_refs(&analysis.refs, pointer, scope);
                self.check_secrets(text, pointer);
            }
            Err(err) => self.syntax_error(text, pointer, &err, false),
        }
    }

    /// Every `secret('NAME')` must name a key the skill declares under `secrets:`, as a
    /// literal: the vault answers only for declared names, and a computed name would let
    /// data choose which secret to read.
    fn check_secrets(&mut self, text: &str, pointer: &str) {
        if !text.contains("secret") {
            return;
        }
        let Some(place) = self.place(pointer) else { return };
        for call in template::secret_calls(text) {
            // Mapped as a range: in a quoted or block scalar the call's length in the value
            // is not its length in the file (escapes, indentation).
            let span = template::map_range(self.file_of(&place), &place.span, text, &call.range);
            match call.name {
                None => self.report(
                    &place,
                    Diagnostic::error("secret-name", "`secret()` takes the key as a quoted name")
                        .at(span)
                        .with_label("not a literal name")
                        .with_help("write the key itself, e.g. `secret('plugin:telegram:token')`"),
                ),
                Some(name) if !self.skill.secrets.contains(&name) => {
                    let help = suggest::help(&name, self.skill.secrets.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("declare it: `secrets: [\"{name}\"]`"));
                    self.report(
                        &place,
                        Diagnostic::error("undeclared-secret", format!("secret `{name}` is not declared"))
                            .at(span)
                            .with_label("skills read only the secrets they declare")
                            .with_help(help),
                    );
                }
                Some(_) => {}
            }
        }
    }

    fn check_expression(&mut self, text: &str, pointer: &str, scope: Scope<'_>) {
        if template::has_template_syntax(text) {
            let inner = text.trim().trim_start_matches("${{").trim_start_matches("{{").trim_end_matches("}}").trim();
            self.ctx.push(
                Diagnostic::error("if-template", "`if:` takes a bare expression, not a template")
                    .at_opt(self.ctx.value_span(pointer))
                    .with_label("remove the `{{ }}`")
                    .with_expected("an expression that evaluates to true or false")
                    .with_help(format!("write `if: {inner}`")),
            );
            return;
        }
        match template::analyze_expression(&self.env, text) {
            Ok(analysis) => self.check_refs(&analysis.refs, pointer, scope),
            Err(err) => self.syntax_error(text, pointer, &err, true),
        }
    }

    fn syntax_error(&mut self, text: &str, pointer: &str, err: &TemplateError, expression: bool) {
        let Some(place) = self.place(pointer) else {
            return;
        };
        let span = err.range.as_ref().map(|r| template::map_range(self.file_of(&place), &place.span, text, r));
        let what = if expression { "expression" } else { "template" };
        let unclosed = err.message.contains("end of input") || err.message.contains("expected end of");
        let help = if expression {
            "conditions are Jinja expressions, e.g. `nodes.check.output.ok and inputs.force`"
        } else if unclosed {
            "look for an unclosed `{{`, `{%` or a missing `{% endif %}` / `{% endfor %}` before this point"
        } else {
            "templates use Jinja syntax: `{{ expression }}`, `{% if x %}…{% endif %}`, `{% for x in xs %}…{% endfor %}`"
        };
        let at = span.unwrap_or_else(|| place.span.clone());
        let described = self.describe(pointer);
        self.report(
            &place,
            Diagnostic::error("template-syntax", format!("{what} syntax error in {described}: {}", err.message))
                .at(at)
                .with_label(err.message.clone())
                .with_help(help),
        );
    }

    /// `nodes.<id>.<field>`: a node exposes `output`, `status` and `error`, nothing else.
    fn check_node_field(&mut self, reference: &str, target: &str) {
        const FIELDS: [&str; 3] = ["output", "status", "error"];
        let Some(field) = reference.split('.').nth(2) else { return };
        if FIELDS.contains(&field) {
            return;
        }
        let Some(place) = self.current.clone() else { return };
        let span = template::locate_ref(self.file_of(&place), &place.span, reference, field);
        let help = suggest::help(field, FIELDS.iter().copied()).unwrap_or_else(|| {
            format!("the node's result is `nodes.{target}.output`; try `nodes.{target}.output.{field}`")
        });
        self.report(
            &place,
            Diagnostic::error("unknown-node-field", format!("`nodes.{target}.{field}`: a node has no `{field}`"))
                .at(span)
                .with_label("not a field of a node")
                .with_expected("`output`, `status` or `error`")
                .with_help(help),
        );
    }

    fn check_refs(&mut self, refs: &[String], pointer: &str, scope: Scope<'_>) {
        let Some(place) = self.place(pointer) else {
            return;
        };
        self.current = Some(place.clone());
        let file = place.file.clone();
        for reference in refs {
            let (root, attr) = template::split_ref(reference);
            let locate = |ctx: &Ctx<'_>, focus: &str| {
                template::locate_ref(file.as_deref().unwrap_or(ctx.file), &place.span, reference, focus)
            };
            match root {
                "nodes" => {
                    let Some(target) = attr else {
                        // `nodes['a']` or `nodes[x]`: no edge can be drawn, so the node
                        // could run before the one it reads.
                        self.report(
                                &place,
                            Diagnostic::error("dynamic-node-ref", "nodes must be referred to by name: `nodes.<id>`")
                                .at(locate(self.ctx, "nodes"))
                                .with_label("the dependency cannot be seen here")
                                .with_help("write `nodes.fetch.output` instead of `nodes['fetch'].output`, so Pyra knows what to wait for"),
                        );
                        continue;
                    };
                    let span = locate(self.ctx, target);
                    match scope {
                        Scope::Trigger { .. } => {
                            self.report(
                                &place,
                                Diagnostic::error("trigger-ref", "triggers cannot read node outputs")
                                    .at(span)
                                    .with_label("no nodes have run when a trigger fires")
                                    .with_help("triggers may read `event`, `trigger`, `inputs` and `env`"),
                            );
                        }
                        _ if !self.skill.nodes.contains_key(target) => {
                            let current = match scope {
                                Scope::Node { id, .. } | Scope::ForEach { id } | Scope::Condition { id } => Some(id),
                                _ => None,
                            };
                            let diag = self.unknown_node(
                                target,
                                span,
                                &format!("{reference} refers to node `{target}`"),
                                current,
                            );
                            self.report(&place, diag);
                        }
                        Scope::Node { id, .. } | Scope::ForEach { id } | Scope::Condition { id } => {
                            let span = place.edge.clone().unwrap_or(span);
                            self.graph.add_dependency(target, id, Edge { kind: EdgeKind::Reference, span });
                            self.check_node_field(reference, target);
                        }
                        Scope::Outputs => self.check_node_field(reference, target),
                    }
                }
                "inputs" => {
                    let Some(name) = attr else { continue };
                    if !self.skill.inputs.contains_key(name) {
                        let declared: Vec<String> = self.skill.inputs.keys().cloned().collect();
                        self.report(
                            &place,
                            Diagnostic::error("unknown-input", format!("`inputs.{name}` is not declared"))
                                .at(locate(self.ctx, name))
                                .with_label("no such input")
                                .with_expected(if declared.is_empty() {
                                    "no inputs: this skill declares none".to_string()
                                } else {
                                    format!("one of {}", backticked(&declared))
                                })
                                .with_help_opt(suggest::help(name, declared.iter().map(String::as_str)).or_else(
                                    || Some(format!("declare it under `inputs:` (e.g. `{name}: {{ type: string }}`)")),
                                )),
                        );
                    }
                }
                "item" | "index" => {
                    let allowed = matches!(scope, Scope::Node { fan_out: true, .. });
                    if !allowed {
                        let has_for_each = |id: &str| self.skill.nodes.get(id).is_some_and(|n| n.for_each.is_some());
                        let (why, help) = match scope {
                            Scope::ForEach { .. } => (
                                "`for_each` is evaluated before the fan-out",
                                "`for_each` yields the list; `item` is each element of it inside `with:`",
                            ),
                            Scope::Condition { id } if has_for_each(id) => (
                                "`if:` is evaluated once, before the fan-out",
                                "filter the list in `for_each` instead, e.g. `{{ inputs.xs | select('odd') | list }}`",
                            ),
                            Scope::Outputs => (
                                "outputs are computed after all nodes",
                                "use the fan-out node's output, which is the list of results: `nodes.<id>.output`",
                            ),
                            Scope::Trigger { .. } => {
                                ("triggers have no items", "triggers may read `event`, `trigger`, `inputs` and `env`")
                            }
                            _ => (
                                "it is set only in nodes with `for_each`",
                                "add `for_each:` to the node to run it once per item",
                            ),
                        };
                        self.report(
                            &place,
                            Diagnostic::error("item-outside-for-each", format!("`{root}` is not defined here"))
                                .at(locate(self.ctx, root))
                                .with_label(why)
                                .with_help(help),
                        );
                    }
                }
                "env" => {
                    let Some(name) = attr else { continue };
                    if !self.skill.env.iter().any(|e| e == name) {
                        self.report(
                            &place,
                            Diagnostic::error(
                                "undeclared-env",
                                format!("environment variable `{name}` is not declared"),
                            )
                            .at(locate(self.ctx, name))
                            .with_label("skills see only the variables they declare")
                            .with_help(format!("add `env: [{name}]` to the skill")),
                        );
                    }
                }
                "trigger" if !matches!(scope, Scope::Trigger { watch: true }) => {
                    self.report(
                        &place,
                        Diagnostic::error("trigger-outside-watch", "`trigger` is not defined here")
                            .at(locate(self.ctx, root))
                            .with_label("set only while a watch trigger decides its run")
                            .with_help("pass what the run needs through the trigger's `with:` and read `inputs`"),
                    );
                }
                "event" if matches!(scope, Scope::Trigger { watch: true }) => {
                    self.report(
                        &place,
                        Diagnostic::error("event-in-watch", "a watch trigger has no `event`")
                            .at(locate(self.ctx, root))
                            .with_label("not defined for file changes")
                            .with_help("a batch of changed files is `trigger.paths`, `trigger.events` (path → kind) and `trigger.at`"),
                    );
                }
                _ if GLOBALS.contains(&root) => {}
                _ => {
                    self.report(
                        &place,
                        Diagnostic::error("unknown-variable", format!("unknown variable `{root}`"))
                            .at(locate(self.ctx, root))
                            .with_label("not defined in templates")
                            .with_expected("one of `inputs`, `nodes`, `item`, `index`, `run`, `env`, `event`")
                            .with_help_opt(suggest::help(root, GLOBALS.iter().copied())),
                    );
                }
            }
        }
    }

    /// `current` is left out of the suggestions: suggesting a node's own id would make a cycle.
    fn unknown_node(
        &self,
        target: &str,
        span: syntax::source::Span,
        message: &str,
        current: Option<&str>,
    ) -> Diagnostic {
        let ids: Vec<&str> = self.skill.nodes.keys().map(String::as_str).filter(|id| Some(*id) != current).collect();
        Diagnostic::error("unknown-node", format!("{message}, which does not exist"))
            .at(span)
            .with_label("no such node")
            .with_help_opt(suggest::help(target, ids.iter().copied()).or_else(|| {
                Some(if ids.is_empty() {
                    "there is no other node to read; add it under `nodes:`".to_string()
                } else {
                    format!(
                        "the nodes are {}",
                        backticked(&ids.iter().take(12).map(|s| s.to_string()).collect::<Vec<_>>())
                    )
                })
            }))
    }

    fn report_cycles(&mut self) {
        for chain in self.graph.cycles() {
            let text = chain.join(" -> ");
            let first = self.graph.edge_span(&chain[0], &chain[1]);
            let mut diag = Diagnostic::error("cycle", format!("dependency cycle: {text}"))
                .at_opt(first)
                .with_label(format!("`{}` depends on `{}` here", chain[0], chain[1]))
                .with_help(if chain.len() == 2 {
                    "a node cannot wait for its own output; remove the self-reference".to_string()
                } else {
                    "nodes cannot wait for each other; remove one of these dependencies".to_string()
                });
            for pair in chain.windows(2).skip(1) {
                if let Some(span) = self.graph.edge_span(&pair[0], &pair[1]) {
                    diag = diag.with_related(span, format!("`{}` depends on `{}`", pair[0], pair[1]));
                }
            }
            self.ctx.push(diag);
        }
    }
}
