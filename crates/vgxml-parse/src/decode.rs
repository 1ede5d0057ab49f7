//! The element decoders: one function per Valgrind XML element, each
//! naming only the children it reads (the cursor skips the others).

use crate::cursor::{Cursor, R};
use crate::item::{Item, Options};
use crate::model::*;
use crate::tags::Tag;
use std::io::BufRead;

fn frame<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Frame> {
    let mut fr = Frame::default();
    x.children(empty, |x, t, e| {
        match t {
            Tag::Ip => fr.ip = Some(x.text_of(e)?.trim().to_string()),
            Tag::Obj => fr.obj = Some(x.text_of(e)?),
            Tag::Fn => fr.func = Some(x.text_of(e)?),
            Tag::Dir => fr.dir = Some(x.text_of(e)?),
            Tag::File => fr.file = Some(x.text_of(e)?),
            Tag::Line => fr.line = x.num_of(e)?.and_then(|v| u32::try_from(v).ok()),
            _ => {}
        }
        Ok(())
    })?;
    Ok(fr)
}

/// `<stack>`: its frames, or nothing (skipped) without [`Options::stacks`].
fn stack<Rd: BufRead>(x: &mut Cursor<Rd>, o: Options, empty: bool) -> R<Vec<Frame>> {
    let mut frames = Vec::new();
    if !o.stacks {
        if !empty {
            x.skip()?;
        }
        return Ok(frames);
    }
    x.children(empty, |x, t, e| {
        if t == Tag::Frame {
            frames.push(frame(x, e)?);
        }
        Ok(())
    })?;
    Ok(frames)
}

/// `<suppression>`, or `None` (skipped) without [`Options::suppressions`].
fn suppression<Rd: BufRead>(x: &mut Cursor<Rd>, o: Options, empty: bool) -> R<Option<Suppression>> {
    if !o.suppressions {
        if !empty {
            x.skip()?;
        }
        return Ok(None);
    }
    let mut sp = Suppression::default();
    x.children(empty, |x, t, e| {
        match t {
            Tag::SName => sp.name = x.text_of(e)?,
            Tag::SKind => sp.kind = x.text_of(e)?,
            Tag::SKAux => sp.aux = Some(x.text_of(e)?),
            Tag::SFrame => x.children(e, |x, t, e| {
                match t {
                    Tag::Obj => sp.frames.push(SFrame::Obj(x.text_of(e)?)),
                    Tag::Fun => sp.frames.push(SFrame::Fun(x.text_of(e)?)),
                    _ => {}
                }
                Ok(())
            })?,
            Tag::RawText => {
                let raw = x.text_of(e)?;
                sp.rawtext = raw.trim().to_string();
                sp.rawtext.push('\n');
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(Some(sp))
}

/// `<xwhat>` / `<xauxwhat>`: the text, and the extra fields into `rec`.
fn xwhat<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool, rec: &mut ErrorRecord) -> R<String> {
    let mut text = String::new();
    x.children(empty, |x, t, e| {
        match t {
            Tag::Text => text = x.text_of(e)?,
            Tag::LeakedBytes => rec.leaked_bytes = x.num_of(e)?,
            Tag::LeakedBlocks => rec.leaked_blocks = x.num_of(e)?,
            Tag::HThreadId => {
                if let Some(v) = x.num_of(e)? {
                    rec.hthreadids.push(v)
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(text)
}

/// `<error>`, which started at byte `offset`.
fn error<Rd: BufRead>(x: &mut Cursor<Rd>, o: Options, empty: bool, offset: u64) -> R<ErrorRecord> {
    let mut rec = ErrorRecord::new(offset);
    let mut seen_stack = false;
    x.children(empty, |x, t, e| {
        match t {
            Tag::Unique => rec.unique = x.text_of(e)?.trim().to_string(),
            Tag::Tid => rec.tid = x.num_of(e)?,
            Tag::ThreadName => rec.thread_name = Some(x.text_of(e)?),
            Tag::Kind => rec.kind = Kind::parse(x.text_of(e)?.trim()),
            Tag::What | Tag::XWhat | Tag::AuxWhat | Tag::XAuxWhat => {
                let text = if matches!(t, Tag::What | Tag::AuxWhat) {
                    x.text_of(e)?
                } else {
                    // xauxwhat may carry file/line/dir: not kept apart from the text.
                    let mut tmp = ErrorRecord::new(0);
                    let target: &mut ErrorRecord =
                        if t == Tag::XWhat { &mut rec } else { &mut tmp };
                    xwhat(x, e, target)?
                };
                let primary = matches!(t, Tag::What | Tag::XWhat) && !seen_stack;
                if primary {
                    if rec.what.is_empty() && rec.what2.is_none() {
                        rec.what = text;
                    } else {
                        rec.what2 = Some(text);
                    }
                } else {
                    rec.aux.push((text, Vec::new()));
                }
            }
            Tag::Stack => {
                let st = stack(x, o, e)?;
                if !seen_stack {
                    seen_stack = true;
                    rec.stack = st;
                } else {
                    match rec.aux.last_mut() {
                        Some((_, frames)) if frames.is_empty() => *frames = st,
                        _ => rec.aux.push((String::new(), st)),
                    }
                }
            }
            Tag::Suppression => rec.suppression = suppression(x, o, e)?,
            Tag::Fd => rec.fd = x.inum_of(e)?,
            Tag::Path => rec.path = Some(x.text_of(e)?),
            _ => {}
        }
        Ok(())
    })?;
    rec.origin = rec
        .aux
        .iter()
        .find(|(w, _)| w.starts_with("Uninitialised value was created"))
        .map(|(w, st)| Origin {
            what: w.clone(),
            stack: st.clone(),
        });
    if rec.is_leak() {
        rec.loss_record = parse_loss_record(&rec.what);
    }
    Ok(rec)
}

/// Bytes and blocks (`<blocks>` or `<in_blocks>`); `None` unless both.
fn amount<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Option<Amount>> {
    let mut bytes = None;
    let mut blocks = None;
    x.children(empty, |x, t, e| {
        match t {
            Tag::Bytes => bytes = x.num_of(e)?,
            Tag::Blocks | Tag::InBlocks => blocks = x.num_of(e)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(match (bytes, blocks) {
        (Some(bytes), Some(blocks)) => Some(Amount { bytes, blocks }),
        _ => None,
    })
}

/// `<errorcounts>` / `<suppcounts>`: `(unique or name, count)` pairs.
fn pairs<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Vec<(String, u64)>> {
    let mut pairs: Vec<(String, u64)> = Vec::new();
    x.children(empty, |x, t, e| {
        if t != Tag::Pair {
            return Ok(());
        }
        let (mut count, mut name) = (0u64, String::new());
        x.children(e, |x, t, e| {
            match t {
                Tag::Count => count = x.num_of(e)?.unwrap_or(0),
                Tag::Unique | Tag::Name => name = x.text_of(e)?.trim().to_string(),
                _ => {}
            }
            Ok(())
        })?;
        pairs.push((name, count));
        Ok(())
    })?;
    Ok(pairs)
}

/// Reads one element of the report body (its start tag just read, at byte
/// `offset`); `None` for elements that yield no item (they are consumed).
pub(crate) fn top<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    o: Options,
    t: Tag,
    empty: bool,
    offset: u64,
) -> R<Option<Item>> {
    Ok(Some(match t {
        Tag::Preamble => {
            let mut lines = Vec::new();
            x.children(empty, |x, t, e| {
                if t == Tag::Line {
                    lines.push(x.text_of(e)?);
                }
                Ok(())
            })?;
            Item::Preamble(lines)
        }
        Tag::Pid => match x.num_of(empty)? {
            Some(v) => Item::Pid(v),
            None => return Ok(None),
        },
        Tag::Ppid => match x.num_of(empty)? {
            Some(v) => Item::Ppid(v),
            None => return Ok(None),
        },
        Tag::Tool => Item::Tool(x.text_of(empty)?.trim().to_string()),
        Tag::ProtocolTool => Item::ProtocolTool(x.text_of(empty)?.trim().to_string()),
        Tag::UserComment => Item::UserComment(x.text_of(empty)?),
        Tag::LogFileQualifier => {
            let (mut var, mut value) = (String::new(), String::new());
            x.children(empty, |x, t, e| {
                match t {
                    Tag::Var => var = x.text_of(e)?,
                    Tag::Value => value = x.text_of(e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::LogFileQualifier { var, value }
        }
        Tag::Args => {
            let mut a = Args::default();
            x.children(empty, |x, t, e| {
                let vg = match t {
                    Tag::Vargv => true,
                    Tag::Argv => false,
                    _ => return Ok(()),
                };
                x.children(e, |x, t, e| {
                    match (t, vg) {
                        (Tag::Exe, true) => a.valgrind_exe = Some(x.text_of(e)?),
                        (Tag::Exe, false) => a.program_exe = Some(x.text_of(e)?),
                        (Tag::Arg, true) => a.valgrind_args.push(x.text_of(e)?),
                        (Tag::Arg, false) => a.program_args.push(x.text_of(e)?),
                        _ => {}
                    }
                    Ok(())
                })
            })?;
            Item::Args(a)
        }
        Tag::Status => {
            let mut st = Status::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::State => st.state = x.text_of(e)?.trim().to_string(),
                    Tag::Time => st.time = x.text_of(e)?.trim().to_string(),
                    _ => {}
                }
                Ok(())
            })?;
            Item::Status(st)
        }
        Tag::ClientMsg => {
            let mut m = ClientMsg::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::Tid => m.tid = x.num_of(e)?,
                    Tag::Text => m.text = x.text_of(e)?,
                    Tag::Stack => m.stack = stack(x, o, e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::ClientMsg(m)
        }
        Tag::Error => Item::Error(Box::new(error(x, o, empty, offset)?)),
        Tag::ErrorCounts => Item::ErrorCounts(pairs(x, empty)?),
        Tag::SuppCounts => Item::SuppCounts(
            pairs(x, empty)?
                .into_iter()
                .map(|(name, count)| SuppCount { name, count })
                .collect(),
        ),
        Tag::Suppression => match suppression(x, o, empty)? {
            Some(s) => Item::Suppression(s),
            None => return Ok(None),
        },
        Tag::AnnounceThread => {
            let mut a = AnnounceThread::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::HThreadId => a.hthreadid = x.num_of(e)?,
                    Tag::Stack => a.stack = stack(x, o, e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::AnnounceThread(a)
        }
        Tag::FatalSignal => {
            let mut f = FatalSignal::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::Tid => f.tid = x.num_of(e)?,
                    Tag::Signo => f.signo = x.inum_of(e)?,
                    Tag::Signame => f.signame = Some(x.text_of(e)?.trim().to_string()),
                    Tag::Sicode => f.sicode = x.inum_of(e)?,
                    Tag::Event => f.event = Some(x.text_of(e)?.trim().to_string()),
                    Tag::Siaddr => f.siaddr = Some(x.text_of(e)?.trim().to_string()),
                    Tag::Stack => f.stack = stack(x, o, e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::FatalSignal(f)
        }
        Tag::ErrorSummary => {
            let mut es = ErrorSummary::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::Errors => es.errors = x.num_of(e)?,
                    Tag::ErrorContexts => es.error_contexts = x.num_of(e)?,
                    Tag::Suppressed => es.suppressed = x.num_of(e)?,
                    Tag::SuppressedContexts => es.suppressed_contexts = x.num_of(e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::ErrorSummary(es)
        }
        Tag::HeapSummary => {
            let mut hs = HeapSummary::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::MemoryInUseAtExit => hs.in_use_at_exit = amount(x, e)?,
                    Tag::TotalHeapUsage => x.children(e, |x, t, e| {
                        match t {
                            Tag::Allocs => hs.allocs = x.num_of(e)?,
                            Tag::Frees => hs.frees = x.num_of(e)?,
                            Tag::BytesAllocated => hs.bytes_allocated = x.num_of(e)?,
                            _ => {}
                        }
                        Ok(())
                    })?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::HeapSummary(hs)
        }
        Tag::AllHeapBlocksFreed => match x.text_of(empty)?.trim() {
            "true" | "yes" | "1" => Item::AllHeapBlocksFreed(true),
            "false" | "no" | "0" => Item::AllHeapBlocksFreed(false),
            _ => return Ok(None),
        },
        Tag::LeakSummary => {
            let mut ls = ValgrindLeakSummary::default();
            x.children(empty, |x, t, e| {
                match t {
                    Tag::DefinitelyLost => ls.totals.definitely_lost = amount(x, e)?,
                    Tag::IndirectlyLost => ls.totals.indirectly_lost = amount(x, e)?,
                    Tag::PossiblyLost => ls.totals.possibly_lost = amount(x, e)?,
                    Tag::StillReachable => ls.totals.still_reachable = amount(x, e)?,
                    Tag::Suppressed => ls.suppressed = amount(x, e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::LeakSummary(ls)
        }
        _ => {
            if !empty {
                x.skip()?;
            }
            return Ok(None);
        }
    }))
}
