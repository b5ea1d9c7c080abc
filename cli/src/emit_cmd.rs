//! `pyra emit NAME [--data JSON | --data-file F|-] [--id ID]`: an event for the skills
//! whose `event: NAME` trigger holds. Handed to the daemon when it runs (which starts the
//! runs at once; one starting or stopping is waited for); stored in `pyra.db` otherwise
//! and delivered when the daemon starts. An id makes delivery idempotent: the same id
//! twice starts the runs once. Invalid JSON is a usage error and nothing is stored.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use term::output;

use crate::daemon_client::{self, AskError};
use crate::failure::{Failure, exit};
use crate::home::Home;

#[derive(Debug, clap::Args)]
pub struct EmitArgs {
    /// The event's name (`event:` in a trigger), e.g. `invoice.paid`.
    pub name: String,
    /// The event's data, JSON (`event.data` in the trigger's `if:` and `with:`).
    #[arg(long, conflicts_with = "data_file", value_name = "JSON")]
    pub data: Option<String>,
    /// Read the data (JSON) from a file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    pub data_file: Option<String>,
    /// The event's id: an id seen before starts nothing again.
    #[arg(long)]
    pub id: Option<String>,
    /// Print the reply as JSON.
    #[arg(long)]
    pub json: bool,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// How long `emit` keeps asking a daemon that holds its lock but does not answer.
const PATIENCE: Duration = Duration::from_secs(20);

/// Hands the event to the daemon. One that holds its lock but does not answer is starting
/// or stopping: asked again until it answers (and delivers) or is gone (and the event is
/// stored for its next start), rather than an error that drops the event. Asking again is safe:
/// the request carries the event's id, and a delivered id starts nothing twice.
fn ask_patiently(home: &Home, request: &Value) -> Result<Value, AskError> {
    let began = Instant::now();
    let mut said = false;
    loop {
        match daemon_client::ask(home, "emit", request.clone()) {
            Err(AskError::Io(why)) if began.elapsed() < PATIENCE => {
                if !said {
                    output::err(&format!(
                        "the daemon does not answer yet ({why}); it is starting or stopping: waiting for it\n"
                    ));
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

pub fn run(home: &Home, args: EmitArgs) -> Result<u8, Failure> {
    if !valid_name(&args.name) {
        return Err(Failure::usage(format!(
            "`{}` is not an event name: lowercase letters, digits, `_`, `.`, `-`, starting with a letter",
            args.name
        )));
    }
    let text = match (&args.data, &args.data_file) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(file)) if file == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            Some(s)
        }
        (None, Some(file)) => {
            Some(std::fs::read_to_string(file).map_err(|e| Failure::usage(format!("cannot read {file}: {e}")))?)
        }
        (None, None) => None,
    };
    let data: Value = match text {
        None => Value::Null,
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "the event data is not JSON ({e}); nothing was emitted\n  help: e.g. --data '{{\"amount\": 12}}'"
            ))
        })?,
    };
    if let Some(id) = &args.id
        && (id.is_empty() || id.len() > 256)
    {
        return Err(Failure::usage("--id must be 1 to 256 characters"));
    }
    let id = args.id.clone().unwrap_or_else(runtime::new_run_id);
    let at = runtime::now_ms();
    let request = json!({ "name": args.name, "data": data, "id": id, "at": at, "source": "cli" });
    match ask_patiently(home, &request) {
        Ok(reply) => {
            let runs: Vec<&str> = reply["runs"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if args.json {
                output::out(&format!("{}\n", serde_json::to_string_pretty(&reply).unwrap_or_default()));
            } else if reply["duplicate"] == true {
                output::err(&format!("event {id} was delivered before; nothing new runs\n"));
            } else if runs.is_empty() {
                output::err(&format!("event {} ({id}): no skill's trigger matched\n", args.name));
            } else {
                for run in &runs {
                    output::out(&format!("{run}\n"));
                }
                output::err(&format!("event {} ({id}) started {} run(s) in the daemon\n", args.name, runs.len()));
            }
            Ok(exit::OK)
        }
        Err(AskError::NotRunning) => {
            home.ensure_dir(&home.root)
                .map_err(|e| Failure::failed(format!("cannot create {}: {e}", home.root.display())))?;
            let history = daemon::history::History::open(&home.root.join("pyra.db")).map_err(Failure::failed)?;
            let event =
                daemon::history::EventRow { id: id.clone(), name: args.name.clone(), data, at, source: "cli".into() };
            let new = history.add_event(&event).map_err(Failure::failed)?;
            if args.json {
                output::out(&format!("{}\n", json!({ "id": id, "stored": true, "duplicate": !new })));
            }
            if new {
                output::err(&format!(
                    "the daemon is not running: event {} ({id}) is stored and is delivered when it starts (`pyra daemon start`)\n",
                    args.name
                ));
            } else {
                output::err(&format!("event {id} was stored before; nothing new is stored\n"));
            }
            Ok(exit::OK)
        }
        Err(e) => Err(e.into_failure()),
    }
}
