//! Where a blob's bytes go: one data object, or for a blob larger than one multipart upload
//! holds, several (segments) after one another.

use serde::{Deserialize, Serialize};

/// R2 allows at most 10,000 parts in a multipart upload; a segment holds one part fewer of
/// full parts, so that its last, shorter part always fits.
pub const MAX_SEGMENT_PARTS: u64 = 9_999;

/// One completed object of a blob's bytes; a blob is its segments in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub key: String,
    pub size: u64,
}

/// The keys of a blob's data objects, in order.
pub fn segment_keys(segments: &[Segment]) -> Vec<String> {
    segments.iter().map(|s| s.key.clone()).collect()
}

/// Segment `index` of the blob whose bytes start at `key`: `key`, `key.1`, `key.2`, ...
pub(super) fn segment_key(key: &str, index: usize) -> String {
    match index {
        0 => key.to_string(),
        n => format!("{key}.{n}"),
    }
}
