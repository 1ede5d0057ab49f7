//! Budgets: `definite=0,indirect=0,possible=4KiB,errors=0`.

use serde::{Deserialize, Serialize};
use std::fmt;
use vgxml_parse::{ErrorRecord, LeakKind};

/// What a verdict judges: one leak kind, or the non-leak errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Definite,
    Indirect,
    Possible,
    Reachable,
    Errors,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Definite,
        Category::Indirect,
        Category::Possible,
        Category::Reachable,
        Category::Errors,
    ];

    /// `definite`, `indirect`, `possible`, `reachable`, `errors`.
    pub fn name(self) -> &'static str {
        match self {
            Category::Definite => "definite",
            Category::Indirect => "indirect",
            Category::Possible => "possible",
            Category::Reachable => "reachable",
            Category::Errors => "errors",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s.trim())
    }

    pub fn of_record(r: &ErrorRecord) -> Category {
        match r.leak_kind() {
            Some(k) => Category::from_leak_kind(k),
            None => Category::Errors,
        }
    }

    pub fn from_leak_kind(k: LeakKind) -> Category {
        match k {
            LeakKind::DefinitelyLost => Category::Definite,
            LeakKind::IndirectlyLost => Category::Indirect,
            LeakKind::PossiblyLost => Category::Possible,
            LeakKind::StillReachable => Category::Reachable,
        }
    }

    pub fn leak_kind(self) -> Option<LeakKind> {
        match self {
            Category::Definite => Some(LeakKind::DefinitelyLost),
            Category::Indirect => Some(LeakKind::IndirectlyLost),
            Category::Possible => Some(LeakKind::PossiblyLost),
            Category::Reachable => Some(LeakKind::StillReachable),
            Category::Errors => None,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One budget: at most `limit` bytes (leak kinds) or error contexts
/// (`errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub category: Category,
    pub limit: u64,
}

/// A size or budget list that does not parse; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BudgetError(String);

/// Parses a size: a number with an optional unit `B`, `K`/`KB` (1000),
/// `KiB` (1024), `M`/`MB`, `MiB`, `G`/`GB`, `GiB` (case-insensitive, space
/// allowed).
pub fn parse_size(s: &str) -> Result<u64, BudgetError> {
    parse_size_text(s).map_err(BudgetError)
}

fn parse_size_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '_' || c == ','))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .replace(['_', ','], "")
        .parse()
        .map_err(|_| format!("{s:?}: not a size (e.g. 0, 512B, 4KiB, 1MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        u => {
            return Err(format!(
                "{s:?}: unknown unit {u:?} (B, KB, KiB, MB, MiB, GB, GiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?}: too large"))
}

/// Parses `definite=0,indirect=0,possible=4KiB,errors=0`. `errors` takes a
/// plain count of error contexts.
pub fn parse_budgets(s: &str) -> Result<Vec<Budget>, BudgetError> {
    parse_budgets_text(s).map_err(BudgetError)
}

fn parse_budgets_text(s: &str) -> Result<Vec<Budget>, String> {
    let mut out: Vec<Budget> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected KIND=LIMIT"))?;
        let category = Category::parse(k).ok_or_else(|| {
            format!("{k:?}: unknown budget kind (definite, indirect, possible, reachable, errors)")
        })?;
        let limit = if category == Category::Errors {
            v.trim()
                .parse()
                .map_err(|_| format!("errors={v}: expected a count of error contexts"))?
        } else {
            parse_size_text(v)?
        };
        if out.iter().any(|b| b.category == category) {
            return Err(format!("{k}: budget given twice"));
        }
        out.push(Budget { category, limit });
    }
    if out.is_empty() {
        return Err("empty budget list".into());
    }
    Ok(out)
}

/// Bytes with a binary unit for humans: `4096` -> `4.0 KiB`.
pub fn human_bytes(b: u64) -> String {
    if b < 1024 {
        format!("{b} B")
    } else if b < 1 << 20 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else if b < 1 << 30 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4 KB"), Ok(4000));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("10b"), Ok(10));
        assert!(parse_size("4XB").is_err());
        assert!(parse_size("KiB").is_err());
    }

    #[test]
    fn budgets() {
        let b = parse_budgets("definite=0,indirect=0,possible=4KiB,errors=0").unwrap();
        assert_eq!(b.len(), 4);
        assert_eq!(b[2].limit, 4096);
        assert!(parse_budgets("errors=4KiB").is_err());
        assert!(parse_budgets("leaks=0").is_err());
        assert!(parse_budgets("definite=0,definite=1").is_err());
    }
}
