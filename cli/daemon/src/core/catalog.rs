//! The armed skills as a reader sees them (the web UI, the plugins' event sources): their
//! names, the compiled program and the text of one, the skills whose current file does not
//! load, and whether an event has a listener.

use std::sync::Arc;

use runtime::SkillText;
use runtime::program::Program;

use super::{Broken, Daemon};

impl Daemon {
    /// The names of the armed skills, sorted.
    pub fn skill_names(&self) -> Vec<String> {
        self.state().skills.keys().cloned().collect()
    }

    /// An armed skill's program and the text it was compiled from.
    pub fn armed(&self, name: &str) -> Option<(Arc<Program>, SkillText)> {
        self.state().skills.get(name).map(|a| (a.program.clone(), a.text.clone()))
    }

    /// The skills whose current file does not load (an earlier version may still be armed).
    pub fn broken_skills(&self) -> Vec<Broken> {
        self.state().broken.values().cloned().collect()
    }

    /// Whether an armed skill has an `event:` trigger for `event` (an event source such as
    /// a mail account's IDLE connection is held only while someone listens).
    pub fn subscribed(&self, event: &str) -> bool {
        self.state().events.iter().any(|(_, t)| t.event == event)
    }

    /// The triggers of `status` that belong to `skill` (kind, spec, next fire, last outcome).
    pub fn triggers_of(&self, skill: &str) -> Vec<serde_json::Value> {
        let status = self.status();
        status["triggers"]
            .as_array()
            .map(|all| all.iter().filter(|t| t["skill"] == skill).cloned().collect())
            .unwrap_or_default()
    }
}
