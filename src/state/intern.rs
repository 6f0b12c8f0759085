//! String interning: every distinct string of a partial state is stored once and named by a
//! 4-byte [`Sym`], so a record costs a few integers however long its IPs, devices and ids are.
//! An interner belongs to one partial state; merging states remaps symbols (see `partial`).
//!
//! On the bench archive a worker's interner holds hundreds of thousands of strings (meeting
//! ids, attendee keys and names, addresses other than plain IPv4 ones: see `addr`), so most lookups of a record's strings miss the CPU caches. One miss
//! after another was a sixth of a one-worker run. The table is therefore our own (open
//! addressing, linear probing), so that a record's strings can be hashed and their slots
//! prefetched first ([`Interner::prefetch`]), and the lookups that follow find them in cache:
//! the misses overlap instead of queueing.

use std::hash::BuildHasher;

/// An interned string's number within its interner.
pub type Sym = u32;

/// The empty string is always symbol 0.
pub const EMPTY: Sym = 0;

/// Where a string lies, so a lookup goes straight from the table to its bytes: one cache miss
/// fewer than going through `ends`.
#[derive(Clone, Copy, Default)]
struct Slot {
    start: usize,
    len: u32,
    sym: Sym,
}

/// A string's hash, as [`Interner::hash`] gives it.
#[derive(Clone, Copy, Debug)]
pub struct Hashed(u64);

impl Hashed {
    /// The slot tag: 16 bits of the hash that are not used for the slot's place, never 0
    /// (an empty slot).
    fn tag(self) -> u16 {
        ((self.0 >> 48) as u16).max(1)
    }
}

/// The table grows when it is this full (3/4), so probe runs stay short.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

pub struct Interner {
    /// `tags[i]` is 0 for an empty slot, else 16 bits of the hash of `slots[i]`'s string: a
    /// probe reads two bytes a slot, and a slot's string only when the tags agree.
    tags: Vec<u16>,
    slots: Vec<Slot>,
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
            tags: vec![0; 16],
            slots: vec![Slot::default(); 16],
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
        self.bytes.get(self.span(sym)).unwrap_or("")
    }

    /// Where `sym`'s text lies in `bytes` (empty for a symbol this interner never gave).
    fn span(&self, sym: Sym) -> std::ops::Range<usize> {
        let i = sym as usize;
        let end = self.ends.get(i).copied().unwrap_or(0);
        let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(end) };
        start..end
    }

    /// Asks the CPU to bring where `sym`'s text lies (its entry of `ends`) into its cache,
    /// without waiting: the first of the two misses of a [`Interner::get`] of a string not
    /// met lately. See [`Interner::prefetch_text`] for the second.
    #[inline]
    pub fn prefetch_bounds(&self, sym: Sym) {
        prefetch(self.ends.as_ptr().wrapping_add(sym as usize).cast());
    }

    /// Asks the CPU to bring the start of `sym`'s text into its cache. It reads where the
    /// text lies, so it waits for that unless [`Interner::prefetch_bounds`] brought it first.
    #[inline]
    pub fn prefetch_text(&self, sym: Sym) {
        prefetch(self.bytes.as_ptr().wrapping_add(self.span(sym).start).cast());
    }

    pub fn hash(&self, s: &str) -> Hashed {
        Hashed(self.hasher.hash_one(s))
    }

    /// The mask of a slot's place: the table's length is a power of two.
    fn mask(&self) -> usize {
        self.tags.len() - 1
    }

    /// Asks the CPU to bring the first slot a lookup of `hash` reads into its cache, without
    /// waiting for it: call it for each of a record's strings before interning them.
    #[inline]
    pub fn prefetch(&self, hash: Hashed) {
        let home = home(hash, self.mask());
        prefetch(self.tags.as_ptr().wrapping_add(home).cast());
        prefetch(self.slots.as_ptr().wrapping_add(home).cast());
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        let hash = self.hash(s);
        self.intern_hashed(s, hash)
    }

    /// [`Interner::intern`] with the string's hash already made (by [`Interner::hash`] of this
    /// interner).
    pub fn intern_hashed(&mut self, s: &str, hash: Hashed) -> Sym {
        let (tag, mask) = (hash.tag(), self.mask());
        let mut i = home(hash, mask);
        loop {
            match self.tags[i] {
                0 => break,
                t if t == tag => {
                    let slot = self.slots[i];
                    if slot.len as usize == s.len()
                        && self.bytes.get(slot.start..slot.start + s.len()) == Some(s)
                    {
                        return slot.sym;
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
        // More than 4 billion distinct strings would not fit in memory anyway; saturating keeps
        // this total rather than panicking.
        let sym = Sym::try_from(self.ends.len()).unwrap_or(Sym::MAX);
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.tags[i] = tag;
        self.slots[i] = Slot { start: self.bytes.len(), len, sym };
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
        if self.ends.len() * LOAD_DEN > self.tags.len() * LOAD_NUM {
            self.grow();
        }
        sym
    }

    /// Interns each of `strings` in order and gives their symbols: a merge's remapping of
    /// another state's strings. Each string's slot is prefetched a few strings ahead of its
    /// lookup, and the table grows once, first.
    pub fn intern_all<'s>(&mut self, strings: impl Iterator<Item = &'s str>) -> Vec<Sym> {
        /// How many lookups ahead a slot is prefetched: enough to cover a miss.
        const AHEAD: usize = 16;
        let strings: Vec<&str> = strings.collect();
        let mut size = self.tags.len();
        while (self.ends.len() + strings.len()) * LOAD_DEN > size * LOAD_NUM {
            size *= 2;
        }
        if size > self.tags.len() {
            self.rebuild(size);
        }
        let hashes: Vec<Hashed> = strings.iter().map(|s| self.hash(s)).collect();
        let mut syms = Vec::with_capacity(strings.len());
        for (k, (s, &hash)) in strings.iter().zip(&hashes).enumerate() {
            if let Some(&ahead) = hashes.get(k + AHEAD) {
                self.prefetch(ahead);
            }
            syms.push(self.intern_hashed(s, hash));
        }
        syms
    }

    /// Doubles the table and places every string again, in symbol order.
    fn grow(&mut self) {
        self.rebuild(self.tags.len() * 2);
    }

    /// Places every string again, in symbol order, in a table of `size` slots (a power of
    /// two, with room for them all).
    fn rebuild(&mut self, size: usize) {
        let mut tags = vec![0u16; size];
        let mut slots = vec![Slot::default(); size];
        let mut start = 0;
        for (sym, &end) in self.ends.iter().enumerate() {
            let s = self.bytes.get(start..end).unwrap_or("");
            let hash = self.hash(s);
            let mut i = home(hash, size - 1);
            while tags[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            tags[i] = hash.tag();
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
            slots[i] = Slot { start, len, sym: sym as Sym };
            start = end;
        }
        self.tags = tags;
        self.slots = slots;
    }

    /// All strings in symbol order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i as Sym))
    }
}

/// Where the probe for `hash` starts in a table of `mask + 1` slots.
fn home(hash: Hashed, mask: usize) -> usize {
    (hash.0 as usize) & mask
}

/// A hint to load the cache line at `p`; it reads nothing, so any address will do.
#[inline]
pub(super) fn prefetch(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it does not read memory the program can observe and
    // does not fault, whatever the address. SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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

    proptest::proptest! {
        /// Through many growths and colliding probes, each string keeps its first symbol, and
        /// symbols are numbered in order of first appearance, as a map of first places says.
        #[test]
        fn agrees_with_a_map_of_first_places(
            words in proptest::collection::vec("[a-c]{0,3}|[0-9.]{1,15}", 0..400),
        ) {
            let mut interner = Interner::new();
            let mut first: std::collections::HashMap<&str, Sym> =
                std::collections::HashMap::from([("", EMPTY)]);
            for w in &words {
                let next = first.len() as Sym;
                let expected = *first.entry(w.as_str()).or_insert(next);
                let hash = interner.hash(w);
                interner.prefetch(hash);
                proptest::prop_assert_eq!(interner.intern_hashed(w, hash), expected);
            }
            proptest::prop_assert_eq!(interner.len(), first.len());
            // Interning them all again, into a fresh interner or this one, gives the same.
            let again = interner.intern_all(words.iter().map(String::as_str));
            let mut fresh = Interner::new();
            let syms = fresh.intern_all(words.iter().map(String::as_str));
            for ((w, a), f) in words.iter().zip(again).zip(syms) {
                proptest::prop_assert_eq!(first.get(w.as_str()), Some(&a));
                proptest::prop_assert_eq!(fresh.get(f), w.as_str());
            }
            for (w, sym) in first {
                proptest::prop_assert_eq!(interner.get(sym), w);
            }
        }
    }
}
