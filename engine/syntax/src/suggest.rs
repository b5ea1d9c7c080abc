//! "Did you mean": the closest known name to a misspelt one, if any is close enough.

/// Returns the candidate closest to `input`, if it is plausibly a typo of it.
///
/// Jaro-Winkler rewards shared prefixes (`nodse` → `nodes`), Damerau–Levenshtein
/// catches swapped letters (`tempalte` → `template`); a candidate must pass either test.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input_lower = input.to_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        if candidate == input {
            continue;
        }
        let cand_lower = candidate.to_lowercase();
        let distance = strsim::damerau_levenshtein(&input_lower, &cand_lower);
        let similarity = strsim::jaro_winkler(&input_lower, &cand_lower);
        let max_edits = match input.chars().count() {
            0..=2 => 0,
            3..=5 => 1,
            6..=9 => 2,
            _ => 3,
        };
        let close = input_lower == cand_lower || distance <= max_edits || similarity >= 0.9;
        if !close {
            continue;
        }
        let score = similarity - distance as f64 * 0.01;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Formats a help line for [`did_you_mean`], or `None` if nothing is close.
pub fn help<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let fields = ["name", "description", "inputs", "nodes", "outputs", "triggers"];
        assert_eq!(did_you_mean("nodse", fields), Some("nodes"));
        assert_eq!(did_you_mean("ouputs", fields), Some("outputs"));
        assert_eq!(did_you_mean("trigger", fields), Some("triggers"));
        assert_eq!(did_you_mean("tempalte", ["template", "http", "exec"]), Some("template"));
        assert_eq!(did_you_mean("zzz", fields), None);
        assert_eq!(did_you_mean("xy", ["if", "id"]), None);
    }
}
