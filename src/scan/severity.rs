//! How bad an advisory is, on the one scale a report sorts by: critical, high, medium, low, or
//! unknown when the advisory does not say.
//!
//! The sources, in order: the CVSS vectors the advisory carries (OSV `severity[]` entries of
//! type `CVSS_V3` and `CVSS_V4`), scored with the specifications' base-score formulas and put
//! in their qualitative bands (0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical);
//! else a distribution's own word: an OSV `severity[]` entry of type `Ubuntu`, then
//! `database_specific.severity` (Debian's and Ubuntu's urgency, GitHub's `MODERATE`, ...).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::osv;

/// A qualitative rating; ordered from unknown (lowest) to critical.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// A distribution's word for a severity; `None` for words that rate nothing (`unknown`,
    /// `not yet assigned`, `untriaged`) or that this scale does not know.
    pub fn from_word(word: &str) -> Option<Severity> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            // Debian's `unimportant` and Ubuntu's `negligible`: the lowest rung of their scales.
            "unimportant" | "negligible" | "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    fn from_cvss(severity: cvss::Severity) -> Severity {
        match severity {
            // A 0.0 base score (no impact) has no band of its own on this scale.
            cvss::Severity::None | cvss::Severity::Low => Severity::Low,
            cvss::Severity::Medium => Severity::Medium,
            cvss::Severity::High => Severity::High,
            cvss::Severity::Critical => Severity::Critical,
        }
    }
}

/// The CVSS version of a vector, named as CycloneDX's rating `method` names it; ordered oldest
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CvssMethod {
    #[serde(rename = "CVSSv3")]
    V30,
    #[serde(rename = "CVSSv31")]
    V31,
    #[serde(rename = "CVSSv4")]
    V40,
}

impl CvssMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CvssMethod::V30 => "CVSSv3",
            CvssMethod::V31 => "CVSSv31",
            CvssMethod::V40 => "CVSSv4",
        }
    }
}

/// A CVSS vector and its score: the base score for 3.x; for 4.0 the one score the
/// specification computes from all the metrics the vector gives (CVSS-B when it gives only the
/// base ones, as advisories do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    pub method: CvssMethod,
    pub vector: String,
    pub score: f64,
}

impl Cvss {
    /// Scores a vector (`CVSS:3.1/AV:N/...`, `CVSS:4.0/AV:N/...`); `None` when it does not parse
    /// or lacks a base metric (a partial vector would be scored as if the missing metrics were
    /// the mildest).
    pub fn parse(vector: &str) -> Option<Cvss> {
        let vector = vector.trim();
        let (method, score) = match cvss::Cvss::from_str(vector).ok()? {
            cvss::Cvss::CvssV30(parsed) if has_base_metrics(vector, V3_BASE) => {
                (CvssMethod::V30, parsed.base_score().value())
            }
            cvss::Cvss::CvssV31(parsed) if has_base_metrics(vector, V3_BASE) => {
                (CvssMethod::V31, parsed.base_score().value())
            }
            cvss::Cvss::CvssV40(parsed) if has_base_metrics(vector, V4_BASE) => {
                (CvssMethod::V40, parsed.score().value())
            }
            _ => return None,
        };
        score.is_finite().then(|| Cvss {
            method,
            vector: vector.to_owned(),
            score,
        })
    }

    /// The score's band; CVSS 3.x and 4.0 share one qualitative scale.
    pub fn severity(&self) -> Severity {
        Severity::from_cvss(cvss::v3::Score::new(self.score).severity())
    }
}

const V3_BASE: &[&str] = &["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
const V4_BASE: &[&str] = &[
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

fn has_base_metrics(vector: &str, base: &[&str]) -> bool {
    base.iter().all(|metric| {
        vector.split('/').any(|part| {
            part.split_once(':')
                .is_some_and(|(name, _)| name == *metric)
        })
    })
}

/// An advisory's rating: its severity, and the vector it was computed from if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
}

/// Rates one set of OSV severities and the `database_specific.severity` beside them.
///
/// Among CVSS vectors the newest version wins (CVSS 4.0 over 3.1 over 3.0), then the highest
/// score: the versions score one flaw on different scales, and an advisory that gives a 4.0
/// vector gives it as its current assessment; within a version, the highest is the cautious
/// reading of several assessments.
pub fn rate(severities: &[osv::Severity], database_severity: Option<&str>) -> Rating {
    let cvss = severities
        .iter()
        .filter(|severity| matches!(severity.kind.as_str(), "CVSS_V3" | "CVSS_V4"))
        .filter_map(|severity| Cvss::parse(&severity.score))
        .max_by(|a, b| a.method.cmp(&b.method).then(a.score.total_cmp(&b.score)));
    if let Some(cvss) = cvss {
        return Rating {
            severity: cvss.severity(),
            cvss: Some(cvss),
        };
    }
    let word = severities
        .iter()
        .filter(|severity| severity.kind == "Ubuntu")
        .find_map(|severity| Severity::from_word(&severity.score))
        .or_else(|| database_severity.and_then(Severity::from_word));
    Rating {
        severity: word.unwrap_or_default(),
        cvss: None,
    }
}

/// Rates an advisory by its top-level `severity[]` and `database_specific.severity`.
pub fn rate_advisory(advisory: &osv::Advisory) -> Rating {
    rate(&advisory.severity, advisory.database_severity())
}

#[cfg(test)]
mod tests;
