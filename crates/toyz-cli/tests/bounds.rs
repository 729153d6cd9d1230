//! What the real `toyz serve` process holds, read from the kernel (/proc/PID/status), and how it
//! stops: a burst of failed logins from many addresses, session state at its limit in many
//! sessions, and SIGTERM while a long job or an uncancellable scan runs. Each bound is a state
//! reached, never a time raced.

mod common;
use common::{s, serve_root, Server};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use toyz_skygen::{write_fits, SkySpec};
use tungstenite::{Message, WebSocket};

/// A line of /proc/PID/status in MiB (VmHWM: the peak resident size; VmRSS: the current one).
fn status_mib(srv: &Server, key: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{}/status", srv.child.id())).unwrap();
    let kib: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc status"));
    kib / 1024.0
}

fn addr(srv: &Server) -> SocketAddr {
    srv.url.trim_start_matches("http://").parse().unwrap()
}

/// A data root `sky` holding one generated image `NAME` of `size`²: (the folder, the data root).
fn one_image(name: &str, size: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_fits(&data.join(name), &SkySpec::new(size, size)).unwrap();
    (d, data)
}

/// One HTTP/1.1 request from the loopback address `from` (Linux routes all of 127/8 locally, so
/// each client can be a different address to the server's throttle): (status, body).
fn request_from(from: std::net::Ipv4Addr, to: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let req = format!(
        "{head}\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |p| p.1).to_owned();
    (status, body)
}

fn metric(srv: &Server, name: &str) -> f64 {
    let (_, b) = common::get(&format!("{}/metrics", srv.url));
    String::from_utf8_lossy(&b)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

struct Ws(WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>);

impl Ws {
    fn connect(srv: &Server) -> Ws {
        let url = format!("{}/ws", srv.url.replace("http://", "ws://"));
        let (ws, _) = tungstenite::connect(url).unwrap();
        let mut c = Ws(ws);
        assert_eq!(c.recv()["event"], "session.ready");
        c
    }

    fn recv(&mut self) -> Value {
        loop {
            match self.0.read().unwrap() {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                _ => continue,
            }
        }
    }

    fn send(&mut self, v: &Value) {
        self.0.send(Message::text(v.to_string())).unwrap();
    }

    /// The final reply of job `id` (progress and events skipped).
    fn reply(&mut self, id: u64) -> Value {
        loop {
            let m = self.recv();
            if m["id"] == json!(id) && m["status"] != "progress" {
                return m;
            }
        }
    }
}

/// 40 wrong passwords at once, each from its own address and for its own name (so the throttle,
/// which counts per name and per address, lets every one be checked): each check is an argon2id
/// hash of 19 MiB, and at most four run at once, so the server's peak stays near its idle size
/// plus four hashes (it grew by 1.5 GB for 200 before), and the memory is given back after.
#[test]
fn a_login_burst_from_many_addresses_is_hashed_a_few_at_a_time() {
    let (d, data) = one_image("sky.fits", 64);
    let db = d.path().join("toyz.sqlite");
    let mut add = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(["user", "add", "ada", "--db", s(&db)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let srv = serve_root(
        "sky",
        &data,
        &d.path().join("cache"),
        &["--auth", "--db", s(&db)],
    );
    let to = addr(&srv);
    let before = status_mib(&srv, "VmRSS");
    let n = 40u8;
    let answers: Vec<(u16, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                sc.spawn(move || {
                    let body = json!({"user": format!("nobody{i}"), "password": "not it at all"});
                    request_from(
                        std::net::Ipv4Addr::new(127, 0, 1, 2 + i),
                        to,
                        "POST /api/login HTTP/1.1",
                        &body.to_string(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every attempt was checked and refused, none throttled: the burst did reach the hashing.
    for (st, b) in &answers {
        assert!(*st == 401 || *st == 503, "{st} {b}");
    }
    let checked = answers.iter().filter(|a| a.0 == 401).count();
    assert!(checked >= 8, "only {checked} of {n} were checked");
    let peak = status_mib(&srv, "VmHWM");
    let after = status_mib(&srv, "VmRSS");
    // Four hashes of 19 MiB and their threads, with room to spare; 40 at once would be 760 MiB.
    assert!(
        peak < before + 150.0,
        "peak {peak:.0} MiB from {before:.0} MiB idle for {checked} failed logins"
    );
    assert!(
        after < before + 100.0,
        "{after:.0} MiB kept after the burst (idle {before:.0} MiB)"
    );
}

/// Session state at its documented limit (1 MiB of JSON) in 30 sessions: a value is kept as the
/// text it came as, so the server holds about 30 MiB for it, not the 16 MiB per session a parsed
/// array of half a million numbers takes (100 such sessions were 2.2 GiB).
#[test]
fn session_state_at_its_limit_costs_its_size() {
    let (d, data) = one_image("sky.fits", 64);
    let srv = serve_root("sky", &data, &d.path().join("cache"), &[]);
    let before = status_mib(&srv, "VmRSS");
    // 1 MiB less a little for the key and brackets: [0,0,…] of ~520,000 numbers.
    let zeros = vec!["0"; (1 << 20) / 2 - 64].join(",");
    let value = format!(
        r#"{{"id": 1, "job": "session.set", "params": {{"key": "k", "value": [{zeros}]}}}}"#
    );
    let mut held = Vec::new();
    for _ in 0..30 {
        let mut c = Ws::connect(&srv);
        c.0.send(Message::text(value.clone())).unwrap();
        let r = c.reply(1);
        assert_eq!(r["result"]["keys"], json!(["k"]), "{r}");
        held.push(c);
    }
    // Each session holds its value: reading one back gives it whole.
    held[29].send(&json!({"id": 2, "job": "session.info", "params": {}}));
    let got = held[29].reply(2);
    assert_eq!(
        got["result"]["values"]["k"].as_array().map(Vec::len),
        Some((1 << 20) / 2 - 64),
        "{}",
        &got.to_string()[..200.min(got.to_string().len())]
    );
    let now = status_mib(&srv, "VmRSS");
    assert!(
        now < before + 150.0,
        "{now:.0} MiB with 30 sessions of 1 MiB state (idle {before:.0} MiB)"
    );
}

/// Send SIGTERM and wait for the process to end (a state: it has exited): its status and how long
/// that took.
fn sigterm(srv: &mut Server) -> (std::process::ExitStatus, Duration) {
    let pid = srv.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let t0 = Instant::now();
    loop {
        if let Some(st) = srv.child.try_wait().unwrap() {
            return (st, t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM while a job of minutes runs (a region's statistics over a polygon of 20,000 vertices on
/// a 4096² image, its client still connected): the process ends after the connections' grace
/// period instead of waiting for the job (9 s under load before; the job alone takes minutes).
#[test]
fn sigterm_ends_the_process_while_a_long_job_runs() {
    let (d, data) = one_image("big.fits", 4096);
    let mut srv = serve_root("sky", &data, &d.path().join("cache"), &[]);
    let mut c = Ws::connect(&srv);
    let n = 20_000;
    let pts: Vec<String> = (0..n)
        .map(|i| {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            format!(
                "{:.3},{:.3}",
                2048.0 + 1900.0 * t.cos(),
                2048.0 + 1900.0 * t.sin()
            )
        })
        .collect();
    let text = format!("image\npolygon({})\n", pts.join(","));
    c.send(&json!({"id": 1, "job": "regions.import", "params": {"text": text}}));
    let regs = c.reply(1)["result"]["regions"].clone();
    c.send(&json!({"id": 2, "job": "regions.stats",
        "params": {"path": "sky/big.fits", "regions": regs}}));
    // Running: it holds its pixels' share of the memory budget.
    while metric(&srv, "toyz_memory_reserved_bytes") == 0.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, took) = sigterm(&mut srv);
    assert!(status.success(), "graceful stop: {status:?}");
    // The grace period is 2 s; far beyond it, the process is waiting for the job.
    assert!(took < Duration::from_secs(30), "SIGTERM: {took:?}");
    drop(c);
}

/// SIGTERM while a request's work runs on a blocking thread that nothing can cancel: the exact
/// `minmax` cut of a never-seen 65536² image (16 GiB, sparse on disk) scans every pixel, seconds
/// even in a release build. The process ends after the connections' grace period (2 s) instead of
/// waiting for the scan.
#[test]
fn sigterm_does_not_wait_for_a_scan_in_flight() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let n = 65_536u64;
    let cards = [
        "SIMPLE  =                    T".to_owned(),
        "BITPIX  =                  -32".to_owned(),
        "NAXIS   =                    2".to_owned(),
        format!("NAXIS1  = {n:20}"),
        format!("NAXIS2  = {n:20}"),
        "END".to_owned(),
    ];
    let mut head: String = cards.iter().map(|c| format!("{c:<80}")).collect();
    head = format!("{head:<2880}");
    let f = std::fs::File::create(data.join("wide.fits")).unwrap();
    (&f).write_all(head.as_bytes()).unwrap();
    f.set_len(2880 + n * n * 4).unwrap();
    let mut srv = serve_root("sky", &data, &d.path().join("cache"), &[]);
    let url = format!("{}/api/sources?path=sky/wide.fits&cut=minmax", srv.url);
    let client = std::thread::spawn(move || common::get(&url).0);
    // Opened: the request goes on to the scan (the source is registered just before it).
    while metric(&srv, "toyz_sources") == 0.0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, took) = sigterm(&mut srv);
    assert!(status.success(), "graceful stop: {status:?}");
    // The documented promise: 5 s at most (2 s of grace, then the exit).
    eprintln!("SIGTERM to exit: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}: the process waited for the scan"
    );
    // The client saw its connection end (no reply), not a hang.
    let _ = client.join();
}
