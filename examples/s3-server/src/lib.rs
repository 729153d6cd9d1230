//! An S3 server over a local folder, for toyz's tests, benchmarks and the Slurm example: s3s-fs (the
//! s3s project's file-system backend) behind hyper, path-style requests, with one access key. Each
//! top-level folder of the root is a bucket. Not for production: it is there so that the object-store
//! tile cache is tested against a real S3 protocol peer instead of a mock.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::net::SocketAddr;
use std::path::Path;

/// The access key and secret the server accepts (tests pass them as `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`).
pub const ACCESS_KEY: &str = "toyz-test";
pub const SECRET_KEY: &str = "toyz-test-secret";

/// A running server; stopped when dropped.
pub struct S3Server {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl S3Server {
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment a client (toyz, or object_store's `from_env`) needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Serve `root` on `bind` (port 0: any free port), with the buckets `buckets` created (as folders).
pub fn start(root: &Path, bind: &str, buckets: &[&str]) -> std::io::Result<S3Server> {
    for b in buckets {
        std::fs::create_dir_all(root.join(b))?;
    }
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut b = S3ServiceBuilder::new(fs);
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = b.build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("s3-server")
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(bind))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok(S3Server { addr, rt: Some(rt) })
}
