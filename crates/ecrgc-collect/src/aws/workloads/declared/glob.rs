//! Local locations of declared references: a file, a folder (every file below it), or a
//! glob pattern (`*` and `?` within one path component, `**` for any number of folders),
//! e.g. `./gitops/**/*.yaml`. Hidden folders (`.git`) are not walked into.

use std::path::{Path, PathBuf};

/// The files a location names, sorted; an error when it names none.
pub(crate) fn files(location: &str) -> Result<Vec<PathBuf>, String> {
    let wild = |c: &str| c.contains(['*', '?']);
    let components: Vec<&str> = location.split('/').collect();
    let literal = components.iter().take_while(|c| !wild(c)).count();
    let mut out = Vec::new();
    if literal == components.len() {
        let path = Path::new(location);
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| format!("{location}: {e}"))?;
        } else if path.is_file() {
            out.push(path.to_path_buf());
        } else {
            return Err(format!("{location}: no such file or folder"));
        }
    } else {
        let base = if literal == 0 {
            PathBuf::from(".")
        } else {
            let joined = components[..literal].join("/");
            PathBuf::from(if joined.is_empty() { "/" } else { &joined })
        };
        let pattern = &components[literal..];
        let mut all = Vec::new();
        walk(&base, &mut all).map_err(|e| format!("{}: {e}", base.display()))?;
        for file in all {
            let Ok(relative) = file.strip_prefix(&base) else {
                continue;
            };
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            if matches_path(pattern, &parts) {
                out.push(file);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("{location}: matches no file"));
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('.') {
                walk(&path, out)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether path components match pattern components (`**` spans any number of them).
fn matches_path(pattern: &[&str], parts: &[&str]) -> bool {
    match (pattern.split_first(), parts.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            matches_path(rest, parts)
                || parts
                    .split_first()
                    .is_some_and(|(_, tail)| matches_path(pattern, tail))
        }
        (Some((p, rest)), Some((c, tail))) => matches_component(p, c) && matches_path(rest, tail),
        _ => false,
    }
}

/// `*` and `?` within one component.
fn matches_component(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_stars_and_question_marks() {
        assert!(matches_component("*.yaml", "web.yaml"));
        assert!(matches_component("w?b*", "web.yaml"));
        assert!(!matches_component("*.yaml", "web.yml"));
        assert!(matches_path(&["**", "*.yaml"], &["a", "b", "c.yaml"]));
        assert!(matches_path(&["**", "*.yaml"], &["c.yaml"]));
        assert!(!matches_path(&["*", "*.yaml"], &["a", "b", "c.yaml"]));
    }

    #[test]
    fn a_pattern_names_the_files_it_matches_and_none_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("apps/web")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        for f in [
            "apps/web/deploy.yaml",
            "apps/top.yaml",
            "apps/web/notes.md",
            ".git/x.yaml",
        ] {
            std::fs::write(root.join(f), "x").expect("write");
        }
        let base = root.to_string_lossy();
        let got = files(&format!("{base}/**/*.yaml")).expect("files");
        let names: Vec<_> = got
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .expect("below")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["apps/top.yaml", "apps/web/deploy.yaml"]);
        assert_eq!(files(&format!("{base}/apps")).expect("folder").len(), 3);
        assert!(files(&format!("{base}/**/*.json")).is_err());
        assert!(files(&format!("{base}/missing.yaml")).is_err());
    }
}
