//! Connections to the IMAP server: TCP, then TLS (rustls with the platform's roots and
//! the account's `ca_file`, the aws-lc-rs provider reqwest already builds) from the first
//! byte or after `STARTTLS`, then LOGIN. Every failure names the setting to fix.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::account::{Account, Security, Server};

pub type Session = async_imap::Session<Stream>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A plain or TLS connection, one type for async-imap.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The account's `ca_file` certificates (PEM), or an error naming the setting.
pub fn extra_roots(account: &Account) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let Some(path) = &account.ca_file else { return Ok(Vec::new()) };
    let pem = std::fs::read(path).map_err(|e| format!("`settings.ca_file` {}: {e}", path.display()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`settings.ca_file` {}: not PEM certificates ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`settings.ca_file` {} holds no certificate", path.display()));
    }
    Ok(certs)
}

fn tls_config(account: &Account) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots(account)?, provider.clone())
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls(account: &Account, server: &Server, tcp: TcpStream) -> Result<Stream, String> {
    let name = rustls::pki_types::ServerName::try_from(server.host.clone())
        .map_err(|e| format!("`settings.{}: {}` is not a host name ({e})", server.setting("host"), server.host))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(account)?);
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_failed(server, "no TLS handshake within 20 s"))?
        .map_err(|e| tls_failed(server, &e.to_string()))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// The error for a failed TLS handshake: which settings to look at.
pub fn tls_failed(server: &Server, why: &str) -> String {
    let (tls_port, starttls_port) = if server.kind == "imap" { (993, 143) } else { (465, 587) };
    format!(
        "TLS with the {} server {} failed ({why}): check `{}` (tls for port {tls_port}, starttls for port \
         {starttls_port}) and `{}`; a server with its own certificate authority needs `ca_file`",
        server.kind.to_uppercase(),
        server.addr(),
        server.setting("security"),
        server.setting("port"),
    )
}

/// A TCP connection to `server`, or an error naming its host and port settings.
pub async fn tcp(server: &Server) -> Result<TcpStream, String> {
    let unreachable = |why: String| {
        format!(
            "cannot reach the {} server at {} ({why}): check `{}` and `{}`",
            server.kind.to_uppercase(),
            server.addr(),
            server.setting("host"),
            server.setting("port")
        )
    };
    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((server.host.as_str(), server.port)))
        .await
        .map_err(|_| unreachable("no answer within 20 s".into()))?
        .map_err(|e| unreachable(e.to_string()))
}

/// A logged-in IMAP session.
pub async fn imap(account: &Account) -> Result<Session, String> {
    let server = &account.imap;
    let tcp = tcp(server).await?;
    let stream = match server.security {
        Security::Tls => tls(account, server, tcp).await?,
        Security::None => Stream::Plain(tcp),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, server).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| tls_failed(server, &format!("the server refused STARTTLS: {e}")))?;
            tls(account, server, client.into_inner()).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if server.security != Security::StartTls {
        greeting(&mut client, server).await?;
    }
    match client.login(&account.username, &account.password).await {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(said), _)) => Err(account.refused(server, &said)),
        Err((async_imap::error::Error::Validate(c), _)) => Err(format!(
            "the username in settings.username or the password in vault key `{}` holds a character IMAP cannot send ({:?})",
            account.password_key, c.0
        )),
        Err((e, _)) => Err(imap_error(server, "LOGIN", &e)),
    }
}

/// Reads the server's greeting; a TLS server spoken to in plain text (or the reverse)
/// fails here.
async fn greeting<T>(client: &mut async_imap::Client<T>, server: &Server) -> Result<(), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let read = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await;
    match read {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(tls_failed(server, "the server closed the connection before its greeting")),
        Ok(Err(e)) => Err(tls_failed(server, &format!("no IMAP greeting: {e}"))),
        Err(_) => Err(tls_failed(server, "no IMAP greeting within 20 s")),
    }
}

/// An IMAP error as a message naming the server and the command.
pub fn imap_error(server: &Server, command: &str, e: &async_imap::error::Error) -> String {
    format!("the IMAP server {} answered {command} with: {e}", server.addr())
}
