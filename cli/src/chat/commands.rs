//! Slash commands of the chat REPL, in one registry: the REPL's own commands and those
//! plugins contribute ([`plugins::chat::chat_commands`]) are registered the same way
//! ([`Commands::register`]). An unknown command gets a did-you-mean.

use std::sync::Arc;

use conversations::Role;
use plugins::chat::{ChatCommand, CommandCtx, CommandFn};
use serde_json::Value;

use super::{Chat, View, warning_panel};
use crate::failure::Failure;
use crate::skills;
use term::output;

/// What the REPL does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

/// A REPL command's code: the chat, the registry it was found in, and the text after
/// the command's name.
pub type Handler = fn(&mut Chat, &Commands, &str) -> Result<Flow, Failure>;

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// One of the REPL's own: it may change the conversation.
    Repl(Handler),
    /// A plugin's: terminal-free, it returns text and findings that the REPL shows.
    Plugin(CommandFn),
}

/// One slash command.
#[derive(Clone)]
pub struct SlashCommand {
    pub name: &'static str,
    /// How its arguments are written (`QUERY`, `[NAME]`).
    pub usage: &'static str,
    pub summary: &'static str,
    pub run: Run,
}

impl From<ChatCommand> for SlashCommand {
    fn from(c: ChatCommand) -> SlashCommand {
        SlashCommand { name: c.name, usage: c.usage, summary: c.summary, run: Run::Plugin(c.run) }
    }
}

/// The commands the REPL knows.
#[derive(Clone, Default)]
pub struct Commands {
    list: Vec<SlashCommand>,
}

impl Commands {
    /// The REPL's own commands, then every plugin's.
    pub fn all() -> Commands {
        let mut commands = Commands::default();
        let own: [(&'static str, &'static str, &'static str, Handler); 12] = [
            ("help", "", "this list", help),
            ("model", "[NAME]", "show the model, or switch to a config entry (NAME or NAME/model-id)", model),
            ("skills", "", "the skills Pyra knows (any can be a tool: `pyra chat --tool NAME`)", skills_cmd),
            ("run", "SKILL [k=v…]", "run a skill and show its outputs here (quote values with spaces)", run_skill),
            (
                "skill",
                "new NAME DESCRIPTION",
                "draft a skill from a sentence: checked, repaired, shown, saved on your word",
                new_skill,
            ),
            ("clear", "", "forget this conversation's messages (the conversation stays)", clear),
            ("history", "", "the conversation so far", history),
            ("pin", "", "keep the last message in the history however long the conversation grows", pin),
            ("save", "NAME", "name this conversation (`pyra chat --session NAME` continues it)", save),
            ("approve", "[TOOL|all]", "tools approved for this session, or approve one (or all) from now on", approve),
            ("config", "", "edit the settings (full screen), then show what this chat uses", config),
            ("exit", "", "leave (Ctrl-D works too)", |_, _, _| Ok(Flow::Exit)),
        ];
        for (name, usage, summary, run) in own {
            // Literal, distinct names: registering them cannot fail.
            let _ = commands.register(SlashCommand { name, usage, summary, run: Run::Repl(run) });
        }
        for command in plugins::chat::chat_commands() {
            // A plugin's command never shadows one of the REPL's (a test keeps names apart).
            let _ = commands.register(command.into());
        }
        commands
    }

    /// Adds a command; a name already taken is an error.
    pub fn register(&mut self, command: SlashCommand) -> Result<(), String> {
        if self.list.iter().any(|c| c.name == command.name) {
            return Err(format!("a chat command `/{}` exists already", command.name));
        }
        self.list.push(command);
        Ok(())
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|c| c.name)
    }

    /// Runs `/name args…`.
    pub fn dispatch(&self, chat: &mut Chat, line: &str) -> Result<Flow, Failure> {
        let line = line.trim().trim_start_matches('/');
        let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match self.list.iter().find(|c| c.name == name) {
            Some(SlashCommand { run: Run::Repl(run), .. }) => run(chat, self, rest.trim()),
            Some(SlashCommand { run: Run::Plugin(run), .. }) => {
                let home = chat.home.clone();
                let read_key = move |name: &str| crate::memory_cmd::read_key(&home, name);
                match run(&CommandCtx { home: &chat.home.root, read_key: &read_key }, rest.trim()) {
                    Ok(reply) => {
                        output::out(&output::printable(&reply.text));
                        if !reply.findings.is_empty() {
                            output::err(&warning_panel(&reply.findings, output::color_stderr()));
                        }
                    }
                    Err(message) => output::err(&format!("{}\n", output::printable(&message))),
                }
                Ok(Flow::Continue)
            }
            None => {
                let hint = syntax::suggest::did_you_mean(name, self.names())
                    .map(|s| format!("; did you mean /{s}?"))
                    .unwrap_or_else(|| "; /help lists the commands".into());
                output::err(&format!("unknown command /{name}{hint}\n"));
                Ok(Flow::Continue)
            }
        }
    }

    fn help_text(&self) -> String {
        let mut text = String::from("Commands:\n");
        for c in &self.list {
            let head = if c.usage.is_empty() { format!("/{}", c.name) } else { format!("/{} {}", c.name, c.usage) };
            text.push_str(&format!("  {head:<22} {}\n", c.summary));
        }
        text.push_str("Enter sends; end a line with \\ to continue it. Ctrl-C stops a reply, Ctrl-D leaves.\n");
        text
    }
}

fn help(_: &mut Chat, commands: &Commands, _: &str) -> Result<Flow, Failure> {
    output::err(&commands.help_text());
    Ok(Flow::Continue)
}

fn model(chat: &mut Chat, _: &Commands, arg: &str) -> Result<Flow, Failure> {
    if arg.is_empty() {
        let shown = chat.conv.model.clone().unwrap_or_else(|| "the default entry".into());
        output::err(&format!("model: {shown}\n"));
    } else {
        match chat.set_model(Some(arg)) {
            Ok(()) => output::err(&format!("model: {arg}\n")),
            Err(f) => output::err(&format!("{}\n", f.message)),
        }
    }
    Ok(Flow::Continue)
}

fn skills_cmd(chat: &mut Chat, _: &Commands, _: &str) -> Result<Flow, Failure> {
    let mut text = String::new();
    for (name, source) in skills::known(&chat.home) {
        let description = source.text().ok().and_then(|t| {
            runtime::compile(&chat.session.runtime.registry, &t).ok().and_then(|p| p.skill.description.clone())
        });
        let tool = if chat.tools.contains(&name) { " (tool)" } else { "" };
        text.push_str(&format!("  {name:<20} {}{tool}\n", description.unwrap_or_default()));
    }
    output::err(&text);
    Ok(Flow::Continue)
}

/// `/skill new NAME DESCRIPTION`: `pyra skill new NAME --describe DESCRIPTION` with the
/// conversation's model; the draft is shown and saved only if you say so.
fn new_skill(chat: &mut Chat, _: &Commands, arg: &str) -> Result<Flow, Failure> {
    let usage = "usage: /skill new NAME DESCRIPTION (e.g. /skill new site-watch check my site every hour)";
    let Some(rest) = arg.strip_prefix("new").map(str::trim) else {
        output::err(&format!("{usage}\n"));
        return Ok(Flow::Continue);
    };
    let (name, describe) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if name.is_empty() || describe.trim().is_empty() {
        output::err(&format!("{usage}\n"));
        return Ok(Flow::Continue);
    }
    let home = chat.home.clone();
    let opts = crate::draft::Options {
        describe: describe.trim().to_string(),
        model: chat.conv.model.clone().filter(|m| !m.is_empty()),
        rounds: 3,
        yes: false,
        json: false,
        force: false,
        target: home.skills_dir().join(format!("{name}.yaml")),
        schema_ref: "../schemas/skill.schema.json".into(),
    };
    if let Err(failure) = crate::draft::new_described(&home, name, opts) {
        output::err(&format!("{}\n", failure.message));
    }
    Ok(Flow::Continue)
}

fn run_skill(chat: &mut Chat, _: &Commands, arg: &str) -> Result<Flow, Failure> {
    // Split like a shell does, so a value may hold spaces: `who="Ada Lovelace"`.
    let Some(words) = shlex::split(arg) else {
        output::err("an unclosed quote in /run: usage: /run SKILL [key=value…]\n");
        return Ok(Flow::Continue);
    };
    let mut words = words.into_iter();
    let Some(name) = words.next() else {
        output::err("usage: /run SKILL [key=value…]\n");
        return Ok(Flow::Continue);
    };
    let outcome = (|| -> Result<Value, Failure> {
        let source = skills::resolve(&chat.home, &name)?;
        let text = source.text()?;
        let program = runtime::compile(&chat.session.runtime.registry, &text).map_err(crate::runner::run_failure)?;
        let mut inputs = serde_json::Map::new();
        for pair in words {
            let (k, v) = pair.split_once('=').ok_or_else(|| Failure::usage(format!("`{pair}` is not key=value")))?;
            let value = runtime::inputs::coerce(&program.skill, k, v).map_err(Failure::usage)?;
            inputs.insert(k.to_string(), value);
        }
        let report = chat.session.block_on(chat.session.runtime.start(program, &text, inputs));
        let report = report.map_err(crate::runner::run_failure)?;
        match report.status {
            runtime::RunStatus::Succeeded => Ok(report.outputs.unwrap_or(Value::Null)),
            status => {
                Err(Failure::failed(format!("run {} {status}: {}", report.run_id, report.error.unwrap_or_default())))
            }
        }
    })();
    match outcome {
        Ok(outputs) => output::out(&format!(
            "{}\n",
            output::printable(&serde_json::to_string_pretty(&outputs).unwrap_or_default())
        )),
        Err(f) => output::err(&format!("{}\n", output::printable(&f.message))),
    }
    Ok(Flow::Continue)
}

fn clear(chat: &mut Chat, _: &Commands, _: &str) -> Result<Flow, Failure> {
    let n = chat.store.clear(&chat.conv.id).map_err(|e| Failure::failed(e.to_string()))?;
    output::err(&format!("cleared {n} message(s)\n"));
    Ok(Flow::Continue)
}

fn history(chat: &mut Chat, _: &Commands, _: &str) -> Result<Flow, Failure> {
    let mut text = String::new();
    for m in chat.messages()? {
        let who = match m.role {
            Role::User => "you",
            Role::Assistant => "pyra",
            Role::System => "system",
        };
        let pin = if m.pinned { " (pinned)" } else { "" };
        text.push_str(&format!("{who}{pin}: {}\n", m.content));
    }
    if text.is_empty() {
        text.push_str("(no messages yet)\n");
    }
    output::out(&output::printable(&text));
    Ok(Flow::Continue)
}

fn pin(chat: &mut Chat, _: &Commands, _: &str) -> Result<Flow, Failure> {
    match chat.messages()?.last() {
        Some(last) => {
            chat.store.pin(&chat.conv.id, last.seq, true).map_err(|e| Failure::failed(e.to_string()))?;
            output::err("pinned: it stays in the history sent to the model\n");
        }
        None => output::err("nothing to pin yet\n"),
    }
    Ok(Flow::Continue)
}

fn save(chat: &mut Chat, _: &Commands, name: &str) -> Result<Flow, Failure> {
    match chat.store.rename(&chat.conv.id, name) {
        Ok(()) => {
            chat.conv.name = Some(name.to_string());
            output::err(&format!("saved as `{name}`: `pyra chat --session {name}` continues it\n"));
        }
        Err(e) => output::err(&format!("{e}\n")),
    }
    Ok(Flow::Continue)
}

fn approve(chat: &mut Chat, _: &Commands, tool: &str) -> Result<Flow, Failure> {
    let mut always = chat.always.lock().unwrap_or_else(|p| p.into_inner());
    if !tool.is_empty() {
        always.insert(if tool == "all" { "*".to_string() } else { tool.to_string() });
    }
    let list: Vec<&str> = always.iter().map(|t| if t == "*" { "all tools" } else { t.as_str() }).collect();
    if list.is_empty() {
        output::err("no tool is approved for this session; each call asks first\n");
    } else {
        output::err(&format!("approved for this session: {}\n", list.join(", ")));
    }
    Ok(Flow::Continue)
}

fn config(chat: &mut Chat, _: &Commands, _: &str) -> Result<Flow, Failure> {
    // On a terminal: the full-screen editor, and this chat then uses what it saved.
    #[cfg(feature = "config-editor")]
    if crate::config_edit::on_terminal() {
        crate::config_edit::open(&chat.home)?;
        match config::Config::load(&chat.home.root) {
            Ok(c) => chat.config = c,
            Err(e) => output::err(&format!("{}\n", e.render(output::color_stderr()))),
        }
    }
    // What this chat uses: the file as read when it opened (or `/model` last switched).
    let config = &chat.config;
    let mut text = format!(
        "config: {}\ndefault model: {}\n",
        config.path().display(),
        config.default_model.as_deref().unwrap_or("(none)")
    );
    for m in &config.models {
        let url = m.base_url.as_deref().unwrap_or("(provider default)");
        text.push_str(&format!("  {:<12} {} {} at {url}\n", m.name, m.provider, m.model));
    }
    text.push_str(&format!("tools: {}\n", if chat.tools.is_empty() { "(none)".into() } else { chat.tools.join(", ") }));
    let recall = config.chat.recall();
    let from = config.chat.recall_category.as_deref().map(|c| format!(" from `{c}`")).unwrap_or_default();
    text.push_str(&format!("memory recall: {recall} note(s) per turn{from} (`chat.recall`, `chat.recall_category`)\n"));
    output::err(&text);
    Ok(Flow::Continue)
}

/// Shows a turn's end on the terminal (the REPL and one-shot share it).
pub fn show_end(end: &super::TurnEnd, view: &Arc<View>) {
    match end {
        super::TurnEnd::Answered { findings, .. } if !findings.is_empty() => {
            output::err(&warning_panel(findings, output::color_stderr()));
        }
        super::TurnEnd::Answered { .. } => {}
        super::TurnEnd::Cancelled => view.note("(reply stopped)"),
        super::TurnEnd::Waiting { run_id } => {
            view.note(&format!("(waits for an approval: `pyra approve {run_id}`)"));
        }
        super::TurnEnd::Failed(why) => output::err(&format!("error: {}\n", output::printable(why))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_a_plugin_can_add_one() {
        let mut commands = Commands::all();
        let total = 12 + plugins::chat::chat_commands().len();
        assert_eq!(commands.names().count(), total, "a plugin's command clashes with the REPL's");
        assert!(commands.help_text().contains("/memory QUERY"), "plugin commands are in /help");
        let taken = SlashCommand { name: "help", usage: "", summary: "", run: Run::Repl(|_, _, _| Ok(Flow::Continue)) };
        assert!(commands.register(taken).is_err());
        let new = ChatCommand { name: "weather", usage: "CITY", summary: "", run: |_, _| Ok(Default::default()) };
        assert!(commands.register(new.into()).is_ok());
        assert!(commands.names().any(|n| n == "weather"));
        assert!(commands.help_text().contains("/weather CITY"));
    }
}
