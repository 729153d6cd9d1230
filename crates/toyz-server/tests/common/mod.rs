//! What the server's integration tests share: the real server on 127.0.0.1:0 in its own thread.
#![allow(dead_code)]

use std::net::SocketAddr;
use toyz_server::{Config, JobRegistry, Overrides};

/// Start the server with `registry` over root `data` and `cache`, with more `overrides` (auth, …) and
/// settings changed by `adjust`; returns the address it listens on.
pub fn start_server(
    registry: JobRegistry,
    overrides: Overrides,
    adjust: impl FnOnce(&mut Config) + Send + 'static,
) -> SocketAddr {
    // As the toyz binary does: files are read through guarded memory maps.
    toyz_fits::install_sigbus_guard();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let mut config = Config::load(
                None,
                Overrides {
                    bind: Some("127.0.0.1:0".into()),
                    ..overrides
                },
            )
            .unwrap();
            adjust(&mut config);
            let (server, addr) = toyz_server::start_with(config, registry).unwrap();
            tx.send(addr).unwrap();
            server.await.unwrap();
        })
    });
    rx.recv().unwrap()
}
