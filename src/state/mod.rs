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
