//! Immutable tags: which tags, once pushed, always name the same manifest.
//!
//! Configured as lines (or `;`-separated entries) of `REPOSITORY_PATTERN=TAG_PATTERN,...`
//! (`IMMUTABLE_TAGS`), e.g. `acme/*=semver,v*`: repository patterns as everywhere else
//! (`auth::policy::parse_pattern`), tag patterns as retention's `protect=` ([`TagPattern`]:
//! `*` and `?` wildcards, the word `semver`). Rules add up: a tag is immutable in a repository
//! when any rule whose repository pattern matches the repository has a tag pattern that
//! matches the tag.
//!
//! What follows from a tag being immutable is the API's and maintenance's business: a push
//! that would point an existing immutable tag at other content is refused, as is deleting it
//! (or its manifest) through the API; retention never deletes it, so collection keeps its
//! manifest.

use wildmatch::WildMatch;

use crate::oci::TagPattern;

#[derive(Debug, Clone, Default)]
pub struct ImmutableTags {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The rule as configured, without spaces, for messages.
    text: String,
    repositories: WildMatch,
    tags: Vec<TagPattern>,
}

impl ImmutableTags {
    /// Lines as described above (or separated by `;`, for a one-line var); blank lines and
    /// `#` comments are ignored. Errors name the offending rule.
    pub fn parse(text: &str) -> Result<ImmutableTags, String> {
        let rules = text
            .split(['\n', ';'])
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| !line.is_empty())
            .map(|line| Rule::parse(line).map_err(|why| format!("rule {line:?}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(ImmutableTags { rules })
    }

    /// Whether any rule applies to `repository`: if none does, none of its tags is immutable
    /// and nothing need be looked up.
    pub fn applies_to(&self, repository: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.repositories.matches(repository))
    }

    /// The text of the first rule that makes `tag` immutable in `repository`, if any.
    pub fn rule_for(&self, repository: &str, tag: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|rule| {
                rule.repositories.matches(repository) && rule.tags.iter().any(|p| p.matches(tag))
            })
            .map(|rule| rule.text.as_str())
    }

    pub fn is_immutable(&self, repository: &str, tag: &str) -> bool {
        self.rule_for(repository, tag).is_some()
    }
}

impl Rule {
    fn parse(line: &str) -> Result<Rule, String> {
        let (repositories, tags) = line
            .split_once('=')
            .ok_or("is not REPOSITORY_PATTERN=TAG_PATTERN,...")?;
        let (repositories, tags) = (repositories.trim(), tags.trim());
        if repositories.is_empty() {
            return Err("names no repository pattern".into());
        }
        let tags_text: Vec<&str> = tags.split(',').map(str::trim).collect();
        Ok(Rule {
            text: format!("{repositories}={}", tags_text.join(",")),
            repositories: crate::auth::policy::parse_pattern(repositories)?,
            tags: TagPattern::parse_list(tags)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_immutable_where_a_rule_matches_repository_and_tag() {
        let rules = ImmutableTags::parse("acme/*=semver,v*; acme/app=stable").unwrap();
        assert_eq!(
            rules.rule_for("acme/app", "1.2.3"),
            Some("acme/*=semver,v*")
        );
        assert_eq!(rules.rule_for("acme/web", "v2"), Some("acme/*=semver,v*"));
        // Rules add up: the second applies where the first has no matching tag pattern.
        assert_eq!(
            rules.rule_for("acme/app", "stable"),
            Some("acme/app=stable")
        );
        assert_eq!(rules.rule_for("acme/web", "stable"), None);
        assert!(!rules.is_immutable("acme/app", "latest"));
        assert!(!rules.is_immutable("other/app", "1.2.3"));
        assert!(rules.applies_to("acme/web") && !rules.applies_to("other/app"));
    }

    #[test]
    fn lines_comments_and_spaces() {
        let text = "# release tags never move\n  team/* = release-* , semver  \n\nci/?=x  # one\n";
        let rules = ImmutableTags::parse(text).unwrap();
        assert_eq!(
            rules.rule_for("team/a", "release-7"),
            Some("team/*=release-*,semver")
        );
        assert!(rules.is_immutable("ci/a", "x"));
        assert!(!rules.is_immutable("ci/ab", "x"));
        assert!(ImmutableTags::parse("").unwrap().rules.is_empty());
        assert!(!ImmutableTags::default().applies_to("anything"));
    }

    #[test]
    fn rejects_malformed_rules_naming_them() {
        for bad in [
            "acme/*",
            "=semver",
            "acme/*=",
            "Acme/*=semver",
            "acme/*=semver,",
            "acme/*=v1/2",
            "acme/* semver",
        ] {
            let error = ImmutableTags::parse(bad).unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }
}
