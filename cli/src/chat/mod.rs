//! `pyra chat`: conversations over the built-in `chat` skill (overridable by
//! `$PYRA_HOME/skills/chat.yaml`). One turn is one run of that skill with the message,
//! the history trimmed to the model's token budget, the model and the enabled tools; the
//! reply streams to the terminal as it arrives. Conversations live in `pyra.db`
//! ([`conversations::ChatStore`]) and can be continued, named and listed.
//!
//! Modes: a REPL on a terminal ([`repl`]), or one question — `pyra chat "question"`, or
//! text piped on stdin — answered on stdout.

pub mod commands;
mod repl;
mod view;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read};
use std::sync::{Arc, Mutex};

use conversations::{ChatMessage, ChatStore, Role, Session as Conversation};
use runtime::program::Program;
use runtime::{RunReport, RunStatus, SkillText, Store};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::failure::{Failure, exit};
use crate::home::Home;
use crate::runner::{self, Session};
use crate::skills;
use term::output;

pub use view::View;

/// `pyra chat` arguments.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// Ask this and print the answer, then exit (text piped on stdin works the same).
    pub message: Vec<String>,
    /// Continue the most recent conversation.
    #[arg(long = "continue", short = 'c')]
    pub resume: bool,
    /// Continue the conversation of this name or id (or start one under this name).
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// List the conversations, newest first.
    #[arg(long)]
    pub list: bool,
    /// The model: a config entry (`NAME` or `NAME/model-id`); the conversation's, or the
    /// default entry, otherwise.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// A skill the assistant may call as a tool (repeatable); it asks before each call.
    #[arg(long = "tool", value_name = "SKILL")]
    pub tools: Vec<String>,
    /// With --list: print JSON.
    #[arg(long)]
    pub json: bool,
}

pub const CHAT_HELP: &str = "\
Examples:
  pyra chat                                  a conversation on the terminal (/help inside)
  pyra chat \"What is on my list for today?\"   one question, answer on stdout
  echo \"Summarise: $(cat notes.txt)\" | pyra chat
  pyra chat --continue                       pick up the last conversation
  pyra chat --session trip --tool recall     a named conversation with a tool
  pyra chat --list

In the REPL: Enter sends, a line ending in \\ continues on the next line, Ctrl-C stops the
reply (the conversation stays), Ctrl-D leaves. The chat is the skill `chat`; put your own
in $PYRA_HOME/skills/chat.yaml to change it.";

/// The share of the model's context window the history may fill (the rest is for the
/// system prompt, recalled notes, tool results and the reply).
const HISTORY_SHARE: f64 = 0.6;
/// Ends a reply the user stopped, in the stored conversation.
const STOPPED: &str = "[reply stopped by the user]";
/// The context window assumed when the config gives none.
const DEFAULT_WINDOW: usize = 8192;

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEnd {
    Answered {
        reply: String,
        findings: Vec<String>,
    },
    Cancelled,
    /// The run waits for an approval no one could give here.
    Waiting {
        run_id: String,
    },
    Failed(String),
}

/// A conversation in progress.
pub struct Chat {
    pub home: Home,
    pub session: Session,
    pub store: ChatStore,
    pub conv: Conversation,
    pub tools: Vec<String>,
    /// config.yaml as loaded when the chat opened (or `/model` last switched): the model
    /// entries and the `chat:` section (recall per turn and its category).
    pub config: config::Config,
    /// Tools approved for the rest of the session (`*`: all).
    pub always: Arc<Mutex<BTreeSet<String>>>,
    text: SkillText,
    program: Arc<Program>,
    rt: tokio::runtime::Runtime,
    /// A person at the terminal (approvals are asked inline).
    interactive: bool,
    /// The waiting run the user was told about (see [`Chat::settle_pending`]).
    told_waiting: Option<String>,
}

fn chat_failure(e: conversations::ChatError) -> Failure {
    Failure::failed(e.to_string())
}

impl Chat {
    /// Opens the store and the `chat` skill and picks the conversation.
    pub fn open(home: &Home, args: &ChatArgs, interactive: bool) -> Result<Chat, Failure> {
        // No model, no chat: say so before a conversation is created or anything stored.
        let config = config::Config::load(&home.root).map_err(|e| Failure::failed(e.render(false)))?;
        if let Err(e) = config.resolve(args.model.as_deref()) {
            return Err(Failure::failed(e.to_string()));
        }
        // config.yaml's `chat.tools`, then `--tool`s, each once; each must be a skill now,
        // not at the first message, when the conversation would already exist.
        let mut tools: Vec<String> = Vec::new();
        for (tool, from) in config
            .chat
            .tools
            .iter()
            .map(|t| (t, "config.yaml `chat.tools`"))
            .chain(args.tools.iter().map(|t| (t, "--tool")))
        {
            if tools.contains(tool) {
                continue;
            }
            if let Err(f) = skills::resolve(home, tool) {
                return Err(Failure { message: format!("{from}: {}", f.message), ..f });
            }
            tools.push(tool.clone());
        }
        let session = Session::open(home, true)?;
        let store = ChatStore::open(&home.root.join("pyra.db")).map_err(chat_failure)?;
        let source = skills::resolve(home, "chat")?;
        let text = source.text()?;
        let program = runtime::compile(&session.runtime.registry, &text).map_err(runner::run_failure)?;
        let conv = match (&args.session, args.resume) {
            (Some(name), _) => match store.find(name).map_err(chat_failure)? {
                Some(conv) => conv,
                None => store.create(Some(name), args.model.as_deref()).map_err(chat_failure)?,
            },
            (None, true) => match store.latest().map_err(chat_failure)? {
                Some(conv) => conv,
                None => store.create(None, args.model.as_deref()).map_err(chat_failure)?,
            },
            (None, false) => store.create(None, args.model.as_deref()).map_err(chat_failure)?,
        };
        let mut chat = Chat {
            home: home.clone(),
            session,
            store,
            conv,
            tools,
            config,
            always: Arc::default(),
            text,
            program,
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime"),
            interactive,
            told_waiting: None,
        };
        if let Some(model) = &args.model {
            chat.set_model(Some(model))?;
        }
        if let Some(note) = chat.settle_pending()? {
            output::err(&format!("{note}\n"));
        }
        Ok(chat)
    }

    /// A reply that waited for an approval (a question piped in, a tool to approve with
    /// `pyra approve`): once its run has succeeded, the reply joins the conversation.
    /// Returns what to tell the user, if anything.
    fn settle_pending(&mut self) -> Result<Option<String>, Failure> {
        let Some(run_id) = self.store.pending(&self.conv.id).map_err(chat_failure)? else {
            return Ok(None);
        };
        let run = self.session.store.run(&run_id).ok().flatten();
        let note = match run {
            Some(run) if run.status == RunStatus::Succeeded => {
                let reply = run.outputs.as_ref().and_then(|o| o.get("reply")).and_then(Value::as_str);
                let reply = reply.unwrap_or_default();
                let findings = self.findings(&run_id);
                let masked = self.session.runtime.masker.mask(reply).into_owned();
                self.store.append(&self.conv.id, Role::Assistant, &masked, &findings).map_err(chat_failure)?;
                Some(format!("(the reply of run {run_id}, approved since, is now in the conversation)"))
            }
            Some(run) if matches!(run.status, RunStatus::Waiting | RunStatus::Running) => {
                // Said once per session, not before every turn.
                if self.told_waiting.as_deref() == Some(run_id.as_str()) {
                    return Ok(None);
                }
                let note = format!("(an earlier reply still waits for an approval: `pyra approve {run_id}`)");
                self.told_waiting = Some(run_id);
                return Ok(Some(note));
            }
            // Rejected, failed, cancelled or gone: no reply to add.
            _ => None,
        };
        self.store.clear_pending(&self.conv.id).map_err(chat_failure)?;
        Ok(note)
    }

    /// Checks and sets the conversation's model (`None`: the default entry).
    pub fn set_model(&mut self, model: Option<&str>) -> Result<(), Failure> {
        if let Some(m) = model {
            // Read again: the entry may have been added since the chat opened.
            let config = config::Config::load(&self.home.root).map_err(|e| Failure::failed(e.render(false)))?;
            config.resolve(Some(m)).map_err(|e| Failure::usage(e.to_string()))?;
            self.config = config;
        }
        self.store.set_model(&self.conv.id, model).map_err(chat_failure)?;
        self.conv.model = model.map(str::to_string);
        Ok(())
    }

    /// The history budget in tokens: a share of the model's context window.
    fn budget(&self) -> usize {
        let window = self
            .config
            .resolve(self.conv.model.as_deref())
            .ok()
            .and_then(|m| m.options.context_window)
            .map_or(DEFAULT_WINDOW, |w| w as usize);
        (window as f64 * HISTORY_SHARE) as usize
    }

    /// The messages so far.
    pub fn messages(&self) -> Result<Vec<ChatMessage>, Failure> {
        self.store.messages(&self.conv.id).map_err(chat_failure)
    }

    /// Runs one turn: the message is stored, the skill runs with the trimmed history,
    /// the reply streams through `view` and is stored with any injection findings.
    pub fn turn(&mut self, message: &str, view: &Arc<View>) -> Result<TurnEnd, Failure> {
        // Approved in another terminal since the last turn: its reply goes first.
        if let Some(note) = self.settle_pending()? {
            view.note(&note);
        }
        let masker = self.session.runtime.masker.clone();
        // The new message is trimmed with the others (it is always kept, as the last), so
        // its size counts against the budget; the history is what comes before it.
        let mut all = self.messages()?;
        let seq = all.last().map_or(1, |m| m.seq + 1);
        all.push(ChatMessage {
            seq,
            role: Role::User,
            content: message.to_string(),
            pinned: false,
            at: 0,
            findings: vec![],
        });
        let (mut kept, dropped) = conversations::trim(&all, self.budget());
        kept.pop();
        if dropped > 0 {
            view.note(&format!("  ({dropped} earlier message(s) left out to fit the model's context)"));
        }
        let history = conversations::history_for_model(&kept);
        self.store.append(&self.conv.id, Role::User, &masker.mask(message), &[]).map_err(chat_failure)?;
        // The inputs the chat skill declares: a skill of the user's own may take fewer.
        let declared = &self.program.skill.inputs;
        let offered = [
            ("message", Value::String(message.to_string())),
            ("history", Value::Array(history)),
            ("model", Value::String(self.conv.model.clone().unwrap_or_default())),
            ("tools", json!(self.tools)),
            ("recall", json!(self.config.chat.recall())),
            ("recall_category", json!(self.config.chat.recall_category.clone().unwrap_or_default())),
        ];
        let inputs: serde_json::Map<String, Value> =
            offered.into_iter().filter(|(k, _)| declared.contains_key(*k)).map(|(k, v)| (k.to_string(), v)).collect();
        let mut runtime = self.session.runtime.clone();
        runtime.observer = view.clone();
        runtime.cancel = CancellationToken::new();
        runtime.interaction = if self.interactive {
            Some(Arc::new(view::ChatPrompt { view: view.clone(), always: self.always.clone() }))
        } else {
            None
        };
        let cancel = runtime.cancel.clone();
        let (program, text) = (self.program.clone(), self.text.clone());
        let report = self.rt.block_on(async move {
            let run = runtime.start(program, &text, inputs);
            tokio::pin!(run);
            tokio::select! {
                report = &mut run => report,
                _ = tokio::signal::ctrl_c() => {
                    cancel.cancel();
                    run.await
                }
            }
        });
        view.finish();
        let report = match report {
            Ok(report) => report,
            Err(e) => return Ok(TurnEnd::Failed(runner::run_failure(e).message)),
        };
        let end = self.end_of(&report, view)?;
        match &end {
            TurnEnd::Answered { reply, findings } => {
                self.store
                    .append(&self.conv.id, Role::Assistant, &masker.mask(reply), findings)
                    .map_err(chat_failure)?;
            }
            TurnEnd::Waiting { run_id } => self.store.set_pending(&self.conv.id, run_id).map_err(chat_failure)?,
            // What a stopped reply had said stays in the conversation, marked as cut.
            TurnEnd::Cancelled => {
                let said = view.received();
                if !said.trim().is_empty() {
                    let partial = format!("{}\n\n{STOPPED}", said.trim_end());
                    self.store
                        .append(&self.conv.id, Role::Assistant, &masker.mask(&partial), &[])
                        .map_err(chat_failure)?;
                }
            }
            _ => {}
        }
        Ok(end)
    }

    fn end_of(&self, report: &RunReport, view: &Arc<View>) -> Result<TurnEnd, Failure> {
        Ok(match report.status {
            RunStatus::Succeeded => {
                let reply = report.outputs.as_ref().and_then(|o| o.get("reply")).and_then(Value::as_str);
                let reply = reply.unwrap_or_default().to_string();
                if !view.wrote() && !reply.is_empty() {
                    // A server that sent the reply in one piece, or a custom chat skill
                    // whose reply is not streamed.
                    output::out(&format!("{}\n", output::printable(&reply)));
                }
                TurnEnd::Answered { reply, findings: self.findings(&report.run_id) }
            }
            RunStatus::Cancelled => TurnEnd::Cancelled,
            RunStatus::Waiting => TurnEnd::Waiting { run_id: report.run_id.clone() },
            _ => TurnEnd::Failed(report.error.clone().unwrap_or_else(|| "the reply failed".into())),
        })
    }

    /// Injection categories found in what this turn's model read: tool results (node
    /// findings) and recalled notes flagged when they were written.
    fn findings(&self, run_id: &str) -> Vec<String> {
        let mut found = BTreeSet::new();
        for node in self.session.store.nodes(run_id).unwrap_or_default() {
            for f in node.findings.iter().flat_map(|f| f.as_array().cloned().unwrap_or_default()) {
                if let Some(c) = f.get("category").and_then(Value::as_str) {
                    found.insert(c.to_string());
                }
            }
            for hit in node.output.iter().filter_map(Value::as_array).flatten() {
                for c in hit.get("injection").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(c) = c.as_str() {
                        found.insert(c.to_string());
                    }
                }
            }
        }
        found.into_iter().collect()
    }
}

/// The warning shown under a reply whose inputs carried injection findings.
pub fn warning_panel(findings: &[String], color: bool) -> String {
    let (y, r) = if color { ("\x1b[33m", "\x1b[0m") } else { ("", "") };
    format!(
        "{y}┌ ⚠ possible prompt injection in what the assistant read ({})\n│ A tool result or a recalled note contained text that tries to steer the model.\n└ Treat this reply with care; `pyra runs show` has the details.{r}\n",
        findings.join(", ")
    )
}

/// `pyra chat`.
pub fn run(home: &Home, args: ChatArgs) -> Result<u8, Failure> {
    if args.list {
        return list(home, args.json);
    }
    let stdin_tty = std::io::stdin().is_terminal();
    let mut message = args.message.join(" ");
    if message.is_empty() && !stdin_tty {
        std::io::stdin()
            .read_to_string(&mut message)
            .map_err(|e| Failure::failed(format!("cannot read the question from stdin: {e}")))?;
        if message.trim().is_empty() {
            return Err(Failure::usage("nothing to ask: stdin was empty (`pyra chat \"question\"`)"));
        }
    }
    if !message.trim().is_empty() {
        return one_shot(home, &args, message.trim());
    }
    let mut chat = Chat::open(home, &args, true)?;
    let code = repl::repl(&mut chat);
    // Opened and left without a word: nothing worth `--continue` or `--list`.
    let _ = chat.store.forget_if_empty(&chat.conv.id);
    code
}

fn one_shot(home: &Home, args: &ChatArgs, message: &str) -> Result<u8, Failure> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut chat = Chat::open(home, args, interactive)?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let view = View::new(color, width());
    match chat.turn(message, &view)? {
        TurnEnd::Answered { findings, .. } => {
            if !findings.is_empty() {
                output::err(&warning_panel(&findings, output::color_stderr()));
            }
            Ok(exit::OK)
        }
        TurnEnd::Cancelled => {
            output::err("reply cancelled\n");
            Ok(exit::CANCELLED)
        }
        TurnEnd::Waiting { run_id } => {
            output::err(&format!(
                "the reply waits for an approval: `pyra runs show {run_id}`, then `pyra approve {run_id}`\n"
            ));
            Ok(exit::WAITING)
        }
        TurnEnd::Failed(why) => Err(Failure::failed(why)),
    }
}

/// The terminal's width (for rules), 80 when unknown.
pub fn width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(80).min(100)
}

fn list(home: &Home, json_out: bool) -> Result<u8, Failure> {
    let store = ChatStore::open(&home.root.join("pyra.db")).map_err(chat_failure)?;
    let sessions = store.list().map_err(chat_failure)?;
    if json_out {
        let list: Vec<Value> = sessions
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "name": s.name, "title": s.title, "messages": s.messages,
                    "model": s.model, "created_at": s.created_at, "updated_at": s.updated_at,
                })
            })
            .collect();
        output::out(&format!("{}\n", serde_json::to_string_pretty(&list).unwrap_or_default()));
        return Ok(exit::OK);
    }
    if sessions.is_empty() {
        output::err("no conversations yet; `pyra chat` starts one\n");
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for s in &sessions {
        let when = chrono::DateTime::from_timestamp_millis(s.updated_at)
            .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let name = s.name.clone().unwrap_or_else(|| s.id.clone());
        text.push_str(&format!("{name:<20} {when}  {:>3} messages  {}\n", s.messages, s.title));
    }
    output::out(&text);
    Ok(exit::OK)
}
