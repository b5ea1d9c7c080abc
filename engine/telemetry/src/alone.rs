//! The export as a subscriber of its own, for a process where it is the only reader (a
//! command without `-v` or `PYRA_LOG`): the same spans, ids, attributes and statuses as
//! [`OtlpLayer`](crate::layer::OtlpLayer), without `tracing_subscriber`'s registry under
//! it. The registry stores every span in a sharded slab with a type map of extensions
//! and keeps a per-layer filter map; here an open span is one slot of a table whose
//! slots (and their text buffers) are reused, so a span costs the run no allocation and
//! about half the instructions (see README's benchmark section).
//!
//! Only [`Wanted`] callsites reach it (others are `Interest::never`, so a span that is
//! not exported is disabled and its children hang from the nearest exported one, as with
//! the layer's filter). The table's lock is never held while a field is formatted (a
//! `Display` may log), nor by the exporter's thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

use crate::export::Exporter;
use crate::layer::{Open, Wanted};

/// Each subscriber's number, which keys its entries in the threads' span stacks.
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The spans this thread is inside, innermost last, with their subscriber's number.
    static STACK: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
}

/// A slot of the table: an open span (or a free slot keeping its text buffer).
#[derive(Default)]
struct Slot {
    open: Open,
    /// `None`: free.
    meta: Option<&'static Metadata<'static>>,
    /// Handles to it (`Span` clones); it closes at zero.
    refs: usize,
    /// Bumped when the slot is freed: an id names a slot and its generation, so a stale
    /// id (a span entered on one thread and exited on another) never reaches its next
    /// occupant.
    generation: u32,
}

/// The id of slot `index` in `generation`.
fn id_of(index: usize, generation: u32) -> Id {
    Id::from_u64((u64::from(generation) << 32) | (index as u64 + 1))
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

impl Table {
    fn get(&mut self, id: &Id) -> Option<&mut Slot> {
        let (index, generation) = Self::index(id)?;
        self.slots.get_mut(index).filter(|s| s.meta.is_some() && s.generation == generation)
    }

    fn index(id: &Id) -> Option<(usize, u32)> {
        let id = id.into_u64();
        let index = usize::try_from(id & 0xffff_ffff).ok()?.checked_sub(1)?;
        Some((index, (id >> 32) as u32))
    }
}

/// Turns spans into OTLP spans for an [`Exporter`], as the process's only subscriber.
pub struct Alone {
    number: u64,
    exporter: Arc<Exporter>,
    export_content: bool,
    table: Mutex<Table>,
}

impl Alone {
    pub fn new(exporter: Arc<Exporter>, export_content: bool) -> Alone {
        Alone { number: NEXT.fetch_add(1, Ordering::Relaxed), exporter, export_content, table: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The innermost span this thread is inside.
    fn current(&self) -> Option<Id> {
        STACK
            .with(|stack| stack.borrow().iter().rev().find(|(n, _)| *n == self.number).map(|(_, id)| Id::from_u64(*id)))
    }

    /// Records into span `id` what `f` records: into a scratch span outside the lock (a
    /// field's `Display` may log), then added to the span under it.
    fn update(&self, id: &Id, f: impl FnOnce(&mut Open)) {
        let mut scratch = Open::default();
        f(&mut scratch);
        if let Some(slot) = self.lock().get(id) {
            slot.open.merge(&scratch);
        }
    }
}

impl Subscriber for Alone {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if Wanted::wants(meta) { Interest::always() } else { Interest::never() }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        Wanted::wants(meta)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        // Node attempts are `debug` spans.
        Some(tracing::level_filters::LevelFilter::DEBUG)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let parent = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            Some(parent.clone())
        } else {
            self.current()
        };
        // A slot (with its buffer) and the parent's ids, under the lock...
        let (index, text, parent) = {
            let mut table = self.lock();
            let parent = parent.and_then(|p| table.get(&p).map(|slot| slot.open.ids()));
            let index = match table.free.pop() {
                Some(index) => index,
                None => {
                    table.slots.push(Slot::default());
                    table.slots.len() - 1
                }
            };
            (index, table.slots[index].open.take_text(), parent)
        };
        // ... the fields formatted outside it...
        let open = Open::start(parent, text, attrs, self.export_content);
        // ... and the span in its slot.
        let mut table = self.lock();
        let slot = &mut table.slots[index];
        slot.open = open;
        slot.meta = Some(attrs.metadata());
        slot.refs = 1;
        id_of(index, slot.generation)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.update(span, |open| open.record(values, self.export_content));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event_enabled(&self, _: &Event<'_>) -> bool {
        true
    }

    fn event(&self, event: &Event<'_>) {
        let span = if event.is_root() {
            None
        } else if let Some(parent) = event.parent() {
            Some(parent.clone())
        } else {
            self.current()
        };
        if let Some(span) = span {
            self.update(&span, |open| open.event(event));
        }
    }

    fn enter(&self, span: &Id) {
        STACK.with(|stack| stack.borrow_mut().push((self.number, span.into_u64())));
    }

    fn exit(&self, span: &Id) {
        let entry = (self.number, span.into_u64());
        STACK.with(|stack| {
            let mut stack = stack.borrow_mut();
            // Innermost first: spans are not always exited in order (async code).
            if let Some(i) = stack.iter().rposition(|e| *e == entry) {
                stack.remove(i);
            }
        });
    }

    fn clone_span(&self, id: &Id) -> Id {
        if let Some(slot) = self.lock().get(id) {
            slot.refs += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        let mut table = self.lock();
        let Some(slot) = table.get(&id) else { return false };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs > 0 {
            return false;
        }
        if let Some(meta) = slot.meta.take() {
            // The queue's lock, briefly; the exporter's thread never takes ours.
            slot.open.close(meta.name(), &self.exporter);
        }
        slot.generation = slot.generation.wrapping_add(1);
        if let Some((index, _)) = Table::index(&id) {
            table.free.push(index);
        }
        true
    }

    fn current_span(&self) -> Current {
        let Some(id) = self.current() else { return Current::none() };
        match self.lock().get(&id).and_then(|slot| slot.meta) {
            Some(meta) => Current::new(id, meta),
            None => Current::none(),
        }
    }
}
