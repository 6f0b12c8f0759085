//! One shard of kept records: a hash table of record numbers over records stored in chunks
//! of a fixed size, in the order they came. A record is written once, where it stays.
//!
//! The shard was an `IndexMap`, whose records live in one vector. That vector doubled as a
//! worker's records came, and each doubling faulted in fresh pages and copied every record
//! into them: in a `--jobs 2` profile of the bench archive, 5% of the samples were those
//! copies and the zeroing of their pages. Chunks never move; only the table of 8-byte
//! numbers grows.
//!
//! Each table slot holds 32 bits of its key's hash beside the record's number, so the table
//! grows without reading the records, and a lookup reads a record only when those bits
//! agree. The hash is seeded, so Ids chosen to collide cannot slow the table down. The table
//! is our own (it was hashbrown's) so that its slot can be prefetched: with the prefetch,
//! adding records went from 2.9% to 1.4% of a two-worker run's profile.

use std::hash::BuildHasher;

use super::intern::prefetch;
use super::partial::{join_key, split_key};
use super::try_zeroed;

/// Records per chunk: 4,096 records of 144 bytes, 576 KB, a few allocations per shard.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The fewest slots a table has once it holds anything.
const MIN_SLOTS: usize = 16;

/// A record key, in two 8-byte words: a u128 is aligned to 16 bytes, and would pad a stored
/// record to the next 16.
type Key = [u64; 2];

pub struct Shard<V> {
    /// Open addressing, probed linearly from the slot the key's hash picks (a power of two
    /// long, at most 3/4 full). Per record: 32 bits of its key's hash (high half) and its
    /// number plus one (low half); 0 is an empty slot. Our own rather than a library's
    /// table so that a worker can prefetch a record's slot ([`Shard::prefetch`]) before it
    /// adds the record: the lookup missed the caches for most records.
    slots: Box<[u64]>,
    chunks: Vec<Vec<(Key, V)>>,
    len: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Shard { slots: Box::default(), chunks: Vec::new(), len: 0, hasher: Default::default() }
    }
}

fn slot_bits(slot: u64) -> u32 {
    (slot >> 32) as u32
}

/// The record number a filled slot holds.
fn slot_number(slot: u64) -> usize {
    (slot as u32 as usize).wrapping_sub(1)
}

/// How many records a table of `slots` slots holds before it grows: 3/4 of them. Linear
/// probing slows sharply as a table fills (a miss scans about 8 slots at 3/4, 32 at 7/8),
/// and a slot is 8 bytes beside a record's 144.
fn room_in(slots: usize) -> usize {
    slots / 4 * 3
}

/// A table's length for `records` records, at most 3/4 full (and at least [`MIN_SLOTS`]).
/// For one more record than a full table holds, that is twice its length.
fn slots_for(records: usize) -> usize {
    let slots = (records.saturating_mul(4) / 3 + 1).checked_next_power_of_two();
    slots.unwrap_or(usize::MAX / 2 + 1).max(MIN_SLOTS)
}

impl<V> Shard<V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bits(&self, key: u128) -> u32 {
        (self.hasher.hash_one(key) >> 32) as u32
    }

    /// The slot a hash starts at: the table is a power of two long.
    fn home(&self, bits: u32) -> usize {
        bits as usize & self.slots.len().wrapping_sub(1)
    }

    fn record(&self, number: usize) -> Option<&(Key, V)> {
        self.chunks.get(number >> CHUNK_BITS)?.get(number & (CHUNK - 1))
    }

    /// Asks the CPU for the table slot where `key`'s lookup starts, so that a worker's other
    /// work on the record overlaps the cache miss.
    pub fn prefetch(&self, key: u128) {
        if let Some(slot) = self.slots.get(self.home(self.bits(key))) {
            prefetch(std::ptr::from_ref(slot).cast());
        }
    }

    /// The number of `key`'s record if it is here; else `Err` with the empty slot where it
    /// would go (`None` when the table has no slots).
    fn find(&self, key: u128, bits: u32) -> Result<usize, Option<usize>> {
        let key = split_key(key);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(bits);
        // The table is never full (at most 3/4), so every probe meets an empty slot.
        for _ in 0..self.slots.len() {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(Some(i));
            }
            if slot_bits(slot) == bits
                && self.record(slot_number(slot)).is_some_and(|(k, _)| *k == key)
            {
                return Ok(slot_number(slot));
            }
            i = (i + 1) & mask;
        }
        Err(None)
    }

    pub fn get(&self, key: u128) -> Option<&V> {
        let number = self.find(key, self.bits(key)).ok()?;
        self.record(number).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: u128) -> Option<&mut V> {
        let number = self.find(key, self.bits(key)).ok()?;
        let chunk = self.chunks.get_mut(number >> CHUNK_BITS)?;
        chunk.get_mut(number & (CHUNK - 1)).map(|(_, v)| v)
    }

    /// Adds `value` under `key`, or hands both to `meet` when `key` is already here.
    pub fn add_or(&mut self, key: u128, value: V, meet: impl FnOnce(&mut V, V)) {
        let bits = self.bits(key);
        let mut at = match self.find(key, bits) {
            Ok(number) => {
                let chunk = self.chunks.get_mut(number >> CHUNK_BITS);
                if let Some((_, held)) = chunk.and_then(|c| c.get_mut(number & (CHUNK - 1))) {
                    meet(held, value);
                }
                return;
            }
            Err(at) => at,
        };
        if self.room() == 0 {
            // As a vector that grows: if the memory is not given, the process ends.
            self.reserve(1);
            at = self.find(key, bits).err().flatten();
        }
        let Some(at) = at else { return };
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push((split_key(key), value));
        }
        // A shard of more than 4 billion records would not fit in memory.
        self.slots[at] = (u64::from(bits) << 32) | (self.len as u32 as u64 + 1);
        self.len += 1;
    }

    /// Moves the slots into `table` (empty, a power of two long and larger), each placed by
    /// the hash bits it keeps: no record is read.
    fn move_to(&mut self, mut table: Box<[u64]>) {
        let mask = table.len().wrapping_sub(1);
        for &slot in self.slots.iter().filter(|&&s| s != 0) {
            let mut i = slot_bits(slot) as usize & mask;
            while table[i] != 0 {
                i = (i + 1) & mask;
            }
            table[i] = slot;
        }
        self.slots = table;
    }

    /// How many more records the table has room for before it grows.
    pub fn room(&self) -> usize {
        room_in(self.slots.len()).saturating_sub(self.len)
    }

    /// Room in the table for `more` records (the records themselves take room as they come).
    pub fn reserve(&mut self, more: usize) {
        if more > self.room() {
            let slots = slots_for(self.len.saturating_add(more));
            self.move_to(vec![0; slots].into_boxed_slice());
        }
    }

    /// [`Shard::reserve`], leaving the table as it is when the allocator refuses.
    pub fn try_reserve(&mut self, more: usize) {
        if more > self.room() {
            if let Some(table) = try_zeroed(slots_for(self.len.saturating_add(more))) {
                self.move_to(table);
            }
        }
    }

    /// Every record with its key, in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (u128, &V)> + '_ {
        self.chunks.iter().flatten().map(|(k, v)| (join_key(*k), v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.chunks.iter().flatten().map(|(_, v)| v)
    }
}

/// A stored record handed out with its key.
type Owned<V> = fn((Key, V)) -> (u128, V);

impl<V> IntoIterator for Shard<V> {
    type Item = (u128, V);
    type IntoIter = std::iter::Map<std::iter::Flatten<std::vec::IntoIter<Vec<(Key, V)>>>, Owned<V>>;

    /// Every record with its key, in the order they came.
    fn into_iter(self) -> Self::IntoIter {
        let owned: Owned<V> = |(k, v)| (join_key(k), v);
        self.chunks.into_iter().flatten().map(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Up to three chunks of keys a case: fewer cases than the default 256.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the keys, and however many (over several chunks), each holds the value
        /// it was first given, met by every later one, and the records come back in order.
        #[test]
        fn a_shard_holds_what_a_map_holds(
            keys in proptest::collection::vec(
                prop_oneof![0u128..64, any::<u128>(), Just(u128::MAX)], 0..(3 * CHUNK)),
        ) {
            let mut shard: Shard<Vec<usize>> = Shard::default();
            let mut model: indexmap::IndexMap<u128, Vec<usize>> = indexmap::IndexMap::new();
            for (i, &key) in keys.iter().enumerate() {
                shard.add_or(key, vec![i], |held, v| held.extend(v));
                model.entry(key).or_default().push(i);
            }
            prop_assert_eq!(shard.len(), model.len());
            for (key, v) in &model {
                prop_assert_eq!(shard.get(*key), Some(v));
            }
            prop_assert_eq!(shard.get(u128::MAX - 1).is_some(), model.contains_key(&(u128::MAX - 1)));
            let listed: Vec<(u128, &Vec<usize>)> = shard.iter().collect();
            let expected: Vec<(u128, &Vec<usize>)> = model.iter().map(|(k, v)| (*k, v)).collect();
            prop_assert_eq!(listed, expected);
            let owned: Vec<(u128, Vec<usize>)> = shard.into_iter().collect();
            prop_assert_eq!(owned, model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn room_is_made_ahead_and_values_change_in_place() {
        let mut shard: Shard<u32> = Shard::default();
        shard.reserve(10_000);
        assert!(shard.room() >= 10_000);
        for k in 0..10_000u128 {
            shard.add_or(k, 1, |_, _| {});
        }
        assert_eq!(shard.chunks.len(), 10_000usize.div_ceil(CHUNK));
        if let Some(v) = shard.get_mut(77) {
            *v = 5;
        }
        assert_eq!(shard.get(77), Some(&5));
        assert_eq!(shard.values().sum::<u32>(), 10_004);
        assert_eq!(shard.get(10_000), None);
        // Room made by moving the slots keeps every record where its key finds it.
        shard.try_reserve(20_000);
        assert!(shard.room() >= 20_000);
        assert!((0..10_000u128).all(|k| shard.get(k) == Some(if k == 77 { &5 } else { &1 })));
    }
}
