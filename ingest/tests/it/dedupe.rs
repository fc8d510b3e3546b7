//! The deduper: drops repeated event ids within its memory, forgets the oldest first.

use event::Event;
use ingest::Deduper;

fn event(event_id: &str) -> Event {
    Event {
        event_id: event_id.to_owned(),
        cluster: "test".to_owned(),
        raw: "{}".to_owned(),
        ..Event::default()
    }
}

fn hex(index: u32) -> String {
    format!("{index:032x}")
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|event| event.event_id.as_str()).collect()
}

#[test]
fn drops_repeats_within_and_across_batches() {
    let mut deduper = Deduper::new(10);
    let mut first = vec![
        event(&hex(1)),
        event(&hex(2)),
        event(&hex(1)),
        event("not-hex"),
    ];
    assert_eq!(deduper.retain_new(&mut first), 1);
    assert_eq!(ids(&first), vec![hex(1), hex(2), "not-hex".to_owned()]);
    let mut second = vec![event(&hex(2)), event(&hex(3)), event("not-hex")];
    assert_eq!(deduper.retain_new(&mut second), 2);
    assert_eq!(ids(&second), vec![hex(3)]);
    assert_eq!(deduper.len(), 4);
}

#[test]
fn forgets_the_oldest_ids_beyond_capacity() {
    let mut deduper = Deduper::new(3);
    let mut events: Vec<Event> = (0..5).map(|index| event(&hex(index))).collect();
    assert_eq!(deduper.retain_new(&mut events), 0);
    assert_eq!(deduper.len(), 3);
    // 0 and 1 were forgotten; 2, 3 and 4 are remembered.
    let mut remembered: Vec<Event> = [4, 3, 2].iter().map(|index| event(&hex(*index))).collect();
    assert_eq!(deduper.retain_new(&mut remembered), 3);
    assert!(remembered.is_empty());
    let mut forgotten = vec![event(&hex(0))];
    assert_eq!(deduper.retain_new(&mut forgotten), 0);
    assert_eq!(ids(&forgotten), vec![hex(0)]);
}

#[test]
fn zero_capacity_keeps_everything() {
    let mut deduper = Deduper::new(0);
    let mut events = vec![event(&hex(1)), event(&hex(1))];
    assert_eq!(deduper.retain_new(&mut events), 0);
    assert_eq!(events.len(), 2);
    assert!(deduper.is_empty());
}

#[test]
fn seeded_ids_count_as_seen_and_are_forgotten_oldest_first() {
    let mut deduper = Deduper::new(3);
    let seeded = [hex(1), hex(2), hex(3), hex(4)];
    deduper.seed(seeded.iter().map(String::as_str));
    assert_eq!(deduper.len(), 3);
    // hex(1), the oldest, was forgotten; the three newest are duplicates.
    let mut events = vec![event(&hex(2)), event(&hex(4)), event(&hex(1))];
    assert_eq!(deduper.retain_new(&mut events), 2);
    assert_eq!(ids(&events), vec![hex(1)]);
}
