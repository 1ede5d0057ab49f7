//! The live-instance counters are process-wide, so this test has a test
//! binary (a process) of its own.

use sluice_core::stages::{Gain, NativeStage};
use sluice_core::{live_objects, Block, HookFailed, Pipeline, PushHooks};

#[derive(Default)]
struct Keep {
    output: Option<Block>,
}

impl PushHooks for Keep {
    fn call_stage(&mut self, _token: u64, block: Block) -> Result<Block, HookFailed> {
        Ok(block)
    }

    fn deliver(&mut self, output: Block) {
        self.output = Some(output);
    }

    fn notify(&mut self, _token: u64) -> Result<(), HookFailed> {
        Ok(())
    }
}

fn push(pipeline: &mut Pipeline, block: &Block) -> Block {
    let mut keep = Keep::default();
    pipeline.push(block, &mut keep).unwrap();
    keep.output.unwrap()
}

#[test]
fn live_counters_follow_native_objects() {
    let base = live_objects();
    {
        let mut p = Pipeline::new().unwrap();
        let proto = Gain { factor: 1.5 }.stage().unwrap();
        p.append(proto.duplicate().unwrap()).unwrap();
        let sub = p.subscribe(1).unwrap();
        let block = Block::new(8, 2).unwrap();
        let now = live_objects();
        assert_eq!(now.pipelines - base.pipelines, 1);
        assert_eq!(now.stages - base.stages, 2);
        assert_eq!(now.subscriptions - base.subscriptions, 1);
        assert_eq!(now.blocks - base.blocks, 1);
        let out = push(&mut p, &block);
        drop(p);
        assert!(
            !sub.is_active(),
            "a dropped pipeline cancels its subscriptions"
        );
        drop((out, sub, proto, block));
    }
    // Other tests may still hold blocks; the types this test owns are exact.
    let end = live_objects();
    assert_eq!(
        (end.pipelines, end.stages, end.subscriptions),
        (base.pipelines, base.stages, base.subscriptions)
    );
}
