//! Client addresses as a state keeps them. Most ClientIPs are IPv4 addresses in plain
//! dotted-decimal text, and most of those are met once or twice: on the bench archive 658 k
//! distinct addresses among 1.75 M records, the largest group of strings an interner held,
//! each interned with a lookup that mostly missed the caches. An [`Addr`] keeps such an
//! address as its 32 bits, and interns only text that would not read back the same from them
//! (ports, IPv6, spaces, leading zeros), so every address still prints as the record wrote it.

use std::cmp::Ordering;
use std::net::Ipv4Addr;

use super::intern::{Interner, Sym};

/// A client address: an IPv4 address kept as its bits, or an interned symbol for any other
/// text. Text that parses as an IPv4 address is never interned, so two addresses of one
/// state are equal exactly when their texts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addr(u64);

/// What an [`Addr`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An IPv4 address's bits.
    Ipv4(u32),
    /// The symbol of any other address's text.
    Interned(Sym),
}

/// The bit that marks an IPv4 address; below it, the address or the symbol.
const V4: u64 = 1 << 32;

/// The longest IPv4 text: `255.255.255.255`.
pub const V4_TEXT: usize = 15;

/// An address's text written out: an IPv4 address's digits, made on the stack.
pub struct Text {
    bytes: [u8; V4_TEXT],
    len: usize,
}

impl Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and dots are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl Addr {
    /// The address `text` names: its bits when it is an IPv4 address that prints back as the
    /// same text, else its interned symbol.
    pub fn new(text: &str, strings: &mut Interner) -> Addr {
        match Addr::v4(text) {
            Some(addr) => addr,
            None => Addr::interned(strings.intern(text)),
        }
    }

    /// `text` as an IPv4 address, when it is one written the way it prints. The standard
    /// parser takes exactly that: four decimal numbers up to 255, no leading zeros, no signs
    /// or spaces (a proptest checks that every address it takes prints back the same).
    pub fn v4(text: &str) -> Option<Addr> {
        // Cheap refusals first: an empty address, IPv6, or a port.
        if text.len() > V4_TEXT || text.len() < 7 {
            return None;
        }
        text.parse::<Ipv4Addr>().ok().map(|ip| Addr::from_ipv4(u32::from(ip)))
    }

    /// An IPv4 address from its bits.
    pub fn from_ipv4(bits: u32) -> Addr {
        Addr(V4 | u64::from(bits))
    }

    /// An address whose text is interned as `sym`.
    pub fn interned(sym: Sym) -> Addr {
        Addr(u64::from(sym))
    }

    /// Which of the two the address is, for code that treats them apart.
    pub fn kind(self) -> Kind {
        match self.0 & V4 {
            0 => Kind::Interned(self.0 as Sym),
            _ => Kind::Ipv4(self.0 as u32),
        }
    }

    /// The IPv4 address's bits, when it is one.
    pub fn ipv4(self) -> Option<u32> {
        (self.0 & V4 != 0).then_some(self.0 as u32)
    }

    /// The interned symbol of an address that is not kept as bits.
    pub fn sym(self) -> Option<Sym> {
        (self.0 & V4 == 0).then_some(self.0 as Sym)
    }

    /// The same address in a state whose symbols `map` gives (a merge's remapping).
    pub fn remap(self, map: &[Sym]) -> Addr {
        match self.sym() {
            Some(sym) => Addr::interned(map.get(sym as usize).copied().unwrap_or(sym)),
            None => self,
        }
    }

    /// The address's text, in `strings` when it is interned.
    pub fn with_text<R>(self, strings: &Interner, f: impl FnOnce(&str) -> R) -> R {
        match self.kind() {
            Kind::Ipv4(bits) => f(write_v4(bits).as_str()),
            Kind::Interned(sym) => f(strings.get(sym)),
        }
    }

    /// Compares two addresses as their texts compare (byte by byte), which is how reports order
    /// connections.
    pub fn cmp_text(self, other: Addr, strings: &Interner) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        self.with_text(strings, |a| other.with_text(strings, |b| a.as_bytes().cmp(b.as_bytes())))
    }
}

/// The dotted-decimal text of an IPv4 address. Report rows write hundreds of thousands of
/// them, so digits are looked up rather than formatted.
pub fn write_v4(bits: u32) -> Text {
    let mut text = Text { bytes: [0; V4_TEXT], len: 0 };
    for (k, octet) in bits.to_be_bytes().into_iter().enumerate() {
        if k > 0 {
            text.bytes[text.len] = b'.';
            text.len += 1;
        }
        let digits = DIGITS[usize::from(octet)];
        let n = usize::from(digits[3]);
        text.bytes[text.len..text.len + n].copy_from_slice(&digits[..n]);
        text.len += n;
    }
    text
}

/// The decimal digits of every octet, and (last) how many there are.
const DIGITS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = match i {
            0..=9 => [b'0' + u, 0, 0, 1],
            10..=99 => [b'0' + d, b'0' + u, 0, 2],
            _ => [b'0' + h, b'0' + d, b'0' + u, 3],
        };
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_ipv4_is_kept_as_bits_and_the_rest_interned() {
        let mut strings = Interner::new();
        let a = Addr::new("10.1.200.3", &mut strings);
        assert_eq!(a.ipv4(), Some(0x0a01_c803));
        assert_eq!(strings.len(), 1, "only the empty string");
        for other in ["", "10.1.200.3:443", "010.1.2.3", " 10.1.2.3", "2a01:db8::1", "1.2.3.256"] {
            let addr = Addr::new(other, &mut strings);
            assert_eq!(addr.ipv4(), None, "{other:?}");
            assert_eq!(addr.with_text(&strings, str::to_string), other);
        }
        assert_eq!(a.with_text(&strings, str::to_string), "10.1.200.3");
        assert_eq!(write_v4(0).as_str(), "0.0.0.0");
        assert_eq!(write_v4(u32::MAX).as_str(), "255.255.255.255");
    }

    #[test]
    fn addresses_compare_as_their_texts() {
        let mut strings = Interner::new();
        let texts = ["9.0.0.1", "10.0.0.1", "10.0.0.10", "10.0.0.2", "[::1]:443", "", "2a01::1"];
        let mut addrs: Vec<Addr> = texts.iter().map(|t| Addr::new(t, &mut strings)).collect();
        addrs.sort_by(|a, b| a.cmp_text(*b, &strings));
        let sorted: Vec<String> =
            addrs.iter().map(|a| a.with_text(&strings, str::to_string)).collect();
        let mut expected: Vec<&str> = texts.to_vec();
        expected.sort();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn a_merge_remaps_only_interned_addresses() {
        let mut strings = Interner::new();
        let v6 = Addr::new("2a01::1", &mut strings);
        let v4 = Addr::new("1.2.3.4", &mut strings);
        assert_eq!(v6.remap(&[0, 7]), Addr::interned(7));
        assert_eq!(v4.remap(&[0, 7]), v4);
    }

    proptest! {
        /// Whatever the text, the address gives it back: bits only for text that prints the
        /// same, and equal addresses only for equal texts.
        #[test]
        fn every_address_prints_as_it_was_written(
            a in "[0-9.: \\[\\]a-f+-]{0,18}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,4}",
            b in "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        ) {
            let mut strings = Interner::new();
            let (x, y) = (Addr::new(&a, &mut strings), Addr::new(&b, &mut strings));
            prop_assert_eq!(x.with_text(&strings, str::to_string), a.clone());
            prop_assert_eq!(y.with_text(&strings, str::to_string), b.clone());
            prop_assert_eq!(x == y, a == b);
            prop_assert_eq!(x.cmp_text(y, &strings), a.as_bytes().cmp(b.as_bytes()));
        }
    }
}
