//! `mcp`: Pyra's own MCP-side parsing. The MCP messages themselves are decoded by rmcp
//! (client and `pyra mcp serve` alike); what Pyra parses is the plugin manifest
//! (`mcp::manifest`, through `mcp::checked`), other clients' MCP configs
//! (`mcp::import`: JSONC blanked in place, seven shapes) and tool-name globs (the plugin
//! policy's and `mcp.expose`'s in `serve::expose`).
//!
//! Input: a byte choosing the parser, then its text (for globs: pattern, NUL, name).
//! Properties: every diagnostic lies inside its file; a manifest that loads, written out
//! as `pyra plugin add` writes it, loads again as the same manifest; imported servers get
//! valid, unique plugin names; a name matches itself as a glob.

use syntax::source::SourceFile;

fn manifest(text: &str) {
    for folder in [None, Some("fuzz")] {
        let file = SourceFile::new("plugin.yaml", text);
        match mcp::manifest::parse(file, folder) {
            Ok(loaded) => {
                let yaml = loaded.manifest.to_yaml();
                let again = mcp::manifest::parse(SourceFile::new("plugin.yaml", yaml.clone()), folder).unwrap_or_else(
                    |(f, d)| {
                        let shown: Vec<String> = d.iter().map(|d| d.render(&f, false)).collect();
                        panic!("the written manifest does not load:\n{yaml}\n{}", shown.join("\n"))
                    },
                );
                let json = |m: &mcp::manifest::Manifest| serde_json::to_value(m).expect("a manifest serialises");
                assert_eq!(json(&again.manifest), json(&loaded.manifest), "written and read back, another manifest");
            }
            Err((file, diags)) => {
                assert!(!diags.is_empty(), "a refused manifest without a diagnostic");
                for d in &diags {
                    super::check_diagnostic(&file, d);
                }
            }
        }
    }
}

fn import(text: &str) {
    let file = SourceFile::new("mcp.json", text);
    match mcp::import::parse(text, "mcp.json") {
        Ok(imported) => {
            for d in &imported.warnings {
                super::check_diagnostic(&file, d);
            }
            let mut names: Vec<&str> = imported.servers.iter().map(|s| s.name.as_str()).collect();
            for name in &names {
                assert!(mcp::manifest::valid_name(name), "imported as an invalid plugin name {name:?}");
            }
            names.sort_unstable();
            let count = names.len();
            names.dedup();
            assert_eq!(names.len(), count, "two servers imported under one name");
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "a refused import without a diagnostic");
            for d in &diags {
                super::check_diagnostic(&file, d);
            }
        }
    }
}

fn globs(text: &str) {
    let (pattern, name) = text.split_once('\0').unwrap_or((text, text));
    let _ = serve::expose::glob(pattern, name);
    let _ = mcp::policy::glob_matches(pattern, name);
    assert!(serve::expose::glob(name, name), "{name:?} does not match itself");
    assert!(serve::expose::glob("*", name));
}

pub fn mcp(data: &[u8]) {
    let [choice, rest @ ..] = data else { return };
    let text = String::from_utf8_lossy(rest);
    match choice % 3 {
        0 => manifest(&text),
        1 => import(&text),
        _ => globs(&text),
    }
}
