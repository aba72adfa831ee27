//! `nlab serve`: the Neutron-compatible REST API (axum on tokio) over the
//! vnet store, with a Keystone v3 token endpoint of its own and an OpenAPI
//! document built from the handlers' own types. Loopback by default.

mod auth;
mod meta;
mod query;
mod reconcile;
mod resources;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::json;

use crate::vnet::ops::{secgroups, Caller, Fault};
use crate::vnet::store::{Store, Tx, DEFAULT_DB};

pub(crate) use auth::DEFAULT_USERS;

/// What `nlab serve` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub lab: String,
    pub users: PathBuf,
    /// How long a Keystone token stays valid.
    pub token_life: std::time::Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 9696)),
            db: PathBuf::from(DEFAULT_DB),
            lab: "vnet".into(),
            users: PathBuf::from(DEFAULT_USERS),
            token_life: auth::TOKEN_LIFE,
        }
    }
}

/// The server's shared state.
pub(crate) struct App {
    store: Store,
    auth: auth::Auth,
    reconciler: reconcile::Reconciler,
}

/// `http://host:port` as the client reached this server (for links and
/// the service catalog).
#[derive(Clone, Debug)]
pub(crate) struct Base(pub String);

impl App {
    /// One write transaction; on commit, wakes the reconciler.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&Tx) -> Result<R, Fault>) -> Result<R, Fault> {
        let out = self.store.write(f)?;
        self.reconciler.wake();
        Ok(out)
    }

    /// Makes the caller's project's `default` security group if it has none.
    pub(crate) fn ensure_default(&self, caller: &Caller) -> Result<(), Fault> {
        if caller.project_id.is_empty() {
            return Ok(());
        }
        self.store
            .write(|tx| secgroups::ensure_default(tx, &caller.project_id).map(drop))
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}});
        (status, Json(body)).into_response()
    }
}

fn base_of(headers: &HeaderMap, listen: SocketAddr) -> Base {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| listen.to_string(), str::to_string);
    Base(format!("http://{host}"))
}

/// Paths anyone may read: version discovery and the token endpoint.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/v2.0" | "/v2.0/" | "/v3" | "/v3/" | "/v3/auth/tokens" | "/openapi.json"
    )
}

async fn authenticate(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Result<Response, Fault> {
    let listen = req
        .extensions()
        .get::<SocketAddr>()
        .copied()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
    let base = base_of(req.headers(), listen);
    req.extensions_mut().insert(base);
    if !is_public(req.uri().path()) {
        let token = req
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok());
        let session = app.auth.check(&app.store, token)?;
        if session.read_only && req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(Fault::forbidden(
                "The reader role may not change resources.",
            ));
        }
        req.extensions_mut().insert(session.caller);
    }
    Ok(next.run(req).await)
}

async fn issue_token(
    State(app): State<Arc<App>>,
    axum::Extension(base): axum::Extension<Base>,
    body: Bytes,
) -> Result<Response, Fault> {
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Fault::bad_request(format!("Malformed request body: {e}")))?;
    let (token, answer) = app.auth.issue(&app.store, &v, &base.0)?;
    let mut resp = (StatusCode::CREATED, Json(answer)).into_response();
    if let Ok(h) = token.parse() {
        resp.headers_mut().insert("x-subject-token", h);
    }
    Ok(resp)
}

/// `DELETE /v3/auth/tokens`: revokes the token in `X-Subject-Token` (the
/// caller authenticated with `X-Auth-Token`, as Keystone wants).
async fn revoke_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<StatusCode, Fault> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    app.auth.check(&app.store, header("x-auth-token"))?;
    app.auth.revoke(&app.store, header("x-subject-token"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole router: Neutron's collections and actions, discovery, the
/// extension list, the OpenAPI document, Keystone's token endpoint.
pub(crate) fn router(app: Arc<App>) -> axum::Router {
    let mut r = axum::Router::new();
    for c in resources::collections() {
        r = r
            .route(&format!("/v2.0/{}", c.path), c.list)
            .route(&format!("/v2.0/{}/{{id}}", c.path), c.one);
    }
    for (path, m) in resources::actions() {
        r = r.route(path, m);
    }
    r.route("/", get(meta::versions))
        .route("/v2.0", get(meta::resources))
        .route("/v2.0/", get(meta::resources))
        .route("/v2.0/extensions", get(meta::extensions))
        .route("/v2.0/extensions/{alias}", get(meta::extension))
        .route("/openapi.json", get(meta::openapi))
        .route("/v3", get(meta::identity_version))
        .route("/v3/", get(meta::identity_version))
        .route("/v3/auth/tokens", post(issue_token).delete(revoke_token))
        .fallback(meta::not_found)
        .layer(middleware::from_fn_with_state(app.clone(), authenticate))
        .with_state(app)
}

/// Runs `nlab serve` until SIGINT/SIGTERM.
pub(crate) fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let store = Store::open(&opts.db).map_err(|f| anyhow::anyhow!(f.message))?;
    // A database from before nlab kept DHCP ports gets them now.
    store
        .write(crate::vnet::ops::dhcp::sync_all)
        .map_err(|f| anyhow::anyhow!("giving networks their DHCP ports: {}", f.message))?;
    let auth = auth::Auth::load_or_create(&opts.users, opts.token_life)?;
    let store_for_reconcile = Store::open(&opts.db).map_err(|f| anyhow::anyhow!(f.message))?;
    let reconciler = reconcile::Reconciler::start(store_for_reconcile, opts.lab.clone())?;
    let app = Arc::new(App {
        store,
        auth,
        reconciler,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}; pick another with --listen", opts.listen))?;
        let addr = listener.local_addr()?;
        println!("nlab serve: Neutron API on http://{addr}/v2.0/, Keystone v3 on http://{addr}/v3 (database {}, lab {})", opts.db.display(), opts.lab);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let svc = router(app).layer(axum::Extension(addr));
        axum::serve(listener, svc)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| anyhow::anyhow!("nlab serve stopped: {e}"))
    })
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
