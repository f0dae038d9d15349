//! Scanning images: cataloguing what a pushed image contains, in plain Rust with no Workers
//! types (the platform layer feeds it layers from R2 and stores what it finds).

pub mod layers;
