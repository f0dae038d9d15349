//! SHA-256 whose state survives between requests, so that an upload spread over many PATCH
//! requests is hashed once, as it arrives, and never read back.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Digest as _, Sha256};

use crate::oci::{Algorithm, Digest};

#[derive(Clone, Default)]
pub struct ResumableSha256(Sha256);

impl ResumableSha256 {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hasher's state (about 100 bytes) in base64, to store with the upload's progress.
    pub fn save(&self) -> String {
        STANDARD.encode(self.0.serialize())
    }

    pub fn restore(saved: &str) -> Option<Self> {
        let bytes = STANDARD.decode(saved).ok()?;
        let state = bytes.as_slice().try_into().ok()?;
        Sha256::deserialize(state).ok().map(ResumableSha256)
    }

    pub fn digest(&self) -> Digest {
        let hex = hex::encode(self.0.clone().finalize());
        format!("{}:{hex}", Algorithm::Sha256.as_str())
            .parse()
            .expect("sha256 output is a valid digest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_to_the_same_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for split in [0, 1, 63, 64, 65, 4097, data.len()] {
            let mut first = ResumableSha256::default();
            first.update(&data[..split]);
            let mut resumed = ResumableSha256::restore(&first.save()).unwrap();
            resumed.update(&data[split..]);
            assert_eq!(
                resumed.digest(),
                Digest::of(Algorithm::Sha256, &data),
                "split at {split}"
            );
        }
    }

    #[test]
    fn rejects_garbage_state() {
        assert!(ResumableSha256::restore("not base64!").is_none());
        assert!(ResumableSha256::restore("AAAA").is_none());
    }
}
