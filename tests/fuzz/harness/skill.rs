//! `skill`: bytes → the skill pipeline as `pyra run` compiles a skill (`runtime::compile`:
//! UTF-8 check, YAML, every validation phase with the built-in kinds, the `Program`).
//! Properties: never a panic; every diagnostic lies inside the input and renders; a valid
//! skill, written back out as JSON (which is YAML), is valid again and the same skill.

use runtime::{RunError, SkillText};
use syntax::source::SourceFile;

fn text(source: String) -> SkillText {
    SkillText { name: "fuzz".into(), path: None, display: "fuzz.yaml".into(), source }
}

pub fn skill(data: &[u8]) {
    let file = match SourceFile::from_bytes("fuzz.yaml", data) {
        Ok(file) => file,
        Err((file, diag)) => return super::check_diagnostic(&file, &diag),
    };
    match runtime::compile(super::skill_kinds(), &text(file.text().to_string())) {
        Ok(program) => {
            let json = serde_json::to_value(&*program.skill).expect("a skill serialises");
            let again = runtime::compile(super::skill_kinds(), &text(json.to_string()));
            let again = match again {
                Ok(again) => again,
                Err(RunError::Invalid { file, diagnostics }) => {
                    let shown: Vec<String> = diagnostics.iter().map(|d| d.render(&file, false)).collect();
                    panic!("the valid skill written as JSON is invalid:\n{}\n{}", file.text(), shown.join("\n"))
                }
                Err(e) => panic!("compiling the JSON form failed: {e:?}"),
            };
            let json_again = serde_json::to_value(&*again.skill).expect("a skill serialises");
            assert_eq!(json, json_again, "the JSON form is another skill");
        }
        Err(RunError::Invalid { file, diagnostics }) => {
            assert!(!diagnostics.is_empty(), "an invalid skill without a diagnostic");
            for d in &diagnostics {
                super::check_diagnostic(&file, d);
            }
        }
        Err(e) => panic!("compile failed without diagnostics: {e:?}"),
    }
}
