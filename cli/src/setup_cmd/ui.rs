//! The questions of an interactive `pyra setup`, asked on stderr and answered from the
//! terminal.

use super::*;

/// The questions of an interactive setup (on stderr; answers from the terminal).
pub(super) struct Ui {
    pub(super) interactive: bool,
}

impl Ui {
    /// One line of input; end of input cancels the setup.
    pub(super) fn line(&self, prompt: &str) -> Result<String, Failure> {
        err(prompt);
        let mut line = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::failed(format!("cannot read the answer: {e}")))?;
        if read == 0 {
            err("\n");
            return Err(Failure { code: exit::CANCELLED, message: "setup cancelled; nothing was written".into() });
        }
        Ok(line.trim().to_string())
    }

    /// A question with a default shown in brackets.
    pub(super) fn ask(&self, question: &str, default: &str) -> Result<String, Failure> {
        let prompt = if default.is_empty() { format!("? {question}: ") } else { format!("? {question} [{default}]: ") };
        let answer = self.line(&prompt)?;
        Ok(if answer.is_empty() { default.to_string() } else { answer })
    }

    pub(super) fn confirm(&self, question: &str, default: bool) -> Result<bool, Failure> {
        if !self.interactive {
            return Ok(default);
        }
        loop {
            let hint = if default { "Y/n" } else { "y/N" };
            match self.line(&format!("? {question} [{hint}]: "))?.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => err("  please answer y or n\n"),
            }
        }
    }

    pub(super) fn choose_provider(&self) -> Result<&'static Provider, Failure> {
        let width = PROVIDERS.iter().map(|p| p.name.chars().count()).max().unwrap_or(0);
        let id_width = PROVIDERS.iter().map(|p| p.id.len()).max().unwrap_or(0);
        let mut text = String::from("Providers:\n");
        for (i, p) in PROVIDERS.iter().enumerate() {
            let key = if p.needs_key {
                "API key needed"
            } else if p.base_url.starts_with("http://localhost") {
                "local server, no key"
            } else {
                "key optional"
            };
            text.push_str(&format!("  {:>2}  {:width$}  {:id_width$}  {key}\n", i + 1, p.name, p.id));
        }
        err(&text);
        loop {
            let answer = self.ask(&format!("Provider (1-{} or an id)", PROVIDERS.len()), "")?;
            if let Ok(n) = answer.parse::<usize>()
                && (1..=PROVIDERS.len()).contains(&n)
            {
                return Ok(&PROVIDERS[n - 1]);
            }
            match provider_for(&answer) {
                Ok(p) => return Ok(p),
                Err(f) if answer.is_empty() => drop(f),
                Err(f) => err(&format!("  {}\n", f.message.replace('\n', "\n  "))),
            }
        }
    }

    pub(super) fn ask_name(&self, default: &str) -> Result<String, Failure> {
        loop {
            match check_name(&self.ask("Name of the entry (what skills refer to)", default)?) {
                Ok(name) => return Ok(name),
                Err(why) => err(&format!("  {why}\n")),
            }
        }
    }

    pub(super) fn ask_url(&self, provider: &Provider, default: &str) -> Result<String, Failure> {
        if default.is_empty() {
            err(&format!("  {}\n", provider.docs));
        }
        loop {
            let answer = self.ask("Base URL", default)?;
            if answer.is_empty() {
                err("  this provider needs a base URL\n");
                continue;
            }
            match normalize_url(&answer) {
                Ok(url) => return Ok(url),
                Err(why) => err(&format!("  {why}\n")),
            }
        }
    }

    /// The key: typed (hidden), or kept from the vault. Returns it and whether it is new.
    pub(super) fn ask_key(
        &self,
        provider: &Provider,
        key_name: &str,
        named: bool,
        vault: &mut VaultAccess,
    ) -> Result<(Option<SecretString>, bool), Failure> {
        let stored = if (provider.needs_key || named) && vault.exists() { vault.read(key_name)? } else { None };
        if stored.is_none() && provider.needs_key {
            err(&format!("  {}\n", provider.docs));
        }
        loop {
            let prompt = match (&stored, provider.needs_key) {
                (Some(_), _) => format!("? API key (`{key_name}` is in the vault; Enter keeps it): "),
                (None, true) => format!("? API key for {} (hidden): ", provider.name),
                (None, false) => "? API key, if the server needs one (hidden; Enter for none): ".to_string(),
            };
            let typed =
                rpassword::prompt_password(prompt).map_err(|e| Failure::failed(format!("cannot read the key: {e}")))?;
            let typed = typed.trim();
            if !typed.is_empty() {
                let key = SecretString::from(typed.to_string());
                match vault_cmd::check_value(key_name, &key) {
                    Ok(()) => return Ok((Some(key), true)),
                    Err(refused) => {
                        err(&format!("  {}\n", refused.message.replace('\n', "\n  ")));
                        continue;
                    }
                }
            }
            if stored.is_some() || !provider.needs_key {
                return Ok((stored, false));
            }
            err(&format!("  {} needs a key\n", provider.name));
        }
    }

    /// The model: from the server's list (up to 20 shown, numbered) or any id typed.
    pub(super) fn choose_model(
        &self,
        preferred: Option<&str>,
        listed: Option<&[String]>,
        entry: &str,
    ) -> Result<String, Failure> {
        let listed = listed.unwrap_or_default();
        let shown = &listed[..listed.len().min(SHOWN_MODELS)];
        if !shown.is_empty() {
            let mut text = String::from("Models on the server:\n");
            for (i, m) in shown.iter().enumerate() {
                text.push_str(&format!("  {:>2}  {m}\n", i + 1));
            }
            if listed.len() > shown.len() {
                text.push_str(&format!(
                    "  … and {} more (`pyra models {entry}` lists them all; type any id)\n",
                    listed.len() - shown.len()
                ));
            }
            err(&text);
        }
        let default = preferred.or(listed.first().map(String::as_str)).unwrap_or_default();
        loop {
            let question =
                if shown.is_empty() { "Model id".to_string() } else { format!("Model (1-{} or an id)", shown.len()) };
            let answer = self.ask(&question, default)?;
            if let Ok(n) = answer.parse::<usize>()
                && (1..=shown.len()).contains(&n)
            {
                return Ok(shown[n - 1].clone());
            }
            if !answer.is_empty() {
                return Ok(answer);
            }
            err("  please name a model\n");
        }
    }
}
