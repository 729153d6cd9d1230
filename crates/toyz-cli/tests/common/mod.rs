//! What the tests of the real binary share: a `toyz serve` child on 127.0.0.1:0 and a blocking HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .env("TOYZ_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in '{line}'"))
        .trim_end_matches('/')
        .to_owned();
    Server { child, url }
}

pub fn get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_vec().unwrap())
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `toyz serve` over one data root `NAME=data` on 127.0.0.1:0 with its cache, plus `extra` arguments.
pub fn serve_root(name: &str, data: &Path, cache: &Path, extra: &[&str]) -> Server {
    let root = format!("{name}={}", s(data));
    let mut args = vec![
        "serve",
        "--root",
        &root,
        "--bind",
        "127.0.0.1:0",
        "--cache",
        s(cache),
    ];
    args.extend_from_slice(extra);
    start(&args)
}
