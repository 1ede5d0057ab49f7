//! Safe Rust API over sluice's C++ streaming core (`cpp/` at the workspace
//! root), bridged with `cxx`.
//!
//! The core knows nothing of Python: stages whose work happens elsewhere and
//! subscribers are identified by `u64` tokens, and a push calls back into a
//! caller-supplied [`PushHooks`] for them.

mod ffi;
#[cfg(feature = "planted-leaks")]
pub mod planted;
pub mod stages;

use std::fmt;

use cxx::{SharedPtr, UniquePtr};

use crate::ffi::{bridge, HookSink};

/// An error raised by the C++ core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// Bad arguments: the message says which and why.
    #[error("{0}")]
    InvalidArgument(String),
}

impl From<cxx::Exception> for CoreError {
    fn from(e: cxx::Exception) -> Self {
        // The core throws std::invalid_argument for bad input; std::bad_alloc
        // is the only other exception it lets escape, and reads well as-is.
        CoreError::InvalidArgument(e.what().to_owned())
    }
}

/// Why a push stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// One of the caller's hooks returned [`HookFailed`]; the hook keeps
    /// whatever it knows about the failure.
    #[error("a push hook failed")]
    Hook,
    /// The core itself refused the push.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Returned by a [`PushHooks`] method to stop the push. The hook keeps its
/// own record of what went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HookFailed {
    #[error("a push hook failed")]
    Failed,
    #[error("a push hook panicked")]
    Panicked,
    #[error("the core passed a null block to a hook")]
    NullBlock,
}

/// What a push needs from its caller.
pub trait PushHooks {
    /// Runs the callback stage `token` on `block`; returns the block to pass on.
    fn call_stage(&mut self, token: u64, block: Block) -> Result<Block, HookFailed>;
    /// Takes the push's output, before any subscriber is notified.
    fn deliver(&mut self, output: Block);
    /// Tells subscriber `token` that the delivered output is ready.
    fn notify(&mut self, token: u64) -> Result<(), HookFailed>;
}

/// A frames × channels block of `f32` samples, contiguous and frame-major,
/// owned by the core.
pub struct Block {
    inner: UniquePtr<bridge::Block>,
}

impl Block {
    /// A zero-filled block. `channels` must be at least 1.
    pub fn new(frames: usize, channels: usize) -> Result<Block, CoreError> {
        let inner = bridge::new_block(frames, channels)?;
        Ok(Block { inner })
    }

    /// A block holding `samples`, `channels` per frame.
    pub fn from_samples(samples: &[f32], channels: usize) -> Result<Block, CoreError> {
        if channels == 0 {
            return Err(CoreError::InvalidArgument(
                "channels must be >= 1, got 0".into(),
            ));
        }
        if !samples.len().is_multiple_of(channels) {
            return Err(CoreError::InvalidArgument(format!(
                "{} samples do not make whole frames of {channels} channels",
                samples.len()
            )));
        }
        let mut block = Block::new(samples.len() / channels, channels)?;
        block.samples_mut().copy_from_slice(samples);
        Ok(block)
    }

    fn from_unique(inner: UniquePtr<bridge::Block>) -> Option<Block> {
        (!inner.is_null()).then_some(Block { inner })
    }

    fn into_unique(self) -> UniquePtr<bridge::Block> {
        self.inner
    }

    fn get(&self) -> &bridge::Block {
        // Every constructor checks for null.
        self.inner.as_ref().expect("Block is never null")
    }

    pub fn frames(&self) -> usize {
        self.get().frames()
    }

    pub fn channels(&self) -> usize {
        self.get().channels()
    }

    /// All samples, frame after frame.
    pub fn samples(&self) -> &[f32] {
        bridge::block_samples(self.get())
    }

    pub fn samples_mut(&mut self) -> &mut [f32] {
        bridge::block_samples_mut(self.inner.pin_mut())
    }

    /// A deep copy.
    pub fn duplicate(&self) -> Result<Block, CoreError> {
        Ok(Block {
            inner: bridge::clone_block(self.get())?,
        })
    }
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("frames", &self.frames())
            .field("channels", &self.channels())
            .finish()
    }
}

/// A stage, ready to be appended to a pipeline.
pub struct Stage {
    inner: UniquePtr<bridge::Stage>,
}

impl Stage {
    /// The native stage `name` built from `args`. The typed way in is
    /// [`stages::NativeStage::stage`] (e.g. `stages::Gain { factor: 2.0 }.stage()`).
    fn native(name: &str, args: &[bridge::StageArg]) -> Result<Stage, CoreError> {
        Ok(Stage {
            inner: bridge::new_native_stage(name, args)?,
        })
    }

    /// A stage whose work is done by [`PushHooks::call_stage`] with `token`.
    pub fn callback(token: u64) -> Result<Stage, CoreError> {
        Ok(Stage {
            inner: bridge::new_callback_stage(token)?,
        })
    }

    /// A fresh stage with the same parameters and no state.
    pub fn duplicate(&self) -> Result<Stage, CoreError> {
        let stage = self.inner.as_ref().expect("Stage is never null");
        Ok(Stage {
            inner: bridge::clone_stage(stage)?,
        })
    }
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage").finish_non_exhaustive()
    }
}

/// A subscriber's registration with a pipeline. Cancelling is idempotent and
/// safe from any thread, during a push included.
#[derive(Clone)]
pub struct Subscription {
    inner: SharedPtr<bridge::Subscription>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("token", &self.token())
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    fn get(&self) -> &bridge::Subscription {
        self.inner.as_ref().expect("Subscription is never null")
    }

    pub fn token(&self) -> u64 {
        bridge::subscription_token(self.get())
    }

    /// False once cancelled, or once its pipeline is gone.
    pub fn is_active(&self) -> bool {
        bridge::subscription_active(self.get())
    }

    pub fn cancel(&self) {
        bridge::cancel_subscription(self.get())
    }
}

/// An ordered list of stages, and the subscribers told about each output.
pub struct Pipeline {
    inner: UniquePtr<bridge::Pipeline>,
}

impl Pipeline {
    pub fn new() -> Result<Pipeline, CoreError> {
        Ok(Pipeline {
            inner: bridge::new_pipeline()?,
        })
    }

    pub fn append(&mut self, stage: Stage) -> Result<(), CoreError> {
        bridge::append_stage(self.inner.pin_mut(), stage.inner)?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        bridge::stage_count(self.inner.as_ref().expect("Pipeline is never null"))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Clears the state of every stage.
    pub fn reset(&mut self) {
        bridge::reset_pipeline(self.inner.pin_mut())
    }

    /// Registers subscriber `token`, notified after every push while active.
    pub fn subscribe(&mut self, token: u64) -> Result<Subscription, CoreError> {
        Ok(Subscription {
            inner: bridge::subscribe(self.inner.pin_mut(), token)?,
        })
    }

    /// Runs every stage on a copy of `input` (left untouched), hands the
    /// output to `hooks.deliver`, then notifies the active subscribers.
    pub fn push(&mut self, input: &Block, hooks: &mut dyn PushHooks) -> Result<(), PushError> {
        let mut sink = HookSink::new(hooks);
        let result = bridge::push_block(self.inner.pin_mut(), input.get(), &mut sink);
        Self::outcome(result, &sink)
    }

    /// [`Pipeline::push`] of an input given away: the stages run on `input`
    /// itself (no copy).
    pub fn push_owned(&mut self, input: Block, hooks: &mut dyn PushHooks) -> Result<(), PushError> {
        let mut sink = HookSink::new(hooks);
        let result = bridge::push_owned_block(self.inner.pin_mut(), input.into_unique(), &mut sink);
        Self::outcome(result, &sink)
    }

    fn outcome(result: Result<(), cxx::Exception>, sink: &HookSink<'_>) -> Result<(), PushError> {
        match result {
            Ok(()) => Ok(()),
            Err(_) if sink.failed => Err(PushError::Hook),
            Err(e) => Err(PushError::Core(e.into())),
        }
    }
}

/// How many native objects of each type are alive now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveObjects {
    pub blocks: i64,
    pub pipelines: i64,
    pub stages: i64,
    pub subscriptions: i64,
}

impl LiveObjects {
    /// Type name and count, in a fixed order.
    pub fn entries(&self) -> [(&'static str, i64); 4] {
        [
            ("Block", self.blocks),
            ("Pipeline", self.pipelines),
            ("Stage", self.stages),
            ("Subscription", self.subscriptions),
        ]
    }
}

pub fn live_objects() -> LiveObjects {
    use bridge::{live_count, LiveKind};
    LiveObjects {
        blocks: live_count(LiveKind::Block),
        pipelines: live_count(LiveKind::Pipeline),
        stages: live_count(LiveKind::Stage),
        subscriptions: live_count(LiveKind::Subscription),
    }
}

/// Valgrind client requests for the bindings' boundary checks (no-ops when
/// the build lacked Valgrind's headers or the process is not under
/// Valgrind). The leak tests' markers and leak searches are memtest's own
/// (its Python package makes client requests itself).
pub mod valgrind {
    use std::sync::OnceLock;

    use crate::ffi::bridge;

    /// Whether the client requests were compiled in.
    pub fn compiled_in() -> bool {
        bridge::valgrind_compiled_in()
    }

    /// Whether this process runs under Valgrind.
    pub fn running() -> bool {
        bridge::valgrind_running()
    }

    /// Under Memcheck, checks that every sample is defined (initialised):
    /// where one is not, Memcheck reports an error (XML kind `ClientCheck`)
    /// whose stack is the caller's and, under `--track-origins=yes`, says
    /// where the undefined value was created; returns false then. Memcheck
    /// reports undefined data only when it decides a branch, an address or a
    /// system call, so samples copied out of the core pass silently unless
    /// checked where they leave it: a binding calls this wherever native
    /// samples become visible to its language. Outside Valgrind it returns
    /// true after one load and branch, without calling into C++.
    pub fn check_defined(samples: &[f32]) -> bool {
        !running_cached() || bridge::valgrind_check_defined(samples)
    }

    /// [`running`], asked once: a process does not start or stop running
    /// under Valgrind.
    fn running_cached() -> bool {
        static RUNNING: OnceLock<bool> = OnceLock::new();
        *RUNNING.get_or_init(bridge::valgrind_running)
    }
}

#[cfg(test)]
mod tests;
