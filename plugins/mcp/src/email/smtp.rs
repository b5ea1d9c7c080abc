//! Sending through the account's SMTP server with lettre (rustls, the platform's roots
//! and `ca_file`), authenticated with the account's login; a refused password names its
//! vault key, a TLS or connection failure the settings to check.

use std::time::Duration;

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncTransport, Tokio1Executor};

use super::account::{Account, Security};
use super::conn;

pub async fn send(account: &Account, message: &lettre::Message) -> Result<(), String> {
    let server = account.smtp()?;
    let tls = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(server.host.clone());
        for der in conn::extra_roots(account)? {
            b = b.add_root_certificate(
                Certificate::from_der(der.to_vec()).map_err(|e| format!("`settings.ca_file`: {e}"))?,
            );
        }
        b.build().map_err(|e| conn::tls_failed(server, &e.to_string()))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.as_str()).port(server.port);
    builder = match server.security {
        Security::Tls => builder.tls(Tls::Wrapper(tls()?)),
        Security::StartTls => builder.tls(Tls::Required(tls()?)),
        Security::None => builder.tls(Tls::None),
    };
    let transport = builder
        .credentials(Credentials::new(account.username.clone(), account.password.clone()))
        .authentication(vec![Mechanism::Plain, Mechanism::Login])
        .timeout(Some(Duration::from_secs(60)))
        .build();
    transport.send(message.clone()).await.map(drop).map_err(|e| explain(account, &e))
}

fn explain(account: &Account, e: &lettre::transport::smtp::Error) -> String {
    let Some(server) = account.smtp.as_ref() else { return e.to_string() };
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    let text = e.to_string();
    if code == "535"
        || code == "534"
        || text.contains("authentication")
        || text.contains("No compatible authentication")
    {
        return account.refused(server, &text);
    }
    if e.is_tls() {
        return conn::tls_failed(server, &text);
    }
    if e.is_permanent() || e.is_transient() {
        return format!("the SMTP server {} refused the message: {text}", server.addr());
    }
    if e.is_timeout() {
        return format!(
            "the SMTP server {} did not answer in time: check `smtp_host`, `smtp_port` and `smtp_security`",
            server.addr()
        );
    }
    format!(
        "sending through the SMTP server {} failed ({text}): check `smtp_host`, `smtp_port` and `smtp_security` \
         (tls for port 465, starttls for 587)",
        server.addr()
    )
}
