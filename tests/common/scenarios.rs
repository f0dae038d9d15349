//! Protocol scenarios, each on its own repository, each asserting the spec's statuses,
//! headers and error codes.

use super::*;

/// Defines one `#[test]` per scenario for a binary, given an expression that makes its client.
#[macro_export]
macro_rules! scenario_tests {
    ($client:expr) => {
        $crate::scenario_tests!($client =>
            base_answers, unknown_paths_answer_oci_errors, invalid_names_and_digests_are_rejected,
            monolithic_upload_round_trips, chunked_upload_across_parts, streamed_patch_without_content_range,
            out_of_order_chunks_are_rejected, small_chunks_keep_their_place, digest_mismatch_leaves_nothing, empty_blob_round_trips,
            sha512_blobs_are_verified, cancelled_upload_is_gone, impossible_upload_ids_are_unknown,
            mount_links_existing_blobs, range_reads, ranges_that_are_ignored,
            blob_delete_unlinks, manifest_push_and_pull, manifest_validation, manifest_delete_by_tag_and_digest,
            tags_are_sorted_and_paginated, listings_cap_n_and_keep_filters, referrers_list_subjects, catalog_lists_repositories, index_needs_children,
            manifest_tag_parameters, chunked_sha512_uploads_announce_their_algorithm,
            immutable_tags_never_move);
    };
    ($client:expr => $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { common::scenarios::$name(&$client); } )*
    };
}

pub fn base_answers(c: &dyn Client) {
    let reply = c.send("GET", "/v2/", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Docker-Distribution-API-Version"),
        Some("registry/2.0")
    );
}

pub fn unknown_paths_answer_oci_errors(c: &dyn Client) {
    // `/` is the web catalog's home page (issue 15); other paths outside `/v2/` and the
    // pages' own are still the API's.
    for path in ["/nothing", "/v2/nothing", "/v3/", "/v2/a/unknown/thing"] {
        let reply = c.send("GET", path, &[], b"");
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.error_code(), "UNSUPPORTED", "{path}");
    }
    let home = c.send("GET", "/", &[], b"");
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let reply = c.send("POST", "/v2/_catalog", &[], b"");
    assert_oci_error(&reply, 405, "UNSUPPORTED");
}

pub fn invalid_names_and_digests_are_rejected(c: &dyn Client) {
    let reply = c.send("GET", "/v2/Bad_Name/tags/list", &[], b"");
    assert_oci_error(&reply, 400, "NAME_INVALID");
    let long = format!("/v2/{}/tags/list", "a".repeat(300));
    assert_oci_error(&c.send("GET", &long, &[], b""), 400, "NAME_INVALID");
    for digest in [
        "sha256:abc",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "nodigest:",
    ] {
        let reply = c.send(
            "GET",
            &format!("/v2/{}/blobs/{digest}", repo("invalid")),
            &[],
            b"",
        );
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "DIGEST_INVALID".into()),
            "{digest}"
        );
    }
    // A tag that cannot exist is simply not found when read or deleted, but refused when pushed.
    let bad_tag = format!("/v2/{}/manifests/.bad-tag", repo("invalid"));
    for method in ["GET", "DELETE"] {
        let reply = c.send(method, &bad_tag, &[], b"");
        assert_eq!(
            (reply.status, reply.error_code()),
            (404, "MANIFEST_UNKNOWN".into()),
            "{method}"
        );
    }
    assert_eq!(c.send("HEAD", &bad_tag, &[], b"").status, 404);
    let reply = c.send("PUT", &bad_tag, &[("Content-Type", OCI_MANIFEST)], b"{}");
    assert_oci_error(&reply, 400, "MANIFEST_INVALID");
}

pub fn monolithic_upload_round_trips(c: &dyn Client) {
    let name = repo("monolithic");
    let bytes = data(1000, 1);
    let digest = sha256(&bytes);
    let reply = c.send(
        "POST",
        &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
        &[],
        &bytes,
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.header("Location"),
        Some(format!("/v2/{name}/blobs/{digest}").as_str())
    );
    assert_eq!(reply.header("Docker-Content-Digest"), Some(digest.as_str()));

    let head = c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("1000"));
    assert_eq!(head.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert!(head.body.is_empty());
    let get = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(get.status, 200);
    assert_eq!(get.body, bytes);
    assert_eq!(get.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(get.header("ETag"), Some(format!("\"{digest}\"").as_str()));
    // Other repositories do not see it.
    let other = c.send(
        "GET",
        &format!("/v2/{}/blobs/{digest}", repo("monolithic-other")),
        &[],
        b"",
    );
    assert_oci_error(&other, 404, "BLOB_UNKNOWN");
}

/// POST, then PATCHes with Content-Range of awkward sizes, then a PUT carrying the last chunk.
pub fn chunked_upload_across_parts(c: &dyn Client) {
    let name = repo("chunked");
    let part = c.part_size();
    let sizes = [1, part + 3, part / 2, 2 * part + 1, 7];
    let total: usize = sizes.iter().sum();
    let bytes = data(total, 2);
    let digest = sha256(&bytes);
    let start = c.send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202);
    assert_eq!(start.header("Range"), Some("0-0"));
    assert!(start.header("Docker-Upload-UUID").is_some());
    let mut location = start.header("Location").expect("Location").to_string();
    let mut offset = 0;
    for (i, size) in sizes.iter().enumerate() {
        let chunk = &bytes[offset..offset + size];
        let range = format!("{}-{}", offset, offset + size - 1);
        let last = i == sizes.len() - 1;
        let reply = if last {
            let sep = if location.contains('?') { '&' } else { '?' };
            c.send(
                "PUT",
                &format!("{location}{sep}digest={digest}"),
                &[("Content-Range", &range)],
                chunk,
            )
        } else {
            c.send(
                "PATCH",
                &location,
                &[
                    ("Content-Range", &range),
                    ("Content-Type", "application/octet-stream"),
                ],
                chunk,
            )
        };
        offset += size;
        if last {
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
        } else {
            assert_eq!(
                reply.status,
                202,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            assert_eq!(
                reply.header("Range"),
                Some(format!("0-{}", offset - 1).as_str())
            );
            location = reply.header("Location").expect("Location").to_string();
            let status = c.send("GET", &location, &[], b"");
            assert_eq!(status.status, 204);
            assert_eq!(
                status.header("Range"),
                Some(format!("0-{}", offset - 1).as_str())
            );
        }
    }
    let get = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(get.body.len(), total);
    assert!(get.body == bytes, "blob bytes differ");
    // Registries under test store two parts per segment: a range across that boundary.
    let (first, last) = (2 * part - 10, 2 * part + 10);
    let range = format!("bytes={first}-{last}");
    let piece = c.send(
        "GET",
        &format!("/v2/{name}/blobs/{digest}"),
        &[("Range", &range)],
        b"",
    );
    assert_eq!(piece.status, 206);
    assert!(
        piece.body == bytes[first..=last],
        "range across segments differs"
    );
}

/// A PATCH with neither Content-Range nor anything but the body, then an empty PUT.
pub fn streamed_patch_without_content_range(c: &dyn Client) {
    let name = repo("streamed");
    let bytes = data(c.part_size() * 2 + 100, 3);
    let digest = sha256(&bytes);
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let patch = c.send("PATCH", &location, &[], &bytes);
    assert_eq!(patch.status, 202);
    let location = patch.header("Location").unwrap().to_string();
    let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], b"");
    assert_eq!(put.status, 201);
    assert!(
        c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
            .body
            == bytes
    );
}

pub fn out_of_order_chunks_are_rejected(c: &dyn Client) {
    let name = repo("out-of-order");
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let skip = c.send("PATCH", &location, &[("Content-Range", "5-9")], b"01234");
    assert_oci_error(&skip, 416, "BLOB_UPLOAD_INVALID");
    let first = c.send("PATCH", &location, &[("Content-Range", "0-4")], b"01234");
    assert_eq!(first.status, 202);
    // Re-sending the accepted chunk to the original Location is out of order now.
    let again = c.send("PATCH", &location, &[("Content-Range", "0-4")], b"01234");
    assert_eq!(again.status, 416);
    let status = c.send("GET", &location, &[], b"");
    assert_eq!((status.status, status.header("Range")), (204, Some("0-4")));
    assert!(status.header("Location").is_some());
}

/// Ten 1-byte PATCHes, all to the original Location: each is accepted in turn, a re-sent
/// chunk is out of order, and a status request tells where the upload stands, however many
/// requests came before (progress is kept server-side, older steps deleted as it moves on).
pub fn small_chunks_keep_their_place(c: &dyn Client) {
    let name = repo("small-chunks");
    let bytes = data(10, 5);
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    for (i, byte) in bytes.iter().enumerate() {
        let range = format!("{i}-{i}");
        let patch = c.send("PATCH", &location, &[("Content-Range", &range)], &[*byte]);
        assert_eq!(
            (patch.status, patch.header("Range")),
            (202, Some(format!("0-{i}").as_str())),
            "{}",
            String::from_utf8_lossy(&patch.body)
        );
        let again = c.send("PATCH", &location, &[("Content-Range", &range)], &[*byte]);
        assert_eq!(again.status, 416, "chunk {i} sent twice");
        let status = c.send("GET", &location, &[], b"");
        assert_eq!(
            (status.status, status.header("Range")),
            (204, Some(format!("0-{i}").as_str()))
        );
    }
    let digest = sha256(&bytes);
    let put = c.send("PUT", &format!("{location}?digest={digest}"), &[], b"");
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let get = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert!(get.body == bytes, "blob bytes differ");
}

pub fn digest_mismatch_leaves_nothing(c: &dyn Client) {
    let name = repo("mismatch");
    let bytes = data(c.part_size() + 10, 4);
    let wrong = sha256(b"something else");
    let reply = c.send(
        "POST",
        &format!("/v2/{name}/blobs/uploads/?digest={wrong}"),
        &[],
        &bytes,
    );
    assert_oci_error(&reply, 400, "DIGEST_INVALID");
    for digest in [&wrong, &sha256(&bytes)] {
        assert_eq!(
            c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
                .status,
            404
        );
    }
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let reply = c.send("PUT", &format!("{location}?digest={wrong}"), &[], b"small");
    assert_oci_error(&reply, 400, "DIGEST_INVALID");
    assert_eq!(
        c.send("GET", &location, &[], b"").status,
        404,
        "the failed session is over"
    );
    let reply = c.send(
        "PUT",
        &format!("{location}?digest={}", sha256(b"")),
        &[],
        b"",
    );
    assert_eq!(reply.status, 404);
}

pub fn empty_blob_round_trips(c: &dyn Client) {
    let name = repo("empty");
    let digest = push_blob(c, &name, b"");
    let head = c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!(
        (head.status, head.header("Content-Length")),
        (200, Some("0"))
    );
    let get = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
    assert_eq!((get.status, get.body.len()), (200, 0));
}

pub fn sha512_blobs_are_verified(c: &dyn Client) {
    use sha2::Sha512;
    let name = repo("sha512");
    for len in [100, c.part_size() + 5] {
        let bytes = data(len, 5);
        let digest = format!("sha512:{}", hex::encode(Sha512::digest(&bytes)));
        let reply = c.send(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
            &[],
            &bytes,
        );
        assert_eq!(
            reply.status,
            201,
            "{len}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
                .body
                == bytes
        );
        let wrong = format!("sha512:{}", hex::encode(Sha512::digest(b"x")));
        let reply = c.send(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest={wrong}"),
            &[],
            &bytes,
        );
        assert_eq!(reply.status, 400);
    }
}

fn sha512(bytes: &[u8]) -> String {
    use sha2::Sha512;
    format!("sha512:{}", hex::encode(Sha512::digest(bytes)))
}

/// A chunked upload started with `?digest-algorithm=sha512` closes with a sha512 digest (or
/// still with a sha256 one); an algorithm the registry cannot verify is refused at the start.
pub fn chunked_sha512_uploads_announce_their_algorithm(c: &dyn Client) {
    let name = repo("sha512-chunked");
    let bytes = data(c.part_size() + 5, 7);
    let upload = |digest: &str| {
        let start = c.send(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest-algorithm=sha512"),
            &[],
            b"",
        );
        assert_eq!(
            start.status,
            202,
            "{}",
            String::from_utf8_lossy(&start.body)
        );
        let location = start.header("Location").unwrap().to_string();
        let split = c.part_size() - 1;
        let patch = c.send(
            "PATCH",
            &location,
            &[("Content-Range", &format!("0-{}", split - 1))],
            &bytes[..split],
        );
        assert_eq!(
            patch.status,
            202,
            "{}",
            String::from_utf8_lossy(&patch.body)
        );
        let location = patch.header("Location").unwrap().to_string();
        let range = format!("{split}-{}", bytes.len() - 1);
        c.send(
            "PUT",
            &format!("{location}?digest={digest}"),
            &[("Content-Range", &range)],
            &bytes[split..],
        )
    };
    let wrong = upload(&sha512(b"other bytes"));
    assert_oci_error(&wrong, 400, "DIGEST_INVALID");
    assert_eq!(
        c.send(
            "HEAD",
            &format!("/v2/{name}/blobs/{}", sha512(&bytes)),
            &[],
            b""
        )
        .status,
        404
    );
    for digest in [sha512(&bytes), sha256(&bytes)] {
        let done = upload(&digest);
        assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
        assert_eq!(done.header("Docker-Content-Digest"), Some(digest.as_str()));
        let get = c.send("GET", &format!("/v2/{name}/blobs/{digest}"), &[], b"");
        assert_eq!((get.status, get.body == bytes), (200, true), "{digest}");
    }
    for algorithm in ["md5", "sha384", "SHA512", ""] {
        let reply = c.send(
            "POST",
            &format!("/v2/{name}/blobs/uploads/?digest-algorithm={algorithm}"),
            &[],
            b"",
        );
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "DIGEST_INVALID".into()),
            "{algorithm:?}"
        );
    }
}

pub fn cancelled_upload_is_gone(c: &dyn Client) {
    let name = repo("cancel");
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    assert_eq!(
        c.send("PATCH", &location, &[], &data(c.part_size() + 1, 6))
            .status,
        202
    );
    assert_eq!(c.send("DELETE", &location, &[], b"").status, 204);
    let status = c.send("GET", &location, &[], b"");
    assert_oci_error(&status, 404, "BLOB_UPLOAD_UNKNOWN");
    // An upload is bound to its repository.
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let elsewhere = location.replace(&name, &repo("cancel-other"));
    assert_eq!(c.send("GET", &elsewhere, &[], b"").status, 404);
}

/// An id the registry could never have made names no upload, whatever its length or form:
/// 404, not a storage failure (KV keys, `upload/<id>`, end at 512 bytes).
pub fn impossible_upload_ids_are_unknown(c: &dyn Client) {
    let name = repo("upload-ids");
    let location = c
        .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], b"")
        .header("Location")
        .unwrap()
        .to_string();
    let real = location.rsplit('/').next().unwrap().to_string();
    let digest = sha256(b"abc");
    for id in [
        "a".repeat(600),
        "0".repeat(508),
        "ABCDEF".repeat(5) + "AB",
        format!("{real}0"),
        real[1..].to_string(),
        "0123456789abcdef0123456789abcdeg".to_string(),
        "0".repeat(32),
    ] {
        let path = format!("/v2/{name}/blobs/uploads/{id}");
        for (method, query, body) in [
            ("GET", String::new(), &b""[..]),
            ("PATCH", String::new(), b"abc"),
            ("PUT", format!("?digest={digest}"), b"abc"),
            ("DELETE", String::new(), b""),
        ] {
            let reply = c.send(method, &format!("{path}{query}"), &[], body);
            assert_eq!(
                (reply.status, reply.error_code()),
                (404, "BLOB_UPLOAD_UNKNOWN".into()),
                "{method} of an id of {} bytes: {}",
                id.len(),
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    assert_eq!(
        c.send("GET", &location, &[], b"").status,
        204,
        "the real one"
    );
}

pub fn mount_links_existing_blobs(c: &dyn Client) {
    let (from, to) = (repo("mount-from"), repo("mount-to"));
    let digest = push_blob(c, &from, &data(64, 7));
    let reply = c.send(
        "POST",
        &format!("/v2/{to}/blobs/uploads/?mount={digest}&from={from}"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.header("Location"),
        Some(format!("/v2/{to}/blobs/{digest}").as_str())
    );
    assert_eq!(
        c.send("HEAD", &format!("/v2/{to}/blobs/{digest}"), &[], b"")
            .status,
        200
    );
    // Without `from`, a blob the target already holds is mounted; nothing else is looked up.
    let reply = c.send(
        "POST",
        &format!("/v2/{to}/blobs/uploads/?mount={digest}"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 201);
    let only_in_source = push_blob(c, &from, &data(64, 8));
    let reply = c.send(
        "POST",
        &format!("/v2/{to}/blobs/uploads/?mount={only_in_source}"),
        &[],
        b"",
    );
    assert_eq!(
        reply.status, 202,
        "no automatic mount from other repositories"
    );
    // Not in the source: a normal upload session instead.
    let missing = sha256(b"not pushed");
    let reply = c.send(
        "POST",
        &format!("/v2/{to}/blobs/uploads/?mount={missing}&from={from}"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 202);
    assert!(reply
        .header("Location")
        .unwrap()
        .contains("/blobs/uploads/"));
}

pub fn range_reads(c: &dyn Client) {
    let name = repo("range");
    let bytes = data(1000, 8);
    let digest = push_blob(c, &name, &bytes);
    let path = format!("/v2/{name}/blobs/{digest}");
    let reply = c.send("GET", &path, &[("Range", "bytes=10-19")], b"");
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(reply.body, &bytes[10..20]);
    let reply = c.send("GET", &path, &[("Range", "bytes=990-")], b"");
    assert_eq!((reply.status, reply.body.as_slice()), (206, &bytes[990..]));
    // Past the end, or ending before it starts: nothing of the blob to serve.
    for range in ["bytes=1000-1001", "bytes=500-0"] {
        let reply = c.send("GET", &path, &[("Range", range)], b"");
        assert_eq!(
            (reply.status, reply.error_code()),
            (416, "SIZE_INVALID".into()),
            "{range}"
        );
        assert_eq!(reply.header("Content-Range"), Some("bytes */1000"));
    }
}

/// RFC 9110 §14.2: a Range in another unit, of several ranges, or that does not parse is
/// ignored and the blob served whole; so is any Range on a HEAD (only GET has ranges).
pub fn ranges_that_are_ignored(c: &dyn Client) {
    let name = repo("range-ignored");
    let bytes = data(1000, 10);
    let digest = push_blob(c, &name, &bytes);
    let path = format!("/v2/{name}/blobs/{digest}");
    for range in [
        "items=0-9",
        "bytes=0-9,20-29",
        "bytes=0-9, -5",
        "bytes=a-b",
        "bytes=-",
        "bytes=+5-9",
        "bytes=0x10-20",
        "bytes 0-9",
        "=0-9",
        "",
    ] {
        let reply = c.send("GET", &path, &[("Range", range)], b"");
        assert_eq!(reply.status, 200, "{range:?}");
        assert_eq!(reply.header("Content-Range"), None, "{range:?}");
        assert!(reply.body == bytes, "{range:?}: the whole blob");
    }
    let head = c.send("HEAD", &path, &[("Range", "bytes=0-9")], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("1000"));
    // The unit is case-insensitive, and empty list elements are no ranges.
    let reply = c.send("GET", &path, &[("Range", "Bytes=0-9,")], b"");
    assert_eq!((reply.status, reply.body.as_slice()), (206, &bytes[..10]));
    let huge = format!("bytes={}-", "9".repeat(40));
    for range in ["bytes=1000-", "bytes=-0", huge.as_str()] {
        let reply = c.send("GET", &path, &[("Range", range)], b"");
        assert_eq!(reply.status, 416, "{range:?}");
        assert_eq!(reply.header("Content-Range"), Some("bytes */1000"));
    }
    let reply = c.send(
        "GET",
        &path,
        &[("Range", &format!("bytes=990-{}", "9".repeat(40)))],
        b"",
    );
    assert_eq!((reply.status, reply.body.as_slice()), (206, &bytes[990..]));
}

pub fn blob_delete_unlinks(c: &dyn Client) {
    let (name, other) = (repo("blob-delete"), repo("blob-delete-other"));
    let bytes = data(10, 9);
    let digest = push_blob(c, &name, &bytes);
    push_blob(c, &other, &bytes);
    assert_eq!(
        c.send("DELETE", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
            .status,
        202
    );
    assert_eq!(
        c.send("HEAD", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        c.send("DELETE", &format!("/v2/{name}/blobs/{digest}"), &[], b"")
            .status,
        404
    );
    assert!(
        c.send("GET", &format!("/v2/{other}/blobs/{digest}"), &[], b"")
            .body
            == bytes,
        "other repository keeps it"
    );
}

pub fn manifest_push_and_pull(c: &dyn Client) {
    let name = repo("manifest");
    let digest = push_image(c, &name, "v1", 10);
    for reference in ["v1", digest.as_str()] {
        let get = c.send(
            "GET",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("Accept", OCI_MANIFEST)],
            b"",
        );
        assert_eq!(get.status, 200, "{reference}");
        assert_eq!(get.header("Content-Type"), Some(OCI_MANIFEST));
        assert_eq!(get.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(sha256(&get.body), digest, "bytes exactly as pushed");
        let head = c.send(
            "HEAD",
            &format!("/v2/{name}/manifests/{reference}"),
            &[],
            b"",
        );
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("Content-Length"),
            Some(get.body.len().to_string().as_str())
        );
        assert!(head.body.is_empty());
    }
    let missing = c.send("GET", &format!("/v2/{name}/manifests/nope"), &[], b"");
    assert_oci_error(&missing, 404, "MANIFEST_UNKNOWN");
}

/// `PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`: every tag applied, one `OCI-Tag` per
/// tag, a tag pointing at the digest as pushed (sha512 included); bad parameters write nothing.
pub fn manifest_tag_parameters(c: &dyn Client) {
    let name = repo("tag-parameters");
    let config = data(50, 30);
    let layer = data(300, 31);
    let (config_digest, layer_digest) = (push_blob(c, &name, &config), push_blob(c, &name, &layer));
    let put = |reference: &str, query: &str, manifest: &[u8]| {
        c.send(
            "PUT",
            &format!("/v2/{name}/manifests/{reference}{query}"),
            &[("Content-Type", OCI_MANIFEST)],
            manifest,
        )
    };
    let get_tag =
        |method: &str, tag: &str| c.send(method, &format!("/v2/{name}/manifests/{tag}"), &[], b"");
    for (seed, hash) in [(1, sha256 as fn(&[u8]) -> String), (2, sha512)] {
        let manifest = image_manifest(
            (&config_digest, config.len()),
            &[(&layer_digest, layer.len())],
            &format!(r#","annotations":{{"seed":"{seed}"}}"#),
        );
        let digest = hash(&manifest);
        let (a, b) = (format!("a{seed}"), format!("b-{seed}.x"));
        let reply = put(&digest, &format!("?tag={a}&tag={b}&tag={a}"), &manifest);
        assert_eq!(
            reply.status,
            201,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.header("Docker-Content-Digest"), Some(digest.as_str()));
        assert_eq!(reply.header_values("OCI-Tag"), [a.as_str(), b.as_str()]);
        for tag in [&a, &b] {
            for method in ["GET", "HEAD"] {
                let got = get_tag(method, tag);
                assert_eq!(got.status, 200, "{method} {tag}");
                assert_eq!(got.header("Docker-Content-Digest"), Some(digest.as_str()));
            }
            assert_eq!(get_tag("GET", tag).body, manifest);
        }
    }
    let tags = c.send("GET", &format!("/v2/{name}/tags/list"), &[], b"");
    assert_eq!(
        tags.json()["tags"],
        serde_json::json!(["a1", "a2", "b-1.x", "b-2.x"])
    );

    // A push without tags answers none; bad parameters are refused before anything is written.
    let manifest = image_manifest((&config_digest, config.len()), &[], "");
    let digest = sha256(&manifest);
    let plain = put(&digest, "", &manifest);
    assert_eq!((plain.status, plain.header("OCI-Tag")), (201, None));
    let refused = |query: &str, reference: &str| {
        let reply = put(reference, query, &manifest);
        assert_eq!(get_tag("HEAD", "fresh").status, 404, "{query}");
        (reply.status, reply.error_code())
    };
    let invalid = (400, "MANIFEST_INVALID".to_string());
    assert_eq!(refused("?tag=fresh&tag=.bad", &digest), invalid);
    assert_eq!(refused("?tag=fresh&tag=", &digest), invalid);
    let too_many: String = (0..=10).map(|i| format!("&tag=fresh{i}")).collect();
    assert_eq!(
        refused(&format!("?tag=fresh{too_many}"), &digest),
        (414, "UNSUPPORTED".into())
    );
    assert_eq!(get_tag("HEAD", "fresh0").status, 404);
    // The spec defines the parameters on pushes by digest only.
    assert_eq!(refused("?tag=fresh", "other"), (400, "UNSUPPORTED".into()));
    assert_eq!(get_tag("HEAD", "other").status, 404);
}

pub fn manifest_validation(c: &dyn Client) {
    let name = repo("manifest-validation");
    let path = |r: &str| format!("/v2/{name}/manifests/{r}");
    let config = push_blob(c, &name, b"{}");
    let absent = sha256(b"absent layer");
    let missing_layer = image_manifest((&config, 2), &[(&absent, 12)], "");
    let reply = c.send(
        "PUT",
        &path("t"),
        &[("Content-Type", OCI_MANIFEST)],
        &missing_layer,
    );
    assert_oci_error(&reply, 400, "MANIFEST_BLOB_UNKNOWN");
    let reply = c.send(
        "PUT",
        &path("t"),
        &[("Content-Type", OCI_MANIFEST)],
        b"{not json",
    );
    assert_oci_error(&reply, 400, "MANIFEST_INVALID");
    let good = image_manifest((&config, 2), &[], "");
    let reply = c.send(
        "PUT",
        &path(&sha256(b"other")),
        &[("Content-Type", OCI_MANIFEST)],
        &good,
    );
    assert_oci_error(&reply, 400, "DIGEST_INVALID");
    let too_big = vec![b' '; 4 * 1024 * 1024 + 1];
    let reply = c.send(
        "PUT",
        &path("big"),
        &[("Content-Type", OCI_MANIFEST)],
        &too_big,
    );
    assert_eq!(reply.status, 413);
    // A subject that does not exist is fine, and is echoed back.
    let subject = sha256(b"future subject");
    let with_subject = image_manifest(
        (&config, 2),
        &[],
        &format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":3}}"#),
    );
    let reply = c.send(
        "PUT",
        &path(&sha256(&with_subject)),
        &[("Content-Type", OCI_MANIFEST)],
        &with_subject,
    );
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("OCI-Subject"), Some(subject.as_str()));
    // No mediaType in the body: the Content-Type decides.
    let docker = String::from_utf8(good.clone())
        .unwrap()
        .replace(&format!(r#""mediaType":"{OCI_MANIFEST}","#), "");
    put_manifest(
        c,
        &name,
        "docker",
        docker.as_bytes(),
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    let get = c.send("GET", &path("docker"), &[], b"");
    assert_eq!(
        get.header("Content-Type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
}

pub fn manifest_delete_by_tag_and_digest(c: &dyn Client) {
    let name = repo("manifest-delete");
    let digest = push_image(c, &name, "a", 20);
    put_manifest(
        c,
        &name,
        "b",
        &c.send("GET", &format!("/v2/{name}/manifests/a"), &[], b"")
            .body,
        OCI_MANIFEST,
    );
    assert_eq!(
        c.send("DELETE", &format!("/v2/{name}/manifests/a"), &[], b"")
            .status,
        202
    );
    assert_eq!(
        c.send("GET", &format!("/v2/{name}/manifests/a"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        c.send("GET", &format!("/v2/{name}/manifests/{digest}"), &[], b"")
            .status,
        200,
        "untag keeps the manifest"
    );
    assert_eq!(
        c.send("DELETE", &format!("/v2/{name}/manifests/a"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        c.send(
            "DELETE",
            &format!("/v2/{name}/manifests/{digest}"),
            &[],
            b""
        )
        .status,
        202
    );
    assert_eq!(
        c.send("GET", &format!("/v2/{name}/manifests/{digest}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        c.send("GET", &format!("/v2/{name}/manifests/b"), &[], b"")
            .status,
        404,
        "its tags go with it"
    );
    let tags = c
        .send("GET", &format!("/v2/{name}/tags/list"), &[], b"")
        .json();
    assert_eq!(tags["tags"], serde_json::json!([]));
}

pub fn tags_are_sorted_and_paginated(c: &dyn Client) {
    let name = repo("tags");
    let digest = push_image(c, &name, "b", 30);
    let manifest = c
        .send("GET", &format!("/v2/{name}/manifests/{digest}"), &[], b"")
        .body;
    for tag in ["a", "c", "B", "a1"] {
        put_manifest(c, &name, tag, &manifest, OCI_MANIFEST);
    }
    let all = c.send("GET", &format!("/v2/{name}/tags/list"), &[], b"");
    assert_eq!(
        all.json(),
        serde_json::json!({"name": name, "tags": ["B", "a", "a1", "b", "c"]})
    );
    assert!(all.header("Link").is_none());
    let first = c.send("GET", &format!("/v2/{name}/tags/list?n=2"), &[], b"");
    assert_eq!(first.json()["tags"], serde_json::json!(["B", "a"]));
    let link = first.header("Link").expect("Link header");
    assert_eq!(
        link,
        format!("</v2/{name}/tags/list?n=2&last=a>; rel=\"next\"")
    );
    let next = c.send("GET", &format!("/v2/{name}/tags/list?n=2&last=a"), &[], b"");
    assert_eq!(next.json()["tags"], serde_json::json!(["a1", "b"]));
    let last = c.send("GET", &format!("/v2/{name}/tags/list?n=2&last=b"), &[], b"");
    assert_eq!(last.json()["tags"], serde_json::json!(["c"]));
    assert!(last.header("Link").is_none());
    let none = c.send("GET", &format!("/v2/{name}/tags/list?n=0"), &[], b"");
    assert_eq!(none.json()["tags"], serde_json::json!([]));
    let unknown = c.send(
        "GET",
        &format!("/v2/{}/tags/list", repo("tags-unknown")),
        &[],
        b"",
    );
    assert_oci_error(&unknown, 404, "NAME_UNKNOWN");
}

/// Any `n` is served (above the maximum it is lowered, and the rest paged with `Link`), and a
/// referrers filter carries on in the `Link` to the next page.
pub fn listings_cap_n_and_keep_filters(c: &dyn Client) {
    let name = repo("listing-limits");
    let subject = push_image(c, &name, "v1", 70);
    let config = push_blob(c, &name, b"{}");
    let mut referrers = Vec::new();
    for seed in [71, 72, 73] {
        let layer = data(20, seed);
        let l = push_blob(c, &name, &layer);
        let artifact = if seed == 72 {
            "other"
        } else {
            "application/vnd.example.limit"
        };
        let extra = format!(
            r#","artifactType":"{artifact}","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}}"#
        );
        let manifest = image_manifest((&config, 2), &[(&l, 20)], &extra);
        let digest = put_manifest(c, &name, &sha256(&manifest), &manifest, OCI_MANIFEST);
        if seed != 72 {
            referrers.push(digest);
        }
    }
    for n in ["1000000000", "99999999999999999999999"] {
        for path in [format!("/v2/{name}/tags/list"), "/v2/_catalog".to_string()] {
            let reply = c.send("GET", &format!("{path}?n={n}"), &[], b"");
            assert_eq!(
                reply.status,
                200,
                "{path}?n={n}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
        let tags = c.send("GET", &format!("/v2/{name}/tags/list?n={n}"), &[], b"");
        assert_eq!(tags.json()["tags"], serde_json::json!(["v1"]));
        assert!(tags.header("Link").is_none());
    }
    let mut path =
        format!("/v2/{name}/referrers/{subject}?artifactType=application/vnd.example.limit&n=1");
    let mut found = Vec::new();
    loop {
        let reply = c.send("GET", &path, &[], b"");
        assert_eq!(reply.status, 200);
        for manifest in reply.json()["manifests"].as_array().unwrap() {
            assert_eq!(manifest["artifactType"], "application/vnd.example.limit");
            found.push(manifest["digest"].as_str().unwrap().to_string());
        }
        let Some(link) = reply.header("Link") else {
            break;
        };
        assert!(link.contains("artifactType="), "{link}");
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .unwrap()
            .0;
        path = target.to_string();
    }
    found.sort();
    referrers.sort();
    assert_eq!(found, referrers);
}

pub fn referrers_list_subjects(c: &dyn Client) {
    let name = repo("referrers");
    let subject = push_image(c, &name, "app", 40);
    let config = push_blob(c, &name, b"{}");
    let referrer = |artifact: &str, seed: u64| {
        let layer = data(20, seed);
        let l = push_blob(c, &name, &layer);
        let extra = format!(
            r#","artifactType":"{artifact}","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}},"annotations":{{"seed":"{seed}"}}"#
        );
        let manifest = image_manifest((&config, 2), &[(&l, 20)], &extra);
        put_manifest(c, &name, &sha256(&manifest), &manifest, OCI_MANIFEST)
    };
    let sig = referrer("application/vnd.example.sig", 41);
    let sbom = referrer("application/vnd.example.sbom", 42);
    let reply = c.send("GET", &format!("/v2/{name}/referrers/{subject}"), &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some(OCI_INDEX));
    let index = reply.json();
    let mut found: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    found.sort();
    let mut expected = vec![sig.as_str(), sbom.as_str()];
    expected.sort();
    assert_eq!(found, expected);
    assert!(index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["annotations"]["seed"].is_string()));
    let filtered = c.send(
        "GET",
        &format!("/v2/{name}/referrers/{subject}?artifactType=application/vnd.example.sbom"),
        &[],
        b"",
    );
    assert_eq!(filtered.header("OCI-Filters-Applied"), Some("artifactType"));
    let manifests = filtered.json()["manifests"].clone();
    assert_eq!(manifests.as_array().unwrap().len(), 1);
    assert_eq!(manifests[0]["digest"], sbom.as_str());
    assert_eq!(manifests[0]["artifactType"], "application/vnd.example.sbom");
    let none = c.send(
        "GET",
        &format!("/v2/{name}/referrers/{}", sha256(b"nothing")),
        &[],
        b"",
    );
    assert_eq!(none.status, 200);
    assert_eq!(none.json()["manifests"], serde_json::json!([]));
    // Paginated like tags.
    let first = c.send(
        "GET",
        &format!("/v2/{name}/referrers/{subject}?n=1"),
        &[],
        b"",
    );
    assert_eq!(first.json()["manifests"].as_array().unwrap().len(), 1);
    assert!(first.header("Link").unwrap().contains("rel=\"next\""));
    // Deleting a referrer removes it from the listing.
    assert_eq!(
        c.send("DELETE", &format!("/v2/{name}/manifests/{sig}"), &[], b"")
            .status,
        202
    );
    let after = c
        .send("GET", &format!("/v2/{name}/referrers/{subject}"), &[], b"")
        .json();
    assert_eq!(after["manifests"].as_array().unwrap().len(), 1);
    // Clients without the referrers API list referrers in an index tagged sha256-<hex>.
    let legacy = push_image(c, &name, "legacy-signature", 43);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{legacy}","size":1,"artifactType":"application/vnd.example.legacy"}}]}}"#
    );
    let fallback_tag = subject.replace(':', "-");
    put_manifest(c, &name, &fallback_tag, index.as_bytes(), OCI_INDEX);
    let merged = c
        .send("GET", &format!("/v2/{name}/referrers/{subject}"), &[], b"")
        .json();
    let digests: Vec<&str> = merged["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests.len(), 2, "{merged}");
    assert!(
        digests.contains(&legacy.as_str()) && digests.contains(&sbom.as_str()),
        "{merged}"
    );
}

pub fn catalog_lists_repositories(c: &dyn Client) {
    let names = [repo("catalog-b"), repo("catalog-a"), repo("catalog-c")];
    for (i, name) in names.iter().enumerate() {
        push_image(c, name, "latest", 50 + i as u64 * 2);
    }
    let all = c.send("GET", "/v2/_catalog", &[], b"").json();
    let listed: Vec<&str> = all["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    for name in &names {
        assert!(listed.contains(&name.as_str()), "{name} in {listed:?}");
    }
    let page = c.send(
        "GET",
        &format!("/v2/_catalog?n=1&last={}", repo("catalog-a")),
        &[],
        b"",
    );
    assert_eq!(
        page.json()["repositories"],
        serde_json::json!([repo("catalog-b")])
    );
    assert!(page.header("Link").unwrap().contains("rel=\"next\""));
}

pub fn index_needs_children(c: &dyn Client) {
    let name = repo("index");
    let child = push_image(c, &name, "amd64", 60);
    let index = |digest: &str| {
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":10}}]}}"#)
            .into_bytes()
    };
    let reply = c.send(
        "PUT",
        &format!("/v2/{name}/manifests/multi"),
        &[("Content-Type", OCI_INDEX)],
        &index(&sha256(b"absent")),
    );
    assert_oci_error(&reply, 400, "MANIFEST_BLOB_UNKNOWN");
    put_manifest(c, &name, "multi", &index(&child), OCI_INDEX);
    let get = c.send("GET", &format!("/v2/{name}/manifests/multi"), &[], b"");
    assert_eq!(get.header("Content-Type"), Some(OCI_INDEX));
}

/// `IMMUTABLE_TAGS` (tests/access.env: `test/immutable-*=semver,release-*`): once `v1.0.0`
/// exists, pushing other content to it is refused (403 DENIED, naming the rule) and the tag
/// still gives the old digest; the same content again succeeds (a CI retry), by tag and by
/// digest with `?tag=`; deleting it, by tag or by the digest it names, is refused; `latest`
/// in the same repository still moves and is deleted as usual.
pub fn immutable_tags_never_move(c: &dyn Client) {
    let name = repo("immutable-tags");
    let manifest = |tag: &str| {
        c.send("GET", &format!("/v2/{name}/manifests/{tag}"), &[], b"")
            .body
    };
    let first = push_image(c, &name, "v1.0.0", 4000);
    let first_bytes = manifest("v1.0.0");
    let other = push_image(c, &name, "latest", 4010);
    let other_bytes = manifest("latest");
    assert_ne!(first, other);
    let put = |reference: &str, bytes: &[u8]| {
        c.send(
            "PUT",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("Content-Type", OCI_MANIFEST)],
            bytes,
        )
    };
    let digest_of = |tag: &str| {
        let head = c.send("HEAD", &format!("/v2/{name}/manifests/{tag}"), &[], b"");
        assert_eq!(head.status, 200, "{tag}");
        head.header("Docker-Content-Digest").unwrap().to_string()
    };
    let assert_immutable = |reply: &Reply| {
        assert_oci_error(reply, 403, "DENIED");
        let message = reply.json()["errors"][0]["message"].to_string();
        assert!(
            message.contains("test/immutable-*=semver,release-*"),
            "{message}"
        );
    };

    // Other content, by tag and by digest with ?tag=: refused, the tag unmoved.
    assert_immutable(&put("v1.0.0", &other_bytes));
    assert_immutable(&put(&format!("{other}?tag=v1.0.0"), &other_bytes));
    // A refused push by digest applies none of its tags.
    assert_immutable(&put(&format!("{other}?tag=fresh&tag=v1.0.0"), &other_bytes));
    assert_eq!(
        c.send("HEAD", &format!("/v2/{name}/manifests/fresh"), &[], b"")
            .status,
        404
    );
    assert_eq!(digest_of("v1.0.0"), first);

    // The same content again: accepted, by tag and by digest.
    let again = put("v1.0.0", &first_bytes);
    assert_eq!(
        again.status,
        201,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.header("Docker-Content-Digest"), Some(first.as_str()));
    assert_eq!(
        put(&format!("{first}?tag=v1.0.0"), &first_bytes).status,
        201
    );
    // A new immutable tag is created once, and then holds as well.
    assert_eq!(put("release-1", &other_bytes).status, 201);
    assert_immutable(&put("release-1", &first_bytes));
    assert_eq!(digest_of("release-1"), other);

    // Deletes: refused by tag and by digest; nothing goes.
    let delete = |reference: &str| {
        c.send(
            "DELETE",
            &format!("/v2/{name}/manifests/{reference}"),
            &[],
            b"",
        )
    };
    assert_immutable(&delete("v1.0.0"));
    assert_immutable(&delete(&first));
    assert_eq!(digest_of("v1.0.0"), first);
    let by_digest = c.send("GET", &format!("/v2/{name}/manifests/{first}"), &[], b"");
    assert_eq!(by_digest.status, 200);
    // A tag the rules cover that does not exist is simply unknown.
    assert_oci_error(&delete("v9.9.9"), 404, "MANIFEST_UNKNOWN");

    // `latest` is mutable: it moves, and goes.
    assert_eq!(put("latest", &first_bytes).status, 201);
    assert_eq!(digest_of("latest"), first);
    assert_eq!(put("latest", &other_bytes).status, 201);
    assert_eq!(digest_of("latest"), other);
    assert_eq!(delete("latest").status, 202);
    assert_eq!(
        c.send("HEAD", &format!("/v2/{name}/manifests/latest"), &[], b"")
            .status,
        404
    );
    let tags = c
        .send("GET", &format!("/v2/{name}/tags/list"), &[], b"")
        .json();
    assert_eq!(tags["tags"], serde_json::json!(["release-1", "v1.0.0"]));
}
