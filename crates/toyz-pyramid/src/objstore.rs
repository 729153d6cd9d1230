//! The tile store on an S3-compatible object store (`--cache s3://BUCKET/PREFIX`), through the
//! `object_store` crate: path-style requests, endpoint, region, credentials and plain-HTTP permission
//! from the environment as `AmazonS3Builder::from_env` reads them (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, …), overridden by [`S3Options`]
//! from the config file.
//!
//! The store's interface is blocking (the server calls it from blocking threads, the CLI from rayon
//! workers): each call runs on the store's own small tokio runtime and waits for the answer, so it
//! can be called from any thread, inside another runtime or not. A PUT is whole or absent, so tiles
//! are never torn; requests have timeouts and few retries, so a dead store is an error in seconds,
//! not a hung request.

use crate::tilestore::{check_key, TileStore};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use serde::Deserialize;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// S3 settings from the config file (`[s3]`); anything unset comes from the environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// `http://127.0.0.1:3900`, `https://s3.example.org`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow `http://` endpoints (TLS is required otherwise).
    pub allow_http: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl S3Options {
    /// A plain-HTTP endpoint with one access key (an S3 server on loopback for tests and benchmarks).
    pub fn plain_http(endpoint: String, access_key_id: &str, secret_access_key: &str) -> S3Options {
        S3Options {
            endpoint: Some(endpoint),
            region: Some("us-east-1".into()),
            allow_http: Some(true),
            access_key_id: Some(access_key_id.into()),
            secret_access_key: Some(secret_access_key.into()),
        }
    }
}

/// Tiles in a bucket, under a prefix.
pub struct S3Store {
    store: Arc<dyn ObjectStore>,
    /// `""` or `"some/prefix/"`.
    prefix: String,
    url: Arc<StoreName>,
    rt: Option<tokio::runtime::Runtime>,
}

/// What an error names: the store's URL, and whether it was given no credentials (then a refusal is
/// most likely that, and is said so rather than as the cloud metadata service's answer).
#[derive(Debug)]
struct StoreName {
    url: String,
    no_credentials: bool,
}

impl std::fmt::Display for StoreName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// True when nothing names credentials: no key in the config file or the environment, and none of
/// the ways a cloud platform hands them over (web identity, container credentials, an explicit
/// unsigned mode). object_store then asks the instance metadata service, whose refusal says
/// nothing useful off the cloud.
fn no_credentials(opts: &S3Options) -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    opts.access_key_id.is_none()
        && ![
            "AWS_ACCESS_KEY_ID",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_SKIP_SIGNATURE",
        ]
        .iter()
        .any(|k| set(k))
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("url", &self.url).finish()
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropped possibly inside another runtime (the server's): never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl S3Store {
    /// A store for `s3://bucket/prefix`. Nothing is contacted yet: see [`S3Store::check`].
    pub fn new(bucket: &str, prefix: &str, opts: &S3Options) -> io::Result<S3Store> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "30s")
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            );
        if let Some(e) = &opts.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &opts.region {
            b = b.with_region(r);
        }
        if let Some(h) = opts.allow_http {
            b = b.with_allow_http(h);
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &opts.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let store = b
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("toyz-s3")
            .enable_all()
            .build()?;
        let prefix = prefix.trim_matches('/');
        let url = Arc::new(StoreName {
            url,
            no_credentials: no_credentials(opts),
        });
        Ok(S3Store {
            store: Arc::new(store),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            url,
            rt: Some(rt),
        })
    }

    pub fn url(&self) -> &str {
        &self.url.url
    }

    fn check_bucket(&self) -> io::Result<()> {
        let store = self.store.clone();
        let prefix = self.path("")?;
        let url = self.url.clone();
        self.run(async move {
            store
                .list_with_delimiter(Some(&prefix))
                .await
                .map(|_| ())
                .map_err(|e| failed(&url, e))
        })?
    }

    fn path(&self, key: &str) -> io::Result<ObjPath> {
        let full = if key.is_empty() {
            self.prefix.trim_end_matches('/').to_owned()
        } else {
            format!("{}{}", self.prefix, check_key(key)?)
        };
        ObjPath::parse(&full)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }

    /// Run `f` on the store's runtime and wait for it.
    fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> io::Result<T> {
        let rt = self.rt.as_ref().expect("runtime");
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| io::Error::other(format!("{}: the request failed", self.url)))
    }

    /// Several byte ranges of one object (ranged GETs, nearby ranges coalesced).
    pub fn get_ranges(&self, key: &str, ranges: Vec<Range<u64>>) -> io::Result<Vec<bytes::Bytes>> {
        let (store, p, url) = (self.store.clone(), self.path(key)?, self.url.clone());
        self.run(async move {
            store
                .get_ranges(&p, &ranges)
                .await
                .map_err(|e| failed(&url, e))
        })?
    }
}

fn failed(url: &StoreName, e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    let text = e.to_string();
    if url.no_credentials
        && (text.contains("169.254.169.254") || kind == io::ErrorKind::PermissionDenied)
    {
        return io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{url}: no credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                 access_key_id and secret_access_key under [s3] in the config file"
            ),
        );
    }
    io::Error::new(kind, format!("{url}: {text}"))
}

impl TileStore for S3Store {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let (store, p, url) = (self.store.clone(), self.path(key)?, self.url.clone());
        self.run(async move {
            match store.get(&p).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
            .map_err(|e| failed(&url, e))
        })?
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let (store, p, url) = (self.store.clone(), self.path(key)?, self.url.clone());
        let payload = PutPayload::from(bytes.to_vec());
        self.run(async move {
            store
                .put(&p, payload)
                .await
                .map(|_| ())
                .map_err(|e| failed(&url, e))
        })?
    }

    fn exists(&self, key: &str) -> io::Result<bool> {
        let (store, p, url) = (self.store.clone(), self.path(key)?, self.url.clone());
        self.run(async move {
            match store.head(&p).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(failed(&url, e)),
            }
        })?
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let (store, p, url) = (self.store.clone(), self.path(prefix)?, self.url.clone());
        let strip = self.prefix.clone();
        let mut keys = self.run(async move {
            store
                .list(Some(&p))
                .map_ok(|m| m.location.as_ref().to_owned())
                .try_collect::<Vec<String>>()
                .await
                .map_err(|e| failed(&url, e))
        })??;
        for k in &mut keys {
            if let Some(rest) = k.strip_prefix(&strip) {
                *k = rest.to_owned();
            }
        }
        // Object stores list by whole path components: a whole key (a build's `render.json`) is
        // not under itself, so it is looked up as the one object it names.
        if keys.is_empty() && !prefix.is_empty() && !prefix.ends_with('/') && self.exists(prefix)? {
            keys.push(check_key(prefix)?.to_owned());
        }
        keys.sort();
        Ok(keys)
    }

    fn delete_prefix(&self, prefix: &str) -> io::Result<u64> {
        let keys = self.list(prefix)?;
        let paths = keys
            .iter()
            .map(|k| self.path(k))
            .collect::<io::Result<Vec<ObjPath>>>()?;
        let (store, url) = (self.store.clone(), self.url.clone());
        self.run(async move {
            let locations = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
            store
                .delete_stream(locations)
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await
                .map_err(|e| failed(&url, e))
        })?
    }

    fn describe(&self) -> String {
        self.url.url.clone()
    }

    fn check(&self) -> io::Result<()> {
        self.check_bucket()
    }
}
