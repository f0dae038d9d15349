//! Retention policies: which tags and untagged manifests a repository keeps.
//!
//! Configured as lines (or `;`-separated entries) of `PATTERN [keep=N] [max-age=DAYS] [untagged-max-age=DAYS]
//! [protect=TAG,...]` (`RETENTION`); the first line whose pattern matches a repository
//! applies to it, and a repository no line matches keeps everything. `protect` takes tag
//! patterns (`*` and `?` wildcards) and the word `semver` ([`TagPattern`], which
//! `IMMUTABLE_TAGS` shares).
//!
//! - Protected tags are always kept and not counted. Immutable tags (`IMMUTABLE_TAGS`) are
//!   never handed to the rule at all (`repositories.rs` leaves them out), to the same effect.
//! - `keep=N` keeps the N most recently pushed other tags; `max-age=D` keeps tags pushed in
//!   the last D days. A tag is deleted when no rule given keeps it: with both, a tag goes
//!   once it is neither among the newest N nor younger than D days.
//! - `untagged-max-age=D` deletes manifests that no tag and no kept index refers to once they
//!   are D days old. Without it, untagged manifests stay (they can still be pulled by digest).
//!
//! Tags of the form `sha256-<hex>[.suffix]` (cosign's signatures, attestations and SBOMs
//! attached by tag) belong to the manifest they name, not to the policy: see [`subject_of_tag`].

use wildmatch::WildMatch;

use crate::oci::{Digest, TagPattern};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Default)]
pub struct Retention {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    repositories: WildMatch,
    keep: Option<usize>,
    max_age_days: Option<u64>,
    untagged_max_age_days: Option<u64>,
    protect: Vec<TagPattern>,
}

impl Retention {
    /// Lines as described above (or separated by `;`, for a one-line var); blank lines and
    /// `#` comments are ignored. Errors name the offending line.
    pub fn parse(text: &str) -> Result<Retention, String> {
        let rules = text
            .split(['\n', ';'])
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| !line.is_empty())
            .map(|line| Rule::parse(line).map_err(|why| format!("RETENTION {line:?}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Retention { rules })
    }

    pub fn rule_for(&self, repository: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.repositories.matches(repository))
    }
}

impl Rule {
    fn parse(line: &str) -> Result<Rule, String> {
        let mut fields = line.split_whitespace();
        let pattern = fields.next().ok_or("no repository pattern")?;
        let mut rule = Rule {
            repositories: crate::auth::policy::parse_pattern(pattern)?,
            keep: None,
            max_age_days: None,
            untagged_max_age_days: None,
            protect: Vec::new(),
        };
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("{field:?} is not key=value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{key}={value:?} is not a whole number"))
            };
            match key {
                "keep" => rule.keep = Some(number()? as usize),
                "max-age" => rule.max_age_days = Some(number()?),
                "untagged-max-age" => rule.untagged_max_age_days = Some(number()?),
                "protect" => rule.protect.extend(TagPattern::parse_list(value)?),
                _ => return Err(format!("unknown setting {key:?}")),
            }
        }
        Ok(rule)
    }

    fn protects(&self, tag: &str) -> bool {
        self.protect.iter().any(|pattern| pattern.matches(tag))
    }

    /// The tags to delete, of `tags` given as (tag, pushed at, ms). Tags that belong to a
    /// subject manifest are never among them: they follow their subject.
    pub fn expired_tags<'a>(&self, tags: &'a [(String, u64)], now_ms: u64) -> Vec<&'a str> {
        if self.keep.is_none() && self.max_age_days.is_none() {
            return Vec::new();
        }
        let mut candidates: Vec<&(String, u64)> = tags
            .iter()
            .filter(|(tag, _)| !self.protects(tag) && subject_of_tag(tag).is_none())
            .collect();
        // Newest first; ties by name, so that the choice is the same on every run.
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        candidates
            .into_iter()
            .enumerate()
            .filter(|(rank, (_, pushed_ms))| {
                let kept_by_count = self.keep.is_some_and(|keep| *rank < keep);
                let kept_by_age = self
                    .max_age_days
                    .is_some_and(|days| now_ms.saturating_sub(*pushed_ms) < days * DAY_MS);
                !kept_by_count && !kept_by_age
            })
            .map(|(_, (tag, _))| tag.as_str())
            .collect()
    }

    /// How old an unreferenced untagged manifest may get, if the rule limits it.
    pub fn untagged_max_age_ms(&self) -> Option<u64> {
        self.untagged_max_age_days.map(|days| days * DAY_MS)
    }
}

/// The manifest a tag such as `sha256-<hex>.sig` belongs to: cosign and other tools that
/// predate the referrers API attach signatures, attestations and SBOMs this way.
pub fn subject_of_tag(tag: &str) -> Option<Digest> {
    let (algorithm, rest) = tag.split_once('-')?;
    let hex = rest.split('.').next().unwrap_or_default();
    format!("{algorithm}:{hex}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 100 * DAY_MS;

    fn tags(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter()
            .map(|(tag, days_ago)| (tag.to_string(), NOW - days_ago * DAY_MS))
            .collect()
    }

    fn expired(rule: &str, list: &[(&str, u64)]) -> Vec<String> {
        let retention = Retention::parse(rule).unwrap();
        let rule = retention.rule_for("team/app").expect("rule applies");
        let mut out: Vec<String> = rule
            .expired_tags(&tags(list), NOW)
            .into_iter()
            .map(str::to_string)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn keeps_the_newest_n_and_protected_tags() {
        let list = [
            ("build-1", 5),
            ("build-2", 4),
            ("build-3", 3),
            ("build-4", 2),
            ("latest", 9),
            ("v1.2.3", 8),
            ("1.0.0-rc.1+b7", 7),
        ];
        assert_eq!(
            expired("team/* keep=2 protect=latest,semver", &list),
            ["build-1", "build-2"]
        );
        assert_eq!(
            expired("team/* keep=2", &list),
            ["1.0.0-rc.1+b7", "build-1", "build-2", "latest", "v1.2.3"]
        );
        assert_eq!(
            expired("team/* keep=0 protect=build-?", &list),
            ["1.0.0-rc.1+b7", "latest", "v1.2.3"]
        );
    }

    #[test]
    fn max_age_alone_and_with_keep() {
        let list = [("a", 1), ("b", 10), ("c", 20), ("d", 40)];
        assert_eq!(expired("* max-age=15", &list), ["c", "d"]);
        // Both: a tag goes once it is neither among the newest 3 nor younger than 15 days.
        assert_eq!(expired("* keep=3 max-age=15", &list), ["d"]);
        assert_eq!(expired("* keep=1 max-age=15", &list), ["c", "d"]);
    }

    #[test]
    fn subject_tags_follow_their_subject_not_the_policy() {
        let sig = format!("sha256-{}.sig", "a".repeat(64));
        let list = [(sig.as_str(), 50), ("old", 50)];
        assert_eq!(expired("* keep=0", &list), ["old"]);
        assert_eq!(
            subject_of_tag(&sig).unwrap().to_string(),
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(subject_of_tag("sha256-abc.sig").is_none());
        assert!(subject_of_tag("latest").is_none());
    }

    #[test]
    fn without_limits_nothing_expires_and_the_first_match_applies() {
        assert!(expired("team/app protect=latest", &[("x", 99)]).is_empty());
        let retention = Retention::parse("# comment\nteam/app keep=1\nteam/* keep=5\n").unwrap();
        assert_eq!(retention.rule_for("team/app").unwrap().keep, Some(1));
        assert_eq!(retention.rule_for("team/other").unwrap().keep, Some(5));
        assert!(retention.rule_for("elsewhere/app").is_none());
        let untagged = Retention::parse("* untagged-max-age=7").unwrap();
        assert_eq!(
            untagged.rule_for("x").unwrap().untagged_max_age_ms(),
            Some(7 * DAY_MS)
        );
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "* keep",
            "* keep=many",
            "* max-age=-1",
            "* forever=1",
            "* untagged-max-age=",
            "* protect=latest,",
            "* protect=a/b",
        ] {
            let error = Retention::parse(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
