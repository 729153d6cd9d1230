//! `toyz user`, `toyz group`, `toyz grant(s)` and `toyz serve --auth/--public` as an administrator runs
//! them: passwords from stdin, exit 2 with one line for every mistake, JSON listings, and a server that
//! refuses to start without an account or on a public address without accounts. On SQLite, or on
//! PostgreSQL when `TOYZ_TEST_POSTGRES` names a server (a database of its own per test).

mod common;
use common::{json, s, serve_root};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use toyz_server::test_db::TestDb;

fn toyz(args: &[&str], stdin: &str) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses before reading its password closes stdin first: not an error here.
    let _ = c.stdin.take().unwrap().write_all(stdin.as_bytes());
    c.wait_with_output().unwrap()
}

fn input_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "'{err}' should mention '{needle}'");
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn users_groups_and_grants_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let test_db = TestDb::new(d.path().join("toyz.sqlite"));
    let db = s(test_db.path());
    ok(&toyz(
        &["user", "add", "ada", "--admin", "--db", db],
        "a long password\n",
    ));
    ok(&toyz(
        &["user", "add", "bob", "--db", db],
        "bob's password\n",
    ));
    input_error(
        &toyz(&["user", "add", "ada", "--db", db], "whatever else\n"),
        "exists",
    );
    input_error(
        &toyz(&["user", "add", "eve", "--db", db], "short\n"),
        "at least 8",
    );
    input_error(
        &toyz(&["user", "add", "eve", "--db", db], ""),
        "no password",
    );
    input_error(
        &toyz(&["user", "add", "a:b", "--db", db], "long enough\n"),
        "not a name",
    );
    ok(&toyz(&["group", "add", "class", "bob", "--db", db], ""));
    input_error(&toyz(&["group", "add", "class", "--db", db], ""), "exists");
    input_error(
        &toyz(
            &["group", "members", "class", "--add", "nobody", "--db", db],
            "",
        ),
        "no user",
    );
    ok(&toyz(
        &["grant", "group:class", "sky/public/", "read", "--db", db],
        "",
    ));
    ok(&toyz(
        &["grant", "everyone", "sky/private", "none", "--db", db],
        "",
    ));
    input_error(
        &toyz(&["grant", "crowd", "sky", "read", "--db", db], ""),
        "user:NAME",
    );
    input_error(
        &toyz(&["grant", "everyone", "sky/../etc", "read", "--db", db], ""),
        "not a path",
    );
    input_error(
        &toyz(&["grant", "everyone", "sky", "write", "--db", db], ""),
        "not a level",
    );
    input_error(
        &toyz(&["grant", "group:nobody", "sky", "read", "--db", db], ""),
        "no group",
    );
    let users = json(ok(&toyz(&["user", "list", "--json", "--db", db], "")).as_bytes());
    assert_eq!(
        users,
        serde_json::json!([
            {"name": "ada", "admin": true, "groups": []},
            {"name": "bob", "admin": false, "groups": ["class"]}
        ])
    );
    let grants = json(ok(&toyz(&["grants", "--json", "--db", db], "")).as_bytes());
    assert_eq!(
        grants,
        serde_json::json!([
            {"who": "everyone", "path": "sky/private", "level": "none"},
            {"who": "group:class", "path": "sky/public", "level": "read"}
        ])
    );
    ok(&toyz(
        &["group", "members", "class", "--remove", "bob", "--db", db],
        "",
    ));
    ok(&toyz(
        &["user", "passwd", "bob", "--db", db],
        "a new password\n",
    ));
    input_error(
        &toyz(
            &["user", "passwd", "nobody", "--db", db],
            "a new password\n",
        ),
        "no user",
    );
    ok(&toyz(&["group", "del", "class", "--db", db], ""));
    ok(&toyz(&["user", "del", "bob", "--db", db], ""));
    input_error(&toyz(&["user", "del", "bob", "--db", db], ""), "no user");
    let grants = json(ok(&toyz(&["grants", "--json", "--db", db], "")).as_bytes());
    assert_eq!(
        grants.as_array().unwrap().len(),
        1,
        "the group's grant left with it"
    );
    // The password is stored as an argon2id hash only.
    let text = test_db.dump();
    assert!(!text.contains("a long password"));
}

fn serve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toyz"))
        .arg("serve")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn serve_needs_an_account_for_auth_and_auth_for_a_public_address() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let root = format!("sky={}", s(&data));
    let cache = d.path().join("cache");
    let test_db = TestDb::new(d.path().join("toyz.sqlite"));
    let db = test_db.path().to_owned();
    let base = ["--root", &root, "--cache", s(&cache)];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let out = serve(&with(
        &base,
        &["--bind", "127.0.0.1:0", "--auth", "--db", s(&db)],
    ));
    input_error(&out, "toyz user add");
    let out = serve(&with(&base, &["--bind", "0.0.0.0:0"]));
    input_error(&out, "--auth");
    ok(&toyz(
        &["user", "add", "root", "--admin", "--db", s(&db)],
        "root password\n",
    ));
    // With an account, --auth on a public address starts; so does --public (with a warning line).
    let srv = serve_root("sky", &data, &cache, &["--auth", "--db", s(&db)]);
    let (status, body) = common::get(&format!("{}/api/files?path=", srv.url));
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    drop(srv);
    let mut child = Command::new(env!("CARGO_BIN_EXE_toyz"))
        .arg("serve")
        .args(with(&base, &["--bind", "0.0.0.0:0", "--public"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("serving"), "{line}");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: serving every file"), "{err}");
}

/// `--db` takes a SQLite file or a postgres:// URL; another scheme is refused in one line (exit 2),
/// and no message shows a URL's password (an unreachable server is a failure of the machine: 1).
#[test]
fn other_databases_are_refused_and_passwords_never_shown() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mysql = "mysql://u:secret@127.0.0.1/toyz";
    let out = toyz(&["user", "list", "--db", mysql], "");
    input_error(&out, "unsupported account database");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
    let root = format!("sky={}", s(&data));
    let cache = d.path().join("cache");
    let out = serve(&[
        "--root",
        &root,
        "--cache",
        s(&cache),
        "--auth",
        "--db",
        mysql,
    ]);
    input_error(&out, "mysql://u@127.0.0.1/toyz");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
    let out = toyz(
        &[
            "user",
            "list",
            "--db",
            "postgres://u:secret@127.0.0.1:1/toyz",
        ],
        "",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("postgres://u@127.0.0.1:1/toyz"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
