//! The command line: a struct per subcommand, each flag declared once.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use vgxml_judge::OurCode;

/// Read Valgrind XML reports (`--xml=yes`; protocols 4, 5 and 6): leak totals
/// that agree with Valgrind's LEAK SUMMARY, CI verdicts, baselines, diffs,
/// suppressions.
#[derive(Debug, Parser)]
#[command(
    name = "vgxml",
    version,
    about,
    after_help = EXIT_STATUS,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print elapsed time and peak RSS to stderr when done (for benchmarks).
    #[arg(long, global = true, hide = true)]
    pub stats: bool,
}

pub const EXIT_STATUS: &str = "\
A file may hold several reports (runs or processes written to one --xml-file);
each is read as its own process.

Exit status:
  0  every report read completely (check: nothing offending; diff: nothing
     new or grown; suppressions --unused: every entry used)
  1  check found offending records (whatever else); diff found something new
     or grown; suppressions --unused found unused entries
  2  bad input: not Valgrind XML, an unknown protocol, or XML malformed after
     a valid start or bytes outside any report (what could be read is shown,
     said partial); also an unreadable file or bad usage
  3  some report was cut (Valgrind killed, disk full): every record before
     the cut is shown";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Leak totals per kind (bytes, blocks; "not shown" / null when the run
    /// did not show that kind), error contexts per kind, suppressed counts,
    /// processes. Several files (one per process) are combined.
    #[command(after_help = EXIT_STATUS)]
    Summary(SummaryArgs),
    /// The CI verdict: the offending records (end-of-run loss records of the
    /// --fail-on kinds, and non-leak errors with `errors`), with normalised
    /// stacks and stable fingerprints (kind + our frames as function@file:
    /// no lines, addresses or directories).
    #[command(after_help = EXIT_STATUS)]
    Check(CheckArgs),
    /// Write the fingerprints of the end-of-run loss records and errors
    /// (kind, bytes, blocks, first frame, count) as a baseline JSON.
    #[command(after_help = EXIT_STATUS)]
    Baseline(BaselineArgs),
    /// New, fixed, grown and shrunk fingerprints between two runs, with byte
    /// deltas. Each input is a Valgrind XML file, a baseline, or the JSON of
    /// `check --format json`.
    #[command(after_help = EXIT_STATUS)]
    Diff(DiffArgs),
    /// The deduplicated suppressions of --gen-suppressions=all; with
    /// --unused, the entries of the .supp files that no run used.
    #[command(after_help = EXIT_STATUS)]
    Suppressions(SuppressionsArgs),
    /// One self-contained HTML page (no external assets): totals, processes,
    /// records by fingerprint with their stacks and source lines.
    #[command(after_help = EXIT_STATUS)]
    Html(HtmlArgs),
    /// Every parsed item, one JSON object per line.
    #[command(after_help = EXIT_STATUS)]
    Records(RecordsArgs),
}

/// Which frames are our code. With no rule, every frame is.
#[derive(Debug, Clone, Default, Args)]
pub struct OursArgs {
    /// A glob over a frame's object path or source path (`*` crosses `/`).
    #[arg(long, value_name = "GLOB")]
    pub ours: Vec<String>,
    /// A glob over a frame's object (ELF) path.
    #[arg(long, value_name = "GLOB")]
    pub ours_obj: Vec<String>,
    /// A prefix of a frame's source path (`dir/file`).
    #[arg(long, value_name = "PREFIX")]
    pub ours_src: Vec<String>,
    /// A glob over a frame's function name, e.g. `mylib::*`.
    #[arg(long, value_name = "PATTERN")]
    pub ours_fn: Vec<String>,
}

impl OursArgs {
    pub fn rules(&self) -> OurCode {
        let mut o = OurCode::new();
        for g in &self.ours {
            o = o.object_glob(g).source_glob(g);
        }
        for g in &self.ours_obj {
            o = o.object_glob(g);
        }
        for p in &self.ours_src {
            o = o.source_prefix(p);
        }
        for p in &self.ours_fn {
            o = o.function_pattern(p);
        }
        o
    }
}

/// Where the output goes.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Write the output to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The reports read.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Valgrind XML files (one per process).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
    Junit,
    Github,
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Same as --format json.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

impl SummaryArgs {
    pub fn format(&self) -> SummaryFormat {
        if self.json {
            SummaryFormat::Json
        } else {
            self.format
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Junit,
    Github,
    Sarif,
    Gitlab,
}

/// A category `check` can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Definite,
    Indirect,
    Possible,
    Reachable,
    Errors,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub ours: OursArgs,
    /// The categories whose end-of-run records offend. Possibly lost (a
    /// pointer into a block's middle, which lazily built type objects leave)
    /// and still reachable are, by default, judged by their growth across
    /// checkpoints, not at exit.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "definite,indirect,errors"
    )]
    pub fail_on: Vec<FailOn>,
    /// With --checkpoint-prefix: a site fails when it grew in every round by
    /// at least this many bytes per iteration (the markers say how many
    /// iterations each round ran; without that, any growth in every round).
    #[arg(long, value_name = "BYTES", default_value_t = vgxml_judge::DEFAULT_GROWTH_BYTES_PER_ITERATION)]
    pub growth_min: f64,
    /// Only records whose fingerprint BASELINE does not know offend; the gone
    /// ones are listed. BASELINE: a `vgxml baseline` file, the JSON of
    /// `check --format json`, or a Valgrind XML file.
    #[arg(long, value_name = "BASELINE")]
    pub baseline: Option<PathBuf>,
    /// Budgets per kind, replacing --fail-on, e.g.
    /// `definite=0,possible=4KiB,errors=0` (sizes in B, KB, KiB, MB, MiB, GB,
    /// GiB; errors: contexts). A kind the run did not measure fails as "not
    /// measured".
    #[arg(long, value_name = "KIND=LIMIT,...", value_parser = parse_budgets)]
    pub max: Option<Budgets>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Source paths are shown relative to DIR (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub source_root: Option<PathBuf>,
    /// With --format github: append the Markdown job summary to FILE
    /// (default: $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary_file: Option<PathBuf>,
    #[command(flatten)]
    pub markers: MarkerArgs,
    /// A lost block allocated before the first test (before the first
    /// marker) and no larger at the end is listed as one-time, not failing.
    #[arg(long, requires = "marker_prefix")]
    pub one_time_before_tests: bool,
    /// A function that runs once per process (glob over its name, e.g.
    /// `mylib::init*`): a lost block allocated under it is listed as
    /// one-time, not failing. Repeatable. Growth still fails.
    #[arg(long = "one-time-fn", value_name = "PATTERN")]
    pub one_time_functions: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

/// The client messages (VALGRIND_PRINTF) a test harness writes.
#[derive(Debug, Clone, Default, Args)]
pub struct MarkerArgs {
    /// Messages `TEXT<test id>` name the test that follows: records are
    /// attributed to tests.
    #[arg(long, value_name = "TEXT")]
    pub marker_prefix: Option<String>,
    /// Messages `TEXT<round>[:<iterations>] <test id>` precede a leak search
    /// between a test's measured rounds (VALGRIND_DO_CHANGED_LEAK_CHECK;
    /// round 0 after the warm-up): an allocation stack of ours that grows in
    /// every round (by --growth-min per iteration) offends, whatever its kind.
    #[arg(long, value_name = "TEXT")]
    pub checkpoint_prefix: Option<String>,
}

impl MarkerArgs {
    pub fn markers(&self) -> vgxml_judge::Markers {
        vgxml_judge::Markers {
            test_prefix: self.marker_prefix.clone(),
            checkpoint_prefix: self.checkpoint_prefix.clone(),
        }
    }
}

/// The budgets of `--max`.
#[derive(Debug, Clone)]
pub struct Budgets(pub Vec<vgxml_judge::Budget>);

fn parse_budgets(s: &str) -> Result<Budgets, vgxml_judge::BudgetError> {
    vgxml_judge::parse_budgets(s).map(Budgets)
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub ours: OursArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub ours: OursArgs,
    /// Print the diff as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The earlier run.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later run.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
}

#[derive(Debug, Args)]
pub struct SuppressionsArgs {
    /// List the entries of the --supp files that no run used (exit 1 when any).
    #[arg(long, requires = "supp")]
    pub unused: bool,
    /// A suppression file (repeatable), for --unused.
    #[arg(long, value_name = "FILE.supp")]
    pub supp: Vec<PathBuf>,
    /// With --unused: print the unused entries as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
pub struct HtmlArgs {
    #[command(flatten)]
    pub ours: OursArgs,
    /// Source files are read (and shown) relative to DIR (default: the
    /// current directory).
    #[arg(long, value_name = "DIR")]
    pub source_root: Option<PathBuf>,
    #[command(flatten)]
    pub markers: MarkerArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Args)]
pub struct RecordsArgs {
    #[command(flatten)]
    pub input: InputArgs,
}
