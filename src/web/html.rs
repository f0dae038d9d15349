//! The pages' frame (header, main, footer), their response headers, and the static files.
//! Pages are built with `maud`, which escapes every interpolated string: untrusted text from
//! manifests, configs and names is never written out raw.

use maud::{html, Markup, DOCTYPE};
use sha2::{Digest as _, Sha256};

use super::routes::STATIC_PREFIX;
use crate::api::caching::PAGE_MAX_AGE;
use crate::api::{Body, Response, StatusCode};
use crate::oci::{Algorithm, Digest};

/// No third-party requests, no inline script or style.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
    img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who is looking: the user's name and the CSRF token their logout form carries.
pub struct Frame<'a> {
    pub user: Option<&'a str>,
    pub csrf: Option<&'a str>,
}

struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const STYLE: Asset = Asset {
    stem: "style",
    extension: "css",
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("static/style.css"),
};

const SCRIPT: Asset = Asset {
    stem: "copy",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("static/copy.js"),
};

impl Asset {
    /// The file's name with a hash of its content, so that it can be cached for good.
    fn file_name(&self) -> String {
        let digest = Digest::of(Algorithm::Sha256, self.bytes);
        let hash = digest.hex().get(..12).unwrap_or_default();
        format!("{}.{hash}.{}", self.stem, self.extension)
    }

    fn url(&self) -> String {
        format!("{STATIC_PREFIX}{}", self.file_name())
    }
}

/// A static file by its hashed name: `None` for any other name (an old hash included).
pub fn static_file<O>(file: &str) -> Option<Response<O>> {
    let asset = [STYLE, SCRIPT]
        .into_iter()
        .find(|asset| asset.file_name() == file)?;
    Some(
        Response::new(StatusCode::OK)
            .header("Cache-Control", "public, max-age=31536000, immutable")
            .header("X-Content-Type-Options", "nosniff")
            .bytes(asset.bytes.to_vec(), asset.content_type),
    )
}

/// A whole page: `main` in the frame every page shares.
pub fn page(title: &str, frame: &Frame, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · edge-registry" }
                link rel="stylesheet" href=(STYLE.url());
                script src=(SCRIPT.url()) defer {}
            }
            body {
                header {
                    a.site href="/" { "edge-registry" }
                    nav aria-label="Account" {
                        @match (frame.user, frame.csrf) {
                            (Some(user), Some(csrf)) => {
                                span #user { (user) } " "
                                form #logout method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Log out" }
                                }
                            }
                            _ => { a #login-link href="/login" { "Log in" } }
                        }
                    }
                }
                main { (main) }
                footer { "Served by edge-registry, an OCI registry on Cloudflare Workers." }
            }
        }
    }
}

/// How a page may be cached: anonymous pages by anyone for a little while (the edge cache
/// among them), a logged-in visitor's by no one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    Public,
    Private,
}

/// An HTML response with the headers every page carries.
pub fn response<O>(status: StatusCode, markup: Markup, caching: Caching) -> Response<O> {
    let response = Response::new(status)
        .header("Content-Security-Policy", CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "same-origin")
        .bytes(
            markup.into_string().into_bytes(),
            "text/html; charset=utf-8",
        );
    match caching {
        Caching::Public => {
            // The edge cache keeps only answers with an ETag, and answers 304s from it.
            let etag = match &response.body {
                Body::Bytes(bytes) => hex::encode(&Sha256::digest(bytes)[..16]),
                _ => String::new(),
            };
            response
                .header("Cache-Control", format!("public, max-age={PAGE_MAX_AGE}"))
                .header("Vary", "Cookie")
                .header("ETag", format!("\"{etag}\""))
        }
        Caching::Private => response.header("Cache-Control", "private, no-store"),
    }
}

/// The body of an error page.
pub fn problem(heading: &str, detail: &str) -> Markup {
    html! {
        h1 { (heading) }
        p { (detail) }
        p { a href="/" { "Back to the repositories" } }
    }
}

/// The first 12 hex digits of a digest, for display.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

/// A size in bytes, for people.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}
