use futures::executor::block_on;
use futures::stream;

use futures::Stream;

use super::*;
use crate::oci::{Algorithm, Digest};
use crate::storage::body::BodyChunk;
use crate::storage::memory::MemoryStore;
use crate::storage::metered::{Metered, OpCounter};
use crate::storage::{ByteRange, MultipartStore, ObjectStore};

const PART: u64 = 8;

/// An uploader of `data/x` in parts of [`PART`] bytes.
fn uploader<S: ObjectStore + MultipartStore>(store: &S, segment_parts: u64) -> Uploader<'_, S> {
    Uploader::new(store, "data/x", PART, segment_parts)
}

fn body(chunks: &[&[u8]]) -> impl Stream<Item = BodyChunk> + Unpin {
    stream::iter(chunks.iter().map(|c| Ok(c.to_vec())).collect::<Vec<_>>())
}

fn blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The bytes of sealed segments, read back in order.
fn stored<S: ObjectStore<Body = Vec<u8>>>(store: &S, segments: &[Segment]) -> Vec<u8> {
    let pieces = segments
        .iter()
        .map(|s| {
            (
                s.key.clone(),
                ByteRange {
                    offset: 0,
                    length: s.size,
                },
            )
        })
        .collect();
    block_on(store.concat(pieces)).unwrap()
}

/// Sends `data` split at `cuts`, one request per piece, saving and restoring the state
/// between requests as the registry does.
fn upload_in_requests(
    store: &MemoryStore,
    segment_parts: u64,
    data: &[u8],
    cuts: &[usize],
) -> Result<Vec<Segment>, UploadError> {
    block_on(async {
        let uploader = uploader(store, segment_parts);
        let mut state = UploadState::default();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&data.len())) {
            uploader
                .append(&mut state, body(&[&data[start..end]]))
                .await?;
            state = UploadState::decode(state.step + 1, &state.encode()).unwrap();
            start = end;
        }
        uploader
            .seal(state, &Digest::of(Algorithm::Sha256, data))
            .await
    })
}

#[test]
fn reblocks_any_cut_into_equal_parts() {
    let data = blob(53);
    for cuts in [
        vec![],
        vec![1],
        vec![7, 8, 9],
        vec![3, 20, 21, 40],
        (1..53).collect(),
    ] {
        let store = MemoryStore::with_min_part(PART as usize);
        let segments = upload_in_requests(&store, MAX_SEGMENT_PARTS, &data, &cuts).unwrap();
        assert_eq!(
            segments,
            [Segment {
                key: "data/x".into(),
                size: 53
            }],
            "cuts {cuts:?}"
        );
        assert_eq!(
            block_on(store.get_bytes("data/x")).unwrap().unwrap().1,
            data
        );
    }
}

#[test]
fn exact_multiples_of_the_part_size_complete() {
    for len in [0, 8, 16, 24] {
        let store = MemoryStore::with_min_part(PART as usize);
        let segments = upload_in_requests(&store, MAX_SEGMENT_PARTS, &blob(len), &[]).unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(stored(&store, &segments), blob(len));
    }
}

#[test]
fn blobs_beyond_one_multipart_upload_continue_in_segments() {
    // Two full parts per segment; the last segment also takes the final, shorter part.
    for (len, cuts, expected) in [
        (53, vec![], vec![16, 16, 21]),
        (53, vec![5, 17, 40], vec![16, 16, 21]),
        (48, vec![], vec![16, 16, 16]),
        (40, vec![], vec![16, 16, 8]),
    ] {
        let data = blob(len);
        let store = MemoryStore::with_min_part(PART as usize);
        let segments = upload_in_requests(&store, 2, &data, &cuts).unwrap();
        let sizes: Vec<u64> = segments.iter().map(|s| s.size).collect();
        assert_eq!(sizes, expected, "len {len}, cuts {cuts:?}");
        assert_eq!(segments[1].key, "data/x.1");
        assert_eq!(stored(&store, &segments), data);
        assert_eq!(store.open_multiparts(), 0);
    }
}

#[test]
fn small_blobs_use_a_single_put() {
    let store = MemoryStore::with_min_part(PART as usize);
    let state = block_on(async {
        let uploader = uploader(&store, MAX_SEGMENT_PARTS);
        let mut state = UploadState::default();
        uploader
            .append(&mut state, body(&[b"abc", b"de"]))
            .await
            .unwrap();
        state
    });
    assert!(state.multipart.is_none());
    assert_eq!(store.open_multiparts(), 0);
}

#[test]
fn digest_mismatch_leaves_nothing_visible() {
    for segment_parts in [MAX_SEGMENT_PARTS, 1] {
        let data = blob(30);
        let store = MemoryStore::with_min_part(PART as usize);
        let result = block_on(async {
            let uploader = uploader(&store, segment_parts);
            let mut state = UploadState::default();
            uploader.append(&mut state, body(&[&data])).await.unwrap();
            uploader
                .seal(state, &Digest::of(Algorithm::Sha256, b"other"))
                .await
        });
        assert!(matches!(result, Err(UploadError::DigestMismatch { .. })));
        assert!(store.keys().is_empty(), "{:?}", store.keys());
        assert_eq!(store.open_multiparts(), 0);
    }
}

#[test]
fn sha512_is_verified_for_single_multipart_and_segmented_blobs() {
    for (len, segment_parts) in [(5, MAX_SEGMENT_PARTS), (30, MAX_SEGMENT_PARTS), (30, 1)] {
        let data = blob(len);
        let store = MemoryStore::with_min_part(PART as usize);
        let seal = |expected: Digest| {
            block_on(async {
                let uploader = uploader(&store, segment_parts);
                let mut state = UploadState::default();
                uploader.append(&mut state, body(&[&data])).await.unwrap();
                uploader.seal(state, &expected).await
            })
        };
        assert!(matches!(
            seal(Digest::of(Algorithm::Sha512, b"x")),
            Err(UploadError::DigestMismatch { .. })
        ));
        assert!(store.keys().is_empty(), "len {len}");
        let segments = seal(Digest::of(Algorithm::Sha512, &data)).unwrap();
        assert_eq!(stored(&store, &segments), data);
    }
}

/// An upload that announced sha512 hashes it across requests and never reads the blob
/// back; one that did not reads it back to check a sha512 digest.
#[test]
fn sha512_uploads_hash_as_they_go_when_announced() {
    let data = blob(53);
    let expected = Digest::of(Algorithm::Sha512, &data);
    for (announced, reads_back) in [(Algorithm::Sha512, false), (Algorithm::Sha256, true)] {
        let counter = OpCounter::default();
        let store = Metered::new(MemoryStore::with_min_part(PART as usize), counter.clone());
        let segments = block_on(async {
            let uploader = uploader(&store, MAX_SEGMENT_PARTS);
            let mut state = UploadState::new(announced);
            for piece in data.chunks(20) {
                uploader.append(&mut state, body(&[piece])).await.unwrap();
                state = UploadState::decode(state.step + 1, &state.encode()).unwrap();
            }
            let before_seal = counter.counts().class_b;
            let segments = uploader.seal(state, &expected).await.unwrap();
            assert_eq!(
                counter.counts().class_b > before_seal,
                reads_back,
                "announced {announced:?}"
            );
            segments
        });
        assert_eq!(stored(&store, &segments), data);
    }
}

#[test]
fn corrupt_progress_is_reported() {
    assert!(UploadState::decode(1, b"\0\0\0\x09{}").is_err());
    assert!(UploadState::decode(1, b"").is_err());
}
