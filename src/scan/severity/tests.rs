use serde_json::json;

use super::*;

fn entry(kind: &str, score: &str) -> osv::Severity {
    osv::Severity {
        kind: kind.to_owned(),
        score: score.to_owned(),
    }
}

/// Vectors with the base scores NVD and FIRST publish for them.
#[test]
fn cvss_vectors_get_their_published_base_scores_and_bands() {
    let table = [
        // CVE-2021-44228 (Log4Shell).
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
            10.0,
            Severity::Critical,
        ),
        // CVE-2022-22965 (Spring4Shell).
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            9.8,
            Severity::Critical,
        ),
        // CVE-2014-0160 (Heartbleed), as NVD scores it in 3.1.
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            7.5,
            Severity::High,
        ),
        // CVE-2021-3156 (sudo's Baron Samedit).
        (
            "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
            7.8,
            Severity::High,
        ),
        // CVE-2020-11022 (jQuery's cross-site scripting).
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
            6.1,
            Severity::Medium,
        ),
        (
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
            5.9,
            Severity::Medium,
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
            5.3,
            Severity::Medium,
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N",
            4.3,
            Severity::Medium,
        ),
        (
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
            3.1,
            Severity::Low,
        ),
        (
            "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N",
            2.5,
            Severity::Low,
        ),
        // No impact at all scores 0.0: the lowest band here.
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
            0.0,
            Severity::Low,
        ),
        // Temporal metrics after the base ones leave the base score as it is.
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/E:U/RL:O/RC:C",
            7.5,
            Severity::High,
        ),
        (
            "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            9.8,
            Severity::Critical,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            9.3,
            Severity::Critical,
        ),
        // FIRST's CVSS v4.0 examples (CVE-2022-41741; CVE-2023-30545, and a threat metric).
        (
            "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            8.5,
            Severity::High,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N",
            5.1,
            Severity::Medium,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
            5.2,
            Severity::Medium,
        ),
        // As GitHub's advisories score a stored cross-site scripting.
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N",
            5.3,
            Severity::Medium,
        ),
    ];
    for (vector, score, severity) in table {
        let cvss = Cvss::parse(vector).unwrap_or_else(|| panic!("{vector} parses"));
        assert!(
            (cvss.score - score).abs() < 1e-9,
            "{vector}: {} != {score}",
            cvss.score
        );
        assert_eq!(cvss.severity(), severity, "{vector}");
        assert_eq!(cvss.vector, vector);
    }
}

#[test]
fn vectors_that_do_not_parse_or_lack_base_metrics_are_not_scored() {
    for vector in [
        "",
        "CVSS:3.1",
        "CVSS:3.1/AV:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H",
        "CVSS:9.9/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H:H",
        "CVSS:3.1/ÄV:N/AC:L",
    ] {
        assert_eq!(Cvss::parse(vector), None, "{vector:?}");
    }
}

#[test]
fn the_newest_cvss_version_wins_then_the_highest_score() {
    let v31_critical = entry("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    let v31_medium = entry("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N");
    let v40_high = entry(
        "CVSS_V4",
        "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    );
    let rating = rate(&[v31_critical.clone(), v40_high.clone()], Some("low"));
    assert_eq!(rating.severity, Severity::High);
    let cvss = rating.cvss.unwrap();
    assert_eq!(cvss.method, CvssMethod::V40);
    assert_eq!(cvss.vector, v40_high.score);

    let rating = rate(&[v31_medium.clone(), v31_critical.clone()], None);
    assert_eq!(rating.severity, Severity::Critical);
    assert_eq!(rating.cvss.unwrap().vector, v31_critical.score);
    let rating = rate(&[v31_critical, v31_medium], None);
    assert_eq!(rating.severity, Severity::Critical);
}

#[test]
fn without_a_usable_vector_the_distributions_word_rates() {
    let table: [(&[osv::Severity], Option<&str>, Severity); 12] = [
        (&[entry("Ubuntu", "medium")], None, Severity::Medium),
        (
            &[entry("Ubuntu", "negligible")],
            Some("high"),
            Severity::Low,
        ),
        (
            &[entry("CVSS_V3", "CVSS:3.1/AV:N")],
            Some("unimportant"),
            Severity::Low,
        ),
        (&[], Some("low"), Severity::Low),
        (&[], Some("MODERATE"), Severity::Medium),
        (&[], Some("High"), Severity::High),
        (&[], Some("critical"), Severity::Critical),
        (&[], Some("important"), Severity::High),
        // Words that rate nothing fall through to the next source.
        (
            &[entry("Ubuntu", "untriaged")],
            Some("high"),
            Severity::High,
        ),
        (&[], Some("not yet assigned"), Severity::Unknown),
        (&[], None, Severity::Unknown),
        // A vector under a type that is not CVSS 3 or 4 is not read as one.
        (
            &[entry(
                "CVSS_V2",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            )],
            None,
            Severity::Unknown,
        ),
    ];
    for (severities, database, expected) in table {
        let rating = rate(severities, database);
        assert_eq!(rating.severity, expected, "{severities:?} {database:?}");
        assert_eq!(rating.cvss, None);
    }
}

#[test]
fn an_advisory_is_rated_by_its_top_level_severities() {
    let advisory = osv::Advisory::from_json(
        json!({
            "id": "UBUNTU-CVE-2024-0001",
            "severity": [
                {"type": "Ubuntu", "score": "low"},
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}
            ],
            "database_specific": {"severity": "critical"}
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let rating = rate_advisory(&advisory);
    assert_eq!(rating.severity, Severity::High);
    assert_eq!(rating.cvss.unwrap().method, CvssMethod::V31);
}

#[test]
fn ratings_serialise_as_the_report_spells_them() {
    let rating = rate(
        &[entry(
            "CVSS_V3",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        )],
        None,
    );
    assert_eq!(
        serde_json::to_value(&rating).unwrap(),
        json!({"severity": "critical", "cvss": {
            "method": "CVSSv31",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
            "score": 10.0
        }})
    );
    assert_eq!(
        serde_json::to_value(rate(&[], None)).unwrap(),
        json!({"severity": "unknown"})
    );
    let mut ordered = [
        Severity::Low,
        Severity::Critical,
        Severity::Unknown,
        Severity::High,
        Severity::Medium,
    ];
    ordered.sort();
    assert_eq!(
        ordered.map(Severity::as_str),
        ["unknown", "low", "medium", "high", "critical"]
    );
}
