//! Claims: the Id index the workers of one run share, so a copy of a record that comes later in
//! archive order than one already read is counted (as a `partial::LooseCopy`) instead of stored. It
//! lives only as long as one run's reading; a partial state is complete without it.
//!
//! Each record's claim is a lookup in a table of millions of Ids, which misses the CPU caches:
//! 6-8% of a two-worker run when it waited for each. The tables are therefore our own (open
//! addressing), so that a worker can prefetch a record's slot ([`Claims::prefetch`]) and do
//! other work of the record before it claims it, and they take no lock (see [`Claims`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

use super::intern::prefetch;
use super::partial::{split_key, Pos};
use super::try_zeroed;

/// Which archive position holds each record Id so far, shared by the workers of one run: a
/// copy that comes later in archive order than one already read is only counted, not stored,
/// so memory grows with distinct records rather than with overlapping input. An optimisation
/// only: partial states built without it (or with copies read out of order, which are then
/// stored) merge to the same result, because the merge itself keeps the first copy.
///
/// Its tables are taken without a lock: a claim is an atomic on the slot it probes. Locked
/// shards cost 10-15% of a two-worker run's reading (0.6-0.9 s of CPU on the bench archive,
/// measured against no claims at all): every claim took and gave back a lock whose cache
/// line the other worker had just written, a transfer between cores that nothing overlaps.
/// A table never moves or grows, so no worker can meet one half moved. The first is sized
/// from the archive's bytes; an Id for which it has no room near its place goes on to the
/// next, [`GROWTH`] times as big and made when first needed, and so on.
pub struct Claims {
    first: Table,
}

struct Table {
    /// 0 for an empty slot, [`BUSY`] while a worker fills it, else [`tag`] of its key's hash.
    /// A slot once filled is never emptied or moved: that is what makes probing without a
    /// lock safe, and why a key's claims all end in the same table (below).
    tags: Box<[AtomicU8]>,
    /// The key as [`split_key`] gives it, and the earliest position claimed.
    slots: Box<[[AtomicU64; 3]]>,
    next: OnceLock<Box<Table>>,
}

/// How much bigger each next table is than the one before. A claim that comes to a table
/// has probed every table before it, so the chain must stay short when the estimate is far
/// off (pipes holding more than an export's cap, exports packed tighter than ten to one):
/// doubling from a 16-slot first table made a run over piped exports a third slower than
/// with the locked table it replaced.
const GROWTH: usize = 8;

/// The fewest slots a table has.
const MIN_SLOTS: usize = 16;

/// A slot taken by a worker that is writing its key.
const BUSY: u8 = 1;

/// How far a claim probes in a table before it goes on to the next: at the first table's load
/// (at most 7/8 when the estimate holds) probe runs are a few slots; this bounds the rare
/// long one.
const MAX_PROBE: usize = 64;

/// A key's hash: Fibonacci hashing of both halves. The slot comes from its high bits, the tag
/// from its low ones.
fn hash(key: [u64; 2]) -> u64 {
    (key[0] ^ key[1].rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The slot a hash starts at in a table of `len` slots: its high 32 bits scaled to the
/// length (no power of two, so the table is no bigger than the estimate asks).
fn home(hash: u64, len: usize) -> usize {
    (((hash >> 32) * len as u64) >> 32) as usize
}

fn tag(hash: u64) -> u8 {
    0x80 | (hash as u8 & 0x7F)
}

impl Default for Claims {
    fn default() -> Self {
        Claims::with_capacity(0)
    }
}

impl Table {
    fn new(len: usize) -> Table {
        // Where the memory is not given, the table is empty and its claims go on to the
        // next, made smaller.
        let (tags, slots) = (try_zeroed(len), try_zeroed(len));
        Table {
            tags: tags.unwrap_or_default(),
            slots: slots.unwrap_or_default(),
            next: OnceLock::new(),
        }
    }

    /// Claims `key` here if it is here or there is room near its place; `None` when neither,
    /// and the key belongs to a later table.
    fn claim(&self, halves: [u64; 2], hash: u64, pos: Pos) -> Option<bool> {
        let (tag, len) = (tag(hash), self.tags.len());
        let mut i = home(hash, len);
        for _ in 0..MAX_PROBE.min(len) {
            let (t, slot) = (self.tags.get(i)?, self.slots.get(i)?);
            let mut seen = t.load(Ordering::Acquire);
            if seen == 0 {
                match t.compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Acquire) {
                    Ok(_) => {
                        slot[0].store(halves[0], Ordering::Relaxed);
                        slot[1].store(halves[1], Ordering::Relaxed);
                        slot[2].store(pos, Ordering::Relaxed);
                        // Release: a worker that reads this tag reads the key above.
                        t.store(tag, Ordering::Release);
                        return Some(true);
                    }
                    Err(now) => seen = now,
                }
            }
            // Another worker is writing this slot's key: a few stores, so wait for them.
            while seen == BUSY {
                std::hint::spin_loop();
                std::thread::yield_now();
                seen = t.load(Ordering::Acquire);
            }
            if seen == tag
                && slot[0].load(Ordering::Relaxed) == halves[0]
                && slot[1].load(Ordering::Relaxed) == halves[1]
            {
                return Some(pos <= slot[2].fetch_min(pos, Ordering::Relaxed));
            }
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        None
    }
}

impl Claims {
    /// An index with room for about `records` Ids in its first table.
    pub fn with_capacity(records: usize) -> Claims {
        Claims { first: Table::new((records.saturating_mul(8) / 7).max(MIN_SLOTS)) }
    }

    /// Asks the CPU to bring the tag and slot a claim of `key` looks at first into its cache,
    /// without waiting for them.
    #[inline]
    pub fn prefetch(&self, key: u128) {
        let table = &self.first;
        let at = home(hash(split_key(key)), table.tags.len());
        prefetch(table.tags.as_ptr().wrapping_add(at).cast());
        prefetch(table.slots.as_ptr().wrapping_add(at).cast());
    }

    /// Notes that the copy of `key` at `pos` was read; false when a copy earlier in archive
    /// order had already been read (so this one need not be stored).
    pub fn claim(&self, key: u128, pos: Pos) -> bool {
        let halves = split_key(key);
        let hash = hash(halves);
        let mut table = &self.first;
        loop {
            if let Some(first) = table.claim(halves, hash, pos) {
                return first;
            }
            // No room near its place here. The slots probed stay taken, so every later claim
            // of the key probes them too and comes on to the same next table.
            let len = table.tags.len().saturating_mul(GROWTH).max(MIN_SLOTS);
            table = table.next.get_or_init(|| Box::new(Table::new(len)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::partial::position;

    proptest::proptest! {
        /// Through growth, colliding probes and keys of all zeros or ones, a claim succeeds exactly
        /// when no earlier (or equal) position of its key was claimed before, as a map of the
        /// earliest positions says.
        #[test]
        fn agrees_with_a_map_of_earliest_positions(
            claims in proptest::collection::vec((0u8..40, 0usize..5, 0u64..4), 0..300),
        ) {
            // A first table of 16 slots: most of the 40 keys go on to later tables.
            let index = Claims::with_capacity(4);
            let mut earliest: std::collections::HashMap<u128, Pos> = Default::default();
            for (id, file, offset) in claims {
                // Few distinct keys, so copies meet; the all-zero and all-one UUIDs among them.
                let key = match id {
                    0 => 0,
                    1 => u128::MAX,
                    n => u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_0000_0000_0000_0001),
                };
                let pos = position(file, offset);
                let first = earliest.get(&key).is_none_or(|&e| pos <= e);
                if first {
                    earliest.insert(key, pos);
                }
                index.prefetch(key);
                proptest::prop_assert_eq!(index.claim(key, pos), first);
            }
        }
    }

    /// Workers claiming the same keys at once, through a first table too small for them: each
    /// key's earliest copy is claimed whenever its worker comes to it, and afterwards every
    /// key stands at its earliest copy.
    #[test]
    fn workers_claiming_at_once_agree_on_each_keys_earliest_copy() {
        use std::sync::atomic::AtomicUsize;
        const KEYS: u64 = 5_000;
        const WORKERS: u64 = 4;
        let index = Claims::with_capacity(1_000);
        let refused_earliest = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for w in 0..WORKERS {
                let (index, refused_earliest) = (&index, &refused_earliest);
                scope.spawn(move || {
                    // Each worker goes through the keys in its own order; its copy of a key is
                    // at file `w`, so worker 0 holds every key's earliest copy.
                    for k in 0..KEYS {
                        let k = (k * (2 * w + 1) * 7_919) % KEYS;
                        let key = u128::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15_0000_0001);
                        let claimed = index.claim(key, position(w as usize, k));
                        if w == 0 && !claimed {
                            refused_earliest.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(refused_earliest.load(Ordering::Relaxed), 0);
        // Afterwards every key's claim stands at its earliest copy: only an earlier one wins.
        for k in 0..KEYS {
            let key = u128::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15_0000_0001);
            assert!(!index.claim(key, position(1, k)), "key {k}");
            assert!(index.claim(key, position(0, k)), "key {k}");
        }
        // The keys did not fit the first table: later ones were made and shared.
        assert!(index.first.next.get().is_some());
    }
}
