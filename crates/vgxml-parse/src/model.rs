//! The data model: what a Valgrind XML report (protocols 4, 5 and 6) holds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! kinds {
    ($( $(#[$m:meta])* $var:ident = $s:literal ),* $(,)?) => {
        /// The `<kind>` of an `<error>`. Every kind named in the protocol
        /// descriptions (memcheck, helgrind, DRD, SGcheck, protocol 5 fd errors,
        /// the protocol 6 addendum) has a variant; anything else is kept as
        /// [`Kind::Other`] under its own name, never rejected.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $( $(#[$m])* $var, )*
            /// A kind this version of vgxml does not know, kept verbatim.
            Other(String),
        }

        impl Kind {
            /// The kind as Valgrind spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Kind::$var => $s, )*
                    Kind::Other(s) => s,
                }
            }

            /// Parses a `<kind>` text; never fails.
            pub fn parse(s: &str) -> Kind {
                match s {
                    $( $s => Kind::$var, )*
                    other => Kind::Other(other.to_string()),
                }
            }
        }
    };
}

kinds! {
    // memcheck (protocol 4)
    InvalidFree = "InvalidFree",
    MismatchedFree = "MismatchedFree",
    InvalidRead = "InvalidRead",
    InvalidWrite = "InvalidWrite",
    InvalidJump = "InvalidJump",
    Overlap = "Overlap",
    InvalidMemPool = "InvalidMemPool",
    UninitCondition = "UninitCondition",
    UninitValue = "UninitValue",
    SyscallParam = "SyscallParam",
    ClientCheck = "ClientCheck",
    FishyValue = "FishyValue",
    LeakDefinitelyLost = "Leak_DefinitelyLost",
    LeakIndirectlyLost = "Leak_IndirectlyLost",
    LeakPossiblyLost = "Leak_PossiblyLost",
    LeakStillReachable = "Leak_StillReachable",
    // memcheck, protocol 6 addendum
    ReallocSizeZero = "ReallocSizeZero",
    InvalidSizeAndAlignment = "InvalidSizeAndAlignment",
    InvalidAlignment = "InvalidAlignment",
    InvalidSize = "InvalidSize",
    MismatchedAllocateDeallocateSize = "MismatchedAllocateDeallocateSize",
    MismatchedAllocateDeallocateAlignment = "MismatchedAllocateDeallocateAlignment",
    // core errors (protocol 5, --track-fds=yes)
    FdBadClose = "FdBadClose",
    FdNotClosed = "FdNotClosed",
    FdBadUse = "FdBadUse",
    // SGcheck
    SorG = "SorG",
    // helgrind
    Race = "Race",
    UnlockUnlocked = "UnlockUnlocked",
    UnlockForeign = "UnlockForeign",
    UnlockBogus = "UnlockBogus",
    PthApiError = "PthAPIerror",
    LockOrder = "LockOrder",
    Misc = "Misc",
    // DRD
    ConflictingAccess = "ConflictingAccess",
    MutexErr = "MutexErr",
    CondErr = "CondErr",
    CondDestrErr = "CondDestrErr",
    CondRaceErr = "CondRaceErr",
    CondWaitErr = "CondWaitErr",
    SemaphoreErr = "SemaphoreErr",
    BarrierErr = "BarrierErr",
    RwlockErr = "RwlockErr",
    HoldtimeErr = "HoldtimeErr",
    GenericErr = "GenericErr",
    InvalidThreadId = "InvalidThreadId",
    UnimpHgClReq = "UnimpHgClReq",
    UnimpDrdClReq = "UnimpDrdClReq",
}

impl Kind {
    /// The leak kind, for the four `Leak_*` kinds.
    pub fn leak_kind(&self) -> Option<LeakKind> {
        match self {
            Kind::LeakDefinitelyLost => Some(LeakKind::DefinitelyLost),
            Kind::LeakIndirectlyLost => Some(LeakKind::IndirectlyLost),
            Kind::LeakPossiblyLost => Some(LeakKind::PossiblyLost),
            Kind::LeakStillReachable => Some(LeakKind::StillReachable),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Kind::parse(&String::deserialize(d)?))
    }
}

/// The four kinds of loss record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    DefinitelyLost,
    IndirectlyLost,
    PossiblyLost,
    StillReachable,
}

impl LeakKind {
    pub const ALL: [LeakKind; 4] = [
        LeakKind::DefinitelyLost,
        LeakKind::IndirectlyLost,
        LeakKind::PossiblyLost,
        LeakKind::StillReachable,
    ];

    /// `definitely_lost`, ... (the JSON key).
    pub fn key(self) -> &'static str {
        match self {
            LeakKind::DefinitelyLost => "definitely_lost",
            LeakKind::IndirectlyLost => "indirectly_lost",
            LeakKind::PossiblyLost => "possibly_lost",
            LeakKind::StillReachable => "still_reachable",
        }
    }

    /// `definitely lost`, ... (as in Valgrind's LEAK SUMMARY).
    pub fn label(self) -> &'static str {
        match self {
            LeakKind::DefinitelyLost => "definitely lost",
            LeakKind::IndirectlyLost => "indirectly lost",
            LeakKind::PossiblyLost => "possibly lost",
            LeakKind::StillReachable => "still reachable",
        }
    }

    /// The corresponding [`Kind`].
    pub fn kind(self) -> Kind {
        match self {
            LeakKind::DefinitelyLost => Kind::LeakDefinitelyLost,
            LeakKind::IndirectlyLost => Kind::LeakIndirectlyLost,
            LeakKind::PossiblyLost => Kind::LeakPossiblyLost,
            LeakKind::StillReachable => Kind::LeakStillReachable,
        }
    }
}

/// One program location of a `<stack>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obj: Option<String>,
    #[serde(rename = "fn", skip_serializing_if = "Option::is_none")]
    pub func: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl Frame {
    /// `dir/file` when both are known, else `file`.
    pub fn path(&self) -> Option<String> {
        match (&self.dir, &self.file) {
            (Some(d), Some(f)) if !f.starts_with('/') => {
                Some(format!("{}/{}", d.trim_end_matches('/'), f))
            }
            (_, Some(f)) => Some(f.clone()),
            _ => None,
        }
    }
}

/// A `<sframe>` of a generated suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SFrame {
    Obj(String),
    Fun(String),
}

/// A `<suppression>` generated by `--gen-suppressions=all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<String>,
    pub frames: Vec<SFrame>,
    /// The raw text, ready for a `.supp` file (the CDATA blocks joined).
    pub rawtext: String,
}

/// The origin of an uninitialised value (`--track-origins=yes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub what: String,
    pub stack: Vec<Frame>,
}

/// One `<error>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub unique: String,
    pub tid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_name: Option<String>,
    pub kind: Kind,
    /// The `<what>` text or the `<text>` of `<xwhat>`.
    pub what: String,
    /// A second WHAT/XWHAT line, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaked_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaked_blocks: Option<u64>,
    /// Helgrind `<hthreadid>`s mentioned in the xwhat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hthreadids: Vec<u64>,
    /// Protocol 5 file-descriptor errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub stack: Vec<Frame>,
    /// Auxiliary descriptions (auxwhat / xauxwhat text) with the stack that
    /// follows each (empty when none follows), in document order.
    pub aux: Vec<(String, Vec<Frame>)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    /// Text (trimmed) of the last `<clientmsg>` before this record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// For loss records: which leak search of the process (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<usize>,
    /// For loss records: true for the end-of-run search (after
    /// `<status>FINISHED`).
    #[serde(default)]
    pub final_search: bool,
    /// "loss record N of M", when the text carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_record: Option<(u64, u64)>,
    /// Byte offset of the `<error>` element in its file.
    pub offset: u64,
}

impl ErrorRecord {
    /// An empty record of unknown kind at byte `offset` of its file (for
    /// decoders, and for callers that bring records from other tools).
    pub fn new(offset: u64) -> Self {
        ErrorRecord {
            unique: String::new(),
            tid: None,
            thread_name: None,
            kind: Kind::Other(String::new()),
            what: String::new(),
            what2: None,
            leaked_bytes: None,
            leaked_blocks: None,
            hthreadids: Vec::new(),
            fd: None,
            path: None,
            stack: Vec::new(),
            aux: Vec::new(),
            origin: None,
            suppression: None,
            marker: None,
            search: None,
            final_search: false,
            loss_record: None,
            offset,
        }
    }

    pub fn leak_kind(&self) -> Option<LeakKind> {
        self.kind.leak_kind()
    }

    pub fn is_leak(&self) -> bool {
        self.leak_kind().is_some()
    }

    /// The bytes of the blocks of this loss record itself, without the
    /// indirectly lost blocks it owns (`"672 (224 direct, 448 indirect)"`
    /// gives 224). `None` for non-leak errors.
    pub fn direct_bytes(&self) -> Option<u64> {
        self.leak_kind()?;
        match split_direct_indirect(&self.what) {
            Some((d, _)) => Some(d),
            None => self.leaked_bytes,
        }
    }

    /// The indirectly lost bytes this record owns (0 when the text has no
    /// "(N direct, M indirect)" part). `None` for non-leak errors.
    pub fn indirect_bytes(&self) -> Option<u64> {
        self.leak_kind()?;
        Some(split_direct_indirect(&self.what).map_or(0, |(_, i)| i))
    }
}

/// Parses a number as Valgrind writes it: optional thousands separators.
pub(crate) fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    let mut digits = 0;
    for c in s.bytes() {
        match c {
            b'0'..=b'9' => {
                v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                digits += 1;
            }
            b',' | b'\'' | b'_' => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(v)
}

/// From `"672 (224 direct, 448 indirect) bytes ..."` (also the delta form
/// `"672 (+672) (224 (+224) direct, 448 (+448) indirect) bytes"`) returns
/// `(224, 448)`.
pub(crate) fn split_direct_indirect(text: &str) -> Option<(u64, u64)> {
    let i = text.find(" direct, ")?;
    let before = &text[..i];
    let direct = before
        .split_whitespace()
        .rev()
        .find(|t| !(t.starts_with("(+") || t.starts_with("(-")))?
        .trim_start_matches('(');
    let after = &text[i + " direct, ".len()..];
    let indirect = after.split_whitespace().next()?;
    Some((parse_num(direct)?, parse_num(indirect)?))
}

/// From `"... in loss record 3 of 11"` returns `(3, 11)`.
pub(crate) fn parse_loss_record(text: &str) -> Option<(u64, u64)> {
    let i = text.rfind("loss record ")?;
    let mut it = text[i + "loss record ".len()..].split_whitespace();
    let n = parse_num(it.next()?)?;
    if it.next()? != "of" {
        return None;
    }
    let m = parse_num(it.next()?)?;
    Some((n, m))
}

/// `<args>`: Valgrind's own argv and the client program's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Args {
    pub valgrind_exe: Option<String>,
    pub valgrind_args: Vec<String>,
    pub program_exe: Option<String>,
    pub program_args: Vec<String>,
}

/// A `<status>` transition (`RUNNING`, `FINISHED`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: String,
    pub time: String,
}

/// A `<clientmsg>` (`VALGRIND_PRINTF`, `VALGRIND_PRINTF_BACKTRACE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMsg {
    pub tid: Option<u64>,
    /// The text as written (usually ends with a newline).
    pub text: String,
    pub stack: Vec<Frame>,
}

/// A `<suppcounts>` pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppCount {
    pub name: String,
    pub count: u64,
}

/// A `<fatal_signal>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FatalSignal {
    pub tid: Option<u64>,
    pub signo: Option<i64>,
    pub signame: Option<String>,
    pub sicode: Option<i64>,
    pub event: Option<String>,
    pub siaddr: Option<String>,
    pub stack: Vec<Frame>,
}

/// A helgrind `<announcethread>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceThread {
    pub hthreadid: Option<u64>,
    pub stack: Vec<Frame>,
}

/// Bytes and blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub bytes: u64,
    pub blocks: u64,
}

impl Amount {
    pub(crate) fn add(&mut self, o: Amount) {
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.blocks = self.blocks.saturating_add(o.blocks);
    }
}

/// Protocol 6 `<error_summary>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub errors: Option<u64>,
    pub error_contexts: Option<u64>,
    pub suppressed: Option<u64>,
    pub suppressed_contexts: Option<u64>,
}

/// Protocol 6 `<heap_summary>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapSummary {
    pub in_use_at_exit: Option<Amount>,
    pub allocs: Option<u64>,
    pub frees: Option<u64>,
    pub bytes_allocated: Option<u64>,
}

/// Leak totals per kind. `None` = not measured (the run did not show that
/// kind, or did not finish), never silently 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakTotals {
    pub definitely_lost: Option<Amount>,
    pub indirectly_lost: Option<Amount>,
    pub possibly_lost: Option<Amount>,
    pub still_reachable: Option<Amount>,
}

impl LeakTotals {
    pub fn get(&self, k: LeakKind) -> Option<Amount> {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost,
            LeakKind::IndirectlyLost => self.indirectly_lost,
            LeakKind::PossiblyLost => self.possibly_lost,
            LeakKind::StillReachable => self.still_reachable,
        }
    }

    pub fn set(&mut self, k: LeakKind, v: Option<Amount>) {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost = v,
            LeakKind::IndirectlyLost => self.indirectly_lost = v,
            LeakKind::PossiblyLost => self.possibly_lost = v,
            LeakKind::StillReachable => self.still_reachable = v,
        }
    }
}

/// Protocol 6 `<leak_summary>`: Valgrind's own totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValgrindLeakSummary {
    #[serde(flatten)]
    pub totals: LeakTotals,
    pub suppressed: Option<Amount>,
}

/// Something worth telling the user about a file that is not an error:
/// truncation, malformed content after a valid start, disagreements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The file.
    pub source: String,
    /// Byte position, when it refers to one.
    pub offset: Option<u64>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{}: byte {}: {}", self.source, o, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_num("64,146"), Some(64146));
        assert_eq!(parse_num(" 12 "), Some(12));
        assert_eq!(parse_num(""), None);
        assert_eq!(parse_num("1x"), None);
        assert_eq!(parse_num("99999999999999999999999"), None);
    }

    #[test]
    fn direct_indirect() {
        assert_eq!(
            split_direct_indirect("672 (224 direct, 448 indirect) bytes in 7 blocks"),
            Some((224, 448))
        );
        assert_eq!(
            split_direct_indirect(
                "1,672 (+672) (1,224 (+224) direct, 448 (+448) indirect) bytes in 1 (+1) blocks"
            ),
            Some((1224, 448))
        );
        assert_eq!(split_direct_indirect("10 bytes in 1 blocks"), None);
        assert_eq!(
            parse_loss_record("10 bytes in 1 blocks are definitely lost in loss record 3 of 11"),
            Some((3, 11))
        );
    }
}
