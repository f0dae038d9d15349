use std::fmt;

use super::{Digest, OciError};

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(tag: &str) -> Result<Self, OciError> {
        let valid = tag.len() <= 128
            && tag.as_bytes().split_first().is_some_and(|(first, rest)| {
                (first.is_ascii_alphanumeric() || *first == b'_')
                    && rest
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        if valid {
            Ok(Tag(tag.to_string()))
        } else {
            Err(OciError::InvalidTag(format!(
                "{tag:?} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What follows `/manifests/`: a tag, or a digest (anything with a `:`, since tags cannot have one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    pub fn parse(reference: &str) -> Result<Self, OciError> {
        if reference.contains(':') {
            Ok(Reference::Digest(reference.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(reference)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_grammar() {
        assert!(Tag::parse("latest").is_ok());
        assert!(Tag::parse("_v1.0-rc.1").is_ok());
        assert!(Tag::parse(&"a".repeat(128)).is_ok());
        for bad in ["", ".a", "-a", "a/b", "a:b", "a+b"] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Tag::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn references_are_digests_when_they_have_a_colon() {
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            Reference::parse(&digest),
            Ok(Reference::Digest(_))
        ));
        assert!(matches!(
            Reference::parse("sha256:zz"),
            Err(OciError::InvalidDigest(_))
        ));
    }
}
