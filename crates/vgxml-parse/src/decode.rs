//! The element decoders of the report body: one per Valgrind XML element
//! (the `<error>` ones in [`crate::errors`]), each naming only the children
//! it reads (the cursor skips the others).

use crate::cursor::{Cursor, R};
use crate::errors::{error, stack, suppression};
use crate::item::{Item, Options};
use crate::model::*;
use crate::tags::Tag;
use crate::values::{inum, num, shown};
use std::io::BufRead;

/// Bytes and blocks (`<blocks>` or `<in_blocks>`), each possibly with the
/// delta of an added leak search (`48 (+48)`); `None` unless both.
fn amount_delta<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    empty: bool,
) -> R<(Option<Amount>, Option<AmountDelta>)> {
    let outer = x.current_name();
    let at = x.byte_offset();
    let mut bytes = None;
    let mut blocks = None;
    x.children(empty, |x, t, e| {
        let slot = match t {
            Tag::Bytes => &mut bytes,
            Tag::Blocks | Tag::InBlocks => &mut blocks,
            _ => return Ok(()),
        };
        let name = x.current_name();
        let at = x.byte_offset();
        let text = x.text_of(e)?;
        match parse_num_delta(&text) {
            Some(v) => *slot = Some(v),
            None => x.note(
                at,
                format!(
                    "<{name}> in <{outer}> is not a number: {:?}; not read",
                    shown(&text)
                ),
            ),
        }
        Ok(())
    })?;
    Ok(match (bytes, blocks) {
        (Some((bytes, db)), Some((blocks, dk))) => (
            Some(Amount { bytes, blocks }),
            match (db, dk) {
                (Some(bytes), Some(blocks)) => Some(AmountDelta { bytes, blocks }),
                _ => None,
            },
        ),
        _ => {
            if bytes.is_none() && blocks.is_none() {
                x.note(at, format!("<{outer}> holds no bytes and blocks; not read"));
            } else {
                x.note(
                    at,
                    format!("<{outer}> lacks its bytes or its blocks; not read"),
                );
            }
            (None, None)
        }
    })
}

fn amount<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Option<Amount>> {
    Ok(amount_delta(x, empty)?.0)
}

/// `<errorcounts>` / `<suppcounts>`: `(unique or name, count)` pairs. A
/// count that is not a number reads as 1 (Valgrind lists only counts above
/// 0), with a note.
fn pairs<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<Vec<(String, u64)>> {
    let mut pairs: Vec<(String, u64)> = Vec::new();
    x.children(empty, |x, t, e| {
        if t != Tag::Pair {
            return Ok(());
        }
        let at = x.last_start();
        let (mut count, mut name) = (None, None);
        let mut bad_count = None;
        x.children(e, |x, t, e| {
            match t {
                Tag::Count => {
                    let text = x.text_of(e)?;
                    count = parse_num(&text);
                    if count.is_none() {
                        bad_count = Some(text);
                    }
                }
                Tag::Unique | Tag::Name => name = Some(x.text_of(e)?.trim().to_string()),
                _ => {}
            }
            Ok(())
        })?;
        let Some(name) = name else {
            x.note(at, "<pair> without <unique> or <name>; ignored".to_string());
            return Ok(());
        };
        let count = match (count, bad_count) {
            (Some(c), _) => c,
            (None, Some(text)) => {
                x.note(
                    at,
                    format!(
                        "<count> of {name} is not a number: {:?}; read as at least 1 (Valgrind lists only counts above 0)",
                        shown(&text)
                    ),
                );
                1
            }
            (None, None) => {
                x.note(
                    at,
                    format!("<pair> of {name} without <count>; read as at least 1"),
                );
                1
            }
        };
        pairs.push((name, count));
        Ok(())
    })?;
    Ok(pairs)
}

/// [`pairs`] of `<errorcounts>`: each error appears once in a block; a
/// second pair for the same `<unique>` is noted (both are kept, the last
/// counts, as a later block would).
fn error_counts<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    empty: bool,
    offset: u64,
) -> R<Vec<(String, u64)>> {
    let p = pairs(x, empty)?;
    let mut seen: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut dups = Vec::new();
    for (u, c) in &p {
        if let Some(prev) = seen.insert(u.as_str(), *c) {
            dups.push(format!("{u} (counts {prev} and {c})"));
        }
    }
    if !dups.is_empty() {
        x.note(
            offset,
            format!(
                "<errorcounts> names the same <unique> twice: {}; the last count is used",
                dups.join(", ")
            ),
        );
    }
    Ok(p)
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
        Tag::Pid => match num(x, empty)? {
            Some(v) => Item::Pid(v),
            None => return Ok(None),
        },
        Tag::Ppid => match num(x, empty)? {
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
                    Tag::Tid => m.tid = num(x, e)?,
                    Tag::Text => m.text = x.text_of(e)?,
                    Tag::Stack => m.stack = stack(x, o, e)?,
                    _ => {}
                }
                Ok(())
            })?;
            Item::ClientMsg(m)
        }
        Tag::Error => Item::Error(Box::new(error(x, o, empty, offset)?)),
        Tag::ErrorCounts => Item::ErrorCounts(error_counts(x, empty, offset)?),
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
                    Tag::HThreadId => a.hthreadid = num(x, e)?,
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
                    Tag::Tid => f.tid = num(x, e)?,
                    Tag::Signo => f.signo = inum(x, e)?,
                    Tag::Signame => f.signame = Some(x.text_of(e)?.trim().to_string()),
                    Tag::Sicode => f.sicode = inum(x, e)?,
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
                    Tag::Errors => es.errors = num(x, e)?,
                    Tag::ErrorContexts => es.error_contexts = num(x, e)?,
                    Tag::Suppressed => es.suppressed = num(x, e)?,
                    Tag::SuppressedContexts => es.suppressed_contexts = num(x, e)?,
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
                            Tag::Allocs => hs.allocs = num(x, e)?,
                            Tag::Frees => hs.frees = num(x, e)?,
                            Tag::BytesAllocated => hs.bytes_allocated = num(x, e)?,
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
        Tag::AllHeapBlocksFreed => {
            let at = x.byte_offset();
            let text = x.text_of(empty)?;
            match text.trim() {
                "true" | "yes" | "1" => Item::AllHeapBlocksFreed(true),
                "false" | "no" | "0" => Item::AllHeapBlocksFreed(false),
                other => {
                    x.note(
                        at,
                        format!(
                            "<all_heap_blocks_freed> is neither true nor false: {:?}; not read",
                            shown(other)
                        ),
                    );
                    return Ok(None);
                }
            }
        }
        Tag::LeakSummary => {
            let mut ls = ValgrindLeakSummary {
                offset: Some(offset),
                ..ValgrindLeakSummary::default()
            };
            x.children(empty, |x, t, e| {
                let kind = match t {
                    Tag::DefinitelyLost => Some(LeakKind::DefinitelyLost),
                    Tag::IndirectlyLost => Some(LeakKind::IndirectlyLost),
                    Tag::PossiblyLost => Some(LeakKind::PossiblyLost),
                    Tag::StillReachable => Some(LeakKind::StillReachable),
                    Tag::Suppressed => None,
                    _ => return Ok(()),
                };
                let (a, d) = amount_delta(x, e)?;
                match kind {
                    Some(k) => {
                        ls.totals.set(k, a);
                        ls.deltas.set(k, d);
                    }
                    None => {
                        ls.suppressed = a;
                        ls.deltas.suppressed = d;
                    }
                }
                Ok(())
            })?;
            if ls.has_no_kinds() {
                x.note(
                    offset,
                    "<leak_summary> holds no leak kind (<definitely_lost>, ...): Valgrind's totals cannot be read from it".to_string(),
                );
            }
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
