//! Which files a watch trigger looks at: its `glob` and `ignore` patterns (matched against
//! the file's name and its path below the watched folder) and the editors' temporary and
//! swap files, which never count whatever the patterns say.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Names editors and downloaders write before the real file exists: vim's swap files and
/// its `4913` probe, backups (`name~`), Emacs locks (`.#name`), partial downloads.
const TEMPORARY: &[&str] = &["4913", ".*.sw?", "*~", ".#*", "*.tmp", "*.part", "*.crdownload"];

/// A trigger's file filter.
#[derive(Debug, Clone)]
pub struct Filter {
    temporary: GlobSet,
    glob: Option<GlobSet>,
    ignore: Option<GlobSet>,
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn set(patterns: &[&str]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob =
            GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| format!("`{pattern}`: {e}"))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| e.to_string())
}

impl Filter {
    /// Builds a filter; an empty `glob` matches every file.
    pub fn new(glob: &[String], ignore: &[String]) -> Result<Filter, String> {
        Ok(Filter {
            temporary: set(TEMPORARY)?,
            glob: if glob.is_empty() { None } else { Some(set(&refs(glob))?) },
            ignore: if ignore.is_empty() { None } else { Some(set(&refs(ignore))?) },
        })
    }

    /// Whether a temporary or swap file's name.
    pub fn is_temporary(&self, name: &str) -> bool {
        self.temporary.is_match(name)
    }

    /// Whether the file at `relative` (its path below the watched folder) counts.
    pub fn matches(&self, relative: &Path) -> bool {
        let Some(name) = relative.file_name().and_then(|n| n.to_str()) else { return false };
        if self.is_temporary(name) {
            return false;
        }
        let hit = |set: &GlobSet| set.is_match(name) || set.is_match(relative);
        if self.glob.as_ref().is_some_and(|g| !hit(g)) {
            return false;
        }
        !self.ignore.as_ref().is_some_and(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(glob: &[&str], ignore: &[&str]) -> Filter {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter::new(&own(glob), &own(ignore)).unwrap()
    }

    #[test]
    fn temporary_and_swap_files_never_count_even_with_a_star() {
        let f = filter(&["*"], &[]);
        for name in
            [".note.md.swp", ".note.md.swx", "note.md~", ".#note.md", "a.tmp", "movie.part", "x.crdownload", "4913"]
        {
            assert!(!f.matches(Path::new(name)), "{name}");
            assert!(!f.matches(&Path::new("sub").join(name)), "sub/{name}");
        }
        for name in ["note.md", "swp", "4914", "tmp.md", ".hidden"] {
            assert!(f.matches(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn glob_matches_the_name_or_the_path_below_the_folder() {
        let f = filter(&["*.md"], &[]);
        assert!(f.matches(Path::new("a.md")));
        assert!(f.matches(Path::new("deep/er/a.md")));
        assert!(!f.matches(Path::new("a.txt")));
        let f = filter(&["notes/*.md", "*.pdf"], &[]);
        assert!(f.matches(Path::new("notes/a.md")));
        assert!(!f.matches(Path::new("other/a.md")));
        assert!(f.matches(Path::new("x/y.pdf")));
    }

    #[test]
    fn ignore_wins_over_glob() {
        let f = filter(&["*.md"], &["*.draft.md", "archive/**"]);
        assert!(f.matches(Path::new("a.md")));
        assert!(!f.matches(Path::new("a.draft.md")));
        assert!(!f.matches(Path::new("archive/old/a.md")));
    }

    #[test]
    fn no_glob_matches_every_file() {
        let f = filter(&[], &[]);
        assert!(f.matches(Path::new("anything.bin")));
    }
}
