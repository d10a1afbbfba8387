//! The house rules of the workspace's layout, checked on every source file:
//!
//! * no module of a crate imports, directly or around a circle, a module that imports it
//!   (siblings at every level: `crate::a` ↔ `crate::b`, `a::x` ↔ `a::y`), so each crate reads
//!   from the bottom up and a module can be changed knowing what depends on it;
//! * no source file outside tests is longer than [`MAX_LINES`] lines.
//!
//! Test code (`#[cfg(test)]` modules, `tests.rs` children, `tests/`) is left out of both.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest a non-test source file may be.
const MAX_LINES: usize = 700;

/// A module's path inside its crate (`[]` is the crate root).
type ModulePath = Vec<String>;

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let mut long = Vec::new();
    for crate_dir in crates() {
        for (file, _) in modules(&crate_dir.join("src")) {
            let lines = fs::read_to_string(&file)
                .expect("source file reads")
                .lines()
                .count();
            if lines > MAX_LINES {
                long.push(format!("{} ({lines} lines)", relative(&file)));
            }
        }
    }
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines (split them into modules):\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn no_crate_has_a_module_cycle() {
    let mut cycles = Vec::new();
    for crate_dir in crates() {
        let modules: BTreeMap<ModulePath, String> = modules(&crate_dir.join("src"))
            .into_iter()
            .map(|(file, path)| {
                (
                    path,
                    non_test_part(&fs::read_to_string(file).expect("source file reads")),
                )
            })
            .collect();
        let edges = sibling_edges(&modules);
        for cycle in strongly_connected(&edges) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            cycles.push(format!(
                "{}: {}",
                crate_dir.file_name().unwrap_or_default().to_string_lossy(),
                names.join(", ")
            ));
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that import each other in a circle (make the dependency one-way):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn the_checker_sees_grouped_and_relative_imports() {
    let mut modules = BTreeMap::new();
    modules.insert(
        vec!["a".to_owned()],
        non_test_part("use crate::{b::Thing, c};"),
    );
    modules.insert(vec!["b".to_owned()], non_test_part("use super::a::f;"));
    modules.insert(
        vec!["c".to_owned()],
        non_test_part("//! Used by [`crate::a`]."),
    );
    let edges = sibling_edges(&modules);
    assert_eq!(
        strongly_connected(&edges),
        vec![vec![vec!["a".to_owned()], vec!["b".to_owned()]]]
    );
    modules.insert(vec!["b".to_owned()], non_test_part("use crate::c;"));
    assert!(strongly_connected(&sibling_edges(&modules)).is_empty());
}

/// Every crate directory of the workspace.
fn crates() -> Vec<PathBuf> {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = testkit
        .parent()
        .and_then(Path::parent)
        .expect("crates/<name>");
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/ lists")
        .map(|e| e.expect("crates/ entry").path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn relative(file: &Path) -> String {
    let text = file.to_string_lossy();
    match text.find("/crates/") {
        Some(at) => text[at + 1..].to_owned(),
        None => text.into_owned(),
    }
}

/// The non-test source files under `src` with their module paths.
fn modules(src: &Path) -> Vec<(PathBuf, ModulePath)> {
    let mut found = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("source folder lists") {
            let path = entry.expect("source folder entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap_or(&path).with_extension("");
            let mut module: ModulePath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            if module.last().is_some_and(|m| m == "tests") {
                continue;
            }
            found.push((path, module));
        }
    }
    found.sort();
    found
}

/// The code of a file up to its first `#[cfg(test)]` (test modules may import anything),
/// without comments: a doc link to the module that uses this one is not a dependency.
fn non_test_part(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a module's text names through `crate::` or `super::`, resolved to paths from
/// the crate root.
fn references(module: &[String], text: &str) -> BTreeSet<ModulePath> {
    let mut paths = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for tail in path_tails(rest) {
                let mut path = base.clone();
                path.extend(tail);
                paths.insert(path);
            }
        }
    }
    paths
}

fn parent(module: &[String]) -> ModulePath {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// The paths written at the start of `text`: `a::b::C` or a group `{a::b, c::{d, e}}`.
fn path_tails(text: &str) -> Vec<ModulePath> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..matching_brace(group)];
            return split_top_level(inner)
                .into_iter()
                .flat_map(|item| path_tails(item.trim()))
                .map(|tail| path.iter().cloned().chain(tail).collect())
                .collect();
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        path.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    vec![path]
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Edges between sibling modules: `a::x` naming `a::y::…` is an edge `a::x → a::y`.
fn sibling_edges(
    modules: &BTreeMap<ModulePath, String>,
) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let mut edges: BTreeMap<ModulePath, BTreeSet<ModulePath>> = BTreeMap::new();
    for (module, text) in modules {
        for target in references(module, text) {
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue;
            }
            let (from, to) = (module[..=common].to_vec(), target[..=common].to_vec());
            if modules.keys().any(|m| m.starts_with(&to)) {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn strongly_connected(edges: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<ModulePath>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        index: BTreeMap<ModulePath, usize>,
        low: BTreeMap<ModulePath, usize>,
        stack: Vec<ModulePath>,
        components: Vec<Vec<ModulePath>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, v: &ModulePath) {
            let n = self.index.len();
            self.index.insert(v.clone(), n);
            self.low.insert(v.clone(), n);
            self.stack.push(v.clone());
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v.clone(), low);
                } else if self.stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v.clone(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let at = self
                    .stack
                    .iter()
                    .position(|m| m == v)
                    .expect("v is on the stack");
                let mut component = self.stack.split_off(at);
                if component.len() > 1 {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.components
}
