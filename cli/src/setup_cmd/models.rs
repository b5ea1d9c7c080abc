//! `pyra models`: resolving an entry the way runs do and asking its server for the
//! models it offers; the server's answers are masked and audited like a run's.

use super::*;

/// `pyra models [NAME] [--json]`.
pub fn models(home: &Home, selector: Option<&str>, json: bool) -> Result<u8, Failure> {
    home.warn_permissions();
    let config = config_cmd::load(home)?;
    let resolved = config.resolve(selector).map_err(|e| match e {
        ResolveError::NoModels => Failure::failed(
            "no language model is configured yet: run `pyra setup` (on a terminal it asks; or e.g. \
             `pyra setup --name local --provider ollama --model llama3.2 --default --yes`)",
        ),
        ResolveError::NoDefault(_) => Failure::failed(e.to_string()),
        ResolveError::Unknown { .. } | ResolveError::Selector(_) => Failure::usage(e.to_string()),
    })?;
    let configured = config.entry(&resolved.entry).map(|e| e.model.clone()).unwrap_or_default();

    // The key through the runs' path: the vault, unlocked once, every read audited.
    let source = vault_cmd::VaultSource::new(home, Arc::new(crate::progress::Progress::new(false, true)));
    let log = SecurityLog::new(&home.root);
    let mut read_key = None;
    let target = llm::target::target_for(&resolved, |key_name| {
        let value = source.get(key_name);
        audit_read(&log, key_name, &value, "model provider key; pyra models");
        read_key = Some(key_name.to_string());
        value
    })
    .map_err(|e| {
        let e = match e {
            llm::target::TargetError::Entry(message) | llm::target::TargetError::Key(message) => message,
        };
        let hint = match &read_key {
            Some(k) => format!(
                "\n  help: `pyra setup --name {} --provider {} --key-stdin …` or `pyra vault set {k}` stores it",
                resolved.entry, resolved.provider
            ),
            None => String::new(),
        };
        Failure::failed(format!("model entry `{}`: {e}{hint}", resolved.entry))
    })?;
    let models = list_models(&target.endpoint).map_err(|e| {
        Failure::failed(format!(
            "model entry `{}` ({}): {}",
            resolved.entry,
            target.endpoint.base_url,
            scrub(&e.to_string(), target.endpoint.key.as_ref().map(|k| (read_key.as_deref().unwrap_or("key"), k)))
        ))
    })?;
    if json {
        out(&format!("{}\n", serde_json::to_string_pretty(&models).unwrap_or_default()));
    } else {
        let text: String =
            models.iter().map(|m| format!("{} {m}\n", if same_model(m, &configured) { '*' } else { ' ' })).collect();
        out(&text);
        if models.is_empty() {
            err(&format!("the server at {} lists no models\n", target.endpoint.base_url));
        }
    }
    if !models.is_empty() && !lists(&models, &configured) {
        err(&format!("note: the configured model `{configured}` of `{}` is not among them\n", resolved.entry));
    }
    Ok(exit::OK)
}

/// Asks the server for its models, with short timeouts and no retries.
pub(crate) fn list_models(endpoint: &Endpoint) -> Result<Vec<String>, LlmError> {
    let policy = Policy {
        connect: Duration::from_secs(10),
        first_token: Duration::from_secs(30),
        idle: Duration::from_secs(30),
        attempts: 1,
        ..Policy::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LlmError::Fatal(format!("cannot start the network runtime: {e}")))?;
    runtime.block_on(async {
        let http = client::http_client(&policy);
        client::list_models(&http, endpoint, &policy, &CancellationToken::new()).await
    })
}

/// A server's message with the key (should it echo it) masked as runs mask it — in one
/// pass, its case and JSON variants too — and anything key-shaped removed.
pub(crate) fn scrub(text: &str, key: Option<(&str, &SecretString)>) -> String {
    let masker = Masker::default();
    if let Some((name, value)) = key {
        masker.add(name, value.expose_secret());
    }
    security::redact::redact(&masker.mask(text)).into_owned()
}

pub(crate) fn audit_read(log: &SecurityLog, key: &str, result: &Result<SecretString, String>, detail: &str) {
    let (outcome, why) = match result {
        Ok(_) => ("granted", detail.to_string()),
        Err(e) => ("denied", format!("{detail}; {e}")),
    };
    let event = Event { action: "secret.read", outcome, key: Some(key), detail: Some(&why), ..Default::default() };
    if let Err(e) = log.record(&event) {
        err(&format!("warning: cannot write the security log {}: {e}\n", log.path().display()));
    }
}
