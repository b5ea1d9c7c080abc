//! A skill prepared for running: every value tree split into literals and templates, the
//! graph as index lists, and the JSON Schema validator of each kind in use. Rendering
//! reads node results through lazy minijinja objects, so a template costs what it reads,
//! not the size of the run.
//!
//! Expressions are compiled once when a skill has up to [`KEEP_COMPILED`] templates;
//! beyond that they are parsed when they render, because minijinja reserves ~9 KB of
//! instruction buffers per compiled template (90 MB for a 10,000-node skill) while
//! parsing a typical `{{ nodes.x.output }}` costs about a microsecond. Text templates are
//! always parsed at render time. Validation has already parsed each one, so a syntax
//! error cannot surface here.
//!
//! Typing rule: a string that is exactly one `{{ expr }}` (surrounding whitespace
//! ignored) yields the expression's value (a list stays a list); any other template
//! yields text. Trust rule: a rendered value is tainted when its template read the output
//! of a node whose output is untrusted.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, Value as JValue, ValueKind};
use minijinja::{Environment, UndefinedBehavior};
use rustc_hash::FxHashMap;
use serde_json::Value;

use lang::graph::SkillGraph;
use lang::model::{Condition, ForEach, Node, Skill};
use lang::template;

use super::record::NodeStatus;

/// A value tree whose strings may be templates.
#[derive(Debug, Clone)]
pub enum Tpl {
    /// No template anywhere below.
    Literal(Value),
    /// Exactly one `{{ expr }}`: the value keeps its type.
    Expr(usize),
    /// Any other template: renders to text. Its index in the sources.
    Text(usize),
    Array(Vec<Tpl>),
    Object(Vec<(String, Tpl)>),
}

/// A compiled `if:`.
#[derive(Debug, Clone)]
pub enum Cond {
    Literal(bool),
    Expr(usize),
}

/// One node, ready to run.
pub struct ProgramNode {
    pub id: String,
    /// The id, shared with every attempt's context.
    pub name: Arc<str>,
    /// What runs the node's kind (`None`: the kind cannot run in this build).
    pub executor: Option<Arc<dyn super::executor::Executor>>,
    /// Runs inside the scheduler without taking a concurrency slot (see
    /// [`super::executor::Executor::is_inline`]).
    pub inline: bool,
    /// The kind's `with:` validator.
    validator: Arc<jsonschema::Validator>,
    pub with: Tpl,
    pub cond: Option<Cond>,
    pub for_each: Option<Tpl>,
    /// Indices of the nodes this one waits for.
    pub deps: Vec<usize>,
    /// Indices of the nodes waiting for this one.
    pub dependents: Vec<usize>,
}

impl std::fmt::Debug for ProgramNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramNode").field("id", &self.id).finish()
    }
}

/// A skill compiled for running.
pub struct Program {
    pub skill: Arc<Skill>,
    /// The skill's name, shared with every node's context.
    pub name: Arc<str>,
    pub nodes: Vec<ProgramNode>,
    pub index: FxHashMap<String, usize>,
    pub outputs: Vec<(String, Tpl)>,
    /// Expression and template sources, indexed by [`Tpl::Expr`] / [`Tpl::Text`].
    sources: Vec<String>,
    /// Expressions compiled up front, while there are few enough (see [`KEEP_COMPILED`]).
    compiled: Vec<Option<minijinja::Expression<'static, 'static>>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program").field("skill", &self.skill.name).field("nodes", &self.nodes.len()).finish()
    }
}

/// Up to this many template sources, expressions are compiled once per program.
pub const KEEP_COMPILED: usize = 2048;

/// The environment all runs render with (one per process).
pub fn environment() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(runtime_environment)
}

/// The environment all runs render with: strict undefined, trailing newlines kept (a YAML
/// block scalar renders as written), and the runtime functions.
pub fn runtime_environment() -> Environment<'static> {
    let mut env = template::environment();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).build() {
        env.set_syntax(syntax);
    }
    env.add_function("now", || JValue::from(chrono::Local::now().to_rfc3339()));
    env.add_function("secret", super::secrets::secret_function);
    env
}

/// The expression inside a string that is exactly one `{{ expr }}`.
pub fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if ["{{", "}}", "{%", "{#"].iter().any(|t| inner.contains(t)) {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner.trim())
}

struct Builder {
    env: &'static Environment<'static>,
    sources: Vec<String>,
}

impl Builder {
    fn tpl(&mut self, value: &Value, path: &str) -> Result<Tpl, String> {
        Ok(match value {
            Value::String(text) if template::has_template_syntax(text) => {
                if let Some(expr) = single_expression(text) {
                    self.sources.push(expr.to_string());
                    Tpl::Expr(self.sources.len() - 1)
                } else {
                    self.sources.push(text.clone());
                    Tpl::Text(self.sources.len() - 1)
                }
            }
            Value::Array(items) if contains_template(value) => Tpl::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.tpl(v, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) if contains_template(value) => Tpl::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.tpl(v, &format!("{path}.{k}"))?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Tpl::Literal(other.clone()),
        })
    }

    fn tpl_map(&mut self, map: &indexmap::IndexMap<String, Value>, path: &str) -> Result<Tpl, String> {
        if !map.values().any(contains_template) {
            return Ok(Tpl::Literal(Value::Object(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())));
        }
        let fields = map.iter().map(|(k, v)| Ok((k.clone(), self.tpl(v, &format!("{path}.{k}"))?)));
        Ok(Tpl::Object(fields.collect::<Result<_, String>>()?))
    }

    fn expr(&mut self, text: &str, path: &str) -> Result<usize, String> {
        self.env.compile_expression(text).map_err(|e| format!("{path}: {e}"))?;
        self.sources.push(text.to_string());
        Ok(self.sources.len() - 1)
    }
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => template::has_template_syntax(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}

impl Program {
    /// Compiles a validated skill. Errors here mean validation missed something.
    pub fn new(skill: Arc<Skill>, graph: &SkillGraph, registry: &crate::Kinds) -> Result<Self, String> {
        let mut b = Builder { env: environment(), sources: Vec::new() };
        let index: FxHashMap<String, usize> = skill.nodes.keys().enumerate().map(|(i, k)| (k.clone(), i)).collect();
        let mut nodes = Vec::with_capacity(skill.nodes.len());
        for (id, node) in &skill.nodes {
            let with = b.tpl_map(&node.with, &format!("{id}.with"))?;
            let cond = match &node.condition {
                None => None,
                Some(Condition::Literal(v)) => Some(Cond::Literal(*v)),
                Some(Condition::Expression(e)) => Some(Cond::Expr(b.expr(e, &format!("{id}.if"))?)),
            };
            let for_each = match &node.for_each {
                None => None,
                Some(ForEach::Items(items)) => Some(Tpl::Literal(Value::Array(items.clone()))),
                Some(ForEach::Template(t)) => Some(b.tpl(&Value::String(t.clone()), &format!("{id}.for_each"))?),
            };
            let deps: Vec<usize> = graph.dependencies(id).iter().filter_map(|d| index.get(*d).copied()).collect();
            let spec = registry.get(&node.uses).ok_or_else(|| format!("node `{id}`: unknown kind `{}`", node.uses))?;
            let executor = registry.executor(&node.uses);
            let validator =
                spec.validator().ok_or_else(|| format!("the schema of kind `{}` does not compile", node.uses))?;
            nodes.push(ProgramNode {
                id: id.clone(),
                name: Arc::from(id.as_str()),
                inline: executor.as_ref().is_some_and(|e| e.is_inline()) && node.for_each.is_none(),
                executor,
                validator,
                with,
                cond,
                for_each,
                deps,
                dependents: vec![],
            });
        }
        for i in 0..nodes.len() {
            for d in nodes[i].deps.clone() {
                nodes[d].dependents.push(i);
            }
        }
        let outputs = skill
            .outputs
            .iter()
            .map(|(k, v)| Ok((k.clone(), b.tpl(v, &format!("outputs.{k}"))?)))
            .collect::<Result<_, String>>()?;
        let name = Arc::from(skill.name.as_str());
        // Compiled expressions cost ~9 KB each (minijinja reserves instruction buffers), so
        // a big skill parses at render time instead: time for memory, past a threshold.
        let compiled = if b.sources.len() <= KEEP_COMPILED {
            b.sources.iter().map(|s| environment().compile_expression_owned(s.clone()).ok()).collect()
        } else {
            Vec::new()
        };
        Ok(Self { skill, name, nodes, index, outputs, sources: b.sources, compiled })
    }

    /// The node as written in the skill.
    pub fn spec(&self, i: usize) -> &Node {
        &self.skill.nodes[i]
    }

    /// Renders a value tree. `tainted` collects the JSON pointers of values rendered from
    /// untrusted data.
    pub fn render(&self, tpl: &Tpl, scope: &Scope, tainted: &mut Vec<String>) -> Result<Value, String> {
        let mut pointer = String::new();
        // On an error the pointer still names the failing value.
        self.render_at(tpl, scope, &mut pointer, tainted).map_err(|e| {
            if pointer.is_empty() {
                e
            } else {
                let dotted: Vec<String> = pointer[1..].split('/').map(syntax::yaml::unescape_segment).collect();
                format!("{}: {e}", dotted.join("."))
            }
        })
    }

    fn render_at(
        &self,
        tpl: &Tpl,
        scope: &Scope,
        pointer: &mut String,
        tainted: &mut Vec<String>,
    ) -> Result<Value, String> {
        match tpl {
            Tpl::Literal(v) => Ok(v.clone()),
            Tpl::Expr(_) | Tpl::Text(_) => {
                TAINTED.with(|t| t.set(false));
                super::secrets::reset_used();
                let value = match tpl {
                    Tpl::Expr(i) => {
                        let v = self.eval(*i, scope)?;
                        to_json(&v).map_err(|e| format!("{}: {e}", self.source(*i)))?
                    }
                    Tpl::Text(i) => Value::String(self.render_text(*i, scope)?),
                    _ => unreachable!("matched above"),
                };
                if TAINTED.with(std::cell::Cell::get) {
                    tainted.push(pointer.clone());
                }
                // A value made from a secret is hidden wherever it is written, whatever
                // filters changed it.
                super::secrets::note_rendered(&value);
                Ok(value)
            }
            Tpl::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    let _ = write!(pointer, "/{i}");
                    out.push(self.render_at(item, scope, pointer, tainted)?);
                    pointer.truncate(len);
                }
                Ok(Value::Array(out))
            }
            Tpl::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (key, item) in fields {
                    let len = pointer.len();
                    pointer.push('/');
                    if key.contains(['~', '/']) {
                        pointer.push_str(&syntax::yaml::escape_segment(key));
                    } else {
                        pointer.push_str(key);
                    }
                    let v = self.render_at(item, scope, pointer, tainted)?;
                    pointer.truncate(len);
                    out.insert(key.clone(), v);
                }
                Ok(Value::Object(out))
            }
        }
    }

    fn source(&self, i: usize) -> String {
        self.sources.get(i).map_or_else(String::new, |s| format!("`{{{{ {s} }}}}`"))
    }

    fn eval(&self, i: usize, scope: &Scope) -> Result<JValue, String> {
        let parsed;
        let expr = match self.compiled.get(i) {
            Some(Some(expr)) => expr,
            _ => {
                parsed = environment()
                    .compile_expression(&self.sources[i])
                    .map_err(|e| format!("{}: {e}", self.source(i)))?;
                &parsed
            }
        };
        let value = expr.eval(scope.root()).map_err(|e| format!("{}: {}", self.source(i), describe(&e)))?;
        if value.is_undefined() {
            return Err(format!("{}: undefined value (strict mode: a missing value is an error)", self.source(i)));
        }
        Ok(value)
    }

    fn render_text(&self, i: usize, scope: &Scope) -> Result<String, String> {
        let template = environment().template_from_str(&self.sources[i]).map_err(|e| describe(&e))?;
        template.render(scope.root()).map_err(|e| describe(&e))
    }

    /// Evaluates an `if:`; it must yield a real boolean.
    pub fn condition(&self, cond: &Cond, scope: &Scope) -> Result<bool, String> {
        match cond {
            Cond::Literal(b) => Ok(*b),
            Cond::Expr(i) => {
                let v = self.eval(*i, scope)?;
                if v.kind() == ValueKind::Bool {
                    Ok(v.is_true())
                } else {
                    Err(format!(
                        "`if: {}` gave {} `{v}`, not true or false; compare explicitly, e.g. `== \"yes\"` or `| length > 0`",
                        self.sources[*i],
                        kind_name(v.kind())
                    ))
                }
            }
        }
    }

    /// Checks a rendered `with:` against its kind's schema; the error names the fields.
    pub fn check_with(&self, node: &ProgramNode, with: &Value) -> Result<(), String> {
        let validator = &node.validator;
        if validator.is_valid(with) {
            return Ok(());
        }
        let errors: Vec<String> = validator
            .iter_errors(with)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                let field = if at.is_empty() { "with".to_string() } else { format!("with{}", at.replace('/', ".")) };
                format!("{field}: {e}")
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(format!("after rendering, {}", errors.join("; "))) }
    }
}

fn describe(err: &minijinja::Error) -> String {
    let mut text = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(&format!(" ({inner})"));
        source = inner.source();
    }
    text
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::String => "the string",
        ValueKind::Number => "the number",
        ValueKind::None | ValueKind::Undefined => "nothing,",
        ValueKind::Seq => "the list",
        ValueKind::Map => "the map",
        _ => "the value",
    }
}

/// Converts JSON to a template value.
pub fn jvalue(value: &Value) -> JValue {
    JValue::from(minijinja::value::Serde(value))
}

/// Converts a template value to JSON.
pub fn to_json(value: &JValue) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("cannot turn the value into JSON: {e}"))
}

/// What a finished node exposes to templates as `nodes.<id>`.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub status: NodeStatus,
    pub output: JValue,
    pub error: Option<String>,
    pub untrusted: bool,
    /// The `nodes.<id>` object, built once.
    view: JValue,
}

impl NodeResult {
    pub fn new(status: NodeStatus, output: Option<&Value>, error: Option<String>, untrusted: bool) -> Self {
        let output = output.map_or(JValue::from(()), jvalue);
        let view = JValue::from_object(NodeView {
            status: JValue::from(status.as_str()),
            output: output.clone(),
            error: error.clone().map_or(JValue::from(()), JValue::from),
            untrusted,
        });
        Self { status, output, error, untrusted, view }
    }
}

/// The data of one run that templates read.
#[derive(Debug)]
pub struct RunData {
    pub program: Arc<Program>,
    pub inputs: JValue,
    /// Reading `inputs` taints the value being rendered (a child run a model started).
    pub inputs_untrusted: bool,
    pub run: JValue,
    pub env: JValue,
    pub results: Vec<OnceLock<NodeResult>>,
}

impl RunData {
    pub fn result(&self, i: usize) -> Option<&NodeResult> {
        self.results[i].get()
    }
}

thread_local! {
    /// Set when the template being rendered reads an untrusted output. Rendering is
    /// synchronous, so one flag per thread is exact.
    static TAINTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What one rendering sees: the run, and with `for_each` the item.
#[derive(Debug, Clone)]
pub struct Scope {
    root: JValue,
}

impl Scope {
    pub fn new(data: Arc<RunData>) -> Self {
        Self::build(data, None)
    }

    pub fn with_item(data: Arc<RunData>, item: &Value, index: usize) -> Self {
        Self::build(data, Some((jvalue(item), index)))
    }

    fn build(data: Arc<RunData>, item: Option<(JValue, usize)>) -> Self {
        let nodes = JValue::from_object(Nodes(data.clone()));
        Self { root: JValue::from_object(Root { data, nodes, item }) }
    }

    fn root(&self) -> JValue {
        self.root.clone()
    }
}

#[derive(Debug)]
struct Root {
    data: Arc<RunData>,
    nodes: JValue,
    item: Option<(JValue, usize)>,
}

impl Object for Root {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "inputs" => {
                if self.data.inputs_untrusted {
                    TAINTED.with(|t| t.set(true));
                }
                Some(self.data.inputs.clone())
            }
            "nodes" => Some(self.nodes.clone()),
            "run" => Some(self.data.run.clone()),
            "env" => Some(self.data.env.clone()),
            "item" => self.item.as_ref().map(|(v, _)| v.clone()),
            "index" => self.item.as_ref().map(|(_, i)| JValue::from(*i)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["inputs", "nodes", "run", "env"])
    }
}

#[derive(Debug)]
struct Nodes(Arc<RunData>);

impl Object for Nodes {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let i = *self.0.program.index.get(key.as_str()?)?;
        Some(self.0.result(i)?.view.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let done: Vec<JValue> = self
            .0
            .program
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0.result(*i).is_some())
            .map(|(_, n)| JValue::from(n.id.clone()))
            .collect();
        Enumerator::Values(done)
    }
}

#[derive(Debug)]
struct NodeView {
    status: JValue,
    output: JValue,
    error: JValue,
    untrusted: bool,
}

impl Object for NodeView {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "output" => {
                if self.untrusted {
                    TAINTED.with(|t| t.set(true));
                }
                Some(self.output.clone())
            }
            "status" => Some(self.status.clone()),
            "error" => Some(self.error.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["output", "status", "error"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_expressions_are_recognised() {
        assert_eq!(single_expression("{{ nodes.a.output }}"), Some("nodes.a.output"));
        assert_eq!(single_expression("  {{- x + 1 -}}\n"), Some("x + 1"));
        assert_eq!(single_expression("{{ a }} and {{ b }}"), None);
        assert_eq!(single_expression("value: {{ a }}"), None);
    }
}
