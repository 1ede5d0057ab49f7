//! The C++ core exercised through the bridge.

use super::*;
use crate::stages::{Clip, Gain, MovingAverage, NativeStage, Offset};

/// Records what a push asked of its hooks; callback stages run `stage_fn`.
#[derive(Default)]
struct Recorder {
    output: Option<Block>,
    notified: Vec<u64>,
    stage_calls: Vec<u64>,
    fail_stage: Option<u64>,
    fail_notify: Option<u64>,
    panic_stage: bool,
}

impl PushHooks for Recorder {
    fn call_stage(&mut self, token: u64, mut block: Block) -> Result<Block, HookFailed> {
        self.stage_calls.push(token);
        if self.panic_stage {
            panic!("stage {token} panicked");
        }
        if self.fail_stage == Some(token) {
            return Err(HookFailed::Failed);
        }
        for s in block.samples_mut() {
            *s += token as f32;
        }
        Ok(block)
    }

    fn deliver(&mut self, output: Block) {
        self.output = Some(output);
    }

    fn notify(&mut self, token: u64) -> Result<(), HookFailed> {
        self.notified.push(token);
        if self.fail_notify == Some(token) {
            Err(HookFailed::Failed)
        } else {
            Ok(())
        }
    }
}

fn ramp(frames: usize, channels: usize) -> Block {
    let samples: Vec<f32> = (0..frames * channels).map(|i| i as f32).collect();
    Block::from_samples(&samples, channels).unwrap()
}

fn push(pipeline: &mut Pipeline, block: &Block) -> Block {
    let mut rec = Recorder::default();
    pipeline.push(block, &mut rec).unwrap();
    rec.output.unwrap()
}

#[test]
fn block_is_zero_filled_and_frame_major() {
    let mut block = Block::new(3, 2).unwrap();
    assert_eq!((block.frames(), block.channels()), (3, 2));
    assert_eq!(block.samples(), &[0.0; 6]);
    block.samples_mut()[1] = 5.0; // frame 0, channel 1
    assert_eq!(block.samples()[1], 5.0);
    let copy = block.duplicate().unwrap();
    block.samples_mut()[1] = 0.0;
    assert_eq!(copy.samples()[1], 5.0, "duplicate is deep");
}

#[test]
fn block_rejects_zero_channels_and_overflow() {
    let err = Block::new(4, 0).unwrap_err();
    assert!(err.to_string().contains("channels"), "{err}");
    assert!(Block::new(usize::MAX / 2, 3).is_err());
    assert!(Block::from_samples(&[1.0, 2.0, 3.0], 2).is_err());
    assert_eq!(Block::new(0, 1).unwrap().samples().len(), 0);
}

#[test]
fn native_stages_compute() {
    let mut p = Pipeline::new().unwrap();
    p.append(Gain { factor: 2.0 }.stage().unwrap()).unwrap();
    p.append(Offset { value: 1.0 }.stage().unwrap()).unwrap();
    p.append(Clip { lo: 0.0, hi: 6.0 }.stage().unwrap())
        .unwrap();
    assert_eq!(p.len(), 3);
    let input = ramp(4, 1);
    let out = push(&mut p, &input);
    assert_eq!(out.samples(), &[1.0, 3.0, 5.0, 6.0]);
    assert_eq!(input.samples(), &[0.0, 1.0, 2.0, 3.0], "input untouched");
}

#[test]
fn stage_arguments_are_checked() {
    assert!(Clip { lo: 1.0, hi: 0.0 }
        .stage()
        .unwrap_err()
        .to_string()
        .contains("lo <= hi"));
    assert!(Clip {
        lo: f32::NAN,
        hi: 0.0
    }
    .stage()
    .is_err());
    assert!(Clip { lo: 1.0, hi: 1.0 }.stage().is_ok());
    assert!(MovingAverage { window: 0 }
        .stage()
        .unwrap_err()
        .to_string()
        .contains("window"));
}

#[test]
fn moving_average_streams_across_pushes() {
    let signal: Vec<f32> = (0..50).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
    let mut whole = Pipeline::new().unwrap();
    whole
        .append(MovingAverage { window: 4 }.stage().unwrap())
        .unwrap();
    let expected = push(&mut whole, &Block::from_samples(&signal, 2).unwrap());

    let mut split = Pipeline::new().unwrap();
    split
        .append(MovingAverage { window: 4 }.stage().unwrap())
        .unwrap();
    let mut got = Vec::new();
    for chunk in signal.chunks(6) {
        got.extend_from_slice(push(&mut split, &Block::from_samples(chunk, 2).unwrap()).samples());
    }
    assert_eq!(got, expected.samples());

    // First frames average over what has been seen; channel 0 is 0,1,2,...
    let mut p = Pipeline::new().unwrap();
    p.append(MovingAverage { window: 2 }.stage().unwrap())
        .unwrap();
    assert_eq!(push(&mut p, &ramp(4, 1)).samples(), &[0.0, 0.5, 1.5, 2.5]);
    p.reset();
    assert_eq!(
        push(&mut p, &ramp(2, 1)).samples(),
        &[0.0, 0.5],
        "reset clears history"
    );
}

#[test]
fn moving_average_refuses_a_channel_change() {
    let mut p = Pipeline::new().unwrap();
    p.append(MovingAverage { window: 3 }.stage().unwrap())
        .unwrap();
    push(&mut p, &ramp(2, 1));
    let err = p.push(&ramp(2, 2), &mut Recorder::default()).unwrap_err();
    assert!(matches!(err, PushError::Core(_)), "{err:?}");
    p.reset();
    push(&mut p, &ramp(2, 2));
}

#[test]
fn callback_stages_and_subscribers_run_in_order() {
    let mut p = Pipeline::new().unwrap();
    p.append(Stage::callback(10).unwrap()).unwrap();
    p.append(Gain { factor: 2.0 }.stage().unwrap()).unwrap();
    p.append(Stage::callback(1).unwrap()).unwrap();
    let a = p.subscribe(100).unwrap();
    let b = p.subscribe(200).unwrap();
    let mut rec = Recorder::default();
    p.push(&ramp(2, 1), &mut rec).unwrap();
    assert_eq!(rec.stage_calls, vec![10, 1]);
    assert_eq!(rec.output.unwrap().samples(), &[21.0, 23.0]);
    assert_eq!(rec.notified, vec![100, 200]);

    a.cancel();
    a.cancel();
    assert!(!a.is_active() && b.is_active());
    let mut rec = Recorder::default();
    p.push(&ramp(1, 1), &mut rec).unwrap();
    assert_eq!(rec.notified, vec![200]);
}

#[test]
fn hook_failures_stop_the_push_and_leave_the_pipeline_usable() {
    let mut p = Pipeline::new().unwrap();
    p.append(Stage::callback(1).unwrap()).unwrap();
    p.append(Stage::callback(2).unwrap()).unwrap();
    let _sub = p.subscribe(7).unwrap();

    let mut rec = Recorder {
        fail_stage: Some(1),
        ..Recorder::default()
    };
    assert_eq!(p.push(&ramp(1, 1), &mut rec), Err(PushError::Hook));
    assert_eq!(rec.stage_calls, vec![1]);
    assert!(rec.output.is_none() && rec.notified.is_empty());

    let mut rec = Recorder {
        fail_notify: Some(7),
        ..Recorder::default()
    };
    assert_eq!(p.push(&ramp(1, 1), &mut rec), Err(PushError::Hook));
    assert!(
        rec.output.is_some(),
        "output was delivered before the subscriber failed"
    );

    let mut rec = Recorder {
        panic_stage: true,
        ..Recorder::default()
    };
    assert_eq!(p.push(&ramp(1, 1), &mut rec), Err(PushError::Hook));

    let mut rec = Recorder::default();
    p.push(&ramp(1, 1), &mut rec).unwrap();
    assert_eq!(rec.output.unwrap().samples(), &[3.0]);
}

#[test]
fn the_rust_and_cpp_stage_tables_agree() {
    let mut rust = stages::signatures();
    let mut cpp = stages::core_signatures();
    rust.sort();
    cpp.sort();
    assert_eq!(rust, cpp);
    assert_eq!(stages::NAMES.len(), cpp.len());
}

#[test]
fn the_generic_factory_checks_names_and_arguments() {
    let err = Stage::native("Nope", &[]).unwrap_err();
    assert_eq!(err.to_string(), "unknown native stage Nope");
    let err = Stage::native("Clip", &[stages::StageParam::to_arg(1.0f32)]).unwrap_err();
    assert!(err.to_string().contains("Clip(real, real)"), "{err}");
    let err = Stage::native("MovingAverage", &[stages::StageParam::to_arg(1.0f32)]).unwrap_err();
    assert!(err.to_string().contains("MovingAverage(integer)"), "{err}");
    let err = MovingAverage { window: -1 }.stage().unwrap_err();
    assert_eq!(err.to_string(), "MovingAverage needs window >= 1, got -1");
}

/// The first stage of a push runs its kernel from the input into a fresh
/// block, later stages run it in place: both must give the same samples.
#[test]
fn kernels_give_the_same_output_fused_and_in_place() {
    let signal: Vec<f32> = (0..60).map(|i| ((i * 5) % 11) as f32 - 4.0).collect();
    let input = Block::from_samples(&signal, 3).unwrap();
    let makers: [fn() -> Stage; 4] = [
        || Gain { factor: -1.5 }.stage().unwrap(),
        || Offset { value: 0.25 }.stage().unwrap(),
        || Clip { lo: -2.0, hi: 3.0 }.stage().unwrap(),
        || MovingAverage { window: 4 }.stage().unwrap(),
    ];
    for (i, make) in makers.iter().enumerate() {
        let mut first = Pipeline::new().unwrap();
        first.append(make()).unwrap();
        let mut later = Pipeline::new().unwrap();
        later.append(Gain { factor: 1.0 }.stage().unwrap()).unwrap();
        later.append(make()).unwrap();
        for _ in 0..2 {
            // Twice: MovingAverage's history carries over.
            let fused = push(&mut first, &input);
            let in_place = push(&mut later, &input);
            assert_eq!(fused.samples(), in_place.samples(), "stage {i}");
        }
    }
}

#[test]
fn push_owned_runs_the_stages_on_the_given_block() {
    let mut p = Pipeline::new().unwrap();
    p.append(Gain { factor: 2.0 }.stage().unwrap()).unwrap();
    p.append(Stage::callback(1).unwrap()).unwrap();
    p.append(MovingAverage { window: 2 }.stage().unwrap())
        .unwrap();
    let mut borrowed = Pipeline::new().unwrap();
    borrowed
        .append(Gain { factor: 2.0 }.stage().unwrap())
        .unwrap();
    borrowed.append(Stage::callback(1).unwrap()).unwrap();
    borrowed
        .append(MovingAverage { window: 2 }.stage().unwrap())
        .unwrap();
    let input = ramp(5, 2);
    let mut rec = Recorder::default();
    p.push_owned(input.duplicate().unwrap(), &mut rec).unwrap();
    assert_eq!(rec.stage_calls, vec![1]);
    assert_eq!(
        rec.output.unwrap().samples(),
        push(&mut borrowed, &input).samples()
    );
}

#[test]
fn check_defined_passes_defined_samples() {
    // Outside Valgrind it is always true; under Memcheck these samples are
    // defined (zero-filled, written, copied), so it is true there too.
    let mut block = Block::new(4, 2).unwrap();
    assert!(valgrind::check_defined(block.samples()));
    block.samples_mut()[3] = 1.5;
    assert!(valgrind::check_defined(
        block.duplicate().unwrap().samples()
    ));
    assert!(valgrind::check_defined(&[]));
    assert!(valgrind::check_defined(
        push(&mut Pipeline::new().unwrap(), &block).samples()
    ));
}
