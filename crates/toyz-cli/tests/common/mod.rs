//! What the tests of the real binary share: a `toyz serve` child on 127.0.0.1:0 and a blocking HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use std::time::Instant;

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
    start_env(args, &[])
}

/// `toyz ARGS` with extra environment variables (an object store's `AWS_*`).
pub fn start_env(args: &[&str], env: &[(&str, String)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TOYZ_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = banner_url(&mut child);
    Server { child, url }
}

/// The URL `toyz serve` prints on its first line of stdout (piped), without a trailing `/`.
pub fn banner_url(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in '{line}'"))
        .trim_end_matches('/')
        .to_owned()
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
    serve_root_env(name, data, s(cache), extra, &[])
}

/// `serve_root` with the cache given as text (a folder or `s3://…`) and extra environment variables
/// (an object store's `AWS_*`).
pub fn serve_root_env(
    name: &str,
    data: &Path,
    cache: &str,
    extra: &[&str],
    env: &[(&str, String)],
) -> Server {
    let root = format!("{name}={}", s(data));
    let mut args = vec![
        "serve",
        "--root",
        &root,
        "--bind",
        "127.0.0.1:0",
        "--cache",
        cache,
    ];
    args.extend_from_slice(extra);
    start_env(&args, env)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Nginx {
    pub dir: PathBuf,
    pub url: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("nginx")
            .args(["-p", s(&self.dir), "-c", "nginx.conf", "-s", "stop"])
            .output();
    }
}

/// nginx as an ordinary load balancer over `upstreams`: round robin, an idempotent request that
/// failed on one replica tried on the next, WebSocket upgrades passed through.
pub fn nginx(dir: &Path, upstreams: &[&str]) -> Nginx {
    assert!(
        Command::new("nginx").arg("-v").output().is_ok(),
        "these tests need nginx (Debian: apt-get install nginx-light)"
    );
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {};\n", u.trim_start_matches("http://")))
        .collect();
    // A port picked free just before nginx binds it (nginx cannot bind port 0): retried if taken.
    for _ in 0..5 {
        let port = free_port();
        let conf = format!(
            "daemon on;\npid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
             upstream toyz {{\n{servers}    keepalive 16;\n  }}\n\
             map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://toyz;\n\
             proxy_http_version 1.1;\n      proxy_set_header Host $http_host;\n\
             proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n\
             proxy_next_upstream error timeout http_502 http_503;\n      proxy_read_timeout 300s;\n    }}\n  }}\n}}\n",
            dir = s(dir)
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let out = Command::new("nginx")
            .args(["-p", s(dir), "-c", "nginx.conf"])
            .output()
            .unwrap();
        if out.status.success() {
            let url = format!("http://127.0.0.1:{port}");
            // Started: wait until it answers.
            let t0 = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "nginx did not start"
                );
                std::thread::yield_now();
            }
            return Nginx {
                dir: dir.to_owned(),
                url,
            };
        }
    }
    panic!(
        "nginx would not start: see {}",
        dir.join("logs/error.log").display()
    );
}
