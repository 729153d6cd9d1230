//! Drive the custom job over a real WebSocket against the real server on 127.0.0.1:0.

use serde_json::{json, Value};
use std::net::SocketAddr;
use toyz_server::{Config, Overrides};
use toyz_skygen::{write_fits, SkySpec};
use tungstenite::Message;

fn start(data: &std::path::Path, cache: &std::path::Path) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let (data, cache) = (data.to_owned(), cache.to_owned());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let o = Overrides {
                bind: Some("127.0.0.1:0".into()),
                cache: Some(cache),
                roots: vec![("sky".into(), data)],
                ..Default::default()
            };
            let (server, addr) = toyz_server::start_with(
                Config::load(None, o).unwrap(),
                toyz_example_custom_job::registry(),
            )
            .unwrap();
            tx.send(addr).unwrap();
            server.await.unwrap();
        })
    });
    rx.recv().unwrap()
}

#[test]
fn sky_background_over_a_real_socket() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut spec = SkySpec::new(400, 300);
    spec.stars = Some(0);
    spec.background = 1000.0;
    spec.noise = 30.0;
    write_fits(&data.join("flat.fits"), &spec).unwrap();
    let addr = start(&data, &d.path().join("cache"));
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    let mut call = |id: u64, job: &str, params: Value| -> Value {
        ws.send(Message::text(
            json!({"id": id, "job": job, "params": params}).to_string(),
        ))
        .unwrap();
        loop {
            if let Message::Text(t) = ws.read().unwrap() {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == json!(id) && v["status"] != "progress" {
                    return v;
                }
            }
        }
    };
    let jobs = call(1, "session.jobs", Value::Null);
    let job = jobs["result"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "sky.background")
        .cloned();
    let job = job.expect("the custom job is registered");
    assert!(job["params"]["properties"]["rect"].is_object());

    let r = call(
        2,
        "sky.background",
        json!({"path": "sky/flat.fits", "rect": [1, 1, 100, 100]}),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let res = &r["result"];
    // The generator's sky: 1000 plus a 5 % gradient across the image, Gaussian noise of σ = 30.
    assert!(
        (res["median"].as_f64().unwrap() - 1008.0).abs() < 5.0,
        "{res}"
    );
    assert!((res["sigma"].as_f64().unwrap() - 30.0).abs() < 2.0, "{res}");
    assert_eq!(res["pixels"], 10000);

    let r = call(
        3,
        "sky.background",
        json!({"path": "sky/flat.fits", "rect": [1, 1, 500, 10]}),
    );
    assert_eq!(r["error"]["kind"], "bad_params");
    let r = call(
        4,
        "sky.background",
        json!({"path": "sky/../etc", "rect": [1, 1, 5, 5]}),
    );
    assert_eq!(r["error"]["kind"], "forbidden");
    let r = call(5, "sky.background", json!({"path": "sky/flat.fits"}));
    assert_eq!(r["error"]["kind"], "bad_params", "missing rect");
}
