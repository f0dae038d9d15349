//! Debian's version order (Debian Policy 5.6.12, dpkg's `verrevcmp`), written out: it is
//! short, and the `debversion` crate brings a regex engine for it.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

/// `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone)]
pub struct Version {
    epoch: u64,
    upstream: String,
    revision: String,
}

fn error(reason: &str) -> VersionError {
    VersionError::new(Scheme::Dpkg, reason)
}

impl Version {
    /// Parses as dpkg does, but refuses what dpkg only warns about (characters Policy does not
    /// allow, an upstream part not starting with a digit): such strings come from nowhere
    /// trustworthy, and each character then has a defined place in the order.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let text = text.trim();
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => {
                if epoch.is_empty() || !epoch.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(error("epoch is not a number"));
                }
                let epoch = epoch.parse().map_err(|_| error("epoch is too large"))?;
                (epoch, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err(error("empty upstream version"));
        }
        if rest.ends_with('-') {
            return Err(error("empty revision"));
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(error("upstream version does not start with a digit"));
        }
        let allowed = |c: char, extra: &str| {
            c.is_ascii_alphanumeric() || ".+~".contains(c) || extra.contains(c)
        };
        if !upstream.chars().all(|c| allowed(c, "-:")) || !revision.chars().all(|c| allowed(c, ""))
        {
            return Err(error("character not allowed in a version"));
        }
        Ok(Self {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// A character's weight in the non-digit runs: `~` before the end of the string, the end
/// before letters, letters before everything else.
fn weight(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// Alternating runs of non-digits (by [`weight`]) and digits (numerically), as dpkg does.
fn compare_part(a: &str, b: &str) -> Ordering {
    let mut a = a.chars().peekable();
    let mut b = b.chars().peekable();
    let is_digit = |c: Option<&char>| c.is_some_and(char::is_ascii_digit);
    while a.peek().is_some() || b.peek().is_some() {
        while !is_digit(a.peek()) && a.peek().is_some() || !is_digit(b.peek()) && b.peek().is_some()
        {
            let (x, y) = (a.peek().copied(), b.peek().copied());
            let (x, y) = (
                if is_digit(x.as_ref()) { None } else { x },
                if is_digit(y.as_ref()) { None } else { y },
            );
            match weight(x).cmp(&weight(y)) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
            if x.is_some() {
                a.next();
            }
            if y.is_some() {
                b.next();
            }
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut run = String::new();
            while let Some(c) = chars.next_if(char::is_ascii_digit) {
                run.push(c);
            }
            run.trim_start_matches('0').to_owned()
        };
        let (x, y) = (digits(&mut a), digits(&mut b));
        match x.len().cmp(&y.len()).then_with(|| x.cmp(&y)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    Ordering::Equal
}
