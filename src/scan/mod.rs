//! Vulnerability scanning's pure core: what an image contains and which advisories affect it,
//! in plain Rust with no Workers types (the queue consumer and the records come on top).

pub mod osv;
pub mod version;
