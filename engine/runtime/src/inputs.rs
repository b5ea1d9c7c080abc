//! A run's inputs: the caller's values checked against the skill's declared inputs
//! (unknown names, missing required ones, types, enums, limits), defaults filled in.

use serde_json::{Map, Value};

use lang::model::{InputType, Skill};

/// Turns a command-line string into the declared type: `42` for numbers, `true` for
/// booleans, JSON for arrays and objects; strings stay as typed.
pub fn coerce(skill: &Skill, name: &str, text: &str) -> Result<Value, String> {
    let Some(input) = skill.inputs.get(name) else {
        return Ok(Value::String(text.to_string()));
    };
    let bad = |what: &str| format!("input `{name}`: `{text}` is not {what}");
    match input.ty {
        InputType::String => Ok(Value::String(text.to_string())),
        InputType::Integer => text.trim().parse::<i64>().map(Value::from).map_err(|_| bad("an integer")),
        InputType::Number => {
            let n: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            serde_json::Number::from_f64(n).map(Value::Number).ok_or_else(|| bad("a finite number"))
        }
        InputType::Boolean => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad("a boolean (use `true` or `false`)")),
        },
        InputType::Array | InputType::Object => {
            serde_json::from_str(text).map_err(|e| format!("input `{name}`: `{text}` is not JSON: {e}"))
        }
    }
}

/// Checks the given inputs and fills in defaults; every problem is reported.
pub fn resolve(skill: &Skill, given: Map<String, Value>) -> Result<Map<String, Value>, Vec<String>> {
    let mut errors = Vec::new();
    for name in given.keys() {
        if !skill.inputs.contains_key(name) {
            let declared: Vec<&str> = skill.inputs.keys().map(String::as_str).collect();
            let hint = syntax::suggest::help(name, declared.iter().copied()).unwrap_or_else(|| {
                if declared.is_empty() {
                    "this skill takes no inputs".to_string()
                } else {
                    format!("its inputs are {}", declared.join(", "))
                }
            });
            errors.push(format!("unknown input `{name}`: {hint}"));
        }
    }
    let mut out = Map::new();
    for (name, input) in &skill.inputs {
        let value = match given.get(name) {
            Some(v) => v.clone(),
            None => match &input.default {
                Some(d) => d.clone(),
                None if input.is_required() => {
                    let about = input.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                    errors.push(format!("missing input `{name}`{about}: pass it with `--input {name}=VALUE`"));
                    continue;
                }
                None => continue,
            },
        };
        match lang::schema::compile(&input.json_schema()) {
            Ok(validator) => {
                for err in validator.iter_errors(&value).take(3) {
                    let at = err.instance_path().to_string();
                    errors.push(format!("input `{name}{at}`: {err}"));
                }
            }
            Err(err) => errors.push(format!("input `{name}`: its schema does not compile: {err}")),
        }
        out.insert(name.clone(), value);
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}
