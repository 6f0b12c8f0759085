//! Claims: the Id index the workers of one run share, so a copy of a record that comes later in
//! archive order than one already read is counted (as a `partial::LooseCopy`) instead of stored. It
//! lives only as long as one run's reading; a partial state is complete without it.
//!
//! Each record's claim is a lookup in a table of millions of Ids, which misses the CPU caches:
//! 6-8% of a two-worker run when it waited for each. The tables are therefore our own (open
//! addressing), so that a worker can prefetch a record's slot ([`Claims::prefetch`]) and do
//! other work of the record before it claims it.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::intern::prefetch;
use super::partial::{shard_bits, split_key, Pos};

/// Which archive position holds each record Id so far, shared by the workers of one run: a
/// copy that comes later in archive order than one already read is only counted, not stored,
/// so memory grows with distinct records rather than with overlapping input. An optimisation
/// only: partial states built without it (or with copies read out of order, which are then
/// stored) merge to the same result, because the merge itself keeps the first copy.
pub struct Claims {
    shards: Vec<Shard>,
}

/// Enough shards that workers rarely wait on one another (each lock is held for one lookup).
const CLAIM_SHARDS: usize = 256;

/// A slot: the key as [`split_key`] gives it, and the position claimed. All zeros when empty,
/// so that a fresh table is zeroed memory the system hands out untouched.
type Slot = [u64; 3];

/// Open addressing with linear probing, at most 7/8 full: a probe reads one byte a slot
/// (`tags`), and a slot only when its tag agrees, so long probe runs stay cheap.
struct Table {
    /// 0 for an empty slot, else 0x80 and seven bits of the key's hash.
    tags: Vec<u8>,
    slots: Vec<Slot>,
    len: usize,
}

struct Shard {
    table: Mutex<Table>,
    /// Where the table's tags and slots are and its mask, for [`Claims::prefetch`], which
    /// takes no lock: set under the lock whenever the table moves. An address read just
    /// before a move only makes the hint useless: a prefetch reads nothing.
    tags: AtomicPtr<u8>,
    slots: AtomicPtr<Slot>,
    mask: AtomicUsize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        let size = (capacity * 8 / 7 + 1).next_power_of_two().max(16);
        let mut table = Table { tags: vec![0; size], slots: vec![[0; 3]; size], len: 0 };
        Shard {
            tags: AtomicPtr::new(table.tags.as_mut_ptr()),
            slots: AtomicPtr::new(table.slots.as_mut_ptr()),
            mask: AtomicUsize::new(size - 1),
            // Moving the vectors leaves their memory where it is.
            table: Mutex::new(table),
        }
    }

    /// Says where `table` now is.
    fn publish(&self, table: &mut Table) {
        self.tags.store(table.tags.as_mut_ptr(), Ordering::Relaxed);
        self.slots.store(table.slots.as_mut_ptr(), Ordering::Relaxed);
        self.mask.store(table.tags.len() - 1, Ordering::Relaxed);
    }
}

/// A key's hash: Fibonacci hashing of both halves (the shard was chosen by some of the same
/// bits, so they cannot pick the slot alone). The slot comes from its high bits, the tag from
/// its low ones.
fn hash(key: [u64; 2]) -> u64 {
    (key[0] ^ key[1].rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn home(hash: u64, mask: usize) -> usize {
    (hash >> 32) as usize & mask
}

fn tag(hash: u64) -> u8 {
    0x80 | (hash as u8 & 0x7F)
}

impl Default for Claims {
    fn default() -> Self {
        Claims::with_capacity(0)
    }
}

impl Claims {
    /// An index with room for about `records` Ids before it grows.
    pub fn with_capacity(records: usize) -> Claims {
        let per_shard = records / CLAIM_SHARDS;
        Claims { shards: (0..CLAIM_SHARDS).map(|_| Shard::new(per_shard)).collect() }
    }

    fn shard(&self, key: u128) -> &Shard {
        &self.shards[shard_bits(key) % CLAIM_SHARDS]
    }

    /// Asks the CPU to bring the tag and slot a claim of `key` looks at first into its cache,
    /// without waiting for them.
    #[inline]
    pub fn prefetch(&self, key: u128) {
        let shard = self.shard(key);
        let at = home(hash(split_key(key)), shard.mask.load(Ordering::Relaxed));
        prefetch(shard.tags.load(Ordering::Relaxed).wrapping_add(at).cast());
        prefetch(shard.slots.load(Ordering::Relaxed).wrapping_add(at).cast());
    }

    /// Notes that the copy of `key` at `pos` was read; false when a copy earlier in archive
    /// order had already been read (so this one need not be stored).
    pub fn claim(&self, key: u128, pos: Pos) -> bool {
        let shard = self.shard(key);
        let key = split_key(key);
        let hash = hash(key);
        let tag = tag(hash);
        // A poisoned lock means another worker panicked mid-lookup; the table is still valid.
        let mut table = shard.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mask = table.tags.len() - 1;
        let mut i = home(hash, mask);
        loop {
            match table.tags[i] {
                0 => break,
                t if t == tag && table.slots[i][..2] == key => {
                    let slot = &mut table.slots[i];
                    if slot[2] < pos {
                        return false;
                    }
                    slot[2] = pos;
                    return true;
                }
                _ => i = (i + 1) & mask,
            }
        }
        table.tags[i] = tag;
        table.slots[i] = [key[0], key[1], pos];
        table.len += 1;
        if table.len * 8 > table.tags.len() * 7 {
            grow(&mut table);
            shard.publish(&mut table);
        }
        true
    }
}

/// Doubles the table and places every claim again.
fn grow(table: &mut Table) {
    let size = table.tags.len() * 2;
    let tags = std::mem::replace(&mut table.tags, vec![0; size]);
    let slots = std::mem::replace(&mut table.slots, vec![[0; 3]; size]);
    for (t, slot) in tags.into_iter().zip(slots) {
        if t == 0 {
            continue;
        }
        let mut i = home(hash([slot[0], slot[1]]), size - 1);
        while table.tags[i] != 0 {
            i = (i + 1) & (size - 1);
        }
        table.tags[i] = t;
        table.slots[i] = slot;
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
}
