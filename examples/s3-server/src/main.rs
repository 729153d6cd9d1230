//! `toyz-s3-server ROOT [--bind ADDR] [--bucket NAME]...`: serve ROOT over S3 until stopped, printing
//! `http://ADDR` on the first line (for scripts: the Slurm example, the scale-out benchmark).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut root, mut bind, mut buckets) = (None, "127.0.0.1:0".to_owned(), Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().unwrap_or_default(),
            "--bucket" => buckets.push(args.next().unwrap_or_default()),
            _ if root.is_none() && !a.starts_with('-') => root = Some(a),
            _ => {
                eprintln!("usage: toyz-s3-server ROOT [--bind ADDR] [--bucket NAME]...");
                return ExitCode::from(2);
            }
        }
    }
    let Some(root) = root else {
        eprintln!("usage: toyz-s3-server ROOT [--bind ADDR] [--bucket NAME]...");
        return ExitCode::from(2);
    };
    let names: Vec<&str> = buckets.iter().map(String::as_str).collect();
    match toyz_s3_server::start(std::path::Path::new(&root), &bind, &names) {
        Ok(s) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{}", s.endpoint());
            let _ = out.flush();
            // Serve until killed.
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("toyz-s3-server: {e}");
            ExitCode::from(1)
        }
    }
}
