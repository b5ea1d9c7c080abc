//! `pyra plugin setup NAME`: an MCP server's mapped secrets into the vault; a built-in's
//! declared settings (`--set KEY=VALUE`, or asked on a terminal), then its declared
//! secrets, then the commands the built-in runs on the terminal (rclone's own sign-in).

use super::*;

/// `pyra plugin setup`: an MCP server's mapped secrets into the vault; for a built-in,
/// its declared settings (`--set`, or asked on a terminal) into plugin.yaml, then its
/// declared secrets. Off a terminal without `--set`, only the mapped secrets, from stdin.
pub fn setup(home: &Home, name: &str, force: bool, sets: &[String]) -> Result<u8, Failure> {
    existing(home, name)?;
    let m = plugin_host::host(home).load(name).map_err(|(f, d)| Failure::failed(render(&f, &d)))?.manifest;
    let b = match (m.kind, m.builtin.as_deref()) {
        (PluginKind::Builtin, Some(id)) => mcp::builtin::find(id),
        _ => None,
    };
    let Some(b) = b else {
        if !sets.is_empty() {
            return Err(Failure::usage(format!(
                "`--set` sets a built-in plugin's declared settings; `{name}` is an MCP server (edit `env:` in \
                 plugins/{name}/plugin.yaml); nothing was written"
            )));
        }
        return mapped_secrets(home, &m, force);
    };
    let unmapped: Vec<&str> =
        b.fields().iter().filter(|f| f.kind.is_secret() && !m.secrets.contains_key(f.key)).map(|f| f.key).collect();
    if !sets.is_empty() {
        let changed = super::super::settings_from_args(name, b.as_ref(), sets)?;
        write_settings(home, name, &changed)?;
        if b.fields().iter().any(|f| f.kind.is_secret()) {
            output::err(&format!("secrets are not given with `--set`: `pyra plugin setup {name}` asks for them\n"));
        }
        return Ok(exit::OK);
    }
    if !std::io::stdin().is_terminal() {
        if !unmapped.is_empty() {
            output::err(&format!(
                "not mapped under `secrets:`: {} (on a terminal, `pyra plugin setup {name}` asks and maps them)\n",
                unmapped.join(", ")
            ));
        }
        return mapped_secrets(home, &m, force);
    }
    let changed = super::super::ask_settings(&m, b.as_ref())?;
    write_settings(home, name, &changed)?;
    let code = declared_secrets(home, &m, b.as_ref(), force)?;
    if code != exit::OK {
        return Ok(code);
    }
    setup_commands(home, name, b.as_ref())
}

/// The programs a built-in runs on the terminal to finish its setup (rclone's remotes
/// and sign-in), each in the environment it declares and nothing else; a declared secret
/// it asks for goes from the vault into an environment variable, never into its argv.
fn setup_commands(home: &Home, name: &str, b: &dyn mcp::builtin::Builtin) -> Result<u8, Failure> {
    let host = plugin_host::host(home);
    let m = host.load(name).map_err(|(f, d)| Failure::failed(render(&f, &d)))?.manifest;
    let settings = mcp::builtin::resolve_settings(b, name, &m.settings).map_err(Failure::failed)?;
    let mapped: Vec<&str> = m.secrets.keys().map(String::as_str).collect();
    let commands = b.setup_commands(name, &host.dir(name), &settings, &mapped);
    let wanted: Vec<&SecretRef> =
        commands.iter().flat_map(|c| c.secret_env.iter()).filter_map(|(_, key)| m.secrets.get(key)).collect();
    let mut values = std::collections::BTreeMap::new();
    if !wanted.is_empty() {
        let vault = vault::Vault::new(&home.root);
        let open = vault.open(&crate::vault_cmd::unlock(&vault, None)?).map_err(crate::vault_cmd::vault_failure)?;
        for r in wanted {
            if let Some(v) = open.get(r.key()) {
                values.insert(r.key().to_string(), r.apply(v.expose_secret()));
            }
        }
    }
    for c in commands {
        let Some((program, args)) = c.argv.split_first() else { continue };
        output::err(&format!("{}\n", c.intro));
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).env_clear().envs(c.env);
        for (var, key) in &c.secret_env {
            if let Some(v) = m.secrets.get(key).and_then(|r| values.get(r.key())) {
                cmd.env(var, v);
            }
        }
        let status = cmd.status().map_err(|e| Failure::failed(format!("cannot run `{program}`: {e}")))?;
        if !status.success() {
            output::err(&format!("`{program}` ended with {status}; `pyra plugin setup {name}` runs it again\n"));
            return Ok(exit::INVALID);
        }
    }
    Ok(exit::OK)
}

/// Writes changed settings to plugin.yaml and says which.
fn write_settings(home: &Home, name: &str, changed: &[(&'static str, String)]) -> Result<(), Failure> {
    if changed.is_empty() {
        output::err("settings unchanged\n");
        return Ok(());
    }
    let edits: Vec<(&str, &str, String)> = changed.iter().map(|(k, v)| ("settings", *k, v.clone())).collect();
    super::super::edit_manifest(home, name, &edits)?;
    let keys: Vec<&str> = changed.iter().map(|(k, _)| *k).collect();
    output::err(&format!("set {} in plugins/{name}/plugin.yaml\n", keys.join(", ")));
    Ok(())
}

/// A built-in's declared secrets, on a terminal: each one the vault lacks (or every one,
/// with `force`) is asked for, Enter skips it; one given that the manifest does not map
/// yet is mapped to `plugin:NAME:KEY` once it is in the vault (a mapped key the vault
/// lacks fails every call, so a skipped secret stays unmapped).
fn declared_secrets(home: &Home, m: &Manifest, b: &dyn mcp::builtin::Builtin, force: bool) -> Result<u8, Failure> {
    let declared: Vec<&config::fields::Field> = b.fields().iter().filter(|f| f.kind.is_secret()).collect();
    if declared.is_empty() {
        return Ok(exit::OK);
    }
    let vault = vault::Vault::new(&home.root);
    if !vault.exists() && m.secrets.is_empty() {
        let keys: Vec<&str> = declared.iter().map(|f| f.key).collect();
        output::err(&format!(
            "no vault yet, so no secret was asked for ({}): `pyra vault init`, then `pyra plugin setup {}`\n",
            keys.join(", "),
            m.name
        ));
        return Ok(exit::OK);
    }
    let unlock = crate::vault_cmd::unlock(&vault, None)?;
    let open = vault.open(&unlock).map_err(crate::vault_cmd::vault_failure)?;
    let mut values = Vec::new();
    let mut to_map = Vec::new();
    for f in declared {
        let mapped = m.secrets.get(f.key).map(|r| r.key().to_string());
        let key = mapped.clone().unwrap_or_else(|| mcp::builtin::vault_key(&m.name, f.key));
        if open.get(&key).is_some() && !force {
            output::err(&format!("`{}`: `{key}` is in the vault already (`--force` asks again)\n", f.key));
        } else {
            output::err(&format!("{} ({}) — {} (vault key `{key}`; Enter skips)\n", f.label, f.key, f.description));
            let value = crate::vault_cmd::read_value(&key)?;
            if value.expose_secret().is_empty() {
                output::err(&format!("  `{}` skipped\n", f.key));
                continue;
            }
            crate::vault_cmd::check_value(&key, &value)?;
            values.push((key.clone(), value));
        }
        if mapped.is_none() {
            to_map.push(("secrets", f.key, key));
        }
    }
    drop(open);
    if !values.is_empty() {
        store_secrets(home, &values)?;
    }
    if !to_map.is_empty() {
        super::super::edit_manifest(home, &m.name, &to_map)?;
        let keys: Vec<&str> = to_map.iter().map(|(_, k, _)| *k).collect();
        output::err(&format!("mapped {} under `secrets:` in plugins/{}/plugin.yaml\n", keys.join(", "), m.name));
    }
    Ok(exit::OK)
}

/// The secrets the manifest maps (`secrets:`), each the vault lacks asked for (a
/// terminal) or read from stdin, and stored.
fn mapped_secrets(home: &Home, m: &Manifest, force: bool) -> Result<u8, Failure> {
    let name = &m.name;
    if m.secrets.is_empty() {
        output::err(&format!("`{name}` maps no secrets (`secrets:` in its plugin.yaml)\n"));
        return Ok(exit::OK);
    }
    let vault = vault::Vault::new(&home.root);
    let unlock = crate::vault_cmd::unlock(&vault, None)?;
    let open = vault.open(&unlock).map_err(crate::vault_cmd::vault_failure)?;
    let mut values = Vec::new();
    for (var, r) in &m.secrets {
        if open.get(r.key()).is_some() && !force {
            output::err(&format!("`{var}`: `{}` is in the vault already (`--force` asks again)\n", r.key()));
            continue;
        }
        output::err(&format!("`{var}` of plugin `{name}` (vault key `{}`)\n", r.key()));
        let value = crate::vault_cmd::read_value(r.key())?;
        crate::vault_cmd::check_value(r.key(), &value)?;
        values.push((r.key().to_string(), value));
    }
    if !values.is_empty() {
        store_secrets(home, &values)?;
    }
    Ok(exit::OK)
}
