//! The cxx bridge. Everything here is crate-private; `lib.rs` wraps it in a
//! safe API.

use std::panic::{self, AssertUnwindSafe};

use cxx::UniquePtr;

use crate::{Block, HookFailed, PushHooks};

#[cxx::bridge(namespace = "sluice")]
pub(crate) mod bridge {
    /// `sluice::LiveKind` (cpp/include/sluice/live.h). Declared here and as a
    /// type in the C++ block below, so cxx checks every value against the C++
    /// definition at compile time (`Count` included: a kind added in C++ but
    /// not here fails the build).
    #[repr(u8)]
    enum LiveKind {
        Block = 0,
        Pipeline = 1,
        Stage = 2,
        Subscription = 3,
        Count = 4,
    }

    /// `sluice::StageArgType` (cpp/include/sluice/stage.h), checked like
    /// `LiveKind`.
    #[repr(u8)]
    enum StageArgType {
        Real = 0,
        Integer = 1,
    }

    /// One constructor argument of a native stage; `bridge.cc` turns a slice
    /// of them into the core's `sluice::StageArg`s.
    #[namespace = "sluice::bridge"]
    struct StageArg {
        ty: StageArgType,
        real: f32,
        integer: i64,
    }

    extern "Rust" {
        #[namespace = "sluice::bridge"]
        type HookSink<'a>;

        #[namespace = "sluice::bridge"]
        fn sink_call_stage(
            sink: &mut HookSink<'_>,
            token: u64,
            block: UniquePtr<Block>,
        ) -> Result<UniquePtr<Block>>;
        #[namespace = "sluice::bridge"]
        fn sink_deliver(sink: &mut HookSink<'_>, output: UniquePtr<Block>) -> Result<()>;
        #[namespace = "sluice::bridge"]
        fn sink_notify(sink: &mut HookSink<'_>, token: u64) -> Result<()>;
    }

    // Each declaration below matches its C++ definition in include/bridge.h
    // (cxx checks what it can), and every function is safe to call with any
    // arguments safe Rust can make: the ones that can throw are declared
    // `-> Result`, and none keeps a reference past its call except
    // `block_samples(_mut)`, whose borrow cxx ties to the block.
    // SAFETY: as just said, these C++ functions are sound to call from safe Rust.
    unsafe extern "C++" {
        include!("sluice-core/include/bridge.h");

        type LiveKind;
        type StageArgType;
        type Block;
        type Stage;
        type Pipeline;
        type Subscription;

        #[namespace = "sluice::bridge"]
        fn new_block(frames: usize, channels: usize) -> Result<UniquePtr<Block>>;
        #[namespace = "sluice::bridge"]
        fn clone_block(block: &Block) -> Result<UniquePtr<Block>>;
        #[namespace = "sluice::bridge"]
        fn block_samples(block: &Block) -> &[f32];
        #[namespace = "sluice::bridge"]
        fn block_samples_mut(block: Pin<&mut Block>) -> &mut [f32];
        fn frames(self: &Block) -> usize;
        fn channels(self: &Block) -> usize;

        /// The native stage `name` (see `cpp/src/stage.cc`'s table) built
        /// from `args`; every stage is made through this one function.
        #[namespace = "sluice::bridge"]
        fn new_native_stage(name: &str, args: &[StageArg]) -> Result<UniquePtr<Stage>>;
        /// "Name(real, integer, ...)" for every native stage the core has.
        #[namespace = "sluice::bridge"]
        fn native_stage_signatures() -> Vec<String>;
        #[namespace = "sluice::bridge"]
        fn new_callback_stage(token: u64) -> Result<UniquePtr<Stage>>;
        #[namespace = "sluice::bridge"]
        fn clone_stage(stage: &Stage) -> Result<UniquePtr<Stage>>;

        #[namespace = "sluice::bridge"]
        fn new_pipeline() -> Result<UniquePtr<Pipeline>>;
        #[namespace = "sluice::bridge"]
        fn append_stage(pipeline: Pin<&mut Pipeline>, stage: UniquePtr<Stage>) -> Result<()>;
        #[namespace = "sluice::bridge"]
        fn stage_count(pipeline: &Pipeline) -> usize;
        #[namespace = "sluice::bridge"]
        fn reset_pipeline(pipeline: Pin<&mut Pipeline>);
        #[namespace = "sluice::bridge"]
        fn subscribe(pipeline: Pin<&mut Pipeline>, token: u64) -> Result<SharedPtr<Subscription>>;
        #[namespace = "sluice::bridge"]
        fn push_block(
            pipeline: Pin<&mut Pipeline>,
            input: &Block,
            sink: &mut HookSink<'_>,
        ) -> Result<()>;
        #[namespace = "sluice::bridge"]
        fn push_owned_block(
            pipeline: Pin<&mut Pipeline>,
            input: UniquePtr<Block>,
            sink: &mut HookSink<'_>,
        ) -> Result<()>;

        #[namespace = "sluice::bridge"]
        fn subscription_token(subscription: &Subscription) -> u64;
        #[namespace = "sluice::bridge"]
        fn subscription_active(subscription: &Subscription) -> bool;
        #[namespace = "sluice::bridge"]
        fn cancel_subscription(subscription: &Subscription);

        #[namespace = "sluice::bridge"]
        fn live_count(kind: LiveKind) -> i64;

        #[namespace = "sluice::bridge"]
        fn valgrind_compiled_in() -> bool;
        #[namespace = "sluice::bridge"]
        fn valgrind_running() -> bool;
        /// Memcheck's check that every byte of `samples` is defined: see
        /// `sluice::valgrind::check_defined` (cpp/include/sluice/valgrind.h).
        #[namespace = "sluice::bridge"]
        fn valgrind_check_defined(samples: &[f32]) -> bool;
    }
}

// SAFETY: a C++ Block is a plain owned float array (sluice/block.h) with no
// thread affinity; mutation needs `Pin<&mut Block>`, so Rust's borrow rules
// keep writers exclusive across threads.
unsafe impl Send for bridge::Block {}
// SAFETY: the only `&Block` operations are const reads of sizes and samples.
unsafe impl Sync for bridge::Block {}
// SAFETY: a Stage has no thread affinity; running or resetting it needs
// `Pin<&mut Stage>`, and the `&Stage` operation (clone) is const and reads
// only immutable parameters.
unsafe impl Send for bridge::Stage {}
// SAFETY: see Send: `&Stage` only reaches `clone() const`.
unsafe impl Sync for bridge::Stage {}
// SAFETY: a Pipeline has no thread affinity; every mutation takes
// `Pin<&mut Pipeline>`.
unsafe impl Send for bridge::Pipeline {}
// SAFETY: the only `&Pipeline` operation (size) is a const read.
unsafe impl Sync for bridge::Pipeline {}
// SAFETY: a Subscription's state is one std::atomic<bool> plus an immutable
// token; cancel() and active() are atomic operations, safe from any thread.
unsafe impl Send for bridge::Subscription {}
// SAFETY: as for Send.
unsafe impl Sync for bridge::Subscription {}

/// What the C++ side of a push calls back into: the caller's hooks, plus a
/// note of whether one of them failed (so a C++ exception that follows can be
/// told apart from an error of the core itself).
pub(crate) struct HookSink<'a> {
    hooks: &'a mut dyn PushHooks,
    pub(crate) failed: bool,
}

impl<'a> HookSink<'a> {
    pub(crate) fn new(hooks: &'a mut dyn PushHooks) -> Self {
        HookSink {
            hooks,
            failed: false,
        }
    }

    // A panic must not unwind into C++ (it would abort the process): turn it
    // into a hook failure, which unwinds the core as a C++ exception instead.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut dyn PushHooks) -> Result<T, HookFailed>,
    ) -> Result<T, HookFailed> {
        let hooks = &mut *self.hooks;
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| f(hooks))).unwrap_or(Err(HookFailed::Panicked));
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

fn sink_call_stage(
    sink: &mut HookSink<'_>,
    token: u64,
    block: UniquePtr<bridge::Block>,
) -> Result<UniquePtr<bridge::Block>, HookFailed> {
    let block = Block::from_unique(block).ok_or(HookFailed::NullBlock)?;
    sink.guarded(|hooks| hooks.call_stage(token, block))
        .map(Block::into_unique)
}

fn sink_deliver(
    sink: &mut HookSink<'_>,
    output: UniquePtr<bridge::Block>,
) -> Result<(), HookFailed> {
    let output = Block::from_unique(output).ok_or(HookFailed::NullBlock)?;
    sink.guarded(|hooks| {
        hooks.deliver(output);
        Ok(())
    })
}

fn sink_notify(sink: &mut HookSink<'_>, token: u64) -> Result<(), HookFailed> {
    sink.guarded(|hooks| hooks.notify(token))
}
