//! The architecture's invariants, checked as tests (`cargo test -p xtask`),
//! in the manner of rust-analyzer's `xtask/src/tidy.rs`. Each rule names
//! what it protects; `docs/architecture.md` says why.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::paths::project_root;

/// Every file under `dir` whose name ends with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    todo.push(p);
                }
            } else if exts.iter().any(|x| name.ends_with(x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// This file names every pattern it forbids: the rules skip it.
fn is_tidy(p: &Path) -> bool {
    p.ends_with("xtask/src/tidy.rs")
}

/// The crates of the workspace: `(name, directory)`.
fn crates(root: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(_, p)| p.join("Cargo.toml").is_file())
        .collect();
    v.push(("xtask".into(), root.join("xtask")));
    v.sort();
    v
}

/// The text without `//` comments (a `//` inside a string literal is rare
/// in this code base and only hides text from a rule, never adds to it).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text with the contents of its string literals removed (`"..."`,
/// escapes honoured; raw strings are rare here and kept).
fn without_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push(c);
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

/// A source file outside a test: not under `tests/`, not `tests.rs`.
fn is_library_source(p: &Path) -> bool {
    !p.components().any(|c| c.as_os_str() == "tests")
        && p.file_name().is_some_and(|n| n != "tests.rs")
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The crates that run processes: the memtest engine (it runs the stages)
/// and xtask. The readers, the judge, the command and the product never do.
const SPAWNING: &[&str] = &["memtest-engine", "xtask"];

/// Outside the engine, xtask and tests, nothing spawns processes: parsing
/// and judging never do, and the command is a front door.
#[test]
fn no_process_spawned_outside_the_engine_xtask_and_tests() {
    let root = project_root();
    let mut bad = Vec::new();
    for (name, dir) in crates(&root) {
        if SPAWNING.contains(&name.as_str()) {
            continue;
        }
        for p in files(&dir, &[".rs"])
            .into_iter()
            .filter(|p| is_library_source(p))
        {
            let code = code_of(&std::fs::read_to_string(&p).unwrap());
            for needle in ["process::Command", "Command::new(", "process::Child"] {
                if code.contains(needle) {
                    bad.push(format!("{}: {needle}", rel(&root, &p)));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "processes are spawned outside the engine and xtask (move the spawning there, the judging to a library):\n{}",
        bad.join("\n")
    );
}

/// Only `sluice-py` touches the GIL or `Py<...>`: nothing of pyo3 elsewhere.
#[test]
fn nothing_of_pyo3_outside_sluice_py() {
    let root = project_root();
    let mut bad = Vec::new();
    for (name, dir) in crates(&root) {
        if name == "sluice-py" {
            continue;
        }
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest)
            .unwrap()
            .lines()
            .any(|l| l.trim_start().starts_with("pyo3"))
        {
            bad.push(format!("{}: depends on pyo3", rel(&root, &manifest)));
        }
        for p in files(&dir, &[".rs"]).into_iter().filter(|p| !is_tidy(p)) {
            // In a string, a PyO3 function's name is a pattern (memtest's
            // one-time functions), not a use of PyO3.
            let code = without_strings(&code_of(&std::fs::read_to_string(&p).unwrap()));
            if code.contains("pyo3::") || code.contains("use pyo3") {
                bad.push(format!("{}: uses pyo3", rel(&root, &p)));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "pyo3 outside crates/sluice-py:\n{}",
        bad.join("\n")
    );
}

/// vgxml knows nothing of Python, sluice or xtask: anyone can point it at
/// their output.
#[test]
fn no_sluice_specific_strings_in_vgxml() {
    let root = project_root();
    let mut bad = Vec::new();
    for (name, dir) in crates(&root) {
        if !name.starts_with("vgxml") {
            continue;
        }
        let mut sources = files(&dir.join("src"), &[".rs"]);
        sources.push(dir.join("Cargo.toml"));
        for p in sources {
            for (i, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate() {
                let l = line.to_ascii_lowercase();
                for word in ["sluice", "xtask", "pyo3", "memtest"] {
                    if l.contains(word) {
                        bad.push(format!("{}:{}: {}", rel(&root, &p), i + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "vgxml's sources name sluice, xtask or pyo3 (the caller gives such things as policy):\n{}",
        bad.join("\n")
    );
}

/// What names the sluice product: its package, module, crates, paths and
/// test suites. The memtest engine and command are for anyone's bindings:
/// sluice is their first user through its `[tool.memtest]` table and xtask,
/// never through their code.
const SLUICE_WORDS: &[&str] = &[
    "sluice",
    "._native",
    "memory_test",
    "planted_test",
    "memoryleaktests",
    "plantedleaktests",
    "cpp/src",
    "cpp/planted",
    "python/tests",
    "live_objects()",
];

/// The lines of `text` that name the sluice product.
fn sluice_words(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.to_ascii_lowercase();
            SLUICE_WORDS.iter().any(|w| l.contains(w))
        })
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .collect()
}

/// The memtest engine and command know nothing of the sluice product: not
/// in their Rust sources, their Python half, their suppressions or manifests.
#[test]
fn nothing_of_sluice_in_the_memtest_engine_or_command() {
    let root = project_root();
    let mut bad = Vec::new();
    for (name, dir) in crates(&root) {
        if !name.starts_with("memtest") {
            continue;
        }
        for p in files(&dir, &[".rs", ".py", ".json", ".supp", ".toml", ".md"]) {
            for (line, text) in sluice_words(&std::fs::read_to_string(&p).unwrap()) {
                bad.push(format!("{}:{line}: {text}", rel(&root, &p)));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the memtest engine or command names the sluice product (sluice's own choices belong in its [tool.memtest] table or xtask):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_sluice_rule_catches_what_it_forbids() {
    assert!(sluice_words("let hook = \"pkg:counts\";").is_empty());
    for planted in [
        "// runs sluice's suite",
        "import sluice._native as n",
        "x = \"memory_test.MemoryLeakTests\"",
        "see cpp/src/block.cc:35",
        "cd python/tests",
    ] {
        assert_eq!(sluice_words(planted).len(), 1, "{planted}");
    }
}

/// Every `unsafe` block and `unsafe impl` says why it is sound, in a
/// `SAFETY:` comment on its line or in the comment right above it.
#[test]
fn every_unsafe_has_a_safety_comment() {
    let root = project_root();
    let mut bad = Vec::new();
    for (_, dir) in crates(&root) {
        for p in files(&dir, &[".rs"]).into_iter().filter(|p| !is_tidy(p)) {
            let text = std::fs::read_to_string(&p).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = match line.find("//") {
                    Some(k) => &line[..k],
                    None => line,
                };
                if !(code.contains("unsafe {") || code.contains("unsafe impl")) {
                    continue;
                }
                // The comment (and attribute) lines directly above, and this line.
                let mut from = i;
                while from > 0 && {
                    let above = lines[from - 1].trim_start();
                    above.starts_with("//") || above.starts_with("#[")
                } {
                    from -= 1;
                }
                if !lines[from..=i].iter().any(|l| l.contains("SAFETY:")) {
                    bad.push(format!("{}:{}: {}", rel(&root, &p), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "unsafe without a SAFETY: comment right above:\n{}",
        bad.join("\n")
    );
}

/// The top-level modules of `src` and the modules each one uses
/// (`crate::x`, `use crate::{x, ...}`; comments and `tests.rs` ignored).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut mods: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for p in files(src, &[".rs"]) {
        let rel = p.strip_prefix(src).unwrap().with_extension("");
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let top = &parts[0];
        if top != "lib" && top != "main" && top != "mod" {
            mods.entry(top.clone()).or_default().push(p);
        }
    }
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (m, paths) in &mods {
        let mut uses = BTreeSet::new();
        for p in paths.iter().filter(|p| !p.ends_with("tests.rs")) {
            let code = code_of(&std::fs::read_to_string(p).unwrap());
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                if let Some(block) = rest.strip_prefix('{') {
                    // use crate::{a, b::c, d::{e, f}}: the names at depth 0.
                    let mut depth = 0;
                    let mut word = String::new();
                    for ch in block.chars() {
                        match ch {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        if depth == 0 && (ch.is_alphanumeric() || ch == '_') {
                            word.push(ch);
                        } else {
                            if !word.is_empty() && names.contains(&word) {
                                uses.insert(std::mem::take(&mut word));
                            }
                            word.clear();
                        }
                    }
                } else {
                    let word: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if names.contains(&word) {
                        uses.insert(word);
                    }
                }
            }
        }
        uses.remove(m);
        graph.insert(m.clone(), uses);
    }
    graph
}

/// The modules that can reach themselves, each cycle once.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = graph[from].iter().map(String::as_str).collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.to_owned()) {
                todo.extend(graph[m].iter().map(String::as_str));
            }
        }
        seen
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for m in graph.keys() {
        let from_m = reach(m);
        if !from_m.contains(m) {
            continue;
        }
        let mut comp: Vec<String> = from_m
            .iter()
            .filter(|o| reach(o).contains(m))
            .cloned()
            .collect();
        comp.sort();
        if !out.contains(&comp) {
            out.push(comp);
        }
    }
    out
}

/// No module imports a module that imports it, in any crate: layers, not a
/// web.
#[test]
fn no_module_cycles() {
    let root = project_root();
    let mut bad = Vec::new();
    for (name, dir) in crates(&root) {
        for c in cycles(&module_graph(&dir.join("src"))) {
            bad.push(format!("{name}: {}", c.join(" <-> ")));
        }
    }
    assert!(bad.is_empty(), "module cycles:\n{}", bad.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
}

/// Files stay small enough to have one job. The few that are longer say
/// why here.
#[test]
fn no_source_file_over_600_lines() {
    const LONGER: &[(&str, &str)] = &[
        // The end-to-end tests of the CLI's CI workflows: one scenario per test.
        ("crates/vgxml/tests/ci.rs", "one test per CI workflow"),
        // Replaced by the parser split of the redesign issue.
        ("crates/vgxml-parse/src/parse.rs", "being split"),
    ];
    let root = project_root();
    let mut bad = Vec::new();
    for (_, dir) in crates(&root) {
        for p in files(&dir, &[".rs"]) {
            let r = rel(&root, &p);
            let n = std::fs::read_to_string(&p).unwrap().lines().count();
            if n > 600 && !LONGER.iter().any(|(f, _)| *f == r) {
                bad.push(format!("{r}: {n} lines"));
            }
        }
    }
    assert!(bad.is_empty(), "split these by job:\n{}", bad.join("\n"));
}

/// The configuration reference in the docs is the one memtest's types
/// generate (`memtest config --reference`): it cannot drift.
#[test]
fn the_configuration_reference_in_the_docs_is_generated() {
    const DOC: &str = "docs/leak-test-your-bindings.md";
    const BEGIN: &str = "<!-- BEGIN config-reference: generated by `memtest config --reference`, checked by `cargo xtask ci` -->\n";
    const END: &str = "<!-- END config-reference -->";
    let path = project_root().join(DOC);
    let text = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("{DOC} has no generated reference ({BEGIN:?} ... {END:?})");
    };
    let want = memtest_engine::config::reference_markdown();
    let have = &text[b + BEGIN.len()..e];
    if have != want {
        if std::env::var_os("CI").is_none() {
            let new = format!("{}{BEGIN}{want}{}", &text[..b], &text[e..]);
            std::fs::write(&path, new).unwrap();
            panic!("{DOC}: the configuration reference was out of date; rewritten, review and commit it");
        }
        panic!("{DOC}: the configuration reference is out of date (run `cargo test -p xtask tidy` outside CI to rewrite it)");
    }
}
