//! Objects and multipart uploads in R2, through the Workers binding.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;

use futures::{Stream, StreamExt, TryStreamExt};
use worker::web_sys::ReadableStream;
use worker::{
    Bucket, Conditional, Data, HttpMetadata, Include, Object, PutOptionsBuilder, Range,
    ResponseBody, UploadedPart,
};

use crate::oci::{Algorithm, Digest};
use crate::storage::*;

pub struct R2Store {
    bucket: Bucket,
}

impl R2Store {
    pub fn new(bucket: Bucket) -> Self {
        R2Store { bucket }
    }

    async fn fetch(&self, key: &str) -> StorageResult<Option<Object>> {
        self.bucket.get(key).execute().await.map_err(storage_error)
    }

    /// Runs a put that R2 checks against a checksum: `Ok(false)` when the bytes do not match,
    /// and an error (with nothing left stored) when R2 stored other than `length` bytes.
    async fn verified(
        &self,
        key: &str,
        put: PutOptionsBuilder<'_>,
        length: u64,
    ) -> StorageResult<bool> {
        match put.execute().await {
            Ok(Some(object)) if object.size() == length => Ok(true),
            Ok(Some(object)) => {
                self.bucket.delete(key).await.map_err(storage_error)?;
                Err(StorageError::Backend(format!(
                    "R2 stored {} bytes of {length}",
                    object.size()
                )))
            }
            Ok(None) => Err(StorageError::Backend(format!("R2 did not store {key}"))),
            Err(err) if is_checksum_mismatch(&err) => Ok(false),
            Err(err) => Err(storage_error(err)),
        }
    }
}

fn storage_error(err: worker::Error) -> StorageError {
    let text = err.to_string();
    // R2 answers 10058 when one key takes more than about one write per second.
    if text.contains("10058") {
        StorageError::TooManyRequests
    } else {
        StorageError::Backend(format!("R2: {text}"))
    }
}

/// R2 refuses a put whose bytes do not match the checksum it was given (error 10037).
fn is_checksum_mismatch(err: &worker::Error) -> bool {
    let text = err.to_string();
    text.contains("10037") || text.to_ascii_lowercase().contains("checksum")
}

fn info(object: &Object) -> ObjectInfo {
    ObjectInfo {
        key: object.key(),
        size: object.size(),
        etag: object.etag(),
        content_type: object.http_metadata().content_type,
        metadata: object
            .custom_metadata()
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        uploaded_ms: object.uploaded().as_millis(),
    }
}

impl ObjectStore for R2Store {
    type Body = ResponseBody;
    type Reader = Pin<Box<dyn Stream<Item = ByteChunk>>>;
    type Incoming = ReadableStream;

    async fn head(&self, key: &str) -> StorageResult<Option<ObjectInfo>> {
        Ok(self
            .bucket
            .head(key)
            .await
            .map_err(storage_error)?
            .as_ref()
            .map(info))
    }

    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> StorageResult<Option<(ObjectInfo, ResponseBody)>> {
        let mut get = self.bucket.get(key);
        if let Some(r) = range {
            get = get.range(Range::OffsetWithLength {
                offset: r.offset,
                length: r.length,
            });
        }
        let Some(object) = get.execute().await.map_err(storage_error)? else {
            return Ok(None);
        };
        let body = match object.body() {
            Some(body) => body.response_body().map_err(storage_error)?,
            None => ResponseBody::Empty,
        };
        Ok(Some((info(&object), body)))
    }

    async fn concat(&self, pieces: Vec<(String, ByteRange)>) -> StorageResult<ResponseBody> {
        let bucket = self.bucket.clone();
        // Each piece is fetched only when the previous one has been sent.
        let stream = futures::stream::iter(pieces)
            .then(move |(key, range)| {
                let bucket = bucket.clone();
                async move {
                    let object = bucket
                        .get(&key)
                        .range(Range::OffsetWithLength {
                            offset: range.offset,
                            length: range.length,
                        })
                        .execute()
                        .await?
                        .ok_or_else(|| {
                            worker::Error::RustError(format!("segment {key} is missing"))
                        })?;
                    match object.body() {
                        Some(body) => body.stream(),
                        None => Err(worker::Error::RustError(format!(
                            "segment {key} has no body"
                        ))),
                    }
                }
            })
            .try_flatten();
        // The body streams from wasm after the fetch handler has returned.
        let in_flight = super::guard::InFlight::enter();
        let stream = stream.inspect(move |_| {
            let _ = &in_flight;
        });
        let (_, body) = worker::Response::from_stream(stream)
            .map_err(storage_error)?
            .into_parts();
        Ok(body)
    }

    async fn get_bytes(&self, key: &str) -> StorageResult<Option<(ObjectInfo, Vec<u8>)>> {
        let Some(object) = self.fetch(key).await? else {
            return Ok(None);
        };
        let bytes = match object.body() {
            Some(body) => body.bytes().await.map_err(storage_error)?,
            None => Vec::new(),
        };
        Ok(Some((info(&object), bytes)))
    }

    async fn read(&self, key: &str) -> StorageResult<Option<Self::Reader>> {
        let Some(object) = self.fetch(key).await? else {
            return Ok(None);
        };
        let Some(body) = object.body() else {
            return Ok(Some(Box::pin(futures::stream::empty())));
        };
        let stream = body.stream().map_err(storage_error)?;
        Ok(Some(Box::pin(
            stream.map(|chunk| chunk.map_err(storage_error)),
        )))
    }

    async fn read_range(&self, key: &str, range: ByteRange) -> StorageResult<Option<Vec<u8>>> {
        let object = self
            .bucket
            .get(key)
            .range(Range::OffsetWithLength {
                offset: range.offset,
                length: range.length,
            })
            .execute()
            .await
            .map_err(storage_error)?;
        let Some(object) = object else {
            return Ok(None);
        };
        Ok(Some(match object.body() {
            Some(body) => body.bytes().await.map_err(storage_error)?,
            None => Vec::new(),
        }))
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        options: PutOptions,
    ) -> StorageResult<Option<ObjectInfo>> {
        let mut put = self.bucket.put(key, Data::Bytes(bytes));
        if let Some(content_type) = options.content_type {
            put = put.http_metadata(HttpMetadata {
                content_type: Some(content_type),
                ..HttpMetadata::default()
            });
        }
        if !options.metadata.is_empty() {
            put = put.custom_metadata(options.metadata.into_iter().collect::<HashMap<_, _>>());
        }
        put = match options.mode {
            PutMode::Overwrite => put,
            PutMode::CreateOnly => put.only_if(Conditional {
                etag_does_not_match: Some("*".into()),
                ..Conditional::default()
            }),
            PutMode::IfEtag(etag) => put.only_if(Conditional {
                etag_matches: Some(etag),
                ..Conditional::default()
            }),
        };
        Ok(put
            .execute()
            .await
            .map_err(storage_error)?
            .as_ref()
            .map(info))
    }

    /// The runtime streams the request body into R2, which checks the SHA-256: no byte passes
    /// through the worker. R2 knows the length from the request's Content-Length.
    async fn put_checked(
        &self,
        key: &str,
        body: ReadableStream,
        length: u64,
        sha256: [u8; 32],
    ) -> StorageResult<bool> {
        let put = self
            .bucket
            .put(key, Data::ReadableStream(body))
            .sha256(sha256.to_vec());
        self.verified(key, put, length).await
    }

    /// The runtime streams the body into R2, which knows its length from the Content-Length
    /// (or a fixed-length stream): no byte passes through the worker.
    async fn put_stream(&self, key: &str, body: ReadableStream, length: u64) -> StorageResult<()> {
        match self
            .bucket
            .put(key, Data::ReadableStream(body))
            .execute()
            .await
            .map_err(storage_error)?
        {
            Some(object) if object.size() == length => Ok(()),
            Some(object) => {
                self.bucket.delete(key).await.map_err(storage_error)?;
                Err(StorageError::Backend(format!(
                    "R2 stored {} bytes of {length}",
                    object.size()
                )))
            }
            None => Err(StorageError::Backend(format!("R2 did not store {key}"))),
        }
    }

    /// An object body from `get` is a stream of known length, which R2 takes as it is: the
    /// runtime pipes it from one bucket into the other, checked against the digest.
    async fn put_body(
        &self,
        key: &str,
        body: ResponseBody,
        length: u64,
        digest: &Digest,
    ) -> StorageResult<bool> {
        let data = match body {
            ResponseBody::Stream(stream) => Data::ReadableStream(stream),
            ResponseBody::Body(bytes) => Data::Bytes(bytes),
            ResponseBody::Empty => Data::Bytes(Vec::new()),
        };
        let checksum = hex::decode(digest.hex())
            .map_err(|e| StorageError::Backend(format!("digest {digest}: {e}")))?;
        let put = self.bucket.put(key, data);
        let put = match digest.algorithm() {
            Algorithm::Sha256 => put.sha256(checksum),
            Algorithm::Sha512 => put.sha512(checksum),
        };
        self.verified(key, put, length).await
    }

    async fn delete(&self, keys: &[String]) -> StorageResult<()> {
        match keys {
            [] => Ok(()),
            [key] => self
                .bucket
                .delete(key.as_str())
                .await
                .map_err(storage_error),
            keys => self
                .bucket
                .delete_multiple(keys.iter().map(String::as_str).collect())
                .await
                .map_err(storage_error),
        }
    }

    async fn list(&self, options: &ListOptions) -> StorageResult<ListPage> {
        let mut list = self
            .bucket
            .list()
            .prefix(options.prefix.clone())
            .limit(options.limit.clamp(1, LIST_PAGE_MAX));
        if let Some(after) = &options.start_after {
            list = list.start_after(after.clone());
        }
        if options.with_metadata {
            list = list.include(vec![Include::CustomMetadata, Include::HttpMetadata]);
        }
        let objects = list.execute().await.map_err(storage_error)?;
        Ok(ListPage {
            objects: objects.objects().iter().map(info).collect(),
            truncated: objects.truncated(),
        })
    }
}

impl MultipartStore for R2Store {
    async fn create_multipart(&self, key: &str) -> StorageResult<String> {
        let upload = self
            .bucket
            .create_multipart_upload(key)
            .execute()
            .await
            .map_err(storage_error)?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> StorageResult<String> {
        let upload = self
            .bucket
            .resume_multipart_upload(key, upload_id)
            .map_err(storage_error)?;
        let part = upload
            .upload_part(number, Data::Bytes(bytes))
            .await
            .map_err(storage_error)?;
        Ok(part.etag())
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> StorageResult<()> {
        let upload = self
            .bucket
            .resume_multipart_upload(key, upload_id)
            .map_err(storage_error)?;
        let parts = etags
            .iter()
            .enumerate()
            .map(|(i, etag)| UploadedPart::new(i as u16 + 1, etag.clone()));
        upload.complete(parts).await.map_err(storage_error)?;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> StorageResult<()> {
        let upload = self
            .bucket
            .resume_multipart_upload(key, upload_id)
            .map_err(storage_error)?;
        upload.abort().await.map_err(storage_error)
    }
}
