use std::fmt;

use super::OciError;

/// The spec limits a name, with the registry's host and a `/` before it, to 255 characters.
const MAX_NAME_WITH_HOST: usize = 255;

/// A repository name: `component ("/" component)*` with
/// `component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// `host` is the registry's own host name, which counts towards the length limit.
    pub fn parse(name: &str, host: &str) -> Result<Self, OciError> {
        if name.len() + host.len() + 1 > MAX_NAME_WITH_HOST {
            return Err(OciError::InvalidName(format!(
                "{} characters with the host is over the limit of {MAX_NAME_WITH_HOST}",
                name.len() + host.len() + 1
            )));
        }
        if !name.split('/').all(valid_component) {
            return Err(OciError::InvalidName(format!(
                "{name:?} does not match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*"
            )));
        }
        Ok(RepositoryName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_component(component: &str) -> bool {
    // Alphanumeric runs joined by exactly ".", "_", "__" or any number of "-".
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < bytes.len() && is_alnum(bytes[i]) {
            i += 1;
        }
        if i == run_start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        // Compared as bytes: no text is sliced by byte index.
        match bytes.get(sep_start..i) {
            Some(b"." | b"_" | b"__") => {}
            Some(sep) if sep.iter().all(|&b| b == b'-') => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for name in [
            "a",
            "library/ubuntu",
            "a0/b-c/d__e",
            "a.b_c--d",
            "x---y/z",
            "0",
        ] {
            assert!(RepositoryName::parse(name, "localhost").is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for name in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a._b", "a:b", "a b", "ü",
        ] {
            assert!(
                RepositoryName::parse(name, "localhost").is_err(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn counts_the_host_towards_the_limit() {
        let host = "registry.example.com";
        let fits = "a".repeat(MAX_NAME_WITH_HOST - host.len() - 1);
        assert!(RepositoryName::parse(&fits, host).is_ok());
        assert!(RepositoryName::parse(&format!("{fits}b"), host).is_err());
    }
}
