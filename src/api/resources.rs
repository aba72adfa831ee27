//! The five handlers every Neutron collection has (list, create, show,
//! update, delete), written once over [`ApiResource`], and the table of
//! collections the router and the OpenAPI document are both built from.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put, MethodRouter};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::{PartialSchema, ToSchema};

use crate::api::query::Query;
use crate::api::{App, Base};
use crate::vnet::model::*;
use crate::vnet::ops::{
    self, fetch, fetch_subnet, fips, networks, ports, routers, secgroups, subnets, Caller, Fault,
};
use crate::vnet::store::Tx;

/// A resource the API serves as a Neutron collection.
pub(crate) trait ApiResource: Resource + ToSchema + Send + Sync + 'static {
    /// The `POST` body (inside `{"<kind>": …}`).
    type Create: DeserializeOwned + ToSchema + Send;
    /// The `PUT` body (inside `{"<kind>": …}`).
    type Update: DeserializeOwned + ToSchema + Send;
    /// The URL path segment (`security-groups`).
    const PATH: &'static str;
    /// `POST`.
    fn create(tx: &Tx, c: &Caller, b: Self::Create) -> Result<Self, Fault>;
    /// `PUT`.
    fn update(tx: &Tx, c: &Caller, id: &str, b: Self::Update) -> Result<Self, Fault>;
    /// `DELETE`.
    fn delete(tx: &Tx, c: &Caller, id: &str) -> Result<(), Fault>;
    /// `GET` one.
    fn show(tx: &Tx, c: &Caller, id: &str) -> Result<Self, Fault> {
        fetch(tx, c, id)
    }
    /// The ones of `all` the caller may see, ready to answer.
    fn visible(tx: &Tx, c: &Caller, all: Vec<Self>) -> Result<Vec<Self>, Fault> {
        let _ = tx;
        Ok(all.into_iter().filter(|r| c.owns(r)).collect())
    }
}

/// The `ApiResource` of a collection whose create, update and delete are
/// `MODULE::{create, update, delete}`; further items (a `show` or
/// `visible` of its own) go after the `;`.
macro_rules! resource_ops {
    ($ty:ty, $create:ty, $update:ty, $path:literal, $module:ident $(; $($extra:tt)*)?) => {
        impl ApiResource for $ty {
            type Create = $create;
            type Update = $update;
            const PATH: &'static str = $path;
            fn create(tx: &Tx, c: &Caller, b: $create) -> Result<Self, Fault> {
                $module::create(tx, c, b)
            }
            fn update(tx: &Tx, c: &Caller, id: &str, b: $update) -> Result<Self, Fault> {
                $module::update(tx, c, id, b)
            }
            fn delete(tx: &Tx, c: &Caller, id: &str) -> Result<(), Fault> {
                $module::delete(tx, c, id)
            }
            $($($extra)*)?
        }
    };
}

resource_ops!(Network, NetworkCreate, NetworkUpdate, "networks", networks;
    fn show(tx: &Tx, c: &Caller, id: &str) -> Result<Self, Fault> {
        ops::fetch_network(tx, c, id)
    }
    fn visible(_: &Tx, c: &Caller, all: Vec<Self>) -> Result<Vec<Self>, Fault> {
        Ok(all
            .into_iter()
            .filter(|n| ops::network_visible(c, n))
            .collect())
    }
);

resource_ops!(Subnet, SubnetCreate, SubnetUpdate, "subnets", subnets;
    fn show(tx: &Tx, c: &Caller, id: &str) -> Result<Self, Fault> {
        fetch_subnet(tx, c, id)
    }
    fn visible(tx: &Tx, c: &Caller, all: Vec<Self>) -> Result<Vec<Self>, Fault> {
        let nets = tx.list::<Network>()?;
        Ok(all
            .into_iter()
            .filter(|s| ops::subnet_visible(c, s, nets.iter().find(|n| n.id == s.network_id)))
            .collect())
    }
);

resource_ops!(Port, PortCreate, PortUpdate, "ports", ports);

resource_ops!(Router, RouterCreate, RouterUpdate, "routers", routers);

resource_ops!(
    FloatingIp,
    FloatingIpCreate,
    FloatingIpUpdate,
    "floatingips",
    fips
);

resource_ops!(SecurityGroup, SecurityGroupCreate, SecurityGroupUpdate, "security-groups", secgroups;
    fn show(tx: &Tx, c: &Caller, id: &str) -> Result<Self, Fault> {
        secgroups::with_rules(tx, fetch(tx, c, id)?)
    }
    fn visible(tx: &Tx, c: &Caller, all: Vec<Self>) -> Result<Vec<Self>, Fault> {
        all.into_iter()
            .filter(|g| c.owns(g))
            .map(|g| secgroups::with_rules(tx, g))
            .collect()
    }
);

impl ApiResource for SecurityGroupRule {
    type Create = SecurityGroupRuleCreate;
    type Update = SecurityGroupRuleUpdate;
    const PATH: &'static str = "security-group-rules";
    fn create(tx: &Tx, c: &Caller, b: SecurityGroupRuleCreate) -> Result<Self, Fault> {
        secgroups::create_rule(tx, c, b)
    }
    fn update(tx: &Tx, c: &Caller, id: &str, b: SecurityGroupRuleUpdate) -> Result<Self, Fault> {
        let mut r: SecurityGroupRule = fetch(tx, c, id)?;
        if let Some(d) = b.description {
            r.description = d;
        }
        r.touch(&tx.now);
        tx.put(&r)?;
        Ok(r)
    }
    fn delete(tx: &Tx, c: &Caller, id: &str) -> Result<(), Fault> {
        secgroups::delete_rule(tx, c, id)
    }
}

fn to_map<T: serde::Serialize>(r: &T) -> Map<String, Value> {
    match serde_json::to_value(r) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn wrap(key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), v);
    Value::Object(m)
}

/// The body's `{"<key>": {...}}` member, or 400 as Neutron says it.
pub(crate) fn unwrap_body(body: &Bytes, key: &str) -> Result<Value, Fault> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Fault::bad_request(format!("Malformed request body: {e}")))?;
    match v {
        Value::Object(mut m) => m
            .remove(key)
            .ok_or_else(|| Fault::bad_request(format!("Unable to find '{key}' in request body"))),
        _ => Err(Fault::bad_request(
            "Malformed request body: not a JSON object",
        )),
    }
}

/// A JSON body into a typed request, or 400 naming what is wrong.
pub(crate) fn typed<B: DeserializeOwned>(v: Value, key: &str) -> Result<B, Fault> {
    if !v.is_object() {
        return Err(Fault::bad_request(format!(
            "Invalid input for {key}: the body must be a JSON object"
        )));
    }
    serde_json::from_value(v).map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix("unknown field ") {
            Some(rest) => Fault::bad_request(format!(
                "Unrecognized attribute(s) {}",
                rest.split(", expected").next().unwrap_or(rest)
            )),
            None => Fault::bad_request(format!("Invalid input for {key}: {msg}")),
        }
    })
}

async fn list<T: ApiResource>(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Fault> {
    let q = Query::parse(raw.as_deref().unwrap_or(""))?;
    if T::KIND == "security_group" {
        // The default group appears on first use, a list included.
        app.ensure_default(&caller)?;
    }
    let items = app
        .store
        .read(|tx| T::visible(tx, &caller, tx.list::<T>()?))?;
    let maps = items.iter().map(to_map).collect();
    let href = format!("{}/v2.0/{}", base.0, T::PATH);
    Ok(Json(q.apply(T::COLLECTION, &href, maps)))
}

async fn show<T: ApiResource>(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Fault> {
    let q = Query::parse(raw.as_deref().unwrap_or(""))?;
    let r = app.store.read(|tx| T::show(tx, &caller, &id))?;
    Ok(Json(wrap(T::KIND, Value::Object(q.select(to_map(&r))))))
}

async fn create<T: ApiResource>(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, Fault> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Fault::bad_request(format!("Malformed request body: {e}")))?;
    let bulk = v.get(T::COLLECTION).cloned();
    let out = match bulk {
        Some(Value::Array(items)) => {
            let made = app.write(|tx| {
                items
                    .into_iter()
                    .map(|b| {
                        T::create(tx, &caller, typed(b, T::KIND)?)
                            .and_then(|r| T::show(tx, &caller, r.id()))
                    })
                    .collect::<Result<Vec<T>, Fault>>()
            })?;
            wrap(
                T::COLLECTION,
                Value::Array(made.iter().map(|r| Value::Object(to_map(r))).collect()),
            )
        }
        _ => {
            let b = unwrap_body(&body, T::KIND)?;
            let b: T::Create = typed(b, T::KIND)?;
            let r = app.write(|tx| {
                let r = T::create(tx, &caller, b)?;
                T::show(tx, &caller, r.id())
            })?;
            wrap(T::KIND, Value::Object(to_map(&r)))
        }
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn update<T: ApiResource>(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Fault> {
    let b: T::Update = typed(unwrap_body(&body, T::KIND)?, T::KIND)?;
    let r = app.write(|tx| {
        let r = T::update(tx, &caller, &id, b)?;
        T::show(tx, &caller, r.id())
    })?;
    Ok(Json(wrap(T::KIND, Value::Object(to_map(&r)))))
}

async fn delete<T: ApiResource>(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, Fault> {
    app.write(|tx| T::delete(tx, &caller, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn interface(
    app: Arc<App>,
    caller: Caller,
    id: String,
    body: Bytes,
    add: bool,
) -> Result<Json<Value>, Fault> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Fault::bad_request(format!("Malformed request body: {e}")))?;
    let b: InterfaceRequest = typed(v, "router interface")?;
    let info = app.write(|tx| match add {
        true => routers::add_interface(tx, &caller, &id, b),
        false => routers::remove_interface(tx, &caller, &id, b),
    })?;
    Ok(Json(serde_json::to_value(info).unwrap_or(Value::Null)))
}

async fn add_interface(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Fault> {
    interface(app, caller, id, body, true).await
}

async fn remove_interface(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Fault> {
    interface(app, caller, id, body, false).await
}

/// One collection's two routes (`/v2.0/<path>` and `/v2.0/<path>/{id}`).
pub(crate) struct Collection {
    pub path: &'static str,
    pub kind: &'static str,
    pub collection: &'static str,
    pub list: MethodRouter<Arc<App>>,
    pub one: MethodRouter<Arc<App>>,
    /// The schema names of the create and update bodies.
    pub create: String,
    pub update: String,
    /// The schemas of the resource, its bodies and what they refer to.
    pub schemas: Vec<(
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )>,
}

fn collection<T: ApiResource>() -> Collection {
    Collection {
        path: T::PATH,
        kind: T::KIND,
        collection: T::COLLECTION,
        list: get(list::<T>).post(create::<T>),
        one: get(show::<T>).put(update::<T>).delete(delete::<T>),
        create: T::Create::name().into_owned(),
        update: T::Update::name().into_owned(),
        schemas: {
            let mut all = vec![
                (T::name().into_owned(), T::schema()),
                (T::Create::name().into_owned(), T::Create::schema()),
                (T::Update::name().into_owned(), T::Update::schema()),
            ];
            T::schemas(&mut all);
            T::Create::schemas(&mut all);
            T::Update::schemas(&mut all);
            all
        },
    }
}

/// Every collection the API serves.
pub(crate) fn collections() -> Vec<Collection> {
    vec![
        collection::<Network>(),
        collection::<Subnet>(),
        collection::<Port>(),
        collection::<Router>(),
        collection::<FloatingIp>(),
        collection::<SecurityGroup>(),
        collection::<SecurityGroupRule>(),
    ]
}

/// The router interface actions (`PUT /v2.0/routers/{id}/…`).
pub(crate) fn actions() -> Vec<(&'static str, MethodRouter<Arc<App>>)> {
    vec![
        (
            "/v2.0/routers/{id}/add_router_interface",
            put(add_interface),
        ),
        (
            "/v2.0/routers/{id}/remove_router_interface",
            put(remove_interface),
        ),
    ]
}
