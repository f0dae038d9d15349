//! The pages through the API's registry over memory stores that count their operations:
//! what each page shows, to whom, with which headers, and at what cost. (Login and logout:
//! `login_tests`.)

use serde_json::json;

use super::harness::{Harness, Reply};
use super::home::REPOSITORIES_PER_PAGE;
use super::repository::TAGS_PER_PAGE;
use crate::oci::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::records::{ScanRecord, ScanStatus, LIST_CALLS_MAX};
use crate::scan::matching::Vulnerability;

const HOSTILE: &str = r#"<script>alert(1)</script> "><img src=x onerror=alert(2)>"#;

fn assert_page_headers(reply: &Reply) {
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = reply.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'self'; script-src 'self'"),
        "{csp}"
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("referrer-policy"), Some("same-origin"));
}

fn assert_anonymous_caching(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("public, max-age=30"));
    assert_eq!(reply.header("vary"), Some("Cookie"));
}

fn assert_not_found(reply: &Reply) {
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.body.contains("<h1>Not found</h1>"), "{}", reply.body);
    assert_page_headers(reply);
}

#[test]
fn home_lists_what_the_visitor_may_pull_with_newest_tags_and_counts() {
    let h = Harness::new(true);
    h.push_simple("library/alpine", "3.19", 1);
    h.tick();
    h.push_simple("library/alpine", "3.20", 2);
    h.push_simple("tools/curl", "8", 3);
    h.push_simple("private/secret", "v1", 4);
    let home = h.page("/", None);
    assert_eq!(home.status, 200);
    assert_page_headers(&home);
    assert_anonymous_caching(&home);
    assert!(
        home.body.contains(r#"<form id="search" role="search""#),
        "{}",
        home.body
    );
    assert!(home.body.contains(r#"<label for="q">"#));
    assert!(home.body.contains(r#"<a id="login-link" href="/login">"#));
    assert_eq!(home.count("data-repository="), 2, "{}", home.body);
    let alpine = &home.body[home
        .body
        .find(r#"data-repository="library/alpine""#)
        .unwrap()..];
    let alpine = &alpine[..alpine.find("</li>").unwrap()];
    assert!(alpine.contains(r#"href="/r/library/alpine""#), "{alpine}");
    assert!(
        alpine.contains(r#"<span class="latest-tag">3.20</span>"#),
        "{alpine}"
    );
    assert!(
        alpine.contains(r#"<span class="tag-count">2</span>"#),
        "{alpine}"
    );
    assert!(
        alpine.contains(r#"<time class="pushed" datetime="2023-11-14T22:13:21Z""#),
        "{alpine}"
    );
    assert!(!home.body.contains("private/secret"));

    let search = h.page("/?q=cur", None);
    assert_eq!(search.count("data-repository="), 1);
    assert!(search.body.contains(r#"data-repository="tools/curl""#));
    assert!(search.body.contains(r#"value="cur""#));
}

#[test]
fn home_pages_fifty_repositories_in_bounded_operations() {
    let h = Harness::new(false);
    for i in 0..REPOSITORIES_PER_PAGE + 5 {
        h.push_simple(&format!("r{i:03}"), "latest", 0);
    }
    let first = h.page("/", None);
    assert_eq!(first.count("data-repository="), REPOSITORIES_PER_PAGE);
    assert!(
        first.ops <= (LIST_CALLS_MAX + REPOSITORIES_PER_PAGE) as u64,
        "{}",
        first.ops
    );
    let next = first.attribute_after(r#"rel="next""#, "href").unwrap();
    assert_eq!(next, "/?after=r049");
    let second = h.page(&next, None);
    assert_eq!(second.count("data-repository="), 5);
    assert!(second.body.contains(r#"data-repository="r050""#));
    assert!(!second.body.contains(r#"rel="next""#));
}

#[test]
fn a_repository_page_shows_its_tags_newest_first_with_details() {
    let h = Harness::new(false);
    let config = json!({
        "os": "linux", "architecture": "arm64", "variant": "v8",
        "config": {"Labels": {"org.opencontainers.image.description": "from the label"}},
    });
    let annotations = json!({
        "org.opencontainers.image.description": "A tiny image",
        "org.opencontainers.image.source": "https://example.com/src",
        "org.opencontainers.image.licenses": "Apache-2.0",
    });
    let (old_manifest, old) = h.push_image("app", "v1", config.clone(), 1000, json!({}));
    h.tick();
    let (manifest, new) = h.push_image("app", "v2", config, 2000, annotations);
    let page = h.page("/r/app", None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert_anonymous_caching(&page);
    assert!(page.body.contains("<h1>app</h1>"));
    assert!(
        page.body
            .contains(r#"<p id="description">A tiny image</p>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<a href="https://example.com/src""#));
    assert!(page.body.contains("Licenses: Apache-2.0"));
    assert!(page
        .body
        .contains(r#"<code id="pull">docker pull localhost/app:v2</code>"#));
    assert!(page
        .body
        .contains(r#"data-copy="docker pull localhost/app:v2""#));
    let v2 = page.body.find(r#"data-tag="v2""#).unwrap();
    let v1 = page.body.find(r#"data-tag="v1""#).unwrap();
    assert!(v2 < v1, "newest push first");
    assert_eq!(
        page.attribute_after(r#"data-tag="v2""#, "data-digest"),
        Some(new.clone())
    );
    let size = |m: &serde_json::Value| {
        m["config"]["size"].as_u64().unwrap() + m["layers"][0]["size"].as_u64().unwrap()
    };
    let row = |tag: &str| {
        page.body[page.body.find(&format!("data-tag=\"{tag}\"")).unwrap()..]
            .split("</tr>")
            .next()
            .unwrap()
            .to_string()
    };
    assert!(
        row("v2").contains(&format!(r#"data-bytes="{}""#, size(&manifest))),
        "{}",
        row("v2")
    );
    assert!(row("v1").contains(&format!(r#"data-bytes="{}""#, size(&old_manifest))));
    assert!(
        row("v2").contains(r#"<ul class="platforms"><li>linux/arm64/v8</li></ul>"#),
        "{}",
        row("v2")
    );
    assert!(row("v2").contains(&format!(r#"title="{new}">{}</span>"#, &new[7..19])));
    assert!(row("v1").contains(&old));
    assert!(
        !row("v2").contains("data-badge"),
        "no badges without signatures, SBOMs or scans"
    );
}

#[test]
fn hostile_annotations_and_labels_are_text() {
    let h = Harness::new(false);
    let config = json!({"os": "linux", "architecture": "amd64", "config": {
        "Labels": {"evil": HOSTILE}, "Env": [HOSTILE], "Cmd": [HOSTILE],
    }});
    let annotations = json!({
        "org.opencontainers.image.description": HOSTILE,
        "org.opencontainers.image.source": "javascript:alert(3)",
        "org.opencontainers.image.url": HOSTILE,
    });
    h.push_image("evil", "latest", config, 10, annotations);
    for path in ["/r/evil", "/r/evil/-/tag/latest"] {
        let page = h.page(path, None);
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img"), "{path}");
        assert!(
            !page.body.contains("javascript:alert(3)\""),
            "{path}: no link to it"
        );
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
        assert!(!page.body.contains(r#"href="javascript"#), "{path}");
    }
    let repository = h.page("/r/evil", None);
    assert!(repository.body.contains("Source: javascript:alert(3)"));
}

#[test]
fn missing_and_private_things_are_not_found() {
    let h = Harness::new(false);
    let digest = h.push_simple("public/app", "v1", 1);
    h.push_simple("private/app", "v1", 2);
    for path in [
        "/r/nothing",
        "/r/public/app/-/tag/v2",
        "/r/public/app/-/tag/%%%",
        "/r/public/app/-/digest/sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "/r/public/app/-/digest/nonsense",
        "/r/public/app/-/blob/x",
        "/r/Not/Valid",
        "/r/public/app?page=2",
        "/r/public/app?page=0",
        "/r/private/app",
        "/r/private/app/-/tag/v1",
        "/_static/style.css",
    ] {
        let reply = h.page(path, None);
        assert_not_found(&reply);
    }
    assert_eq!(
        h.page(&format!("/r/public/app/-/digest/{digest}"), None)
            .status,
        200
    );
}

#[test]
fn a_repository_of_many_tags_pages_in_bounded_operations() {
    let h = Harness::new(false);
    let (manifest, _) = h.push_image(
        "big",
        "t0000",
        json!({"os": "linux", "architecture": "amd64"}),
        10,
        json!({}),
    );
    for i in 1..1200 {
        h.tick();
        h.push_manifest("big", &format!("t{i:04}"), &manifest);
    }
    let first = h.page("/r/big", None);
    assert_eq!(first.status, 200);
    assert_eq!(first.count("data-tag="), TAGS_PER_PAGE);
    assert!(first.body.contains(r#"data-tag="t1199""#), "newest first");
    // The catalog check, two list calls for 1,200 tags, and per row: the tag, the config's
    // link and data, a referrers listing and the scan record.
    assert_eq!(first.ops, 1 + 2 + TAGS_PER_PAGE as u64 * 5);
    let next = first.attribute_after(r#"rel="next""#, "href").unwrap();
    assert_eq!(next, "/r/big?page=2");
    let second = h.page(&next, None);
    assert_eq!(second.count("data-tag="), TAGS_PER_PAGE);
    assert!(second.body.contains(r#"data-tag="t1149""#));
    assert!(!second.body.contains(r#"data-tag="t1150""#));
    // And the newest tag again, for the description and the pull line.
    assert_eq!(second.ops, first.ops + 5);
    assert!(second.body.contains("docker pull localhost/big:t1199"));
    let last = h.page("/r/big?page=24", None);
    assert_eq!(last.count("data-tag="), 1200 - 23 * TAGS_PER_PAGE);
    assert!(!last.body.contains(r#"rel="next""#));
}

fn size(manifest: &serde_json::Value) -> u64 {
    let layers = manifest["layers"].as_array().unwrap().iter();
    let config = manifest["config"]["size"].as_u64().unwrap();
    config + layers.map(|l| l["size"].as_u64().unwrap()).sum::<u64>()
}

/// The body's `<tr>` whose attribute says `marker`, up to its end.
fn row<'b>(body: &'b str, marker: &str) -> &'b str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"));
    body[start..].split("</tr>").next().unwrap()
}

#[test]
fn an_index_shows_its_platforms_and_the_sum_of_its_images() {
    let h = Harness::new(false);
    let child = |arch: &str, variant: Option<&str>, bytes: usize| {
        let config = json!({"os": "linux", "architecture": arch, "variant": variant,
            "config": {"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Env": ["PATH=/bin"],
                "ExposedPorts": {"8080/tcp": {}}},
            "created": "2024-01-02T03:04:05Z",
            "history": [{"created_by": "COPY app /bin/app"}]});
        let (manifest, digest) = h.push_image("multi", "", config, bytes, json!({}));
        let len = serde_json::to_vec(&manifest).unwrap().len();
        (manifest, digest, len)
    };
    let (amd, amd_digest, amd_len) = child("amd64", None, 300);
    let (arm, arm_digest, arm_len) = child("arm64", Some("v8"), 500);
    let (_, attestation, attestation_len) = child("unknown", None, 7);
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd_len,
            "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": arm_digest, "size": arm_len,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": OCI_MANIFEST, "digest": attestation, "size": attestation_len,
            "platform": {"os": "unknown", "architecture": "unknown"}},
    ]});
    let digest = h.push_manifest("multi", "latest", &index);
    let page = h.page("/r/multi", None);
    let latest = row(&page.body, r#"data-tag="latest""#);
    assert!(latest.contains(&format!(r#"data-digest="{digest}""#)));
    assert!(
        latest.contains(&format!(r#"data-bytes="{}""#, size(&amd) + size(&arm))),
        "{latest}"
    );
    assert!(
        latest
            .contains(r#"<ul class="platforms"><li>linux/amd64</li><li>linux/arm64/v8</li></ul>"#),
        "{latest}"
    );

    let tag = h.page("/r/multi/-/tag/latest", None);
    assert_eq!(tag.status, 200);
    assert!(tag.body.contains("<h1>multi:latest</h1>"));
    assert_eq!(tag.count(r#"<section class="platform""#), 2, "{}", tag.body);
    let arm_section = &tag.body[tag.body.find(r#"data-platform="linux/arm64/v8""#).unwrap()..];
    let arm_section = &arm_section[..arm_section.find("</section>").unwrap()];
    let layer = &arm["layers"][0];
    let layer_row = row(
        arm_section,
        &format!("data-digest=\"{}\"", layer["digest"].as_str().unwrap()),
    );
    assert!(layer_row.contains(r#"data-bytes="500""#), "{layer_row}");
    assert!(layer_row
        .contains(r#"<td class="media-type">application/vnd.oci.image.layer.v1.tar+gzip</td>"#));
    for shown in [
        "<dt>Entrypoint</dt><dd><code>/bin/app</code>",
        "<code>--serve</code>",
        "<code>PATH=/bin</code>",
        "<code>8080/tcp</code>",
        "2024-01-02T03:04:05Z",
        "<code>COPY app /bin/app</code>",
    ] {
        assert!(arm_section.contains(shown), "{shown} in {arm_section}");
    }
    assert!(tag.body.contains(r#"<table id="referrers">"#));
    let by_digest = h.page(&format!("/r/multi/-/digest/{digest}"), None);
    assert_eq!(by_digest.count(r#"<section class="platform""#), 2);
}

fn vulnerability(id: &str, severity: &str) -> Vulnerability {
    serde_json::from_value(json!({"id": id, "aliases": [], "package": "openssl",
        "installed": "3.0.1", "fixed": "3.0.2", "severity": severity, "summary": HOSTILE,
        "purl": "pkg:deb/debian/openssl@3.0.1"}))
    .unwrap()
}

#[test]
fn badges_show_signatures_sboms_and_complete_scans() {
    let h = Harness::new(false);
    let signed = h.push_simple("app", "cosigned", 1);
    h.push_simple("app", &format!("{}.sig", signed.replace(':', "-")), 2);
    let notarised = h.push_simple("app", "notarised", 3);
    h.attach("app", &notarised, "application/vnd.cncf.notary.signature");
    let scanned = h.push_simple("app", "scanned", 4);
    let sbom = h.attach("app", &scanned, "application/vnd.cyclonedx+json");
    let mut record = ScanRecord::queued(0);
    record.status = ScanStatus::Complete;
    record.vulnerabilities = vec![
        vulnerability("CVE-1", "critical"),
        vulnerability("CVE-2", "high"),
        vulnerability("CVE-3", "critical"),
    ];
    h.scan("app", &scanned, &record);
    let queued = h.push_simple("app", "queued", 5);
    h.scan("app", &queued, &ScanRecord::queued(0));

    let page = h.page("/r/app", None);
    let badges = |tag: &str| -> Vec<&str> {
        let row = row(&page.body, &format!("data-tag=\"{tag}\""));
        ["signed", "sbom", "vulnerabilities"]
            .into_iter()
            .filter(|b| row.contains(&format!("data-badge=\"{b}\"")))
            .collect()
    };
    assert_eq!(badges("cosigned"), ["signed"]);
    assert_eq!(badges("notarised"), ["signed"]);
    assert_eq!(badges("scanned"), ["sbom", "vulnerabilities"]);
    assert!(
        badges("queued").is_empty(),
        "no badge before the scan completes"
    );
    let scanned_row = row(&page.body, r#"data-tag="scanned""#);
    assert!(scanned_row.contains(
        r#"<span data-severity="critical">2 critical</span> <span data-severity="high">1 high</span>"#
    ), "{scanned_row}");

    let tag = h.page("/r/app/-/tag/scanned", None);
    let referrer = row(&tag.body, &format!("data-digest=\"{sbom}\""));
    assert!(referrer.contains(r#"data-artifact-type="application/vnd.cyclonedx+json""#));
    assert!(tag.body.contains(r#"<table id="vulnerabilities">"#));
    assert!(row(&tag.body, r#"data-id="CVE-2""#).contains(r#"data-severity="high""#));
    assert!(!tag.body.contains("<script>alert"));
    let cosigned = h.page("/r/app/-/tag/cosigned", None);
    assert!(cosigned.body.contains(r#"data-badge="signed""#));
}

#[test]
fn static_files_are_served_by_their_hashed_names_for_good() {
    let h = Harness::new(false);
    let home = h.page("/", None);
    for (marker, attribute, content_type) in [
        (
            "<link rel=\"stylesheet\"",
            "href",
            "text/css; charset=utf-8",
        ),
        ("<script", "src", "text/javascript; charset=utf-8"),
    ] {
        let url = home.attribute_after(marker, attribute).unwrap();
        assert!(url.starts_with("/_static/"), "{url}");
        let file = h.page(&url, None);
        assert_eq!(file.status, 200, "{url}");
        assert_eq!(file.header("content-type"), Some(content_type));
        assert_eq!(
            file.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert!(!file.body.is_empty());
    }
}

#[test]
fn the_description_falls_back_to_the_config_label() {
    let h = Harness::new(false);
    let labels = json!({"org.opencontainers.image.description": "from the label",
        "org.opencontainers.image.url": "http://example.com/home"});
    let config = json!({"os": "linux", "architecture": "amd64", "config": {"Labels": labels}});
    h.push_image("labelled", "v1", config, 10, json!({}));
    let page = h.page("/r/labelled", None);
    assert!(
        page.body
            .contains(r#"<p id="description">from the label</p>"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<a href="http://example.com/home""#));
}

#[test]
fn an_index_of_many_platforms_costs_bounded_operations() {
    let h = Harness::new(false);
    let children: Vec<_> = (0..20)
        .map(|i| {
            let arch = format!("arch{i:02}");
            let config = json!({"os": "linux", "architecture": arch});
            let (manifest, digest) = h.push_image("wide", "", config, 10 + i, json!({}));
            json!({"mediaType": OCI_MANIFEST, "digest": digest,
                "size": serde_json::to_vec(&manifest).unwrap().len(),
                "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children});
    h.push_manifest("wide", "latest", &index);
    let tag = h.page("/r/wide/-/tag/latest", None);
    assert_eq!(tag.status, 200);
    assert_eq!(
        tag.count(r#"<section class="platform""#),
        16,
        "the first 16 platforms"
    );
    // The catalog check; the tag; 16 platforms' manifests and configs (link and data); the
    // signature tag's head, a referrers listing, the scan record.
    assert_eq!(tag.ops, 1 + 1 + 16 * 3 + 3);
    let repository = h.page("/r/wide", None);
    let latest = row(&repository.body, r#"data-tag="latest""#);
    assert_eq!(
        latest.matches("<li>").count(),
        20,
        "every platform, from the index"
    );
    assert!(
        !latest.contains("data-bytes"),
        "more images than a row reads: no size"
    );
    // The catalog check, the tags listing, the tag, a referrers listing and the scan
    // record: no child is read.
    assert_eq!(repository.ops, 1 + 1 + 3);
}

/// cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) are listed with the others but are never
/// the repository's latest tag, nor the one its pull line names, even when pushed last.
#[test]
fn cosign_tags_are_never_the_latest() {
    let h = Harness::new(false);
    let signed = h.push_simple("app", "v1", 1);
    h.advance(60);
    let cosign = format!("{}.sig", signed.replace(':', "-"));
    h.push_simple("app", &cosign, 2);
    let home = h.page("/", None);
    let entry = row(&home.body, r#"data-repository="app""#);
    assert!(
        entry.contains(r#"<span class="latest-tag">v1</span>"#),
        "{entry}"
    );
    let page = h.page("/r/app", None);
    assert!(page.body.contains(&format!(r#"data-tag="{cosign}""#)));
    assert!(page.body.contains(":v1</code>"), "{}", page.body);
    assert!(!page.body.contains(&format!(":{cosign}</code>")));
    assert!(super::summary::is_cosign_tag(&cosign));
    for tag in [
        "v1",
        "sha256-abc.sig",
        &format!("{}.txt", signed.replace(':', "-")),
    ] {
        assert!(!super::summary::is_cosign_tag(tag), "{tag}");
    }
}
