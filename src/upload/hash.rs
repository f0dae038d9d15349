//! A SHA-256 or SHA-512 whose state survives between requests, so that an upload spread over
//! many PATCH requests is hashed once, as it arrives, and never read back.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::digest::common::hazmat::SerializableState;
use sha2::{Sha256, Sha512};

use crate::oci::{Algorithm, Digest, DigestHasher};

#[derive(Clone)]
pub struct ResumableHash(DigestHasher);

impl Default for ResumableHash {
    fn default() -> Self {
        ResumableHash::new(Algorithm::Sha256)
    }
}

impl ResumableHash {
    pub fn new(algorithm: Algorithm) -> Self {
        ResumableHash(DigestHasher::new(algorithm))
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            DigestHasher::Sha256(_) => Algorithm::Sha256,
            DigestHasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hasher's state (about 100 bytes for SHA-256, 200 for SHA-512) in base64, to store
    /// with the upload's progress.
    pub fn save(&self) -> String {
        match &self.0 {
            DigestHasher::Sha256(h) => STANDARD.encode(h.serialize()),
            DigestHasher::Sha512(h) => STANDARD.encode(h.serialize()),
        }
    }

    pub fn restore(algorithm: Algorithm, saved: &str) -> Option<Self> {
        let bytes = STANDARD.decode(saved).ok()?;
        let hasher = match algorithm {
            Algorithm::Sha256 => {
                DigestHasher::Sha256(Sha256::deserialize(bytes.as_slice().try_into().ok()?).ok()?)
            }
            Algorithm::Sha512 => {
                DigestHasher::Sha512(Sha512::deserialize(bytes.as_slice().try_into().ok()?).ok()?)
            }
        };
        Some(ResumableHash(hasher))
    }

    pub fn digest(&self) -> Digest {
        self.0.clone().finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_to_the_same_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            for split in [0, 1, 63, 64, 65, 127, 128, 129, 4097, data.len()] {
                let mut first = ResumableHash::new(algorithm);
                first.update(&data[..split]);
                let mut resumed = ResumableHash::restore(algorithm, &first.save()).unwrap();
                resumed.update(&data[split..]);
                assert_eq!(
                    resumed.digest(),
                    Digest::of(algorithm, &data),
                    "{algorithm:?} split at {split}"
                );
            }
        }
    }

    #[test]
    fn rejects_garbage_and_the_other_algorithms_state() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            assert!(ResumableHash::restore(algorithm, "not base64!").is_none());
            assert!(ResumableHash::restore(algorithm, "AAAA").is_none());
        }
        let sha256 = ResumableHash::new(Algorithm::Sha256).save();
        assert!(ResumableHash::restore(Algorithm::Sha512, &sha256).is_none());
        let sha512 = ResumableHash::new(Algorithm::Sha512).save();
        assert!(ResumableHash::restore(Algorithm::Sha256, &sha512).is_none());
    }
}
