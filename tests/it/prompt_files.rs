//! Prompt files (`prompt_file`, `system_file` of `llm` and `agent`) through the real
//! binary: a Jinja and a Handlebars file rendered into the request the local model server
//! receives (untrusted data inside one wrapped as inline text would be), errors located
//! inside each kind of file by `pyra skill validate`, a missing file, and paths the path
//! policy refuses at run time.

use std::path::Path;

use crate::harness::{Output, Pyra};
use crate::llm_server::{LlmServer, Reply};

/// A config whose default model is the local test server (OpenAI-compatible, no key).
fn local_model(pyra: &Pyra, server: &LlmServer) {
    let config = format!(
        "default_model: local\nmodels:\n  - name: local\n    provider: openai-compatible\n    model: gpt-4o-mini\n    base_url: {}/v1\n",
        server.url
    );
    std::fs::write(pyra.home_path().join("config.yaml"), config).unwrap();
}

/// Writes `files` (path relative to `dir`, text) and returns `dir`.
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The (role, content) pairs of the one request the server received.
fn messages(server: &LlmServer) -> Vec<(String, String)> {
    let seen = server.requests();
    assert_eq!(seen.len(), 1, "one model call");
    seen[0].body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap().to_string()))
        .collect()
}

const SKILL: &str = "\
name: brief
inputs:
  city: { type: string }
  sights: { type: array, items: { type: string } }
nodes:
  facts:
    uses: template
    with: { value: \"{{ inputs.sights | length }} sights\" }
  answer:
    uses: llm
    with:
      system_file: prompts/guide.hbs
      prompt_file: prompts/ask.j2
outputs:
  text: \"{{ nodes.answer.output }}\"
";

const ASK_J2: &str = "Plan a day in {{ inputs.city | title }} ({{ nodes.facts.output }}).\n\
{% for s in inputs.sights %}- {{ s }}\n{% endfor %}";

const GUIDE_HBS: &str = "You are a guide in {{inputs.city}}.\n\
{{#each inputs.sights as |s|}}\n* {{s}}{{#if @last}} (last){{/if}}\n{{/each}}\n\
Known: {{nodes.facts.output}}; run {{#if run.id}}has an id{{/if}}.";

#[test]
fn a_jinja_and_a_handlebars_file_render_into_the_request() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    local_model(&pyra, &server);
    let work = pyra.work();
    write(&work, &[("prompts/ask.j2", ASK_J2), ("prompts/guide.hbs", GUIDE_HBS)]);
    let skill = pyra.skill("brief", SKILL);
    let out = pyra.run(["run", &skill, "--json", "-i", "city=lisbon", "-i", r#"sights=["Alfama","Belém <tower>"]"#]);
    out.success();
    assert!(out.json()["text"].as_str().unwrap().contains("How about “Ash”?"), "{}", out.stdout);
    let sent = messages(&server);
    assert_eq!(
        sent[0],
        (
            "system".into(),
            "You are a guide in lisbon.\n* Alfama\n* Belém <tower> (last)\nKnown: 2 sights; run has an id.".into()
        ),
        "Handlebars in strict mode, not HTML-escaped"
    );
    assert_eq!(sent[1], ("user".into(), "Plan a day in Lisbon (2 sights).\n- Alfama\n- Belém <tower>\n".into()));
    // The node the files read is a dependency, as an inline reference would make it.
    pyra.run(["skill", "graph", &skill]).success().stdout_has("◀ facts");
}

#[test]
fn untrusted_data_read_by_a_handlebars_file_is_wrapped_like_inline_text() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    local_model(&pyra, &server);
    let work = pyra.work();
    write(
        &work,
        &[
            ("page.txt", "The museum opens at nine."),
            ("prompts/system.hbs", "Be brief."),
            ("prompts/ask.hbs", "Summarise: {{nodes.page.output}}"),
        ],
    );
    let skill = pyra.skill(
        "read",
        "name: read\nnodes:\n  page:\n    uses: file.read\n    with: { path: page.txt }\n  answer:\n    uses: llm\n    with:\n      system_file: prompts/system.hbs\n      prompt_file: prompts/ask.hbs\n",
    );
    let pyra = pyra.in_dir(&work);
    pyra.run(["run", &skill]).success();
    let sent = messages(&server);
    assert!(sent[0].1.starts_with("Be brief.\n\nText between <untrusted>"), "the note is added: {:?}", sent[0]);
    assert_eq!(
        sent[1].1, "<untrusted source=\"the prompt\">\nSummarise: The museum opens at nine.\n</untrusted>",
        "a prompt rendered from a file's text is untrusted"
    );
}

#[test]
fn the_example_renders_its_prompt_files() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    local_model(&pyra, &server);
    pyra.run(["run", "examples/write-up.yaml", "-i", "audience=children"]).success();
    let sent = messages(&server);
    assert_eq!(
        sent[0].1,
        "You are a careful editor writing for children readers.\nUse short sentences and everyday words.\n\
         Keep to 3 points at most, one sentence each.\n"
    );
    assert_eq!(
        sent[1].1,
        "Write one paragraph about tidal power for children.\n\nIt must make these points, in this order:\n\
         1. Predictable\n2. Cheap to run once built\n3. Few good sites\nDo not add a title.\n"
    );
}

/// `skill validate` run in the skill's folder, so paths show as a user typed them.
fn validate(files: &[(&str, &str)]) -> Output {
    let pyra = Pyra::new();
    let work = pyra.work();
    write(&work, files);
    let pyra = pyra.in_dir(&work);
    let out = pyra.run(["skill", "validate", "brief.yaml"]);
    out.code(1).stdout_has("1 file checked: 0 valid, 1 invalid");
    out
}

#[test]
fn unknown_variables_are_located_inside_each_kind_of_file() {
    let ask = "Plan a day in {{ inputs.cty }}.\n";
    let guide = "You are a guide.\n{{#each inputs.sights}}{{this}}{{/each}} {{nodes.fact.output}}";
    let out = validate(&[("brief.yaml", SKILL), ("prompts/ask.j2", ask), ("prompts/guide.hbs", guide)]);
    assert_eq!(
        out.stderr,
        "\
error[unknown-input]: `inputs.cty` is not declared
 --> prompts/ask.j2:1:25
  |
1 | Plan a day in {{ inputs.cty }}.
  |                         ^^^ no such input
  |
  = note: expected one of `city` or `sights`
  = help: did you mean `city`?

error[unknown-node]: nodes.fact.output refers to node `fact`, which does not exist
 --> prompts/guide.hbs:2:50
  |
2 | {{#each inputs.sights}}{{this}}{{/each}} {{nodes.fact.output}}
  |                                                  ^^^^ no such node
  |
  = help: did you mean `facts`?

"
    );
}

#[test]
fn syntax_errors_are_located_inside_each_kind_of_file() {
    let ask = "Plan a day in\n{{ inputs.city }\n";
    let guide = "You are a guide.\n{{#each inputs.sights}}{{this}}{{/if}}";
    let out = validate(&[("brief.yaml", SKILL), ("prompts/ask.j2", ask), ("prompts/guide.hbs", guide)]);
    assert_eq!(
        out.stderr,
        "\
error[template-syntax]: template syntax error in `prompts/ask.j2`: unexpected `}`, expected end of variable block
 --> prompts/ask.j2:2:16
  |
2 | {{ inputs.city }
  |                ^ unexpected `}`, expected end of variable block
  |
  = help: look for an unclosed `{{`, `{%` or a missing `{% endif %}` / `{% endfor %}` before this point

error[template-syntax]: Handlebars syntax error: helper \"each\" was opened, but \"if\" is closing
 --> prompts/guide.hbs:2:32
  |
2 | {{#each inputs.sights}}{{this}}{{/if}}
  |                                ^ helper \"each\" was opened, but \"if\" is closing
  |
  = help: every `{{#helper}}` block is closed by `{{/helper}}` of the same name

"
    );
}

#[test]
fn json_diagnostics_name_the_prompt_file() {
    let pyra = Pyra::new();
    let work = pyra.work();
    write(&work, &[("brief.yaml", SKILL), ("prompts/ask.j2", "{{ inputs.cty }}"), ("prompts/guide.hbs", "Hi")]);
    let out = pyra.in_dir(&work).run(["skill", "validate", "--format", "json", "brief.yaml"]);
    out.code(1);
    let diag = &out.json()["files"][0]["diagnostics"][0];
    assert_eq!(diag["file"], "prompts/ask.j2", "{diag:#}");
    assert_eq!((diag["start"]["line"].as_u64(), diag["start"]["column"].as_u64()), (Some(1), Some(11)));
}

#[test]
fn a_missing_file_is_located_at_its_path() {
    let out = validate(&[("brief.yaml", SKILL), ("prompts/ask.j2", "Hi")]);
    assert_eq!(
        out.stderr,
        "\
error[prompt-file-missing]: prompt file `prompts/guide.hbs` does not exist
  --> brief.yaml:12:20
   |
12 |       system_file: prompts/guide.hbs
   |                    ^^^^^^^^^^^^^^^^^ cannot be read
   |
   = help: paths are relative to the skill's folder, `.`

"
    );
}

/// A skill in `work` whose prompt file is `path` (absolute).
fn skill_reading(pyra: &Pyra, path: &Path) -> String {
    pyra.skill(
        "peek",
        &format!("name: peek\nnodes:\n  answer:\n    uses: llm\n    with:\n      prompt_file: {}\n", path.display()),
    )
}

#[test]
fn paths_the_policy_refuses_fail_the_node_before_any_model_call() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    local_model(&pyra, &server);
    // Inside Pyra's own protected places: the vault folder.
    let vault = pyra.home_path().join("vault");
    write(&vault, &[("notes.txt", "private")]);
    let skill = skill_reading(&pyra, &vault.join("notes.txt"));
    pyra.run(["skill", "validate", &skill]).success();
    let out = pyra.run(["run", &skill]);
    out.code(1).stderr_has("`prompt_file`: path `").stderr_has("inside Pyra's vault; no node may touch it");

    // Outside every allowed folder: HOME, the working and the temporary folder are `work`.
    let work = pyra.work();
    let outside = pyra.home_path().join("outside");
    write(&outside, &[("p.md", "Hello")]);
    let skill = skill_reading(&pyra, &outside.join("p.md"));
    let run = |args: &[&str]| -> Output {
        pyra.command(args).current_dir(&work).env("HOME", &work).env("TMPDIR", &work).output().unwrap().into()
    };
    let out = run(&["run", &skill]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("outside the allowed folders"), "{}", out.stderr);
    assert!(server.requests().is_empty(), "no request left Pyra");
}

#[test]
fn an_agent_takes_prompt_files_too() {
    let server = LlmServer::start(vec![Reply::fixture("openai/text.sse")]);
    let pyra = Pyra::new();
    local_model(&pyra, &server);
    write(
        &pyra.work(),
        &[("p/task.md", "Name a cat for {{ inputs.who }}."), ("p/role.hbs", "You help {{inputs.who}}.")],
    );
    let skill = pyra.skill(
        "name-cat",
        "name: name-cat\ninputs:\n  who: { type: string }\nnodes:\n  pick:\n    uses: agent\n    with:\n      system_file: p/role.hbs\n      prompt_file: p/task.md\n",
    );
    pyra.run(["run", &skill, "-i", "who=Ada"]).success();
    let sent = messages(&server);
    assert_eq!(sent, [("system".into(), "You help Ada.".into()), ("user".into(), "Name a cat for Ada.".into())]);
}
