//! Import tests: one sample per client, written as its documentation shows it, then
//! secrets, then every error with its line and column.

use syntax::{Diagnostic, SourceFile};

use super::*;

fn ok(text: &str) -> Imported {
    match parse(text, "config.json") {
        Ok(imported) => imported,
        Err(errors) => {
            panic!("{}", errors.iter().map(|d| d.render(&SourceFile::new("x", text), false)).collect::<String>())
        }
    }
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text, "config.json") {
        Ok(imported) => panic!("expected errors, got {imported:#?}"),
        Err(errors) => errors,
    }
}

/// Line and column (1-based) of a diagnostic's start.
fn line_col(text: &str, d: &Diagnostic) -> (usize, usize) {
    SourceFile::new("x", text).line_col(d.span.clone().expect("located").start)
}

fn server<'a>(imported: &'a Imported, name: &str) -> &'a ImportedServer {
    imported.servers.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no server {name}: {imported:#?}"))
}

fn stdio(command: &str, args: &[&str], cwd: Option<&str>) -> ImportedTransport {
    ImportedTransport::Stdio {
        command: command.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        cwd: cwd.map(Into::into),
    }
}

fn http(url: &str, legacy_sse: bool) -> ImportedTransport {
    ImportedTransport::Http { url: url.into(), legacy_sse }
}

fn plain(s: &str) -> EnvValue {
    EnvValue::Plain(s.into())
}

fn warned(imported: &Imported, code: &str, needle: &str) -> bool {
    imported.warnings.iter().any(|w| w.code == code && w.message.contains(needle))
}

const GITHUB_PAT: &str = "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ";

#[test]
fn claude_desktop() {
    let text = r#"{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/username/Desktop"]
    },
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
        "LOG_LEVEL": "info"
      }
    }
  },
  "globalShortcut": "Ctrl+Space"
}"#;
    let imported = ok(text);
    assert_eq!(imported.shape, Shape::ClaudeDesktop);
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let fs = server(&imported, "filesystem");
    assert_eq!(
        fs.transport,
        stdio("npx", &["-y", "@modelcontextprotocol/server-filesystem", "/Users/username/Desktop"], None)
    );
    assert_eq!(&text[fs.span.clone()], "\"filesystem\"");
    assert!(fs.enabled);
    let github = server(&imported, "github");
    assert_eq!(github.env["GITHUB_PERSONAL_ACCESS_TOKEN"], EnvValue::Secret(GITHUB_PAT.into()));
    assert_eq!(github.env["LOG_LEVEL"], plain("info"));
}

#[test]
fn claude_code_projects_and_cursor_features() {
    let text = r#"{
  "numStartups": 12,
  "mcpServers": {
    "sentry": { "type": "http", "url": "https://mcp.sentry.dev/mcp", "headers": { "Authorization": "Bearer ${SENTRY_TOKEN}" } }
  },
  "projects": {
    "/home/me/app": {
      "allowedTools": [],
      "mcpServers": {
        "db": { "type": "stdio", "command": "npx", "args": ["-y", "@bytebase/dbhub", "--dsn", "${DB_URL:-postgres://localhost/app}"], "env": {} },
        "old": { "type": "sse", "url": "https://example.com/sse" }
      }
    },
    "/home/me/other": {
      "mcpServers": {
        "db": { "command": "npx", "args": ["-y", "@bytebase/dbhub"] },
        "cursor_style": { "command": "node", "args": ["${workspaceFolder}/server.js"], "envFile": "${workspaceFolder}/.env",
                          "env": { "API_KEY": "${env:MY_KEY}" }, "disabled": true }
      }
    }
  }
}"#;
    let imported = ok(text);
    assert_eq!(imported.shape, Shape::ClaudeDesktop);
    let names: Vec<&str> = imported.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["sentry", "db", "old", "cursor-style"]);
    let sentry = server(&imported, "sentry");
    assert_eq!(sentry.transport, http("https://mcp.sentry.dev/mcp", false));
    assert_eq!(sentry.headers["Authorization"], EnvValue::Template("Bearer ${env:SENTRY_TOKEN}".into()));
    let db = server(&imported, "db");
    assert_eq!(
        db.transport,
        stdio("npx", &["-y", "@bytebase/dbhub", "--dsn", "${env:DB_URL:-postgres://localhost/app}"], None)
    );
    assert_eq!(server(&imported, "old").transport, http("https://example.com/sse", true));
    // The second `db` is a warning, not an error, and the first one is kept.
    let dup = imported.warnings.iter().find(|w| w.code == "mcp-import-duplicate").expect("duplicate warned");
    assert_eq!(line_col(text, dup), (16, 9));
    let cursor = server(&imported, "cursor-style");
    assert_eq!(cursor.original_name, "cursor_style");
    assert!(!cursor.enabled);
    assert_eq!(cursor.env["API_KEY"], EnvValue::FromEnv { var: "MY_KEY".into(), default: None });
    assert!(warned(&imported, "mcp-import-unknown-key", "envFile"));
    assert!(warned(&imported, "mcp-import-unresolved", "${workspaceFolder}"));
}

#[test]
fn vs_code_jsonc() {
    let text = r#"{
  // 💡 Inputs are prompted on first server start, then stored securely by VS Code.
  "inputs": [
    {
      "type": "promptString",
      "id": "perplexity-key",
      "description": "Perplexity API Key",
      "password": true
    }
  ],
  "servers": {
    // https://github.com/ppl-ai/modelcontextprotocol/
    "Perplexity": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "server-perplexity-ask"],
      "env": {
        "PERPLEXITY_API_KEY": "${input:perplexity-key}", /* asked for */
      }
    },
    "fetch": { "type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"] },
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
    },
  },
}
"#;
    let imported = ok(text);
    assert_eq!(imported.shape, Shape::VsCode);
    let perplexity = server(&imported, "perplexity");
    assert_eq!(perplexity.original_name, "Perplexity");
    assert_eq!(perplexity.env["PERPLEXITY_API_KEY"], EnvValue::AskUser);
    let input = imported.warnings.iter().find(|w| w.code == "mcp-import-input").expect("input warned");
    assert_eq!(line_col(text, input), (18, 31));
    assert_eq!(server(&imported, "fetch").transport, stdio("uvx", &["mcp-server-fetch"], None));
    assert_eq!(server(&imported, "github").transport, http("https://api.githubcopilot.com/mcp/", false));
    assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
}

#[test]
fn zed_settings() {
    let text = r#"// Zed settings
{
  "theme": "One Dark",
  "context_servers": {
    "mcp-server-github": {
      "source": "custom",
      "command": "docker",
      "args": ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "<YOUR_TOKEN>" }
    },
    "remote": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${TOKEN}" } },
    "old-style": {
      "command": { "path": "node", "args": ["server.js"], "env": { "LOG_LEVEL": "debug" } },
      "settings": {}
    },
    "mcp-server-postgres": { "source": "extension", "settings": { "database_url": "postgres://" } }
  }
}"#;
    let imported = ok(text);
    assert_eq!(imported.shape, Shape::Zed);
    let github = server(&imported, "mcp-server-github");
    assert_eq!(github.env["GITHUB_PERSONAL_ACCESS_TOKEN"], EnvValue::AskUser, "a placeholder is asked for");
    let remote = server(&imported, "remote");
    assert_eq!(remote.headers["Authorization"], EnvValue::Template("Bearer ${env:TOKEN}".into()));
    let old = server(&imported, "old-style");
    assert_eq!(old.transport, stdio("node", &["server.js"], None));
    assert_eq!(old.env["LOG_LEVEL"], plain("debug"));
    assert!(warned(&imported, "mcp-import-unknown-key", "`settings`"));
    assert_eq!(imported.servers.len(), 3);
    assert!(warned(&imported, "mcp-import-skipped", "mcp-server-postgres"));
}

#[test]
fn openclaw_json5() {
    let text = r#"{
  mcp: {
    // Optional. Default: 600000 ms (10 minutes).
    sessionIdleTtlMs: 600000,
    servers: {
      docs: {
        command: "npx",
        args: ["-y", "@modelcontextprotocol/server-fetch"],
        cwd: "/srv/docs",
        toolFilter: { include: ["fetch*"], exclude: ["fetch_raw"] },
        requestTimeoutMs: 120000,
      },
      remote: {
        url: "https://example.com/mcp",
        transport: "streamable-http", // streamable-http | sse
        headers: {
          Authorization: "Bearer ${MCP_REMOTE_TOKEN}",
        },
        connectionTimeoutMs: 30000,
        enabled: false,
      },
    },
  },
}"#;
    let imported = ok(text);
    assert_eq!(imported.shape, Shape::OpenClaw);
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let docs = server(&imported, "docs");
    assert_eq!(docs.transport, stdio("npx", &["-y", "@modelcontextprotocol/server-fetch"], Some("/srv/docs")));
    assert_eq!(docs.include, ["fetch*"]);
    assert_eq!(docs.exclude, ["fetch_raw"]);
    assert_eq!(docs.call_timeout_ms, Some(120_000));
    let remote = server(&imported, "remote");
    assert_eq!(remote.transport, http("https://example.com/mcp", false));
    assert_eq!(remote.timeout_ms, Some(30_000));
    assert!(!remote.enabled);
    assert_eq!(remote.headers["Authorization"], EnvValue::Template("Bearer ${env:MCP_REMOTE_TOKEN}".into()));
}

#[test]
fn goose_yaml() {
    let text = "\
extensions:
  developer:
    bundled: true
    display_name: Developer
    enabled: true
    name: developer
    timeout: 300
    type: builtin
  github:
    args:
    - -y
    - '@modelcontextprotocol/server-github'
    bundled: null
    cmd: npx
    description: GitHub API
    enabled: true
    env_keys:
    - GITHUB_PERSONAL_ACCESS_TOKEN
    envs:
      GITHUB_HOST: github.com
    name: github
    timeout: 300
    type: stdio
  context7:
    type: streamable_http
    uri: https://mcp.context7.com/mcp
    headers:
      CONTEXT7_API_KEY: ctx7sk-0123456789abcdef
    enabled: false
    available_tools: [resolve-library-id, get-library-docs]
GOOSE_PROVIDER: openai
GOOSE_MODEL: gpt-4o
";
    let imported = parse(text, "config.yaml").unwrap();
    assert_eq!(imported.shape, Shape::Goose);
    let skipped = imported.warnings.iter().find(|w| w.code == "mcp-import-skipped").expect("builtin skipped");
    assert_eq!(line_col(text, skipped), (8, 11));
    assert_eq!(imported.servers.len(), 2);
    let github = server(&imported, "github");
    assert_eq!(github.transport, stdio("npx", &["-y", "@modelcontextprotocol/server-github"], None));
    assert_eq!(github.env["GITHUB_HOST"], plain("github.com"));
    assert_eq!(github.env["GITHUB_PERSONAL_ACCESS_TOKEN"], EnvValue::AskUser);
    assert_eq!(github.call_timeout_ms, Some(300_000));
    let context7 = server(&imported, "context7");
    assert_eq!(context7.transport, http("https://mcp.context7.com/mcp", false));
    assert_eq!(context7.headers["CONTEXT7_API_KEY"], EnvValue::Secret("ctx7sk-0123456789abcdef".into()));
    assert_eq!(context7.include, ["resolve-library-id", "get-library-docs"]);
    assert!(!context7.enabled);
    assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
}

#[test]
fn bare_map() {
    let imported =
        ok("{\"fetch\": {\"command\": \"uvx\", \"args\": [\"mcp-server-fetch\"], \"alwaysAllow\": [\"fetch\"]}}");
    assert_eq!(imported.shape, Shape::Bare);
    assert_eq!(imported.servers[0].transport, stdio("uvx", &["mcp-server-fetch"], None));
    assert!(warned(&imported, "mcp-import-unknown-key", "alwaysAllow"));
}

#[test]
fn secrets_both_ways() {
    let text = r#"{"mcpServers": {"s": {"command": "x", "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ",
        "LOG_LEVEL": "info",
        "TOKEN": "${env:TOKEN}",
        "OTHER": "${TOKEN}",
        "HEADER": "Bearer ${TOKEN}",
        "CONFIG_JSON": "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA-zyxw_vuts",
        "PATH": "/usr/bin",
        "PORT": 8080
    }}}}"#;
    let env = &ok(text).servers[0].env;
    assert_eq!(env["GITHUB_PERSONAL_ACCESS_TOKEN"], EnvValue::Secret(GITHUB_PAT.into()));
    assert_eq!(env["LOG_LEVEL"], plain("info"));
    assert_eq!(env["TOKEN"], EnvValue::FromEnv { var: "TOKEN".into(), default: None });
    assert_eq!(env["OTHER"], EnvValue::FromEnv { var: "TOKEN".into(), default: None });
    assert_eq!(env["HEADER"], EnvValue::Template("Bearer ${env:TOKEN}".into()));
    assert!(matches!(env["CONFIG_JSON"], EnvValue::Secret(_)), "a key-shaped value whatever its name");
    assert_eq!(env["PATH"], plain("/usr/bin"));
    assert_eq!(env["PORT"], plain("8080"));
}

#[test]
fn a_key_in_the_arguments_is_warned_about() {
    let text =
        format!("{{\"mcpServers\": {{\"s\": {{\"command\": \"x\",\n  \"args\": [\"--token\", \"{GITHUB_PAT}\"]}}}}}}");
    let imported = ok(&text);
    let warning = imported.warnings.iter().find(|w| w.code == "mcp-import-secret").expect("warned");
    assert!(warning.message.contains("github_token"), "{}", warning.message);
    assert_eq!(line_col(&text, warning), (2, 23));
    // So is one next to a reference in `env`, which would go into the manifest as a template.
    let text =
        format!(r#"{{"mcpServers": {{"s": {{"command": "x", "env": {{"URL": "https://{GITHUB_PAT}@${{HOST}}"}}}}}}}}"#);
    let imported = ok(&text);
    assert!(matches!(imported.servers[0].env["URL"], EnvValue::Template(_)));
    assert!(warned(&imported, "mcp-import-secret", "`URL` of `s`"));
    // The value itself is not in the message.
    assert!(!warning.message.contains(GITHUB_PAT) && !warning.help.as_deref().unwrap_or("").contains(GITHUB_PAT));
}

#[test]
fn an_entry_with_neither_command_nor_url() {
    let text = "{\n  \"mcpServers\": {\n    \"broken\": { \"args\": [\"x\"] }\n  }\n}";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].code, "mcp-import-transport");
    assert_eq!(line_col(text, &errs[0]), (3, 5));
    let expected = errs[0].expected.as_deref().unwrap();
    assert!(expected.contains("`command`") && expected.contains("`url`") && expected.contains("`uri`"), "{expected}");
    // The diagnostic carries the file and renders with its name.
    let out = errs[0].render(&SourceFile::new("other", ""), false);
    assert!(out.contains("config.json:3:5"), "{out}");
}

#[test]
fn args_that_are_not_strings() {
    let text = "{\"mcpServers\": {\n  \"s\": {\"command\": \"x\", \"args\": [\"--port\", 8080]}\n}}";
    let errs = errors(text);
    assert_eq!(errs[0].code, "mcp-import-value");
    assert_eq!(line_col(text, &errs[0]), (2, 44));
    assert_eq!(errs[0].label.as_deref(), Some("item 2 is a number"));
    assert!(errs[0].help.is_some());
    let text = "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"args\": \"--port 8080\"}}}";
    assert_eq!(line_col(text, &errors(text)[0]), (1, 47));
}

#[test]
fn names_that_cannot_be_plugin_names() {
    let text = "{\"mcpServers\": {\n  \"日本\": {\"command\": \"x\"},\n  \"My_Server\": {\"command\": \"x\"},\n  \"my-server\": {\"command\": \"y\"}\n}}";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].code, "mcp-import-name");
    assert_eq!(line_col(text, &errs[0]), (2, 3));
    assert!(errs[0].help.is_some());
    assert!(errs[1].message.contains("`my-server`"), "{}", errs[1].message);
    assert_eq!(line_col(text, &errs[1]), (4, 3));
    let (related, _) = &errs[1].related[0];
    assert_eq!(SourceFile::new("x", text).line_col(related.start), (3, 3));
}

#[test]
fn nothing_recognisable() {
    let text = "{\n  \"mcp_servers\": {}\n}";
    let errs = errors(text);
    assert_eq!(errs[0].code, "mcp-import-unrecognised");
    assert_eq!(line_col(text, &errs[0]), (2, 3));
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `mcpServers`?"));
    let errs = errors("{\"theme\": \"dark\", \"fontSize\": 14}");
    assert!(errs[0].expected.as_deref().unwrap().contains("`context_servers` (Zed)"));
    assert!(errs[0].help.as_deref().unwrap().contains("`theme`, `fontSize`"));
    let errs = errors("{\"command\": \"npx\", \"args\": []}");
    assert!(errs[0].help.as_deref().unwrap().contains("one server"));
    assert_eq!(errors("[1, 2]")[0].code, "mcp-import-unrecognised");
    assert_eq!(errors("")[0].help.as_deref(), Some("the file is empty"));
}

#[test]
fn syntax_errors_are_located() {
    let text = "{\n  \"mcpServers\": {} /* never closed\n}";
    let errs = errors(text);
    assert_eq!(errs[0].code, "unterminated-comment");
    assert_eq!(line_col(text, &errs[0]), (2, 20));
    let text = "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}\n    \"b\": {}\n  }\n}";
    let errs = errors(text);
    assert!(errs[0].message.starts_with("invalid JSON"), "{}", errs[0].message);
    assert_eq!(line_col(text, &errs[0]).0, 4);
}

#[test]
fn types_and_transports() {
    let errs = errors("{\"servers\": {\"s\": {\"type\": \"websocket\", \"url\": \"ws://x\"}}}");
    assert!(errs[0].expected.as_deref().unwrap().contains("streamable_http"));
    let errs = errors("{\"servers\": {\"s\": {\"type\": \"http\", \"command\": \"x\"}}}");
    assert_eq!(errs[0].code, "mcp-import-transport");
    let errs = errors("{\"servers\": {\"s\": {\"command\": \"x\", \"url\": \"http://y\"}}}");
    assert_eq!(errs[0].related.len(), 2);
    let imported = ok("{\"servers\": {\"s\": {\"url\": \"http://y/sse\", \"timeout\": 60}}}");
    assert!(warned(&imported, "mcp-import-sse", "legacy SSE"));
    assert_eq!(imported.servers[0].call_timeout_ms, Some(60_000));
    assert!(warned(&imported, "mcp-import-timeout", "seconds"));
}

#[test]
fn json_quirks() {
    // A byte-order mark, tabs, `\/` and unicode escapes, CRLF line ends.
    let text = "\u{feff}{\r\n\t\"mcpServers\": {\"a\\/b\": {\"command\": \"\\u006e\\/px\"}}\r\n}";
    let imported = ok(text);
    assert_eq!(imported.servers[0].original_name, "a/b");
    assert_eq!(imported.servers[0].name, "ab");
    assert_eq!(imported.servers[0].transport, stdio("n/px", &[], None));
}

#[test]
fn nulls_are_absent_and_wrong_types_are_located() {
    let text = "extensions:\n  a:\n    type: stdio\n    cmd: x\n    timeout: null\n    bundled: null\n    envs: null\n";
    let imported = parse(text, "config.yaml").unwrap();
    assert_eq!(imported.servers[0].call_timeout_ms, None);
    let text = "{\"mcpServers\": {\"s\": {\"command\": \"x\",\n \"enabled\": \"yes\", \"env\": {\"A\": null}}}}";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(line_col(text, &errs[0]), (2, 13));
    assert_eq!(line_col(text, &errs[1]), (2, 33));
    let text = "{\"mcpServers\": {\"s\": {\"command\": \"x\", \"env\": {\"A\": [1]}}}}";
    assert!(errors(text)[0].message.contains("`A` must be a string"));
    let text = "{\"mcpServers\": {\"s\": {\"command\": \"\"}}}";
    assert_eq!(line_col(text, &errors(text)[0]), (1, 34));
    let text = "{\"context_servers\": {\"s\": {\"source\": \"custom\"}}}";
    assert_eq!(errors(text)[0].code, "mcp-import-transport");
    let text = "{\"mcpServers\": {\"s\": \"npx server\"}}";
    assert!(errors(text)[0].message.contains("must be a map"));
}
