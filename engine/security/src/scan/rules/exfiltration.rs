//! Exfiltration rules: requests to send, print or beacon out secrets, the system prompt or the
//! conversation, including image URLs whose query string is built to carry data out.

use super::{Rule, rule};
use crate::scan::Category::Exfiltration as Exf;

pub(super) static RULES: &[Rule] = &[
    rule(
        "send_secret_to",
        Exf,
        concat!(
            r"\b(?:send|post|upload|forward|transmit|e-?mail|exfiltrate|leak|paste|submit|share|copy|append",
            r"|attach|deliver|curl|wget|beam|dm|push|sync|relay|pipe|put|include|encode",
            r"|report)\b%ANY%{0,60}?%OWNED_SECRET%%ANY%{0,100}?\b(?:to|at|into|via|using|on|onto|in) %DEST%",
        ),
    )
    .negatable(),
    rule(
        "reveal_system_prompt",
        Exf,
        concat!(
            r"\b(?:reveal|print|output|dump|leak|disclose|expose|repeat|recite|spell out|tell me|tell us",
            r"|give me|give us|show me|show us|display|return|echo|write out|type out|translate|summari[sz]e",
            r"|copy)(?: (?:me|us|back|out|all|all of|your|the|full|entire|complete|exact|exactly|verbatim",
            r"|original|initial|hidden|secret|internal|current|raw|of|first|above|contents?|text|words",
            r"|word for word))* (?:system prompt|system message|system instructions",
            r"|initial (?:prompt|instructions)|hidden (?:prompt|instructions)|original (?:prompt|instructions)",
            r"|pre-?prompt|developer (?:prompt|message|instructions)",
            r"|(?:prompt|instructions|text|everything|words) above|configuration prompt)\b",
            r"|\bwhat (?:is|are|was|were) your (?:system prompt|system message|initial instructions",
            r"|original instructions|hidden instructions|instructions|rules)\b",
        ),
    )
    .negatable(),
    rule(
        "reveal_secret",
        Exf,
        concat!(
            r"\b(?:reveal|print|output|dump|leak|disclose|expose|recite|spell out|tell me|tell us|give me",
            r"|give us|show me|show us|echo|type out|read out",
            r"|cat)(?: (?:me|us|back|out|all|all of|the|full|entire|complete|exact|verbatim|raw|current|any",
            r"|every|each))* %OWNED_SECRET%",
        ),
    )
    .negatable(),
    rule(
        "url_secret_placeholder",
        Exf,
        concat!(
            r#"https?://[^\s"'<>)]*[?&#/][a-z0-9_]*=?[^\s"'<>)]*(?:\{\{?|\$\{|<|\["#,
            r#"|%7b)[^>\]}\n]{0,30}?(?:%SECRET%|system_?prompt|prompt|conversation|chat(?:_?history)?|history"#,
            r#"|messages?|user_?data|context|memory|summary|e-?mails?|contents?|secret|key|password|info|data)"#,
        ),
    ),
    rule("markdown_image_beacon", Exf, r"!\[[^\]\n]{0,200}\]\(\s*<?https?://[^\s)>]{1,2000}")
        .checked(beacon_carries_data),
    rule("html_image_beacon", Exf, r#"<img\b[^>]{0,200}\bsrc\s*=\s*["']?https?://[^\s"'>]{1,2000}"#)
        .checked(beacon_carries_data),
    rule(
        "data_into_url",
        Exf,
        concat!(
            r"\b(?:include|append|add|encode|put|insert|embed|attach",
            r"|pass)\b%ANY%{0,60}\b(?:the (?:whole |entire |full )?conversation|chat history",
            r"|conversation history|previous messages",
            r"|(?:the )?(?:latest|last|current|previous|recent) (?:chat |user |conversation )?messages?",
            r"|(?:the )?user's (?:data|messages|emails|files|name|address)|(?:the |your )?system prompt",
            r"|%OWNED_SECRET%)\b%ANY%{0,60}\b(?:in|into|to|as) (?:the |a |this |an )?(?:url|query string",
            r"|query param(?:eter)?|link|image (?:url|link|src)|markdown image|request|get parameter",
            r"|[a-z_]{1,20} (?:query )?param(?:eter)?)\b",
        ),
    )
    .negatable(),
    rule(
        "send_conversation",
        Exf,
        concat!(
            r"\b(?:our|this|the|the whole|the entire|the full|your) (?:conversation|chat|chat history",
            r"|conversation history|transcript|chat log)%SENT%{0,60}?\b(?:send|forward|email|e-mail|post",
            r"|upload|submit)(?: it| this| them| that| the (?:summary|transcript|copy|result)",
            r"| a (?:summary|copy))\b%SENT%{0,30}? to (?:https?://|[a-z0-9._+-]+@[a-z0-9-]+\.[a-z0-9.-]+)",
        ),
    )
    .negatable(),
    rule(
        "tool_on_secret",
        Exf,
        concat!(
            r"\b(?:call|invoke|run|use",
            r"|execute)(?: the)? [`'\x22]?[a-z_]{2,30}(?:\.[a-z_]{2,20})?[`'\x22]?(?: tool| function)? (?:on",
            r"|with|against|for) (?:the (?:file |path )?)?%OWNED_SECRET%",
        ),
    )
    .negatable(),
    rule(
        "shell_exfiltration",
        Exf,
        concat!(
            r"\b(?:curl|wget|nc|ncat|netcat|invoke-webrequest|iwr|invoke-restmethod",
            r"|irm)\b[^\n]{0,200}(?:\$\(\s*(?:env|printenv",
            r"|cat [^)\n]*(?:\.env|id_rsa|id_ed25519|\.ssh|credentials|passwd|shadow|\.aws|\.netrc",
            r"|\.git-credentials)))|\b(?:curl|wget)\b[^\n]{0,200}(?:-d|--data|--data-binary|--upload-file|-t",
            r"|-f|--form)\s*['\x22]?[a-z]*=?@\S*(?:\.env\b|id_rsa|id_ed25519|credentials|\.ssh/|\.aws/|\.netrc",
            r"|passwd|shadow)|\b(?:env|printenv|set|cat\s+[^\n|]*(?:\.env|id_rsa|credentials|\.ssh|\.aws",
            r"|\.netrc))\s*\|\s*(?:base64[^\n|]*\|\s*)?(?:curl|wget|nc|ncat|netcat)\b",
        ),
    ),
    rule(
        "forward_user_data",
        Exf,
        concat!(
            r"\b(?:forward|send|copy|bcc|cc|export|sync|upload)\b (?:all|every|each|the last \d+",
            r"|the (?:entire|full|whole)|a copy of (?:all|every|the))(?: (?:of|the|my|your|the user's|user's",
            r"|their|recent|previous|new|incoming|private|unread|future))* (?:emails?|e-mails?|messages",
            r"|conversations?|chat history|chats|dms|direct messages|contacts|documents|files|attachments",
            r"|inbox|mailbox|calendar|notes|memories|conversation history)\b%ANY%{0,80}?\bto %DEST%",
        ),
    )
    .negatable(),
    rule(
        "send_secret_intl",
        Exf,
        concat!(
            r"\b(?:envoie[zr]?|envoyer|transmets|transmettez|envia|envie|enviar|manda|mande|schicke|schick",
            r"|sende|senden sie|ubermittle|invia|inviate|stuur)\b%ANY%{0,60}?\b(?:cle|cles|mots? de passe",
            r"|jetons?|identifiants|claves?|contrasenas?|credenciales|tokens?|schlussel|passworter|passwort",
            r"|zugangsdaten|chiavi|chiave|password|credenziali|wachtwoord|sleutels?",
            r"|api)\b%ANY%{0,100}?(?:https?://|[a-z0-9._+-]+@[a-z0-9-]+\.[a-z]+)",
        ),
    )
    .negatable(),
    rule(
        "send_secret_cjk",
        Exf,
        concat!(
            r"(?:api ?キー|パスワード|トークン|認証情報|秘密鍵|api ?密钥|密码|令牌|凭证|凭据|私钥)[^\n]{0,40}?(?:https?://",
            r"|[a-z0-9._+-]+@)[^\n]{0,80}?(?:送信|送って|送る|アップロード|転送|发送|发到|上传|转发)",
            r"|(?:送信|アップロード|转发|发送|上传)[^\n]{0,20}?(?:api ?キー|パスワード|トークン|api ?密钥|密码|令牌",
            r"|凭证)[^\n]{0,60}?(?:https?://|[a-z0-9._+-]+@)",
        ),
    ),
];

/// Whether an image URL's query string is built to carry data out: a placeholder the model is
/// meant to fill (`{…}`, `$VAR`, `<…>`, `[…]`, an ALL_CAPS token) that names conversation or
/// secret data (`{{user.id}}` in a mail template does not), or a secret-named parameter.
/// A literal value (`?text=Hello+World`, `?w=1200`) is fixed by the page and leaks nothing.
fn beacon_carries_data(hit: &str) -> bool {
    const DATA_WORDS: &[&str] = &[
        "conversation",
        "chat",
        "history",
        "message",
        "prompt",
        "secret",
        "key",
        "token",
        "password",
        "passwd",
        "data",
        "summary",
        "context",
        "memory",
        "answer",
        "response",
        "transcript",
        "input",
        "query",
        "credential",
        "cookie",
        "session",
        "env",
    ];
    let Some((_, query)) = hit.split_once('?') else { return false };
    query.split(['&', ';']).any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let lower = value.to_ascii_lowercase();
        let names_data = DATA_WORDS.iter().any(|w| lower.contains(w));
        let placeholder = value.contains(['{', '[', '<', '$'])
            || lower.contains("%7b")
            || (value.bytes().filter(u8::is_ascii_uppercase).count() >= 3
                && value.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit()));
        let secret_key = matches!(
            key.to_ascii_lowercase().as_str(),
            "secret"
                | "apikey"
                | "api_key"
                | "pw"
                | "pass"
                | "password"
                | "creds"
                | "cookie"
                | "session"
                | "conversation"
                | "convo"
                | "chat"
                | "history"
                | "prompt"
                | "leak"
                | "exfil"
                | "memory"
        );
        !value.is_empty() && ((placeholder && names_data) || secret_key)
    })
}
