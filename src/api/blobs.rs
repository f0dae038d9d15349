//! `GET` / `HEAD` / `DELETE /v2/<name>/blobs/<digest>`.

use super::caching::Freshness;
use super::routes::SIGNED_BLOB_PREFIX;
use crate::api::Api;
use crate::api::{Body, Method, Request, Response, StatusCode};
use crate::config::BlobEndpoint;
use crate::error::{Error, Result};
use crate::oci::{Digest, RepositoryName};
use crate::records::{BlobRecord, Environment};
use crate::storage::{ByteRange, MultipartStore, ObjectStore, SessionStore};

/// Set on every blob response: without a Content-Type, `wrangler dev` gzips bodies on the fly,
/// dropping Content-Length and slowing pulls many times over.
const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

impl<S, K, E> Api<'_, S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    pub(crate) async fn get_blob<B>(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        request: &Request<B>,
        head_only: bool,
    ) -> Result<Response<S::Body>> {
        let record = self
            .records
            .blob_link(name, digest)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        let etag = format!("\"{digest}\"");
        let cache_control = self.cache_control(name, Freshness::Immutable);
        if request.not_modified(&etag) {
            return Ok(Self::not_modified(etag, cache_control, digest.to_string()));
        }
        if !head_only && self.redirected(&record) {
            let location = match self.public_blob_url(name, digest, &record).await? {
                Some(url) => Some(url),
                None => self.blob_location(&record, request),
            };
            if let Some(location) = location {
                return Ok(Response::new(StatusCode::TEMPORARY_REDIRECT)
                    .header("Location", location)
                    .header("Docker-Content-Digest", digest.to_string())
                    .header("Cache-Control", "no-store")
                    .header("Content-Length", "0"));
            }
        }
        // Bytes gone from under a record (see `Records::commit_blob`) are unknown, not an error.
        let response = self
            .serve_data(&record, request.header("range"), head_only)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        Ok(response
            .header("Docker-Content-Digest", digest.to_string())
            .header("ETag", etag)
            .header("Cache-Control", cache_control))
    }

    /// Whether a pull of the blob is sent elsewhere: large blobs of one data object, when
    /// redirects are configured. Segmented blobs stream through the worker, as one redirect
    /// cannot cover several objects.
    fn redirected(&self, record: &BlobRecord) -> bool {
        self.config.blob_urls.is_some()
            && record.segments.is_empty()
            && record.size >= self.config.redirect_min_bytes
    }

    /// A signed URL of the blob's data object.
    fn blob_location<B>(&self, record: &BlobRecord, request: &Request<B>) -> Option<String> {
        let urls = self.config.blob_urls.as_ref()?;
        let now = self.records.env.now_ms();
        let expires = urls.expires_seconds;
        Some(match &urls.endpoint {
            BlobEndpoint::R2 { host, bucket } => {
                let path = format!("/{bucket}/{}", record.key);
                format!(
                    "https://{host}{}",
                    urls.signer.presign_get(host, &path, now, expires)
                )
            }
            BlobEndpoint::Worker => {
                let path = format!("{SIGNED_BLOB_PREFIX}{}", record.key);
                let signed = urls
                    .signer
                    .presign_get(request.authority(), &path, now, expires);
                format!("{}{signed}", request.origin)
            }
        })
    }

    /// `GET`/`HEAD /_blobs/<key>?X-Amz-...`: a data object behind a URL this worker signed,
    /// checked as R2 would check it, so that local pulls take the production path.
    pub(crate) async fn signed_blob<B>(&self, request: &Request<B>) -> Result<Response<S::Body>> {
        let head_only = match request.method {
            Method::GET => false,
            Method::HEAD => true,
            _ => return Err(Error::MethodNotAllowed),
        };
        let Some(urls) = self
            .config
            .blob_urls
            .as_ref()
            .filter(|urls| matches!(urls.endpoint, BlobEndpoint::Worker))
        else {
            return Err(Error::RouteUnknown);
        };
        urls.signer.verify_get(
            request.authority(),
            &request.path,
            &request.query,
            self.records.env.now_ms(),
        )?;
        let encoded_key = request
            .path
            .strip_prefix(SIGNED_BLOB_PREFIX)
            .ok_or(Error::RouteUnknown)?;
        let key = percent_encoding::percent_decode_str(encoded_key)
            .decode_utf8()
            .map_err(|_| Error::RouteUnknown)?;
        // Only data objects are ever signed; nothing else is served here, whatever the URL.
        // A whole GET is one read, as R2 answers it; a HEAD or a range needs the size first.
        let range = request.header("range");
        let response = if !head_only && range.is_none() {
            let (size, body) = self
                .records
                .data_object_bytes(&key)
                .await?
                .ok_or(Error::RouteUnknown)?;
            let mut whole =
                data_response(StatusCode::OK).header("Content-Length", size.to_string());
            if size > 0 {
                whole.body = Body::Object(body);
            }
            whole
        } else {
            let record = self
                .records
                .data_object(&key)
                .await?
                .ok_or(Error::RouteUnknown)?;
            self.serve_data(&record, range, head_only)
                .await?
                .ok_or(Error::RouteUnknown)?
        };
        Ok(response.header("Cache-Control", "private"))
    }

    /// A blob's bytes, whole or the one range asked for; `None` if its data object is gone.
    async fn serve_data(
        &self,
        record: &BlobRecord,
        range: Option<&str>,
        head_only: bool,
    ) -> Result<Option<Response<S::Body>>> {
        // Only a GET has ranges (RFC 9110 §14.2): a HEAD describes the whole blob.
        let range = match range.filter(|_| !head_only) {
            Some(header) => parse_range(header, record.size)?,
            None => None,
        };
        let mut response = data_response(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        });
        let length = match range {
            Some(r) => {
                let last = r.offset + r.length - 1;
                response = response.header(
                    "Content-Range",
                    format!("bytes {}-{last}/{}", r.offset, record.size),
                );
                r.length
            }
            None => record.size,
        };
        response = response.header("Content-Length", length.to_string());
        if head_only || length == 0 {
            return Ok(Some(response));
        }
        let Some(body) = self.records.blob_bytes(record, range).await? else {
            return Ok(None);
        };
        response.body = Body::Object(body);
        Ok(Some(response))
    }

    /// Removes the blob from this repository; the bytes stay while other repositories link them.
    pub(crate) async fn delete_blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Response<S::Body>> {
        if !self.records.delete_blob_link(name, digest).await? {
            return Err(Error::BlobUnknown(digest.clone()));
        }
        Ok(Response::new(StatusCode::ACCEPTED).header("Content-Length", "0"))
    }
}

/// The headers every answer with a blob's bytes has.
fn data_response<O>(status: StatusCode) -> Response<O> {
    Response::new(status)
        .header("Content-Type", BLOB_CONTENT_TYPE)
        .header("Accept-Ranges", "bytes")
}

/// What a `Range` header asks of a blob of `size` bytes, as RFC 9110 §14 reads it: one byte
/// range (`a-b`, `a-` or `-n`) that the blob can serve, or `None` to serve it whole. Another
/// unit, several ranges, or a value outside the grammar is ignored, as §14.2 allows (and
/// demands for unknown units); a range that starts beyond the end, or ends before it starts
/// (an invalid range, §14.1.1), is 416, as §15.5.17 allows and the OCI conformance suite
/// expects of `500-0`.
fn parse_range(header: &str, size: u64) -> Result<Option<ByteRange>> {
    let unsatisfiable = || Error::RangeNotSatisfiable {
        range: header.to_string(),
        size,
    };
    let Some((unit, set)) = header.split_once('=') else {
        return Ok(None);
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Ok(None);
    }
    // A list may hold empty elements, which are no ranges (RFC 9110 §5.6.1.2).
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ok(None);
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = match (position(first), position(last)) {
        (Some(first), None) if last.is_empty() => (first, size.saturating_sub(1)),
        (Some(first), Some(last)) if last >= first => (first, last.min(size.saturating_sub(1))),
        (Some(_), Some(_)) => return Err(unsatisfiable()),
        (None, Some(0)) if first.is_empty() => return Err(unsatisfiable()),
        // The last bytes of an empty blob are the empty blob.
        (None, Some(_)) if first.is_empty() && size == 0 => return Ok(None),
        (None, Some(suffix)) if first.is_empty() => (size - suffix.min(size), size - 1),
        _ => return Ok(None),
    };
    if first >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(ByteRange {
        offset: first,
        length: last - first + 1,
    }))
}

/// `1*DIGIT`: a byte position, saturated rather than refused when it is too large to count.
fn position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn ranges_stay_within_the_blob(header in any::<String>(), unit_and_digits in "[bB]ytes=[0-9 ,-]{0,24}", size in prop_oneof![Just(0u64), 0..2000u64, any::<u64>()]) {
            for header in [header, unit_and_digits] {
                if let Ok(Some(range)) = parse_range(&header, size) {
                    prop_assert!(range.length >= 1);
                    prop_assert!(range.offset.checked_add(range.length).is_some_and(|end| end <= size));
                }
            }
        }

        #[test]
        fn one_valid_range_is_served_as_asked(first in any::<u64>(), length in 1u64..1000, extra in any::<u64>()) {
            let size = first.saturating_add(length).saturating_add(extra % 1000);
            prop_assume!(first < size);
            let last = first + (length - 1).min(size - 1 - first);
            prop_assert_eq!(
                parse_range(&format!("bytes={first}-{last}"), size),
                Ok(Some(ByteRange { offset: first, length: last - first + 1 }))
            );
        }
    }

    #[test]
    fn parses_ranges() {
        let r = |offset, length| Ok(Some(ByteRange { offset, length }));
        assert_eq!(parse_range("bytes=0-9", 100), r(0, 10));
        assert_eq!(parse_range("bytes=90-200", 100), r(90, 10));
        assert_eq!(parse_range("bytes=95-", 100), r(95, 5));
        assert_eq!(parse_range("bytes=-10", 100), r(90, 10));
        assert_eq!(parse_range("bytes=-500", 100), r(0, 100));
        assert_eq!(parse_range("BYTES=0-0, ", 100), r(0, 1));
        let huge = "9".repeat(30);
        assert_eq!(parse_range(&format!("bytes=10-{huge}"), 100), r(10, 90));
        assert_eq!(parse_range(&format!("bytes=-{huge}"), 100), r(0, 100));
        assert_eq!(
            parse_range("bytes=-1", 0),
            Ok(None),
            "the empty blob, whole"
        );
    }

    #[test]
    fn ignores_what_is_not_one_byte_range() {
        for header in [
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=0-1,3-4",
            "bytes=,",
            "bytes=+1-2",
            "bytes=1 -2",
            "bytes=\u{3000}1-2",
            "bytes=1-2\u{3000}",
            "bytes 1-2",
            "",
        ] {
            assert_eq!(parse_range(header, 100), Ok(None), "{header:?}");
        }
    }

    #[test]
    fn refuses_unsatisfiable_ranges() {
        let huge = format!("bytes={}-", "9".repeat(30));
        for (header, size) in [
            ("bytes=100-", 100),
            ("bytes=100-200", 100),
            ("bytes=5-2", 100),
            ("bytes=-0", 100),
            (huge.as_str(), 100),
            ("bytes=0-0", 0),
            ("bytes=-0", 0),
        ] {
            assert_eq!(
                parse_range(header, size),
                Err(Error::RangeNotSatisfiable {
                    range: header.to_string(),
                    size
                }),
                "{header:?} of {size}"
            );
        }
    }
}
