//! Claims: the Id index the workers of one run share, so a copy of a record that comes later in
//! archive order than one already read is counted (as a `partial::LooseCopy`) instead of stored. It
//! lives only as long as one run's reading; a partial state is complete without it.

use hashbrown::HashMap;

use super::partial::{shard_bits, split_key, Pos};

/// Which archive position holds each record Id so far, shared by the workers of one run: a
/// copy that comes later in archive order than one already read is only counted, not stored,
/// so memory grows with distinct records rather than with overlapping input. An optimisation
/// only: partial states built without it (or with copies read out of order, which are then
/// stored) merge to the same result, because the merge itself keeps the first copy.
pub struct Claims {
    /// Keys as [`split_key`] gives them.
    shards: Vec<std::sync::Mutex<HashMap<[u64; 2], Pos>>>,
}

/// Enough shards that workers rarely wait on one another (each lock is held for one lookup).
const CLAIM_SHARDS: usize = 256;

impl Default for Claims {
    fn default() -> Self {
        Claims { shards: (0..CLAIM_SHARDS).map(|_| Default::default()).collect() }
    }
}

impl Claims {
    /// An index with room for about `records` Ids before it grows.
    pub fn with_capacity(records: usize) -> Claims {
        let per_shard = records / CLAIM_SHARDS;
        let shards = (0..CLAIM_SHARDS)
            .map(|_| std::sync::Mutex::new(HashMap::with_capacity(per_shard)))
            .collect();
        Claims { shards }
    }

    /// Notes that the copy of `key` at `pos` was read; false when a copy earlier in archive
    /// order had already been read (so this one need not be stored).
    pub fn claim(&self, key: u128, pos: Pos) -> bool {
        let shard = shard_bits(key) % CLAIM_SHARDS;
        // A poisoned lock means another worker panicked mid-lookup; the map is still valid.
        let mut map = self.shards[shard].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.entry(split_key(key)) {
            hashbrown::hash_map::Entry::Occupied(mut o) => {
                if *o.get() < pos {
                    return false;
                }
                o.insert(pos);
                true
            }
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(pos);
                true
            }
        }
    }
}
