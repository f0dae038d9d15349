//! The paginated listings: tags, the catalog, and referrers.

use futures::future::join_all;
use serde::Deserialize;

use crate::api::{Request, Response};
use crate::app::{Environment, Registry};
use crate::error::{Error, Result};
use crate::oci::manifest::{Descriptor, OCI_INDEX};
use crate::oci::{Digest, RepositoryName, Tag};
use crate::storage::{
    layout, ListOptions, MultipartStore, ObjectInfo, ObjectStore, SessionStore, LIST_PAGE_MAX,
};

use super::manifests::is_untagged;

/// One page of names, and whether more follow it.
struct Page {
    names: Vec<String>,
    more: bool,
}

/// `n` and `last` from the query; `n` absent means everything.
fn pagination<B>(request: &Request<B>) -> Result<(Option<usize>, Option<String>)> {
    let n = match request.query("n") {
        None | Some("") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| Error::Unsupported(format!("n={n:?} is not a number")))?,
        ),
    };
    Ok((n, request.query("last").map(str::to_string)))
}

/// `Link: <path?n=N&last=L>; rel="next"`, as the spec's pagination describes.
fn with_next_link<O>(
    response: Response<O>,
    path: &str,
    page: &Page,
    n: Option<usize>,
) -> Response<O> {
    match (page.more, n, page.names.last()) {
        (true, Some(n), Some(last)) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("n", &n.to_string())
                .append_pair("last", last)
                .finish();
            response.header("Link", format!("<{path}?{query}>; rel=\"next\""))
        }
        _ => response,
    }
}

impl<S, K, E> Registry<S, K, E>
where
    S: ObjectStore + MultipartStore,
    K: SessionStore,
    E: Environment,
{
    /// Names under `prefix`, in key order, after `last`, at most `n`, skipping what `keep` rejects.
    async fn list_names(
        &self,
        prefix: &str,
        last: Option<&str>,
        n: Option<usize>,
        keep: impl Fn(&ObjectInfo) -> bool,
    ) -> Result<Page> {
        let mut names = Vec::new();
        if n == Some(0) {
            return Ok(Page { names, more: false });
        }
        let mut options = ListOptions {
            prefix: prefix.to_string(),
            start_after: last.map(|l| format!("{prefix}{l}")),
            limit: LIST_PAGE_MAX,
            with_metadata: true,
        };
        loop {
            let page = self.store.list(&options).await?;
            options.start_after = page.objects.last().map(|o| o.key.clone());
            for object in page.objects.iter().filter(|o| keep(o)) {
                if n.is_some_and(|n| names.len() == n) {
                    return Ok(Page { names, more: true });
                }
                names.push(object.key[prefix.len()..].to_string());
            }
            if !page.truncated {
                return Ok(Page { names, more: false });
            }
        }
    }

    pub(crate) async fn tags<B>(
        &self,
        name: &RepositoryName,
        request: &Request<B>,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request)?;
        let page = self
            .list_names(&layout::tags_prefix(name), last.as_deref(), n, |o| {
                !is_untagged(o)
            })
            .await?;
        if page.names.is_empty()
            && last.is_none()
            && self
                .store
                .head(&layout::catalog_entry(name))
                .await?
                .is_none()
        {
            return Err(Error::NameUnknown(name.to_string()));
        }
        let body = serde_json::json!({ "name": name.as_str(), "tags": page.names });
        let response = Response::new(200).json(&body, "application/json");
        Ok(with_next_link(
            response,
            &format!("/v2/{name}/tags/list"),
            &page,
            n,
        ))
    }

    /// The repositories `may_pull` admits: a caller sees only what they could pull.
    pub(crate) async fn catalog<B>(
        &self,
        request: &Request<B>,
        may_pull: impl Fn(&str) -> bool,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request)?;
        let prefix = layout::CATALOG_PREFIX;
        let page = self
            .list_names(prefix, last.as_deref(), n, |o| {
                may_pull(&o.key[prefix.len()..])
            })
            .await?;
        let body = serde_json::json!({ "repositories": page.names });
        let response = Response::new(200).json(&body, "application/json");
        Ok(with_next_link(response, "/v2/_catalog", &page, n))
    }

    /// Referrers pushed by clients that found no referrers API: an index tagged `<alg>-<hex>`
    /// (only sha256 subjects fit the tag grammar's 128 characters).
    async fn tag_schema_referrers(
        &self,
        name: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<Descriptor>> {
        #[derive(Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Descriptor>,
        }
        let Ok(tag) = Tag::parse(&format!(
            "{}-{}",
            subject.algorithm().as_str(),
            subject.hex()
        )) else {
            return Ok(Vec::new());
        };
        match self.store.get_bytes(&layout::tag(name, &tag)).await? {
            Some((info, bytes)) if !is_untagged(&info) => {
                Ok(serde_json::from_slice::<Index>(&bytes)
                    .map(|index| index.manifests)
                    .unwrap_or_default())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// An image index of the manifests whose subject is `subject`; empty, not 404, when none.
    pub(crate) async fn referrers<B>(
        &self,
        name: &RepositoryName,
        subject: &Digest,
        request: &Request<B>,
    ) -> Result<Response<S::Body>> {
        let (n, last) = pagination(request)?;
        let prefix = layout::referrers_prefix(name, subject);
        let page = self
            .list_names(&prefix, last.as_deref(), n, |_| true)
            .await?;
        let keys: Vec<String> = page
            .names
            .iter()
            .map(|entry| format!("{prefix}{entry}"))
            .collect();
        let reads = keys.iter().map(|key| self.read_record::<Descriptor>(key));
        let filter = request.query("artifactType").filter(|t| !t.is_empty());
        let mut manifests = Vec::new();
        // A referrer deleted between the listing and the read is simply gone.
        let mut found: Vec<Descriptor> = join_all(reads)
            .await
            .into_iter()
            .filter_map(Result::transpose)
            .collect::<Result<_>>()?;
        if last.is_none() {
            for descriptor in self.tag_schema_referrers(name, subject).await? {
                if !found.iter().any(|d| d.digest == descriptor.digest) {
                    found.push(descriptor);
                }
            }
        }
        for descriptor in found {
            if filter.is_none_or(|wanted| descriptor.artifact_type.as_deref() == Some(wanted)) {
                manifests.push(descriptor);
            }
        }
        let body = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        let mut response = Response::new(200).json(&body, OCI_INDEX);
        if filter.is_some() {
            response = response.header("OCI-Filters-Applied", "artifactType");
        }
        Ok(with_next_link(
            response,
            &format!("/v2/{name}/referrers/{subject}"),
            &page,
            n,
        ))
    }
}
