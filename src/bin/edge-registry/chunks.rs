//! How a blob is sent: whole in the upload's final PUT when it fits the registry's body limit,
//! else in PATCHes of at most that limit, each a byte range of the blob.

use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The whole blob as the body of the PUT that completes the upload.
    Whole,
    /// One PATCH per range, in order, then a PUT without a body.
    Chunks(Vec<Range<u64>>),
}

/// The chunk limit: the smaller of what the user asked for and what the registry advertises
/// (`OCI-Chunk-Max-Length`); none (one request) when neither says. A limit of 0 means no
/// limit, as it cannot be honoured.
pub fn limit(asked: Option<u64>, advertised: Option<u64>) -> Option<u64> {
    [asked, advertised]
        .into_iter()
        .flatten()
        .filter(|&l| l > 0)
        .min()
}

/// The plan for the bytes `offset..size` of a blob (`offset` is where a resumed upload
/// stands; 0 for a new one) under `limit`.
pub fn plan(size: u64, offset: u64, limit: Option<u64>) -> Plan {
    let offset = offset.min(size);
    if offset == 0 && limit.is_none_or(|limit| size <= limit) {
        return Plan::Whole;
    }
    let step = limit.unwrap_or(u64::MAX);
    let mut chunks = Vec::new();
    let mut start = offset;
    while start < size {
        let end = start.saturating_add(step).min(size);
        chunks.push(start..end);
        start = end;
    }
    Plan::Chunks(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Chunks as (start, end) pairs: clippy reads a one-range array as a mistake.
    fn chunks(ranges: &[(u64, u64)]) -> Plan {
        Plan::Chunks(ranges.iter().map(|&(start, end)| start..end).collect())
    }

    #[test]
    fn a_blob_within_the_limit_goes_whole() {
        assert_eq!(plan(3 * MIB, 0, None), Plan::Whole);
        assert_eq!(plan(3 * MIB, 0, Some(3 * MIB)), Plan::Whole);
        assert_eq!(plan(0, 0, Some(MIB)), Plan::Whole);
    }

    #[test]
    fn chunks_are_the_limit_except_a_shorter_last_one() {
        assert_eq!(
            plan(5 * MIB + 3, 0, Some(2 * MIB)),
            chunks(&[(0, 2 * MIB), (2 * MIB, 4 * MIB), (4 * MIB, 5 * MIB + 3)])
        );
        // An exact multiple has no empty last chunk.
        assert_eq!(
            plan(4 * MIB, 0, Some(2 * MIB)),
            chunks(&[(0, 2 * MIB), (2 * MIB, 4 * MIB)])
        );
        assert_eq!(
            plan(MIB + 1, 0, Some(MIB)),
            chunks(&[(0, MIB), (MIB, MIB + 1)])
        );
    }

    #[test]
    fn a_resumed_upload_sends_only_what_the_registry_lacks() {
        assert_eq!(
            plan(5 * MIB, 3 * MIB + 7, Some(MIB)),
            chunks(&[(3 * MIB + 7, 4 * MIB + 7), (4 * MIB + 7, 5 * MIB)])
        );
        // Without a limit, the rest in one PATCH; a resume never puts the whole blob again.
        assert_eq!(plan(5 * MIB, MIB, None), chunks(&[(MIB, 5 * MIB)]));
        assert_eq!(plan(MIB, 10, Some(2 * MIB)), chunks(&[(10, MIB)]));
        // Everything already there: nothing left but the completing PUT.
        assert_eq!(plan(5 * MIB, 5 * MIB, Some(MIB)), chunks(&[]));
        assert_eq!(plan(5 * MIB, 9 * MIB, None), chunks(&[]));
    }

    #[test]
    fn the_chunks_cover_every_byte_once_in_order() {
        for (size, offset, limit) in [(2, 0, 1), (10, 3, 4), (1 << 40, 0, 100 * MIB), (7, 6, 1)] {
            let Plan::Chunks(chunks) = plan(size, offset, Some(limit)) else {
                panic!("{size} from {offset} under {limit} should be chunked");
            };
            assert_eq!(chunks.first().unwrap().start, offset);
            assert_eq!(chunks.last().unwrap().end, size);
            assert!(chunks.windows(2).all(|w| w[0].end == w[1].start));
            assert!(chunks
                .iter()
                .all(|c| !c.is_empty() && c.end - c.start <= limit));
        }
    }

    #[test]
    fn the_limit_is_the_smaller_of_the_asked_and_the_advertised() {
        assert_eq!(limit(None, None), None);
        assert_eq!(limit(Some(MIB), None), Some(MIB));
        assert_eq!(limit(None, Some(8 * MIB)), Some(8 * MIB));
        assert_eq!(limit(Some(16 * MIB), Some(8 * MIB)), Some(8 * MIB));
        assert_eq!(limit(Some(MIB), Some(8 * MIB)), Some(MIB));
        assert_eq!(limit(None, Some(0)), None);
    }
}
