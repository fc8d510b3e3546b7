//! Drops events whose `event_id` was seen recently: bounded memory, oldest ids forgotten first.
//!
//! Stores are idempotent on `event_id`; this stage only spares them (and detection) the
//! duplicates that webhook retries, replays and re-read files produce within one run.

use std::collections::{HashSet, VecDeque};

use event::Event;

/// Remembers the last `capacity` event ids.
#[derive(Debug)]
pub struct Deduper {
    capacity: usize,
    seen: HashSet<u128>,
    order: VecDeque<u128>,
}

impl Deduper {
    /// A deduper remembering up to `capacity` ids; with 0 it remembers nothing and keeps all.
    pub fn new(capacity: usize) -> Deduper {
        let initial = capacity.min(1 << 16);
        Deduper {
            capacity,
            seen: HashSet::with_capacity(initial),
            order: VecDeque::with_capacity(initial),
        }
    }

    /// Removes events whose id was seen before (in earlier calls or earlier in `events`);
    /// returns how many were removed. Order of the kept events is unchanged.
    pub fn retain_new(&mut self, events: &mut Vec<Event>) -> usize {
        if self.capacity == 0 {
            return 0;
        }
        let before = events.len();
        events.retain(|event| self.insert(id_key(&event.event_id)));
        before - events.len()
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn insert(&mut self, key: u128) -> bool {
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

/// Event ids are 32 hex digits; anything else is hashed to the same width.
pub(crate) fn id_key(event_id: &str) -> u128 {
    if event_id.len() == 32
        && let Ok(value) = u128::from_str_radix(event_id, 16)
    {
        return value;
    }
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}
