//! Drops events whose `event_id` was seen recently: bounded memory, oldest ids forgotten first.
//!
//! The live pipeline seeds it with the newest stored ids at start, so a duplicate read after
//! a restart (a replayed Kafka message) is dropped too, within its capacity.

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

    /// Remembers `event_ids` (oldest first) as seen, e.g. the newest stored ones after a
    /// restart; the oldest are forgotten first when they exceed the capacity.
    pub fn seed<'a>(&mut self, event_ids: impl IntoIterator<Item = &'a str>) {
        if self.capacity == 0 {
            return;
        }
        for event_id in event_ids {
            self.insert(id_key(event_id));
        }
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
