//! What "our code" is for a project: one definition for every stage that
//! reads native stacks (Valgrind, LeakSanitizer), from the description's
//! `[tool.memtest.ours]` or, where it is silent, from the extension modules
//! the project installed.

use vgxml_judge::{OurCode, Policy};

use crate::modules::ExtensionModule;
use crate::project::Project;

/// Functions that run once per process in any binding: a module's
/// multi-phase execution, PyO3's module builder.
const ONE_TIME_IN_EVERY_BINDING: &[&str] = &[
    "PyModule_ExecDef",
    "pyo3::impl_::pymodule::ModuleDef::make_module*",
];

/// Our code and our once-per-process functions.
#[derive(Debug, Clone)]
pub struct Ours {
    pub code: OurCode,
    pub one_time_functions: Vec<String>,
    /// What it covers, in words (`extension module, cpp/, crates/`).
    pub summary: String,
}

impl Ours {
    pub fn of(project: &Project, modules: &[ExtensionModule]) -> Ours {
        let d = &project.description.ours;
        let root = project.root.display().to_string();
        let mut code = OurCode::new();
        let objects: Vec<String> = match &d.objects {
            Some(globs) => globs.clone(),
            None => modules.iter().map(|m| m.glob.clone()).collect(),
        };
        for g in &objects {
            code = code.object_glob(g);
        }
        let sources: Vec<String> = if d.sources.is_empty() {
            vec![String::new()]
        } else {
            d.sources.clone()
        };
        for s in &sources {
            let s = s.trim_start_matches("./");
            // Absolute, as Valgrind gives paths with a compilation directory;
            // relative, as rustc records a workspace member's files.
            code = code.source_prefix(&format!("{root}/{s}"));
            if !s.is_empty() {
                code = code.source_glob(&format!("{s}*"));
            }
        }
        for f in &d.functions {
            code = code.function_pattern(f);
        }
        // memtest's own output (the venv, a build directory inside it) is never ours.
        code = code.exclude(&format!("{}/*", project.out.display()));
        for e in &d.exclude {
            code = code.exclude(e);
        }
        let one_time_functions = match &d.one_time_functions {
            Some(f) => f.clone(),
            None => default_one_time_functions(modules),
        };
        let mut parts = Vec::new();
        if !objects.is_empty() {
            parts.push(if objects.len() == 1 {
                "extension module".to_owned()
            } else {
                "extension modules".to_owned()
            });
        }
        if d.sources.is_empty() {
            parts.push("the project's sources".to_owned());
        } else {
            parts.extend(d.sources.iter().cloned());
        }
        Ours {
            code,
            one_time_functions,
            summary: parts.join(", "),
        }
    }

    /// The judge's policy as every stage that reads native stacks starts it:
    /// our code and our one-time functions; each stage adds what fails and how.
    pub fn policy(&self, project: &Project) -> Policy {
        let mut p = Policy::new(self.code.clone(), project.root.clone());
        p.one_time_functions = self.one_time_functions.clone();
        p
    }
}

/// Each extension module's init (`PyInit_<name>`), the init functions that
/// pybind11, nanobind and Cython generate for it, and the binding libraries'
/// module builders: code that runs once per process.
pub fn default_one_time_functions(modules: &[ExtensionModule]) -> Vec<String> {
    let mut out: Vec<String> = ONE_TIME_IN_EVERY_BINDING
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for m in modules {
        for f in [
            format!("PyInit_{}", m.name),
            format!("pybind11_init_{}*", m.name),
            format!("nanobind_init_{}*", m.name),
            format!("__pyx_pymod_exec_{}*", m.name),
        ] {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}
