//! Analyze: the merged state turned into what the reports show. `meetings` builds meetings,
//! connections and suspected disconnections; `caps` finds row caps in the archive; `coverage`
//! what the files hold and the windows to export again; `users` the users database; `filter`
//! the IP filters of the disconnection rule; `sites` the building file and the network a client
//! IP belongs to; `client` the client category and platform of a UserAgent; `zone` the time zone
//! of the timeline; `breakdown` the drops counted per network, client and hour (SPEC 4).

pub mod breakdown;
pub mod caps;
pub mod client;
pub mod coverage;
pub mod filter;
pub mod meetings;
pub mod sites;
pub mod users;
pub mod zone;
