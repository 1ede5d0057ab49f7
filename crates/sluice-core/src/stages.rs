//! The native stages, defined once: the table
//! [`for_each_native_stage!`](crate::for_each_native_stage) is what this crate
//! expands into parameter structs (below) and the bindings expand into their
//! classes. The C++ side of each row is a class and a row of the table in
//! `cpp/src/stage.cc`; a test checks that both tables agree.

use crate::ffi::bridge::{self, StageArg, StageArgType};
use crate::{CoreError, Stage};

/// The table of native stages. Calls `$callback! { rows }`, one row per stage:
/// its doc, its name (the C++ table's name, the Rust struct, the Python
/// class) and its parameters in constructor order, each `f32` or `i64`.
///
/// Adding a stage: a class and a table row in `cpp/src/stage.cc`, a row here,
/// and its class in `python/sluice/_native.pyi`.
#[macro_export]
macro_rules! for_each_native_stage {
    ($callback:ident) => {
        $callback! {
            /// Multiplies every sample by `factor` (finite).
            Gain { factor: f32 },
            /// Adds `value` (finite) to every sample.
            Offset { value: f32 },
            /// Clamps every sample into `[lo, hi]`; `lo <= hi`.
            Clip { lo: f32, hi: f32 },
            /// Causal moving average per channel over `window >= 1` frames; the history
            /// carries across pushes until `Pipeline.reset()`.
            MovingAverage { window: i64 },
        }
    };
}

/// The parameters of one native stage: a struct generated from a row of
/// [`for_each_native_stage!`](crate::for_each_native_stage).
pub trait NativeStage {
    /// The stage's name in both tables.
    const NAME: &'static str;
    /// A new C++ stage with these parameters (checked by its constructor).
    fn stage(&self) -> Result<Stage, CoreError>;
}

/// A parameter type of the table, and how it crosses the bridge.
pub(crate) trait StageParam: Copy {
    /// Its name in the C++ table's signatures.
    const TYPE_NAME: &'static str;
    fn to_arg(self) -> StageArg;
}

impl StageParam for f32 {
    const TYPE_NAME: &'static str = "real";
    fn to_arg(self) -> StageArg {
        StageArg {
            ty: StageArgType::Real,
            real: self,
            integer: 0,
        }
    }
}

impl StageParam for i64 {
    const TYPE_NAME: &'static str = "integer";
    fn to_arg(self) -> StageArg {
        StageArg {
            ty: StageArgType::Integer,
            real: 0.0,
            integer: self,
        }
    }
}

macro_rules! parameter_structs {
    ($( $(#[$doc:meta])* $name:ident { $($param:ident : $ty:ty),* $(,)? } ),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq)]
            pub struct $name {
                $(pub $param: $ty,)*
            }

            impl NativeStage for $name {
                const NAME: &'static str = stringify!($name);

                fn stage(&self) -> Result<Stage, CoreError> {
                    Stage::native(Self::NAME, &[$(StageParam::to_arg(self.$param)),*])
                }
            }
        )*

        /// Every native stage's name, in table order.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// Every row's signature as the C++ table writes it, "Name(real, ...)",
        /// in table order: compare with [`core_signatures`].
        pub fn signatures() -> Vec<String> {
            vec![$({
                let types: &[&str] = &[$(<$ty as StageParam>::TYPE_NAME),*];
                format!("{}({})", stringify!($name), types.join(", "))
            }),*]
        }
    };
}

crate::for_each_native_stage!(parameter_structs);

/// The C++ table's signatures, "Name(real, ...)", in its order: what the
/// core can build.
pub fn core_signatures() -> Vec<String> {
    bridge::native_stage_signatures()
}
