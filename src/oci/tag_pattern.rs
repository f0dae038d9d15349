//! Tag patterns, as retention's `protect=` and `IMMUTABLE_TAGS` take them: globs over tags
//! (`*` and `?` wildcards) and the word `semver`.

use wildmatch::WildMatch;

/// One pattern a tag may match.
#[derive(Debug, Clone)]
pub enum TagPattern {
    /// `semver`: see [`is_semver`].
    Semver,
    Glob(WildMatch),
}

impl TagPattern {
    /// `semver`, or a glob of the characters tags hold (`[A-Za-z0-9_.-]`) and the wildcards
    /// `*` and `?`.
    pub fn parse(text: &str) -> Result<TagPattern, String> {
        if text == "semver" {
            return Ok(TagPattern::Semver);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-*?".contains(c);
        if text.is_empty() {
            return Err("an empty tag pattern".into());
        }
        match text.chars().find(|&c| !allowed(c)) {
            Some(c) => Err(format!(
                "tag pattern {text:?} holds {c:?}: tag patterns hold letters, digits, '_', '.', '-' and the wildcards '*' and '?', or are the word semver"
            )),
            None => Ok(TagPattern::Glob(WildMatch::new(text))),
        }
    }

    /// Patterns separated by commas (spaces around each ignored).
    pub fn parse_list(text: &str) -> Result<Vec<TagPattern>, String> {
        text.split(',')
            .map(|p| TagPattern::parse(p.trim()))
            .collect()
    }

    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Semver => is_semver(tag),
            TagPattern::Glob(glob) => glob.matches(tag),
        }
    }
}

/// `MAJOR.MINOR.PATCH`, optionally with a leading `v`, a `-pre-release` and a `+build`.
pub fn is_semver(tag: &str) -> bool {
    let version = tag.strip_prefix('v').unwrap_or(tag);
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_shapes() {
        for yes in [
            "1.2.3",
            "v10.0.1",
            "1.2.3-rc.1",
            "1.2.3+build.5",
            "v0.0.0-x+y",
        ] {
            assert!(is_semver(yes), "{yes}");
        }
        for no in ["1.2", "latest", "v1.2.x", "1..3", "1.2.3.4", ""] {
            assert!(!is_semver(no), "{no}");
        }
    }

    #[test]
    fn globs_and_the_word_semver() {
        let patterns = TagPattern::parse_list("semver,release-*,v?").unwrap();
        let matched = |tag: &str| patterns.iter().any(|p| p.matches(tag));
        for yes in ["1.0.0", "v2.3.4-rc.1", "release-2024", "v1"] {
            assert!(matched(yes), "{yes}");
        }
        for no in ["latest", "v10", "release", "1.0"] {
            assert!(!matched(no), "{no}");
        }
    }

    #[test]
    fn refuses_what_no_tag_could_match() {
        for bad in ["", "a/b", "v 1", "semver,", "x,,y", "ä*"] {
            assert!(TagPattern::parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
