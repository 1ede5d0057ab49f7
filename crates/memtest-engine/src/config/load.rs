//! Reading `[tool.memtest]` from `pyproject.toml`: a missing table is the
//! defaults; a wrong key, type or value is an error naming the key.

use std::path::Path;

use super::{Description, Runner};
use crate::error::ConfigError;

/// The table of `pyproject.toml` memtest reads.
pub const TABLE: &str = "tool.memtest";

/// The description in `<root>/pyproject.toml` (the defaults when the file or
/// the table is missing).
pub fn load(root: &Path) -> Result<Description, ConfigError> {
    let file = root.join("pyproject.toml");
    match std::fs::read_to_string(&file) {
        Ok(text) => load_str(&text, &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Description::default()),
        Err(source) => Err(ConfigError::Read { file, source }),
    }
}

/// The description in the text of a `pyproject.toml` (`file` names it in errors).
pub fn load_str(text: &str, file: &Path) -> Result<Description, ConfigError> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Toml {
        file: file.to_path_buf(),
        message: e.message().to_owned(),
    })?;
    let table = doc
        .get("tool")
        .and_then(|t| t.get("memtest"))
        .cloned()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    let key_error = |key: String, message: String| ConfigError::Key {
        file: file.to_path_buf(),
        table: TABLE,
        key,
        message,
    };
    let description: Description = serde_path_to_error::deserialize(table).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().to_owned();
        // The path names the key (an unknown one too), but at the top level.
        let key = match unknown_field(&message) {
            Some(name) if path == "." => name,
            _ => path,
        };
        key_error(key, message)
    })?;
    validate(&description).map_err(|(key, message)| key_error(key.to_owned(), message))?;
    Ok(description)
}

/// `foo` of serde's ``unknown field `foo`, expected ...``.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// Values serde accepts but memtest cannot use.
fn validate(d: &Description) -> Result<(), (&'static str, String)> {
    let at_least_one = [
        ("tracemalloc.iterations", d.tracemalloc.iterations),
        ("tracemalloc.min-iterations", d.tracemalloc.min_iterations),
        ("tracemalloc.rounds", d.tracemalloc.rounds),
        ("tracemalloc.warmup-rounds", d.tracemalloc.warmup_rounds),
        ("tracemalloc.confirm-factor", d.tracemalloc.confirm_factor),
        ("valgrind.iterations", d.valgrind.iterations),
        ("valgrind.rounds", d.valgrind.rounds),
        ("valgrind.round-growth", d.valgrind.round_growth),
        ("valgrind.num-callers", d.valgrind.num_callers),
    ];
    for (key, value) in at_least_one {
        if value < 1 {
            return Err((key, format!("must be at least 1, got {value}")));
        }
    }
    if d.valgrind.rounds < 2 {
        return Err((
            "valgrind.rounds",
            format!(
                "must be at least 2 (growth is judged over two rounds or more), got {}",
                d.valgrind.rounds
            ),
        ));
    }
    for (key, value) in [
        (
            "tracemalloc.python-bytes-per-iteration",
            d.tracemalloc.python_bytes_per_iteration,
        ),
        (
            "tracemalloc.c-heap-bytes-per-iteration",
            d.tracemalloc.c_heap_bytes_per_iteration,
        ),
        (
            "valgrind.growth-bytes-per-iteration",
            d.valgrind.growth_bytes_per_iteration,
        ),
        (
            "tracemalloc.thread-grace-seconds",
            d.tracemalloc.thread_grace_seconds,
        ),
        ("tracemalloc.round-seconds", d.tracemalloc.round_seconds),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err((key, format!("must be a number >= 0, got {value}")));
        }
    }
    if d.stages.is_empty() {
        return Err(("stages", "must name at least one stage".into()));
    }
    if let Some(hook) = &d.live_objects {
        let (module, attr) = hook.split_once(':').unwrap_or(("", ""));
        if module.is_empty() || attr.is_empty() {
            return Err((
                "live-objects",
                format!("expected `module:callable`, got {hook:?}"),
            ));
        }
    }
    if d.output.trim().is_empty() || Path::new(&d.output).is_absolute() {
        return Err((
            "output",
            format!(
                "a directory relative to the project root, got {:?}",
                d.output
            ),
        ));
    }
    if d.runner == Runner::Unittest && !d.pytest_args.is_empty() {
        return Err(("pytest-args", "only for runner = \"pytest\"".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StageName;

    fn parse(text: &str) -> Result<Description, ConfigError> {
        load_str(text, Path::new("pyproject.toml"))
    }

    fn key_of(text: &str) -> (String, String) {
        match parse(text) {
            Err(ConfigError::Key { key, message, .. }) => (key, message),
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn no_table_is_the_defaults() {
        assert_eq!(
            parse("[project]\nname = 'x'\n").unwrap(),
            Description::default()
        );
        assert_eq!(parse("").unwrap(), Description::default());
    }

    #[test]
    fn keys_are_read() {
        let d = parse(
            "[tool.memtest]\nrunner = 'unittest'\ntests = ['a.B']\nstages = ['valgrind']\n\
             live-objects = 'pkg:counts'\n[tool.memtest.valgrind]\niterations = 3\nfail-on = ['definite']\n\
             [tool.memtest.ours]\nobjects = ['*/pkg/_x*.so']\n",
        )
        .unwrap();
        assert_eq!(d.runner, Runner::Unittest);
        assert_eq!(d.stages, [StageName::Valgrind]);
        assert_eq!(d.valgrind.iterations, 3);
        assert_eq!(
            d.ours.objects.as_deref(),
            Some(&["*/pkg/_x*.so".to_owned()][..])
        );
        assert_eq!(d.live_objects.as_deref(), Some("pkg:counts"));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_table() {
        let (key, message) = key_of("[tool.memtest]\nrunners = 'pytest'\n");
        assert_eq!(key, "runners");
        assert!(message.contains("expected one of"), "{message}");
        let (key, _) = key_of("[tool.memtest.valgrind]\niteration = 3\n");
        assert_eq!(key, "valgrind.iteration");
    }

    #[test]
    fn a_wrong_type_or_value_is_named() {
        assert_eq!(
            key_of("[tool.memtest.valgrind]\niterations = 'five'\n").0,
            "valgrind.iterations"
        );
        assert_eq!(key_of("[tool.memtest]\nrunner = 'nose'\n").0, "runner");
        assert_eq!(
            key_of("[tool.memtest]\nstages = ['tracemalloc', 'asan']\n").0,
            "stages[1]"
        );
        let (key, message) = key_of("[tool.memtest.tracemalloc]\niterations = 0\n");
        assert_eq!(key, "tracemalloc.iterations");
        assert!(message.contains("at least 1"));
        assert_eq!(
            key_of("[tool.memtest]\nlive-objects = 'nocolon'\n").0,
            "live-objects"
        );
        assert_eq!(key_of("[tool.memtest]\noutput = '/abs'\n").0, "output");
    }

    #[test]
    fn errors_name_the_file_and_the_table() {
        let e = parse("[tool.memtest]\nrunners = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("pyproject.toml: [tool.memtest] key `runners`:"),
            "{e}"
        );
        let e = parse("[tool.memtest\n").unwrap_err().to_string();
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
