//! Presigned GET URLs: AWS Signature Version 4 in the query string, as R2's S3 endpoint checks
//! them, and the matching verifier with which the worker serves its own signed URLs where no
//! S3 endpoint exists (local mode). One canonical form serves both, so they cannot drift.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// RFC 3986 unreserved characters stay; everything else is escaped, as SigV4 requires.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Object paths keep their `/`.
const PATH: &AsciiSet = &QUERY.remove(b'/');

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const SERVICE: &str = "s3";
/// A URL dated this far in the future is refused: clocks of one fleet agree closer than that.
const CLOCK_SKEW_SECONDS: i64 = 60;
/// SigV4's own limit on `X-Amz-Expires`.
pub const MAX_EXPIRES_SECONDS: u64 = 7 * 24 * 60 * 60;

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ..)", self.access_key_id)
    }
}

impl Credentials {
    /// The credentials of the worker's own blob URLs (local mode), derived from the token
    /// signing key: as secret as it, and a URL cannot be forged from a token or the other way.
    pub fn local(token_signing_key: &str) -> Credentials {
        let secret = Sha256::digest(format!("blob urls\n{token_signing_key}").as_bytes());
        Credentials {
            access_key_id: "local".into(),
            secret_access_key: hex::encode(secret),
        }
    }
}

/// Why a presigned URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("expired")]
    Expired,
    #[error("the signature does not match")]
    BadSignature,
}

/// Where and how URLs are signed: one S3-style endpoint and region.
#[derive(Debug, Clone)]
pub struct Signer {
    pub credentials: Credentials,
    pub region: String,
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A signing time as SigV4 writes it: `YYYYMMDDTHHMMSSZ`, and the `YYYYMMDD` of the scope.
struct SigningTime {
    time: DateTime<Utc>,
    stamp: String,
    date: String,
}

impl SigningTime {
    fn of(time: DateTime<Utc>) -> SigningTime {
        SigningTime {
            time,
            stamp: time.format(AMZ_DATE_FORMAT).to_string(),
            date: time.format("%Y%m%d").to_string(),
        }
    }

    fn from_ms(ms: u64) -> Option<SigningTime> {
        let time = DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
        Some(SigningTime::of(time))
    }

    /// Only the canonical text: chrono's parser is lenient (it skips Unicode whitespace before
    /// numbers, for one), and whatever the URL says is what was signed.
    fn parse(text: &str) -> Option<SigningTime> {
        let time = NaiveDateTime::parse_from_str(text, AMZ_DATE_FORMAT)
            .ok()?
            .and_utc();
        Some(SigningTime::of(time)).filter(|parsed| parsed.stamp == text)
    }
}

fn encode(value: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(value, set).to_string()
}

/// An object key as a URL path, escaped the way SigV4 and S3 expect.
pub fn escape_path(key: &str) -> String {
    encode(key, PATH)
}

impl Signer {
    /// The query parameters before the signature, in canonical (sorted) order.
    fn auth_params(&self, time: &SigningTime, expires: u64) -> Vec<(&'static str, String)> {
        vec![
            ("X-Amz-Algorithm", ALGORITHM.to_string()),
            (
                "X-Amz-Credential",
                format!("{}/{}", self.credentials.access_key_id, self.scope(time)),
            ),
            ("X-Amz-Date", time.stamp.clone()),
            ("X-Amz-Expires", expires.to_string()),
            ("X-Amz-SignedHeaders", "host".to_string()),
        ]
    }

    fn scope(&self, time: &SigningTime) -> String {
        format!("{}/{}/{SERVICE}/aws4_request", time.date, self.region)
    }

    fn signature(
        &self,
        host: &str,
        encoded_path: &str,
        canonical_query: &str,
        time: &SigningTime,
    ) -> String {
        let canonical_request = format!(
            "GET\n{encoded_path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{}\n{}",
            time.stamp,
            self.scope(time),
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let date_key = hmac(
            format!("AWS4{}", self.credentials.secret_access_key).as_bytes(),
            &time.date,
        );
        let signing_key = [self.region.as_str(), SERVICE, "aws4_request"]
            .iter()
            .fold(date_key, |key, part| hmac(&key, part));
        hex::encode(hmac(&signing_key, &string_to_sign))
    }

    /// `path?query` of a GET of `path` (unescaped, starting with `/`) on `host`, valid from
    /// `now_ms` for `expires` seconds.
    pub fn presign_get(&self, host: &str, path: &str, now_ms: u64, expires: u64) -> String {
        let time = SigningTime::from_ms(now_ms).expect("the clock is within chrono's range");
        let encoded_path = escape_path(path);
        let query = canonical_query(&self.auth_params(&time, expires));
        let signature = self.signature(host, &encoded_path, &query, &time);
        format!("{encoded_path}?{query}&X-Amz-Signature={signature}")
    }

    /// Checks a URL made by [`Signer::presign_get`]: `encoded_path` as it arrived, and the
    /// decoded query parameters.
    pub fn verify_get(
        &self,
        host: &str,
        encoded_path: &str,
        query: &[(String, String)],
        now_ms: u64,
    ) -> Result<(), PresignError> {
        let param = |name: &str| {
            let mut values = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
            match (values.next(), values.next()) {
                (Some(value), None) => Ok(value.as_str()),
                _ => Err(PresignError::Malformed(format!("needs exactly one {name}"))),
            }
        };
        let time = SigningTime::parse(param("X-Amz-Date")?)
            .ok_or_else(|| PresignError::Malformed("bad X-Amz-Date".into()))?;
        let expires: u64 = param("X-Amz-Expires")?
            .parse()
            .ok()
            .filter(|e| *e <= MAX_EXPIRES_SECONDS)
            .ok_or_else(|| PresignError::Malformed("bad X-Amz-Expires".into()))?;
        let signed_at = time.time.timestamp();
        let now = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        if now > signed_at.saturating_add(expires as i64)
            || signed_at > now.saturating_add(CLOCK_SKEW_SECONDS)
        {
            return Err(PresignError::Expired);
        }
        // Everything signed is recomputed from what the URL claims; any change breaks it.
        let expected = self.auth_params(&time, expires);
        for (name, value) in &expected {
            if param(name)? != value {
                return Err(PresignError::BadSignature);
            }
        }
        if query.len() != expected.len() + 1 {
            return Err(PresignError::Malformed(
                "unexpected query parameters".into(),
            ));
        }
        let canonical = canonical_query(&expected);
        let signature = self.signature(host, encoded_path, &canonical, &time);
        let presented = param("X-Amz-Signature")?;
        if bool::from(signature.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(PresignError::BadSignature)
        }
    }
}

fn canonical_query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, QUERY), encode(v, QUERY)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2013-05-24T00:00:00Z, AWS's example date.
    const AWS_EXAMPLE_MS: u64 = 1_369_353_600_000;

    fn signer(region: &str) -> Signer {
        Signer {
            credentials: Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            },
            region: region.into(),
        }
    }

    fn split(url: &str) -> (String, Vec<(String, String)>) {
        let (path, query) = url.split_once('?').unwrap();
        let query = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        (path.to_string(), query)
    }

    /// AWS's documented presigned GET: examplebucket.s3.amazonaws.com/test.txt, one day.
    #[test]
    fn reproduces_the_aws_documentation_example() {
        let url = signer("us-east-1").presign_get(
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            AWS_EXAMPLE_MS,
            86400,
        );
        assert_eq!(
            url,
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn verifies_its_own_urls_until_they_expire() {
        let signer = signer("auto");
        let host = "127.0.0.1:8787";
        let url = signer.presign_get(host, "/_blobs/data/a b+c", AWS_EXAMPLE_MS, 300);
        let (path, query) = split(&url);
        assert_eq!(path, "/_blobs/data/a%20b%2Bc");
        let verify =
            |path: &str, query: &[(String, String)], now| signer.verify_get(host, path, query, now);
        assert_eq!(verify(&path, &query, AWS_EXAMPLE_MS), Ok(()));
        assert_eq!(verify(&path, &query, AWS_EXAMPLE_MS + 300_000), Ok(()));
        assert_eq!(
            verify(&path, &query, AWS_EXAMPLE_MS + 301_000),
            Err(PresignError::Expired)
        );
        assert_eq!(
            verify(&path, &query, AWS_EXAMPLE_MS - 120_000),
            Err(PresignError::Expired)
        );
    }

    #[test]
    fn refuses_altered_or_wrongly_scoped_urls() {
        let signer = signer("auto");
        let host = "127.0.0.1:8787";
        let url = signer.presign_get(host, "/_blobs/data/abc", AWS_EXAMPLE_MS, 300);
        let (path, query) = split(&url);
        let with = |name: &str, value: &str| -> Vec<(String, String)> {
            query
                .iter()
                .map(|(k, v)| (k.clone(), if k == name { value.into() } else { v.clone() }))
                .collect()
        };
        let now = AWS_EXAMPLE_MS + 1000;
        let refused = |host: &str, path: &str, query: &[(String, String)]| {
            assert!(
                signer.verify_get(host, path, query, now).is_err(),
                "{host} {path} {query:?}"
            );
        };
        refused(host, "/_blobs/data/abd", &query);
        refused("127.0.0.1:9999", &path, &query);
        refused(host, &path, &with("X-Amz-Expires", "3000"));
        refused(host, &path, &with("X-Amz-Date", "20130524T000001Z"));
        refused(host, &path, &with("X-Amz-Signature", &"0".repeat(64)));
        let other_region =
            signer.credentials.access_key_id.clone() + "/20130524/us-east-1/s3/aws4_request";
        refused(host, &path, &with("X-Amz-Credential", &other_region));
        refused(host, &path, &with("X-Amz-SignedHeaders", "host;range"));
        let mut extra = query.clone();
        extra.push(("response-content-type".into(), "text/html".into()));
        refused(host, &path, &extra);
        let missing: Vec<_> = query
            .iter()
            .filter(|(k, _)| k != "X-Amz-Date")
            .cloned()
            .collect();
        refused(host, &path, &missing);
        let other_key = Signer {
            credentials: Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "another secret".into(),
            },
            region: "auto".into(),
        };
        assert_eq!(
            other_key.verify_get(host, &path, &query, now),
            Err(PresignError::BadSignature)
        );
    }

    /// chrono skips Unicode whitespace before a number, so `YYYYMM` + U+3000 + `DD...` once
    /// parsed as a date, and the scope's `YYYYMMDD` was then cut inside the 3-byte character.
    #[test]
    fn refuses_dates_that_are_not_in_the_canonical_form() {
        let signer = signer("auto");
        let host = "127.0.0.1:8787";
        let url = signer.presign_get(host, "/_blobs/data/abc", AWS_EXAMPLE_MS, 300);
        let (path, query) = split(&url);
        for date in [
            "201305\u{3000}24T000000Z",
            "2013052\u{3000}4T000000Z",
            "20130524T000000Z ",
            " 20130524T000000Z",
            "20130524T000000z",
            "2013-05-24T00:00:00Z",
            "20130524",
            "",
        ] {
            let query: Vec<(String, String)> = query
                .iter()
                .map(|(k, v)| {
                    let v = if k == "X-Amz-Date" { date } else { v };
                    (k.clone(), v.to_string())
                })
                .collect();
            assert_eq!(
                signer.verify_get(host, &path, &query, AWS_EXAMPLE_MS),
                Err(PresignError::Malformed("bad X-Amz-Date".into())),
                "{date:?}"
            );
        }
    }
}
