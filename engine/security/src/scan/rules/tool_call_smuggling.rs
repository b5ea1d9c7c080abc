//! Tool-call smuggling rules: fake tool-call JSON and tags, "call the exec tool with …", and
//! `curl … | sh`-style commands when the text addresses an AI or asks for stealth.

use super::{Rule, rule};
use crate::scan::Category::ToolCallSmuggling as Tool;

pub(super) static RULES: &[Rule] = &[
    rule(
        "fake_tool_call_json",
        Tool,
        concat!(
            r#"\{\s*"(?:tool|tool_name|toolname|function|function_name|tool_call"#,
            r#"|recipient_name)"\s*:\s*"[^"\n]{1,80}"\s*,\s*"(?:arguments|args|parameters|params|input"#,
            r#"|tool_input|kwargs)"\s*:|\{\s*"action"\s*:\s*"[^"\n]{1,80}"\s*,\s*"action_input"\s*:"#,
            r#"|\{\s*"name"\s*:\s*"[^"\n]{1,80}"\s*,\s*"(?:arguments|args|input)"\s*:"#,
        ),
    ),
    rule(
        "fake_tool_call_tag",
        Tool,
        concat!(
            r"</?(?:tool_call|tool_calls|function_calls?|tool_use|tool_code|tool_request|tool_result)>",
            r"|<invoke name\s*=|<\|(?:tool_call|tool_calls|python_tag|tool_calls_section_begin)\|>",
            r"|\[tool_calls?\]|<function=[a-z_]",
        ),
    ),
    rule(
        "fake_tool_call_key",
        Tool,
        r#""(?:function_call|tool_calls|tool_use)"\s*:\s*[\[{]|"type"\s*:\s*"(?:tool_use|function_call|tool_call)""#,
    ),
    rule(
        "call_tool_with",
        Tool,
        concat!(
            r"\b(?:call|invoke|use|run|execute|trigger|fire)(?: the| your)? [`'\x22]?(?:exec|shell|bash|sh",
            r"|terminal|run_command|run_shell|execute_command|code_interpreter|python|file\.write|file\.read",
            r"|file_write|write_file|read_file|http|http\.request|http_request|fetch|browser|send_email",
            r"|email\.send|send_message|messaging|delete_file|rm|powershell|cmd)[`'\x22]? (?:tool|function",
            r"|command|plugin|action|skill|node)(?: with(?: the| these| this)? (?:argv|args|arguments|argument",
            r"|command|cmd|input|inputs|params|parameters|payload|path|url|following|body|script|code",
            r"|content)\b| with [\[{`'\x22]| and\b| to\b|:|\s*\()",
        ),
    )
    .negatable(),
    rule(
        "pipe_to_shell",
        Tool,
        concat!(
            r"\b(?:curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod)\b[^\n|]{0,200}\|\s*(?:sudo )?(?:ba|z",
            r"|da)?sh\b|\b(?:iwr|irm|invoke-webrequest|invoke-restmethod)\b[^\n|]{0,200}\|\s*iex\b",
            r"|\biex\s*\(\s*(?:iwr|irm|new-object)",
        ),
    )
    .negatable()
    .in_context("%AGENT_CONTEXT%"),
    rule(
        "encoded_shell",
        Tool,
        concat!(
            r"\bbase64 (?:-d|--decode|-d -i)\b[^\n|]{0,40}\|\s*(?:sudo )?(?:ba|z)?sh\b",
            r"|\bpowershell(?:\.exe)?\b[^\n]{0,40}\s-(?:e|enc|encodedcommand)\s+[a-z0-9+/=]{16,}",
        ),
    ),
    rule(
        "run_this_command",
        Tool,
        r"\b(?:run|execute)(?: this| the following| these| the)?(?: shell| terminal| bash| system)? commands?\b",
    )
    .negatable()
    .in_context("%AGENT_CONTEXT%"),
];
