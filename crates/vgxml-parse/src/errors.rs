//! The `<error>` decoder and its parts: stacks, frames, suppressions,
//! `<xwhat>`, `<xauxwhat>` and the tools' elements that hold auxiliary
//! stacks, each kept with its [`StackRole`].

use crate::cursor::{Cursor, R};
use crate::item::Options;
use crate::model::*;
use crate::tags::Tag;
use crate::values::{inum, num};
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
            Tag::Line => fr.line = num(x, e)?.and_then(|v| u32::try_from(v).ok()),
            _ => {}
        }
        Ok(())
    })?;
    Ok(fr)
}

/// `<stack>`: its frames, or nothing (skipped) without [`Options::stacks`].
pub(crate) fn stack<Rd: BufRead>(x: &mut Cursor<Rd>, o: Options, empty: bool) -> R<Vec<Frame>> {
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
pub(crate) fn suppression<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    o: Options,
    empty: bool,
) -> R<Option<Suppression>> {
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

/// `<xwhat>`: the text, and the extra fields into `rec`.
fn xwhat<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool, rec: &mut ErrorRecord) -> R<String> {
    let mut text = String::new();
    x.children(empty, |x, t, e| {
        match t {
            Tag::Text => text = x.text_of(e)?,
            Tag::LeakedBytes => rec.leaked_bytes = num(x, e)?,
            Tag::LeakedBlocks => rec.leaked_blocks = num(x, e)?,
            Tag::HThreadId => {
                if let Some(v) = num(x, e)? {
                    rec.hthreadids.push(v)
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(text)
}

/// `<xauxwhat>`: the text and its extra fields.
fn xauxwhat<Rd: BufRead>(x: &mut Cursor<Rd>, empty: bool) -> R<AuxStack> {
    let mut a = AuxStack::new(StackRole::Aux, String::new());
    x.children(empty, |x, t, e| {
        match t {
            Tag::Text => a.what = x.text_of(e)?,
            Tag::HThreadId => {
                if let Some(v) = num(x, e)? {
                    a.hthreadids.push(v)
                }
            }
            Tag::Dir => a.dir = Some(x.text_of(e)?),
            Tag::File => a.file = Some(x.text_of(e)?),
            Tag::Line => a.line = num(x, e)?.and_then(|v| u32::try_from(v).ok()),
            _ => {}
        }
        Ok(())
    })?;
    a.role = StackRole::of_auxwhat(&a.what);
    Ok(a)
}

/// An element of an `<error>` that holds a stack of its own (DRD's
/// `<first_observed_at>`, `<allocation_context>`, ...; or one vgxml does
/// not know, as [`StackRole::Element`]).
fn role_element<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    o: Options,
    empty: bool,
    role: StackRole,
) -> R<AuxStack> {
    let mut a = AuxStack::new(role, String::new());
    let mut inner_what = None;
    x.children(empty, |x, t, e| {
        match t {
            Tag::What => inner_what = Some(x.text_of(e)?),
            Tag::Address => a.address = Some(x.text_of(e)?.trim().to_string()),
            Tag::Stack => a.stack = stack(x, o, e)?,
            _ => {}
        }
        Ok(())
    })?;
    // The line DRD prints in text mode.
    a.what = match (&a.role, inner_what) {
        (StackRole::FirstObserved, w) => {
            let w = w.unwrap_or_else(|| "object".into());
            match &a.address {
                Some(ad) => format!("{w} {ad} was first observed at:"),
                None => format!("{w} was first observed at:"),
            }
        }
        (_, Some(w)) => w,
        (StackRole::AllocationContext, None) => "Allocation context:".into(),
        (StackRole::OtherSegmentStart, None) => "Other segment start:".into(),
        (StackRole::OtherSegmentEnd, None) => "Other segment end:".into(),
        (StackRole::AcquiredAt, None) => "Acquired at:".into(),
        (StackRole::ConflictingWaitCall, None) => "Conflicting wait call:".into(),
        (StackRole::Element(n), None) => format!("<{n}>"),
        (_, None) => String::new(),
    };
    Ok(a)
}

/// `<error>`, which started at byte `offset`.
pub(crate) fn error<Rd: BufRead>(
    x: &mut Cursor<Rd>,
    o: Options,
    empty: bool,
    offset: u64,
) -> R<ErrorRecord> {
    let mut rec = ErrorRecord::new(offset);
    let mut seen_stack = false;
    let mut seen_kind = false;
    let mut seen_unique = false;
    // Options::totals: once the kind, the unique and (loss records) the
    // text and sizes are read, the rest is skipped raw
    let lean = o.is_lean();
    // the last aux part is a text still waiting for its stack
    let mut wants_stack = false;
    x.children(empty, |x, t, e| {
        match t {
            Tag::Unique => {
                x.read_text(e)?;
                rec.unique = x.text().trim().to_string();
                seen_unique = true;
            }
            Tag::Tid => rec.tid = num(x, e)?,
            Tag::ThreadName => rec.thread_name = Some(x.text_of(e)?),
            Tag::Kind => {
                let at = x.byte_offset();
                x.read_text(e)?;
                rec.kind = Kind::parse(x.text().trim());
                seen_kind = true;
                if rec.kind == Kind::Missing {
                    x.note(
                        at,
                        format!(
                            "empty <kind> in the <error> at byte {offset}: counted as {}",
                            Kind::MISSING
                        ),
                    );
                }
            }
            Tag::What | Tag::XWhat if !seen_stack => {
                let text = if t == Tag::What {
                    x.text_of(e)?
                } else {
                    xwhat(x, e, &mut rec)?
                };
                if rec.what.is_empty() && rec.what2.is_none() {
                    rec.what = text;
                } else {
                    rec.what2 = Some(text);
                }
            }
            Tag::What | Tag::AuxWhat => {
                let text = x.text_of(e)?;
                rec.aux
                    .push(AuxStack::new(StackRole::of_auxwhat(&text), text));
                wants_stack = true;
            }
            Tag::XWhat => {
                // an xwhat after the stack: its fields are not the record's
                let mut tmp = ErrorRecord::new(0);
                let text = xwhat(x, e, &mut tmp)?;
                rec.aux
                    .push(AuxStack::new(StackRole::of_auxwhat(&text), text));
                wants_stack = true;
            }
            Tag::XAuxWhat => {
                rec.aux.push(xauxwhat(x, e)?);
                wants_stack = true;
            }
            Tag::Stack => {
                let st = stack(x, o, e)?;
                if !seen_stack {
                    seen_stack = true;
                    rec.stack = st;
                } else {
                    match rec.aux.last_mut() {
                        Some(a) if wants_stack && a.stack.is_empty() => a.stack = st,
                        _ => {
                            let mut a = AuxStack::new(StackRole::Aux, String::new());
                            a.stack = st;
                            rec.aux.push(a);
                        }
                    }
                }
                wants_stack = false;
            }
            Tag::FirstObservedAt
            | Tag::AllocationContext
            | Tag::OtherSegmentStart
            | Tag::OtherSegmentEnd
            | Tag::ConflWaitCall
            | Tag::AcquiredAt => {
                let role = match t {
                    Tag::FirstObservedAt => StackRole::FirstObserved,
                    Tag::AllocationContext => StackRole::AllocationContext,
                    Tag::OtherSegmentStart => StackRole::OtherSegmentStart,
                    Tag::OtherSegmentEnd => StackRole::OtherSegmentEnd,
                    Tag::ConflWaitCall => StackRole::ConflictingWaitCall,
                    _ => StackRole::AcquiredAt,
                };
                rec.aux.push(role_element(x, o, e, role)?);
                wants_stack = false;
            }
            Tag::Suppression => rec.suppression = suppression(x, o, e)?,
            Tag::Fd => rec.fd = inum(x, e)?,
            Tag::Path => rec.path = Some(x.text_of(e)?),
            Tag::Other if !e => {
                // An element vgxml does not know: keep the stack it holds, if any.
                let name = x.current_name();
                let a = role_element(x, o, e, StackRole::Element(name))?;
                if !a.stack.is_empty() {
                    rec.aux.push(a);
                    wants_stack = false;
                }
            }
            _ => {}
        }
        if lean
            && seen_kind
            && seen_unique
            && (rec.kind.leak_kind().is_none() || !rec.what.is_empty())
        {
            x.skip_rest_raw()?;
        }
        Ok(())
    })?;
    if !seen_kind {
        x.note(
            offset,
            format!("<error> without <kind>: counted as {}", Kind::MISSING),
        );
    }
    if !seen_unique {
        x.note(
            offset,
            "<error> without <unique>: <errorcounts> cannot name it".to_string(),
        );
    }
    rec.origin = rec
        .aux
        .iter()
        .find(|a| a.role == StackRole::Origin)
        .map(|a| Origin {
            what: a.what.clone(),
            stack: a.stack.clone(),
        });
    if rec.is_leak() {
        rec.loss_record = parse_loss_record(&rec.what);
    }
    Ok(rec)
}
