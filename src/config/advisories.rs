//! `ADVISORY_SOURCES`: the OSV exports the Cron Trigger refreshes advisories from.

use super::ConfigError;
use crate::records::advisories::parse_ecosystem;
use crate::scan::version::Ecosystem;

const SETTING: &str = "ADVISORY_SOURCES";

/// One export URL and the ecosystem its path names (`.../<Ecosystem>/all.zip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisorySource {
    pub url: String,
    pub ecosystem: Ecosystem,
}

/// Parses URLs separated by whitespace or commas; at most one per ecosystem, since each
/// would replace the other's advisories.
pub fn advisory_sources(text: Option<&str>) -> Result<Vec<AdvisorySource>, ConfigError> {
    let mut sources: Vec<AdvisorySource> = Vec::new();
    let urls = text
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|url| !url.is_empty());
    for url in urls {
        let source = advisory_source(url)?;
        if sources.iter().any(|s| s.ecosystem == source.ecosystem) {
            return Err(ConfigError::new(
                SETTING,
                format!("{url} names an ecosystem another URL already names"),
            ));
        }
        sources.push(source);
    }
    Ok(sources)
}

fn advisory_source(text: &str) -> Result<AdvisorySource, ConfigError> {
    let invalid = |why: &str| ConfigError::new(SETTING, format!("{text}: {why}"));
    let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("must be an http or https URL"));
    }
    let mut segments = url.path_segments().into_iter().flatten().rev();
    let (last, ecosystem) = (segments.next(), segments.next());
    let ecosystem = match (last, ecosystem.and_then(parse_ecosystem)) {
        (Some("all.zip"), Some(ecosystem)) => ecosystem,
        _ => {
            return Err(invalid(
                "must end in /<ecosystem>/all.zip, the ecosystem one of Debian, Ubuntu, Alpine, PyPI, npm",
            ))
        }
    };
    Ok(AdvisorySource {
        url: url.to_string(),
        ecosystem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_ecosystem() {
        let sources = advisory_sources(Some(
            " https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip,\n\
             http://127.0.0.1:8080/npm/all.zip  https://h.example/a/Alpine/all.zip ",
        ))
        .unwrap();
        let found: Vec<_> = sources
            .iter()
            .map(|s| (s.url.as_str(), s.ecosystem))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip",
                    Ecosystem::Debian
                ),
                ("http://127.0.0.1:8080/npm/all.zip", Ecosystem::Npm),
                ("https://h.example/a/Alpine/all.zip", Ecosystem::Alpine),
            ]
        );
        assert_eq!(advisory_sources(None).unwrap(), []);
        assert_eq!(advisory_sources(Some(" , ")).unwrap(), []);
    }

    #[test]
    fn anything_else_is_refused_naming_the_setting() {
        for text in [
            "osv.example/Debian/all.zip",
            "ftp://osv.example/Debian/all.zip",
            "https://osv.example/Gentoo/all.zip",
            "https://osv.example/debian/all.zip",
            "https://osv.example/Debian/all.tar",
            "https://osv.example/all.zip",
            "https://a.example/PyPI/all.zip https://b.example/PyPI/all.zip",
        ] {
            let error = advisory_sources(Some(text)).unwrap_err();
            assert_eq!(error.setting, "ADVISORY_SOURCES", "{text}");
        }
    }

    #[test]
    fn the_worker_reads_them_from_its_vars() {
        let var = |text: &'static str| {
            move |name: &str| (name == "ADVISORY_SOURCES").then(|| text.to_string())
        };
        let settings = crate::config::Settings::parse(var("http://127.0.0.1:1/PyPI/all.zip"));
        assert_eq!(
            settings.unwrap().config.advisory_sources[0].ecosystem,
            Ecosystem::PyPI
        );
        let error = crate::config::Settings::parse(var("http://127.0.0.1:1/x.zip")).unwrap_err();
        assert_eq!(error.setting, "ADVISORY_SOURCES");
    }
}
