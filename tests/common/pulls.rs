//! The pull path: large blobs redirected to signed URLs that the registry itself serves (local
//! mode), and the cache headers of every pull. Run in process and against the worker.

use edge_registry::presign::{Credentials, Signer};

use super::access::{access_env, assert_unauthorized};
use super::{basic, data, image_manifest, push_blob, put_manifest, Client, Reply, OCI_MANIFEST};

#[macro_export]
macro_rules! pull_tests {
    ($client:expr) => {
        $crate::pull_tests!($client =>
            large_blobs_redirect_to_signed_urls, redirects_keep_ranges_and_skip_head,
            signed_urls_refuse_tampering_and_expiry, signed_url_dates_never_crash,
            private_redirects_need_authorization,
            cache_headers_and_not_modified);
    };
    ($client:expr => $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { common::pulls::$name(&$client); } )*
    };
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A blob above the redirect threshold of both test registries (at most a part) and still
/// one data object: segmented blobs stream through the registry.
fn large(c: &dyn Client, seed: u64) -> Vec<u8> {
    data(c.part_size() + 1, seed)
}

fn redirect_target(c: &dyn Client, reply: &Reply) -> String {
    assert_eq!(
        reply.status,
        307,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let location = reply.header("Location").expect("Location");
    let target = location
        .strip_prefix(c.origin().as_str())
        .unwrap_or_else(|| panic!("{location} is not on {}", c.origin()));
    assert!(target.starts_with("/_blobs/data/"), "{target}");
    target.to_string()
}

/// Where the administrator's pull of blob `digest` of `name` is redirected: a signed URL.
fn signed_url(c: &dyn Client, name: &str, digest: &str) -> String {
    let path = format!("/v2/{name}/blobs/{digest}");
    let reply = c.send_once(Some(&basic("admin")), "GET", &path, &[], b"");
    redirect_target(c, &reply)
}

pub fn large_blobs_redirect_to_signed_urls(c: &dyn Client) {
    let name = "team/pulls-redirect";
    let bytes = large(c, 1100);
    let digest = push_blob(c, name, &bytes);
    let admin = basic("admin");
    let path = format!("/v2/{name}/blobs/{digest}");
    let reply = c.send_once(Some(&admin), "GET", &path, &[], b"");
    let target = redirect_target(c, &reply);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    for param in [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Expires=",
        "X-Amz-Signature=",
    ] {
        assert!(target.contains(param), "{param} in {target}");
    }
    // The signed URL needs no credentials: it is the authorization.
    let followed = c.send_once(None, "GET", &target, &[], b"");
    assert_eq!(followed.status, 200);
    assert!(followed.body == bytes, "the signed URL serves other bytes");
    assert_eq!(
        followed.header("Content-Length"),
        Some(bytes.len().to_string().as_str())
    );
    // Small blobs stream from the registry itself.
    let small = push_blob(c, name, &data(100, 1101));
    let direct = c.send_once(
        Some(&admin),
        "GET",
        &format!("/v2/{name}/blobs/{small}"),
        &[],
        b"",
    );
    assert_eq!(direct.status, 200);
    assert_eq!(direct.body, data(100, 1101));
}

pub fn redirects_keep_ranges_and_skip_head(c: &dyn Client) {
    let name = "team/pulls-range";
    let bytes = large(c, 1200);
    let digest = push_blob(c, name, &bytes);
    let path = format!("/v2/{name}/blobs/{digest}");
    let head = c.send_once(Some(&basic("admin")), "HEAD", &path, &[], b"");
    assert_eq!(head.status, 200, "HEAD is answered, not redirected");
    assert_eq!(head.header("Location"), None);
    assert_eq!(
        head.header("Content-Length"),
        Some(bytes.len().to_string().as_str())
    );
    let range = [("Range", "bytes=100-999")];
    let reply = c.send_once(Some(&basic("admin")), "GET", &path, &range, b"");
    let target = redirect_target(c, &reply);
    let partial = c.send_once(None, "GET", &target, &range, b"");
    assert_eq!(partial.status, 206);
    assert_eq!(partial.body, &bytes[100..1000]);
    let total = bytes.len();
    assert_eq!(
        partial.header("Content-Range"),
        Some(format!("bytes 100-999/{total}").as_str())
    );
    let beyond = format!("bytes={total}-");
    let unsatisfiable = c.send_once(None, "GET", &target, &[("Range", beyond.as_str())], b"");
    assert_eq!(unsatisfiable.status, 416);
}

pub fn signed_urls_refuse_tampering_and_expiry(c: &dyn Client) {
    let name = "team/pulls-signed";
    let digest = push_blob(c, name, &large(c, 1300));
    let target = signed_url(c, name, &digest);
    let (path, _) = target.split_once('?').unwrap();
    let refused = |url: &str, what: &str| {
        let reply = c.send_once(None, "GET", url, &[], b"");
        assert_eq!(
            reply.status,
            403,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), "DENIED", "{what}");
    };
    let flipped = {
        let last = target.chars().last().unwrap();
        let other = if last == '0' { '1' } else { '0' };
        format!("{}{other}", &target[..target.len() - 1])
    };
    refused(&flipped, "an altered signature");
    refused(
        &target.replace("X-Amz-Expires=300", "X-Amz-Expires=301"),
        "a longer expiry",
    );
    refused(
        &target.replace("/_blobs/data/", "/_blobs/data/x"),
        "another object",
    );
    refused(&format!("{target}&x-id=GetObject"), "an added parameter");
    refused(path, "no signature at all");
    let signer = Signer {
        credentials: Credentials::local(&access_env("TOKEN_SIGNING_KEY")),
        region: "auto".into(),
    };
    let authority = c.origin().split_once("://").unwrap().1.to_string();
    let decoded = path.replace("%2F", "/");
    let expired = signer.presign_get(&authority, &decoded, c.now_ms() - 3_600_000, 300);
    refused(&expired, "an expired URL");
    let fresh = signer.presign_get(&authority, &decoded, c.now_ms(), 300);
    assert_eq!(
        c.send_once(None, "GET", &fresh, &[], b"").status,
        200,
        "the control URL works"
    );
    // Signed or not, nothing but data objects is served there.
    let record = signer.presign_get(
        &authority,
        &format!("/_blobs/blobs/{}", digest.replace(':', "/")),
        c.now_ms(),
        300,
    );
    assert_eq!(c.send_once(None, "GET", &record, &[], b"").status, 404);
}

/// A signed URL's date is read before its signature is checked, by anyone: whatever it
/// holds is refused with an OCI error, and the registry goes on serving.
pub fn signed_url_dates_never_crash(c: &dyn Client) {
    let name = "team/pulls-dates";
    let bytes = large(c, 1350);
    let digest = push_blob(c, name, &bytes);
    let target = signed_url(c, name, &digest);
    let date = target
        .split('&')
        .find_map(|param| param.strip_prefix("X-Amz-Date="))
        .expect("a signed URL names its date")
        .to_string();
    let (year_month, rest) = date.split_at(6);
    // U+3000, the ideographic space, escaped; and other characters of more than one byte.
    for inserted in ["%E3%80%80", "%C2%A0", "%F0%9F%92%A5"] {
        let url = target.replace(&date, &format!("{year_month}{inserted}{rest}"));
        let refused = c.send_once(None, "GET", &url, &[], b"");
        assert_eq!(
            (refused.status, refused.error_code()),
            (403, "DENIED".to_string()),
            "{inserted}: {}",
            String::from_utf8_lossy(&refused.body)
        );
    }
    let served = c.send_once(None, "GET", &target, &[], b"");
    assert_eq!(served.status, 200);
    assert!(served.body == bytes, "the signed URL serves other bytes");
}

pub fn private_redirects_need_authorization(c: &dyn Client) {
    let name = "private/pulls";
    let bytes = large(c, 1400);
    let digest = push_blob(c, name, &bytes);
    let path = format!("/v2/{name}/blobs/{digest}");
    let anonymous = c.send_once(None, "GET", &path, &[], b"");
    assert_unauthorized(&anonymous, "an anonymous pull of a private blob");
    assert_eq!(anonymous.header("Location"), None);
    let outsider = c.send_once(Some(&basic("outsider")), "GET", &path, &[], b"");
    assert_eq!(outsider.status, 403);
    let reader = c.send_as(Some(&basic("reader")), "GET", &path, &[], b"");
    assert_eq!(reader.status, 200);
    assert!(reader.body == bytes);
}

pub fn cache_headers_and_not_modified(c: &dyn Client) {
    for (name, public) in [("team/pulls-cache", true), ("private/pulls-cache", false)] {
        let config = data(60, 1500);
        let layer = data(200, 1501);
        let (cd, ld) = (push_blob(c, name, &config), push_blob(c, name, &layer));
        let manifest = image_manifest((&cd, config.len()), &[(&ld, layer.len())], "");
        let digest = put_manifest(c, name, "v1", &manifest, OCI_MANIFEST);
        let etag = format!("\"{digest}\"");
        let admin = basic("admin");
        let get = |path: &str, headers: &[(&str, &str)]| {
            c.send_as(Some(&admin), "GET", path, headers, b"")
        };
        let by_digest = format!("/v2/{name}/manifests/{digest}");
        let by_tag = format!("/v2/{name}/manifests/v1");
        let blob = format!("/v2/{name}/blobs/{ld}");
        let tag_cache = get(&by_tag, &[])
            .header("Cache-Control")
            .unwrap()
            .to_string();
        if public {
            assert_eq!(
                get(&by_digest, &[]).header("Cache-Control"),
                Some(IMMUTABLE)
            );
            assert_eq!(get(&blob, &[]).header("Cache-Control"), Some(IMMUTABLE));
            let max_age: u64 = tag_cache
                .strip_prefix("public, max-age=")
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("tag Cache-Control {tag_cache}"));
            assert!(max_age <= 10, "a tag may be cached {max_age} s");
        } else {
            for path in [&by_digest, &by_tag, &blob] {
                assert_eq!(
                    get(path, &[]).header("Cache-Control"),
                    Some("private"),
                    "{path}"
                );
            }
        }
        for path in [&by_digest, &by_tag] {
            let reply = get(path, &[("If-None-Match", &etag)]);
            assert_eq!(reply.status, 304, "{path}");
            assert!(reply.body.is_empty());
            assert_eq!(reply.header("ETag"), Some(etag.as_str()));
            let stale = get(path, &[("If-None-Match", "\"sha256:0000\"")]);
            assert_eq!(stale.status, 200, "{path}");
            assert_eq!(stale.body, manifest);
        }
        let blob_etag = format!("\"{ld}\"");
        assert_eq!(get(&blob, &[("If-None-Match", &blob_etag)]).status, 304);
        assert_eq!(
            c.send_as(
                Some(&admin),
                "HEAD",
                &by_tag,
                &[("If-None-Match", &etag)],
                b""
            )
            .status,
            304
        );
    }
}
