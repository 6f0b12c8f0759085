//! State: what reading contributes, in a form that merges. `partial` holds the deduplicated
//! records and their merge, `files` what each file contributed besides records, `intern` the
//! strings, `addr` the client addresses (IPv4 ones as bits, not interned), and `claims` the Id
//! index the workers of one run share.

pub mod addr;
pub mod claims;
pub mod codec;
pub mod files;
pub mod intern;
pub mod partial;
pub mod shard;
pub mod window;

/// `len` zeroed values in memory the system hands out untouched, as a `vec!` of zeros gets
/// it: a table's pages cost nothing until a slot is written (the Id index and the record
/// tables). `None` when the memory is not given.
pub(crate) fn try_zeroed<T: bytemuck::Zeroable>(len: usize) -> Option<Box<[T]>> {
    bytemuck::allocation::try_zeroed_slice_box(len).ok()
}
