//! `toyz user …`, `toyz group …`, `toyz grant`, `toyz grants`: accounts in the server's database
//! (`--db FILE`, default `toyz.sqlite` in the working directory, as `toyz serve` without a config file;
//! or `--db postgres://USER@HOST:PORT/DBNAME`, the database that replicas share).

use crate::{out, print_json, Fail};
use clap::{Args as ClapArgs, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use toyz_server::accounts::{AccountStore, Level, StoreError, Who};

#[derive(ClapArgs)]
pub struct Db {
    /// The account database: a SQLite file (created if missing) or postgres://USER@HOST:PORT/DBNAME
    #[arg(long, default_value = "toyz.sqlite")]
    db: PathBuf,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user; the password is one line on stdin, or asked twice on a terminal.
    Add {
        name: String,
        /// May read everything and manage accounts.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        db: Db,
    },
    /// Set a user's password (ends their login sessions).
    Passwd {
        name: String,
        #[command(flatten)]
        db: Db,
    },
    /// Delete a user, their sessions and their grants.
    Del {
        name: String,
        #[command(flatten)]
        db: Db,
    },
    /// List users with their groups.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Add a group, with its first members.
    Add {
        group: String,
        users: Vec<String>,
        #[command(flatten)]
        db: Db,
    },
    /// Delete a group and its grants.
    Del {
        group: String,
        #[command(flatten)]
        db: Db,
    },
    /// Add or remove members.
    Members {
        group: String,
        #[arg(long, conflicts_with = "remove", required_unless_present = "remove")]
        add: bool,
        #[arg(long)]
        remove: bool,
        #[arg(required = true)]
        users: Vec<String>,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(ClapArgs)]
pub struct GrantArgs {
    /// user:NAME, group:NAME or everyone
    who: String,
    /// ROOT, ROOT/sub/dir or a file; covers everything below it
    path: String,
    /// read, or none (hides what a grant above allows)
    level: String,
    #[command(flatten)]
    db: Db,
}

#[derive(ClapArgs)]
pub struct GrantsArgs {
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: Db,
}

fn open(db: &Db) -> Result<Box<dyn AccountStore>, Fail> {
    toyz_server::accounts::open_store(&db.db).map_err(fail)
}

fn fail(e: StoreError) -> Fail {
    Fail {
        code: if matches!(e, StoreError::Db(_)) { 1 } else { 2 },
        message: e.to_string(),
    }
}

/// The new password: one line on stdin when it is not a terminal (scripts), else asked twice.
fn read_password(name: &str) -> Result<String, Fail> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Fail::input(format!("cannot read the password from stdin: {e}")))?;
        let p = line.trim_end_matches(['\n', '\r']).to_owned();
        if p.is_empty() {
            return Err(Fail::input("no password on stdin (one line expected)"));
        }
        return Ok(p);
    }
    let first = rpassword::prompt_password(format!("Password for {name}: "))
        .map_err(|e| Fail::input(format!("cannot read the password: {e}")))?;
    let again = rpassword::prompt_password("Again: ")
        .map_err(|e| Fail::input(format!("cannot read the password: {e}")))?;
    if first != again {
        return Err(Fail::input("the two passwords differ"));
    }
    Ok(first)
}

pub fn user(cmd: UserCmd) -> Result<(), Fail> {
    match cmd {
        UserCmd::Add { name, admin, db } => {
            toyz_server::accounts::check_name(&name).map_err(fail)?;
            let s = open(&db)?;
            if s.users().map_err(fail)?.iter().any(|u| u.name == name) {
                return Err(Fail::input(format!("user '{name}' exists")));
            }
            let p = read_password(&name)?;
            s.add_user(&name, &p, admin).map_err(fail)?;
            out!("added {}{name}", if admin { "admin " } else { "" });
        }
        UserCmd::Passwd { name, db } => {
            let s = open(&db)?;
            if !s.users().map_err(fail)?.iter().any(|u| u.name == name) {
                return Err(Fail::input(format!("no user '{name}'")));
            }
            let p = read_password(&name)?;
            s.set_password(&name, &p).map_err(fail)?;
            out!("password of {name} set; their sessions ended");
        }
        UserCmd::Del { name, db } => {
            open(&db)?.delete_user(&name).map_err(fail)?;
            out!("deleted {name}");
        }
        UserCmd::List { json, db } => {
            let users = open(&db)?.users().map_err(fail)?;
            if json {
                print_json(&users);
            } else {
                for u in users {
                    out!(
                        "{}{}{}",
                        u.name,
                        if u.admin { " (admin)" } else { "" },
                        if u.groups.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", u.groups.join(", "))
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn group(cmd: GroupCmd) -> Result<(), Fail> {
    match cmd {
        GroupCmd::Add { group, users, db } => {
            open(&db)?.add_group(&group, &users).map_err(fail)?;
            out!("added group {group}");
        }
        GroupCmd::Del { group, db } => {
            open(&db)?.delete_group(&group).map_err(fail)?;
            out!("deleted group {group}");
        }
        GroupCmd::Members {
            group,
            add,
            users,
            db,
            ..
        } => {
            open(&db)?.set_members(&group, &users, add).map_err(fail)?;
            out!(
                "{} {}: {}",
                group,
                if add { "gained" } else { "lost" },
                users.join(", ")
            );
        }
    }
    Ok(())
}

pub fn grant(a: GrantArgs) -> Result<(), Fail> {
    let who: Who = a.who.parse().map_err(fail)?;
    let level: Level = a.level.parse().map_err(fail)?;
    let path = toyz_server::accounts::check_grant_path(&a.path).map_err(fail)?;
    open(&a.db)?.grant(&who, &path, level).map_err(fail)?;
    out!("{who} {path} {}", a.level);
    Ok(())
}

pub fn grants(a: GrantsArgs) -> Result<(), Fail> {
    let list = open(&a.db)?.grants().map_err(fail)?;
    if a.json {
        print_json(&list);
    } else {
        for g in list {
            let level = match g.level {
                Level::Read => "read",
                Level::None => "none",
            };
            out!("{} {} {level}", g.who, g.path);
        }
    }
    Ok(())
}
