use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

use super::OciError;

/// The digest algorithms this registry verifies; SHA-256 is the canonical one.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Sha256,
    Sha512,
}

impl Algorithm {
    /// An algorithm by its name in a digest (`sha256`); a name we do not implement is
    /// [`OciError::UnsupportedAlgorithm`].
    pub fn from_name(name: &str) -> Result<Algorithm, OciError> {
        match name {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            other => Err(OciError::UnsupportedAlgorithm(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest `algorithm:hex`, with the hex part checked against the algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }

    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// The spec's digest grammar: `algorithm ":" encoded`, with
/// `algorithm = component (separator component)*`, `component = [a-z0-9]+`,
/// `separator = [+._-]`, `encoded = [a-zA-Z0-9=_-]+`. Well-formed digests of algorithms
/// we do not implement are [`OciError::UnsupportedAlgorithm`], anything else is invalid.
impl FromStr for Digest {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, OciError> {
        let invalid = || OciError::InvalidDigest(format!("{s:?} is not a digest"));
        let (algorithm, encoded) = s.split_once(':').ok_or_else(invalid)?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm.split(['+', '.', '_', '-']).all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        let encoded_ok = !encoded.is_empty()
            && encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
        if !algorithm_ok || !encoded_ok {
            return Err(invalid());
        }
        let algorithm = Algorithm::from_name(algorithm)?;
        let hex_ok = encoded.len() == algorithm.hex_len()
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(OciError::InvalidDigest(format!(
                "{} digests are {} lowercase hex characters",
                algorithm.as_str(),
                algorithm.hex_len()
            )));
        }
        Ok(Digest {
            algorithm,
            hex: encoded.to_string(),
        })
    }
}

/// An incremental hasher for either algorithm.
#[derive(Clone)]
pub enum DigestHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => DigestHasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => DigestHasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            DigestHasher::Sha256(h) => h.update(bytes),
            DigestHasher::Sha512(h) => h.update(bytes),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            DigestHasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            DigestHasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_sha256() {
        let digest: Digest = EMPTY_SHA256.parse().unwrap();
        assert_eq!(digest.algorithm(), Algorithm::Sha256);
        assert_eq!(digest.to_string(), EMPTY_SHA256);
        assert_eq!(Digest::of(Algorithm::Sha256, b""), digest);
    }

    #[test]
    fn computes_sha512() {
        let digest = Digest::of(Algorithm::Sha512, b"abc");
        assert!(digest.to_string().starts_with("sha512:ddaf35a193617aba"));
        assert_eq!(digest.to_string().parse::<Digest>().unwrap(), digest);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
        ] {
            assert!(
                matches!(bad.parse::<Digest>(), Err(OciError::InvalidDigest(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_but_well_formed_algorithms_are_unsupported() {
        assert_eq!(
            "md5:d41d8cd98f00b204e9800998ecf8427e".parse::<Digest>(),
            Err(OciError::UnsupportedAlgorithm("md5".into()))
        );
        assert!(matches!(
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".parse::<Digest>(),
            Err(OciError::UnsupportedAlgorithm(_))
        ));
    }
}
