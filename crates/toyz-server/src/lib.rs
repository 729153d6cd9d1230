//! The toyz tile server (actix-web): tiles, the JSON API, caches. `routes` is shared by the binary and
//! the tests; `start` binds (port 0 works) and reports the address it got.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod budget;
pub mod config;
pub mod cutout;
pub mod error;
pub mod guard;
pub mod levels;
pub mod login;
pub mod metrics;
pub mod paths;
pub mod request;
pub mod service;
pub mod sources;
pub mod state;
#[doc(hidden)]
pub mod test_db;
pub mod tile_cache;
pub mod tiles;
pub mod viewer;
pub mod workspaces;
pub mod ws;

pub use config::{Config, Overrides, Root};
pub use error::{ApiError, Kind};
pub use state::AppState;
pub use ws::{JobCtx, JobError, JobRegistry, JobResult, OpenImage};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, App};
use std::net::SocketAddr;
use std::time::Instant;

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::bad_request(e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::bad_request(e.to_string()).into()),
    )
    // JSON bodies: logins and the admin console are small, a workspace's state at most
    // `session_state_max` (1 MiB by default; checked by the handler, 413 beyond).
    .app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(|e, _| {
                use actix_web::error::JsonPayloadError as J;
                match e {
                    J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::of(
                        Kind::TooLarge,
                        format!("JSON bodies are at most {MAX_JSON_BODY} bytes"),
                    ),
                    e => ApiError::bad_request(e.to_string()),
                }
                .into()
            }),
    )
    .route("/healthz", web::get().to(api::healthz))
    .route("/metrics", web::get().to(api::metrics))
    .route("/api/files", web::get().to(api::files))
    .route("/api/sources", web::get().to(api::sources))
    .route("/api/header", web::get().to(api::header))
    .route("/api/pixel", web::get().to(api::pixel))
    .route("/api/histogram", web::get().to(api::histogram))
    .route("/api/cutout", web::get().to(cutout::cutout))
    .route("/api/colorbar", web::get().to(api::colorbar))
    .route("/tiles/{sid}/{rid}/{z}/{x}/{y}", web::get().to(tiles::tile))
    // HEAD as GET without the body (actix-http leaves it out): caches and link checkers ask so.
    .route(
        "/tiles/{sid}/{rid}/{z}/{x}/{y}",
        web::head().to(tiles::tile),
    )
    .route("/healthz", web::head().to(api::healthz))
    .route("/ws", web::get().to(ws::ws))
    .route("/login", web::get().to(login::page))
    .route("/api/login", web::post().to(login::login))
    .route("/api/logout", web::post().to(login::logout))
    .route("/api/me", web::get().to(login::me))
    .route("/admin", web::get().to(admin::page))
    .route("/api/admin/accounts", web::get().to(admin::accounts))
    .route("/api/admin/users", web::post().to(admin::add_user))
    .route(
        "/api/admin/users/{name}",
        web::delete().to(admin::delete_user),
    )
    .route("/api/admin/groups", web::post().to(admin::add_group))
    .route(
        "/api/admin/groups/{name}",
        web::delete().to(admin::delete_group),
    )
    .route(
        "/api/admin/groups/{name}/members",
        web::post().to(admin::members),
    )
    .route("/api/admin/grants", web::post().to(admin::grant))
    .route("/api/admin/grants/revoke", web::post().to(admin::revoke))
    .route("/api/admin/sessions", web::get().to(admin::sessions))
    .route("/api/admin/sessions", web::delete().to(admin::end_sessions))
    .route("/api/admin/cache", web::get().to(admin::cache))
    .route("/api/admin/cache/prune", web::post().to(admin::prune))
    .route("/api/workspaces", web::get().to(workspaces::list))
    .route("/api/workspaces", web::post().to(workspaces::create))
    .route("/api/workspaces/{id}", web::get().to(workspaces::get))
    .route("/api/workspaces/{id}", web::put().to(workspaces::update))
    .route("/api/workspaces/{id}", web::delete().to(workspaces::delete))
    .route(guard::REFUSED_PATH, web::get().to(guard::refused))
    .configure(crate::viewer::routes)
    .default_service(web::to(|req: actix_web::HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )))
    }));
}

/// The largest JSON request body read.
pub const MAX_JSON_BODY: usize = 4 << 20;

/// The longest URL (path and query) the server reads.
pub const MAX_URL: usize = 8192;

/// Build the app around shared state with toyz's built-in jobs.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(state, web::Data::new(JobRegistry::with_builtins()))
}

/// Build the app around shared state and a job registry (programs embedding toyz add their own jobs).
pub fn app_with(
    state: web::Data<AppState>,
    registry: web::Data<JobRegistry>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(registry)
        .wrap(actix_web::middleware::from_fn(front))
        .configure(routes)
}

/// In front of every route: over-long URLs refused, the login gate (with --auth), metrics and the
/// request log.
async fn front(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Over-long URLs are refused here with a JSON error (heads over 64 KiB never get this far: see
    // `guard`).
    if req.uri().to_string().len() > MAX_URL {
        let e = ApiError::new(
            actix_web::http::StatusCode::URI_TOO_LONG,
            Kind::BadRequest,
            format!("URLs are at most {MAX_URL} bytes"),
        );
        use actix_web::ResponseError;
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    }
    // Only the host names this server answers to (DNS rebinding: see `Config::host_allowed`). The
    // head guard's refusals (a head too large to read) and the health check (no data; load
    // balancers ask it by address or any name) answer whatever the host.
    if let Some(s) = req
        .app_data::<web::Data<AppState>>()
        .filter(|_| req.path() != guard::REFUSED_PATH && req.path() != "/healthz")
    {
        let host = req
            .headers()
            .get(actix_web::http::header::HOST)
            .map(|h| h.to_str().unwrap_or("?"));
        if !s.config.host_allowed(host) {
            let e = ApiError::of(
                Kind::BadHost,
                format!(
                    "this server does not answer to the host name {}: use its address, \
                     or list the name in the config's hosts",
                    host.unwrap_or("")
                ),
            );
            use actix_web::ResponseError;
            return Ok(req.into_response(e.error_response()).map_into_right_body());
        }
    }
    // With --auth, only logged-in requests go further (login, health and static files excepted).
    if let Some(refusal) = login::gate(req.request()).await {
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    let t0 = Instant::now();
    let route = metrics::route_index(req.path());
    // One log line per request at info level; nothing is captured when it is filtered out.
    let line =
        tracing::enabled!(tracing::Level::INFO).then(|| format!("{} {}", req.method(), req.path()));
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    if let Some(s) = res.request().app_data::<web::Data<AppState>>() {
        s.metrics.request(route, status);
    }
    if let Some(line) = line {
        tracing::info!("{line} {status} {:.1}ms", t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(res.map_into_left_body())
}

/// Bind and start the server; returns it (await it to run) and the bound address.
pub fn start(config: Config) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    start_with(config, JobRegistry::with_builtins())
}

/// `start` with a given job registry: how a program embedding toyz serves its own jobs.
pub fn start_with(
    config: Config,
    registry: JobRegistry,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
    std::fs::create_dir_all(&config.cache_dir)?;
    let access = auth::open(&config).map_err(std::io::Error::other)?;
    let listeners = bind_all(&config.bind)?;
    let addr = listeners[0].local_addr()?;
    let state = web::Data::new(AppState::with_access(config, access)?);
    let registry = web::Data::new(registry);
    // actix-web's HttpServer cannot wrap a connection, so the server is assembled from its parts
    // (as HttpServer does) with each accepted stream behind a `HeadGuard`.
    // Requests in flight get 2 s to finish after SIGTERM (the docs promise an exit within 5 s).
    let mut builder = actix_server::Server::build().shutdown_timeout(2);
    let conns = guard::ConnLimits::new(
        state.config.limits.connections,
        state.config.limits.connections_per_address,
    );
    for lst in listeners {
        let local = lst.local_addr()?;
        let (state, registry, conns) = (state.clone(), registry.clone(), conns.clone());
        builder = builder.listen(format!("toyz-{local}"), lst, move || {
            let app = app_with(state.clone(), registry.clone())
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            let http = actix_http::HttpService::build()
                .keep_alive(actix_http::KeepAlive::Timeout(
                    std::time::Duration::from_secs(5),
                ))
                .client_request_timeout(std::time::Duration::from_secs(5))
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(local)
                .h1(map_config(app, |_| actix_web::dev::AppConfig::default()));
            let conns = conns.clone();
            fn_service(move |io: tokio::net::TcpStream| {
                let conns = conns.clone();
                async move {
                    let peer = io.peer_addr().ok();
                    // Over the connection limits: closed at once (dropped), nothing read.
                    let Some(ticket) = conns.admit(peer.map(|p| p.ip())) else {
                        return Err(actix_http::error::DispatchError::Io(std::io::Error::other(
                            "too many connections",
                        )));
                    };
                    let _ = io.set_nodelay(true);
                    Ok::<_, actix_http::error::DispatchError>((
                        guard::HeadGuard::with_ticket(io, Some(ticket)),
                        peer,
                    ))
                }
            })
            .and_then(http)
        })?;
    }
    Ok((builder.run(), addr))
}

/// Listen on every address `bind` names (as actix-web's HttpServer does: address reuse, a backlog
/// of 1024); an error only when none could be bound.
fn bind_all(bind: &str) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::ToSocketAddrs;
    let (mut out, mut err) = (Vec::new(), None);
    for a in bind.to_socket_addrs()? {
        let r = (|| {
            let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&a.into())?;
            s.listen(1024)?;
            Ok::<_, std::io::Error>(std::net::TcpListener::from(s))
        })();
        match r {
            Ok(l) => out.push(l),
            Err(e) => err = Some(e),
        }
    }
    if out.is_empty() {
        return Err(err.unwrap_or_else(|| std::io::Error::other("bound to no address")));
    }
    Ok(out)
}
