//! Error kinds: Valgrind's `<kind>` names, and the four leak kinds.

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
            /// The `<error>` had no `<kind>` (or an empty one): never counted
            /// under an empty name. Spelt [`Kind::MISSING`].
            Missing,
        }

        impl Kind {
            /// The kind as Valgrind spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Kind::$var => $s, )*
                    Kind::Other(s) => s,
                    Kind::Missing => Kind::MISSING,
                }
            }

            /// Parses a `<kind>` text; never fails. An empty text (and
            /// [`Kind::MISSING`]) is [`Kind::Missing`].
            pub fn parse(s: &str) -> Kind {
                match s {
                    $( $s => Kind::$var, )*
                    "" | Kind::MISSING => Kind::Missing,
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
    /// How [`Kind::Missing`] is spelt (in counts, JSON, text): not a name
    /// Valgrind can write (it is not an identifier).
    pub const MISSING: &'static str = "(kind missing)";

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
