//! Extract: what a record's AuditData says. `auditdata` parses the JSON fully (simd-json) into
//! the typed record the reports use; `shapes` reads records whose layout it has learned from
//! earlier ones without simd-json, giving the same record; `peek` reads only what
//! `--audit-only` needs, in one pass, and leaves to `auditdata` every row it is not sure of.

pub mod auditdata;
pub mod peek;
pub mod shapes;
