//! `vgxml check`: the CI verdict, in every format.

use super::{finish, output, read_all, source_root};
use crate::cli::{CheckArgs, CheckFormat, FailOn};
use anyhow::{Context as _, Result};
use std::io::Write;
use std::path::PathBuf;
use vgxml_judge::formats::{self, sarif::DEFAULT_INFORMATION_URI};
use vgxml_judge::{judge, Baseline, Category, Policy};
use vgxml_parse::Options;

pub fn run(a: &CheckArgs) -> Result<u8> {
    let read = read_all(&a.input.files, Options::full())?;
    let reports = &read.reports;
    let ours = a.ours.rules();
    let mut policy = Policy::new(ours.clone(), source_root(a.source_root.as_deref()));
    policy.fail_on = a.fail_on.iter().map(|f| category(*f)).collect();
    policy.budgets = a.max.clone().map(|b| b.0).unwrap_or_default();
    policy.markers = a.markers.markers();
    policy.one_time_before_tests = a.one_time_before_tests;
    policy.one_time_functions = a.one_time_functions.clone();
    if a.markers.checkpoint_prefix.is_some() {
        policy.growth_on = Category::ALL.into_iter().collect();
    }
    policy.growth_min_bytes_per_iteration = a.growth_min;
    if let Some(b) = &a.baseline {
        policy.baseline = Some(Baseline::load(b, &ours)?);
    }
    let v = judge(reports, &policy);
    for n in &v.notes {
        eprintln!("vgxml: note: {n}");
    }
    let mut out = output(a.output.output.as_deref())?;
    match a.format {
        CheckFormat::Text => write!(out, "{}", formats::text::check(&v, a.baseline.is_some()))?,
        CheckFormat::Json => {
            // Keys sorted (a serde_json::Value map), as before the judgement was a type.
            serde_json::to_writer(&mut out, &serde_json::to_value(&v)?)?;
            writeln!(out)?;
        }
        CheckFormat::Junit => {
            let cases = formats::junit::junit_cases(&v, reports, &policy);
            write!(out, "{}", formats::junit::junit_xml("vgxml check", &cases))?;
        }
        CheckFormat::Sarif => {
            let s = formats::sarif::sarif(&v, &policy, DEFAULT_INFORMATION_URI);
            serde_json::to_writer_pretty(&mut out, &s)?;
            writeln!(out)?;
        }
        CheckFormat::Gitlab => {
            serde_json::to_writer_pretty(&mut out, &formats::gitlab::gitlab(&v))?;
            writeln!(out)?;
        }
        CheckFormat::Github => {
            write!(out, "{}", formats::github::github_annotations(&v))?;
            let target = a
                .summary_file
                .clone()
                .or_else(|| std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from));
            if let Some(p) = target {
                let md = formats::github::markdown_summary(&v);
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .with_context(|| format!("{}: cannot open the job summary", p.display()))?;
                f.write_all(md.as_bytes())?;
            }
        }
    }
    finish(out)?;
    // A leak found is a leak, whatever else; then the input's wholeness.
    Ok(if v.failed {
        1
    } else {
        read.wholeness.exit_code()
    })
}

fn category(f: FailOn) -> Category {
    match f {
        FailOn::Definite => Category::Definite,
        FailOn::Indirect => Category::Indirect,
        FailOn::Possible => Category::Possible,
        FailOn::Reachable => Category::Reachable,
        FailOn::Errors => Category::Errors,
    }
}
