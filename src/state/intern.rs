//! String interning: every distinct string of a partial state is stored once and named by a
//! 4-byte [`Sym`], so a record costs a few integers however long its IPs, devices and ids are.
//! An interner belongs to one partial state; merging states remaps symbols (see `aggregate`).

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// An interned string's number within its interner.
pub type Sym = u32;

/// The empty string is always symbol 0.
pub const EMPTY: Sym = 0;

/// A table entry carries where its string lies, so a lookup goes straight from the table to
/// the bytes: one cache miss fewer than going through `ends` (interning was 12% of a run,
/// mostly waiting on memory).
#[derive(Clone, Copy)]
struct Slot {
    start: usize,
    len: u32,
    sym: Sym,
}

pub struct Interner {
    table: HashTable<Slot>,
    hasher: hashbrown::DefaultHashBuilder,
    /// `ends[i]` is where string `i` ends in `bytes`; it starts where `i - 1` ends.
    ends: Vec<usize>,
    bytes: String,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

impl Interner {
    pub fn new() -> Interner {
        let mut interner = Interner {
            table: HashTable::new(),
            hasher: Default::default(),
            ends: Vec::new(),
            bytes: String::new(),
        };
        interner.intern("");
        interner
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, sym: Sym) -> &str {
        let i = sym as usize;
        let end = self.ends.get(i).copied().unwrap_or(0);
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(end) };
        self.bytes.get(start..end).unwrap_or("")
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = self.hasher.hash_one(s);
        let bytes = &self.bytes;
        let lookup = |slot: &Slot| {
            slot.len as usize == s.len() && bytes.get(slot.start..slot.start + s.len()) == Some(s)
        };
        if let Some(slot) = self.table.find(hash, lookup) {
            return slot.sym;
        }
        // More than 4 billion distinct strings would not fit in memory anyway; saturating keeps
        // this total rather than panicking.
        let sym = Sym::try_from(self.ends.len()).unwrap_or(Sym::MAX);
        let slot =
            Slot { start: self.bytes.len(), len: u32::try_from(s.len()).unwrap_or(u32::MAX), sym };
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        let (hasher, bytes) = (&self.hasher, &self.bytes);
        self.table.insert_unique(hash, slot, |slot| {
            hasher.hash_one(bytes.get(slot.start..slot.start + slot.len as usize).unwrap_or(""))
        });
        sym
    }

    /// All strings in symbol order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i as Sym))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_resolves() {
        let mut i = Interner::new();
        assert_eq!(i.intern(""), EMPTY);
        let a = i.intern("10.0.0.1");
        let b = i.intern("Zoë, \"Z\"");
        assert_eq!(i.intern("10.0.0.1"), a);
        assert_ne!(a, b);
        assert_eq!(i.get(a), "10.0.0.1");
        assert_eq!(i.get(b), "Zoë, \"Z\"");
        assert_eq!(i.len(), 3);
        assert_eq!(i.iter().collect::<Vec<_>>(), ["", "10.0.0.1", "Zoë, \"Z\""]);
    }
}
