//! `toyz-custom-job --root NAME=PATH [--bind ADDR] [--cache DIR] [--auth --db FILE]`: the toyz server
//! with one more job (with `--auth`, it runs for the logged-in user and sees only what they may read).

use toyz_server::{Config, Overrides};

fn main() {
    let mut o = Overrides::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--root" => {
                let (n, p) = val
                    .split_once('=')
                    .unwrap_or_else(|| fail("--root NAME=PATH"));
                o.roots.push((n.to_owned(), p.into()));
            }
            "--bind" => o.bind = Some(val),
            "--cache" => o.cache = Some(val.into()),
            "--db" => o.database = Some(val.into()),
            "--auth" => {
                o.auth = true;
                i += 1;
                continue;
            }
            _ => fail("usage: toyz-custom-job --root NAME=PATH [--bind ADDR] [--cache DIR] [--auth --db FILE]"),
        }
        i += 2;
    }
    let config = Config::load(None, o).unwrap_or_else(|e| fail(&e));
    actix_web::rt::System::new().block_on(async move {
        let (server, addr) = toyz_server::start_with(config, toyz_example_custom_job::registry())
            .unwrap_or_else(|e| fail(&e.to_string()));
        println!("serving http://{addr}/ with the sky.background job (ws://{addr}/ws)");
        server.await.unwrap_or_else(|e| fail(&e.to_string()));
    });
}

fn fail(msg: &str) -> ! {
    eprintln!("toyz-custom-job: {msg}");
    std::process::exit(2)
}
