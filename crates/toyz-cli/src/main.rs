//! The `toyz` command: thin subcommands over toyz-fits and toyz-pyramid. Exit codes: 0 success,
//! 1 failure of the machine (I/O), 2 bad input (one line on stderr), 130 stopped by Ctrl-C.

mod cache;
mod info;
mod pixel;
mod plan;
mod serve;
mod tiles;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "toyz",
    version,
    about = "Tiled viewing of huge astronomical FITS images"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// HDUs, dimensions, BITPIX, scaling, WCS summary and statistics of a FITS file.
    Info(info::Args),
    /// The value and sky position of a FITS pixel (1-based), or the pixel of a sky position.
    Pixel(pixel::Args),
    /// Pre-generate tile pyramids.
    Tiles {
        #[command(subcommand)]
        cmd: tiles::Cmd,
    },
    /// Inspect and prune a tile cache.
    Cache {
        #[command(subcommand)]
        cmd: cache::Cmd,
    },
    /// Serve tiles and the JSON API over data roots.
    Serve(serve::ServeArgs),
    /// Write demo data (if missing) and serve it.
    Demo(serve::DemoArgs),
    /// Accounts for `serve --auth`: add, passwd, del, list.
    User {
        #[command(subcommand)]
        cmd: users::UserCmd,
    },
    /// Groups of users: add, del, members.
    Group {
        #[command(subcommand)]
        cmd: users::GroupCmd,
    },
    /// Let a user, a group or everyone read a root, a folder or a file (or hide it: level none).
    Grant(users::GrantArgs),
    /// List the grants.
    Grants(users::GrantsArgs),
}

/// An error the user can act on: printed as one line, exit code 2 (or 1 for machine failures).
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    pub fn input(message: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<toyz_fits::FitsError> for Fail {
    fn from(e: toyz_fits::FitsError) -> Fail {
        Fail {
            code: if e.error_kind() == toyz_fits::ErrorKind::Io {
                1
            } else {
                2
            },
            message: e.to_string(),
        }
    }
}

impl From<toyz_pyramid::EngineError> for Fail {
    fn from(e: toyz_pyramid::EngineError) -> Fail {
        let code = match &e {
            toyz_pyramid::EngineError::Cancelled => 130,
            e if e.is_user_error() => 2,
            _ => 1,
        };
        Fail {
            code,
            message: e.to_string(),
        }
    }
}

/// glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and
/// memory freed in one is reused only there: a server's many threads (actix workers, the blocking
/// pool, rayon) kept hundreds of MiB they no longer used (a 20-minute soak peaked at 1,872 MiB against
/// its 1,536 MiB budget; with 2 arenas, 1,558 MiB). Two arenas, unless `MALLOC_ARENA_MAX` says
/// otherwise (glibc reads it itself).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; this runs first in main, before
        // any other thread of this process exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    // Files are read through memory maps that survive being truncated under the reader (a SIGBUS
    // handler of this process turns such a page into an error, not a crash).
    toyz_fits::install_sigbus_guard();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Info(a) => info::run(a),
        Cmd::Pixel(a) => pixel::run(a),
        Cmd::Tiles { cmd } => tiles::run(cmd),
        Cmd::Cache { cmd } => cache::run(cmd),
        Cmd::Serve(a) => serve::serve(a),
        Cmd::Demo(a) => serve::demo(a),
        Cmd::User { cmd } => users::user(cmd),
        Cmd::Group { cmd } => users::group(cmd),
        Cmd::Grant(a) => users::grant(a),
        Cmd::Grants(a) => users::grants(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // One line: a reason never spans lines, whatever the library said.
            eprintln!("toyz: error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
}

/// Open a FITS file for reading; a gzip'd one is decompressed whole first (into a temporary folder,
/// removed when the returned guard drops), so a truncated `.gz` is refused by every command alike
/// instead of giving values from the part that survived (as the server does).
pub fn open_file(
    path: &std::path::Path,
) -> Result<(std::sync::Arc<toyz_fits::Pinned>, Option<tempfile::TempDir>), Fail> {
    let p = toyz_fits::Pinned::open(path)?;
    if !p.is_gzip() {
        return Ok((std::sync::Arc::new(p), None));
    }
    let dir = tempfile::tempdir().map_err(|e| Fail {
        code: 1,
        message: format!("cannot make a temporary folder: {e}"),
    })?;
    let u = toyz_fits::Pinned::open_unpacked(path, dir.path())?;
    Ok((std::sync::Arc::new(u), Some(dir)))
}

/// Parse `--hdu` the same way everywhere.
pub fn hdu_arg(s: Option<&str>) -> Result<toyz_fits::HduSel, Fail> {
    match s {
        None => Ok(toyz_fits::HduSel::Auto),
        Some(s) => s
            .parse()
            .map_err(|e: toyz_fits::FitsError| Fail::input(e.to_string())),
    }
}

/// Print a line on stdout. A closed stdout (`toyz info F | head -1`) is not an error: the output is
/// dropped quietly and the command carries on (a build keeps building).
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `out!` without the newline.
#[macro_export]
macro_rules! out_part {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// Print JSON to stdout (serialisation of our own types cannot fail).
pub fn print_json(v: &impl serde::Serialize) {
    out!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}
