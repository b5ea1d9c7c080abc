//! One mail account from a plugin's settings and secret: hosts, ports, security, login,
//! From address and folders, checked before any connection is made (`none` only to a
//! loopback host), and the errors that name the setting or vault key to fix.

use crate::builtin::Call;

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// Plain, then `STARTTLS` before anything else (IMAP 143, SMTP 587); refused if the
    /// server does not offer it.
    StartTls,
    /// No TLS at all: only to a loopback host.
    None,
}

/// One server: IMAP or SMTP.
#[derive(Debug, Clone)]
pub struct Server {
    /// `imap` or `smtp`: the settings' prefix, for messages.
    pub kind: &'static str,
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl Server {
    /// `imap_host`/`imap_port` for messages.
    pub fn setting(&self, what: &str) -> String {
        format!("{}_{what}", self.kind)
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub plugin: String,
    pub imap: Server,
    pub smtp: Option<Server>,
    pub username: String,
    pub password: String,
    /// The vault key holding the password, for messages.
    pub password_key: String,
    pub address: Option<String>,
    pub name: Option<String>,
    pub drafts: String,
    pub sent: String,
    pub save_sent: bool,
    pub watch_folder: String,
    /// Extra CA certificates to trust (PEM), for a server with its own CA.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Account {
    pub fn from_call(call: &Call<'_>) -> Result<Account, String> {
        let plugin = call.plugin.to_string();
        let imap_host = call.setting("imap_host").ok_or_else(|| missing(&plugin, "imap_host", "the IMAP server"))?;
        let imap = server(call, "imap", imap_host)?;
        let smtp = match call.setting("smtp_host") {
            Some(host) => Some(server(call, "smtp", host)?),
            None => None,
        };
        let username = call.setting("username").ok_or_else(|| missing(&plugin, "username", "the login"))?.to_string();
        let password = call.secret("password")?.to_string();
        let address =
            call.setting("address").map(str::to_string).or_else(|| username.contains('@').then(|| username.clone()));
        Ok(Account {
            imap,
            smtp,
            username,
            password,
            password_key: call.vault_key_of("password"),
            address,
            name: call.setting("name").map(str::to_string),
            drafts: call.setting("drafts_folder").unwrap_or("Drafts").to_string(),
            sent: call.setting("sent_folder").unwrap_or("Sent").to_string(),
            save_sent: call.setting("save_sent") != Some("false"),
            watch_folder: call.setting("watch_folder").unwrap_or("INBOX").to_string(),
            ca_file: call.setting("ca_file").map(std::path::PathBuf::from),
            plugin,
        })
    }

    /// The SMTP server, or an error saying which settings `send` needs.
    pub fn smtp(&self) -> Result<&Server, String> {
        self.smtp.as_ref().ok_or_else(|| {
            format!(
                "plugin `{p}` has no `settings.smtp_host`, which sending needs: `pyra plugin setup {p} --set smtp_host=HOST`",
                p = self.plugin
            )
        })
    }

    /// The From address, or an error naming the setting.
    pub fn from(&self) -> Result<&str, String> {
        self.address.as_deref().ok_or_else(|| {
            format!(
                "plugin `{p}` has no `settings.address` (the From address) and its username is not an address: \
                 `pyra plugin setup {p} --set address=you@example.org`",
                p = self.plugin
            )
        })
    }

    /// The error for a refused login, naming the username setting and the vault key.
    pub fn refused(&self, server: &Server, said: &str) -> String {
        format!(
            "the {} server {} refused the login of `{}` (settings.username) with the password in vault key `{}` \
             ({}); fix it with `pyra vault set {}`",
            server.kind.to_uppercase(),
            server.addr(),
            self.username,
            self.password_key,
            said.trim(),
            self.password_key
        )
    }
}

/// The settings' own consistency, checked with the manifest: each server's security
/// against its host (cleartext only to loopback) and its port.
pub fn check(plugin: &str, settings: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let (none, cancel, dir) =
        (std::collections::BTreeMap::new(), tokio_util::sync::CancellationToken::new(), std::env::temp_dir());
    let call = Call { plugin, dir: &dir, settings, secrets: &none, secret_keys: &none, cancel: &cancel };
    for kind in ["imap", "smtp"] {
        if let Some(host) = call.setting(&format!("{kind}_host")) {
            server(&call, kind, host)?;
        }
    }
    Ok(())
}

fn missing(plugin: &str, key: &str, what: &str) -> String {
    format!("plugin `{plugin}` needs `settings.{key}` ({what}): `pyra plugin setup {plugin} --set {key}=VALUE`")
}

fn server(call: &Call<'_>, kind: &'static str, host: &str) -> Result<Server, String> {
    let security_key = format!("{kind}_security");
    let security = match call.setting(&security_key).unwrap_or(if kind == "imap" { "tls" } else { "starttls" }) {
        "tls" => Security::Tls,
        "starttls" => Security::StartTls,
        "none" => Security::None,
        other => return Err(format!("`settings.{security_key}: {other}` is not one of tls, starttls, none")),
    };
    if security == Security::None && !is_loopback(host) {
        return Err(format!(
            "plugin `{p}`: `{security_key}: none` would send the password and the mail unencrypted, so it is allowed \
             only to a loopback host (127.0.0.1, ::1, localhost), and `{kind}_host` is `{host}`: set `{security_key}` \
             to tls or starttls (`pyra plugin setup {p} --set {security_key}=tls`)",
            p = call.plugin
        ));
    }
    let port_key = format!("{kind}_port");
    let port = match call.setting(&port_key) {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`settings.{port_key}: {p}` is not a port"))?,
        None => default_port(kind, security),
    };
    Ok(Server { kind, host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port, security })
}

/// The usual port for a protocol and security.
pub fn default_port(kind: &str, security: Security) -> u16 {
    match (kind, security) {
        ("imap", Security::Tls) => 993,
        ("imap", _) => 143,
        (_, Security::Tls) => 465,
        (_, Security::StartTls) => 587,
        (_, Security::None) => 25,
    }
}

/// A host name or address that can only be this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn account(pairs: &[(&str, &str)]) -> Result<Account, String> {
        let settings: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let secrets = BTreeMap::from([("password".to_string(), "pw".to_string())]);
        let keys = BTreeMap::from([("password".to_string(), "mail:work".to_string())]);
        let cancel = tokio_util::sync::CancellationToken::new();
        let dir = std::env::temp_dir();
        let call = Call {
            plugin: "work",
            dir: &dir,
            settings: &settings,
            secrets: &secrets,
            secret_keys: &keys,
            cancel: &cancel,
        };
        Account::from_call(&call)
    }

    #[test]
    fn cleartext_only_to_loopback_and_ports_follow_security() {
        let a = account(&[("imap_host", "127.0.0.1"), ("imap_security", "none"), ("username", "bob@x.org")]).unwrap();
        assert_eq!((a.imap.port, a.address.as_deref(), a.password_key.as_str()), (143, Some("bob@x.org"), "mail:work"));
        let e =
            account(&[("imap_host", "mail.example.org"), ("imap_security", "none"), ("username", "u")]).unwrap_err();
        assert!(e.contains("allowed only to a loopback host") && e.contains("imap_security"), "{e}");
        let e = account(&[
            ("imap_host", "::1"),
            ("smtp_host", "smtp.example.org"),
            ("smtp_security", "none"),
            ("username", "u"),
        ])
        .unwrap_err();
        assert!(e.contains("`smtp_security: none`") && e.contains("`smtp.example.org`"), "{e}");
        let a = account(&[("imap_host", "h"), ("smtp_host", "h"), ("username", "u")]).unwrap();
        assert_eq!((a.imap.port, a.smtp.as_ref().unwrap().port), (993, 587));
        assert!(a.from().unwrap_err().contains("settings.address"));
        assert!(is_loopback("[::1]") && is_loopback("LOCALHOST") && !is_loopback("127.0.0.1.nip.io"));
    }
}
