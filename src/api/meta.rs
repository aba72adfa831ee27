//! Discovery: Neutron's version documents, the extension list (exactly
//! what nlab implements), Keystone's `/v3`, the OpenAPI document.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApiBuilder, Paths};

use crate::api::resources::{actions, collections};
use crate::api::Base;
use crate::vnet::ops::Fault;

/// The API extensions nlab implements: (alias, name, description).
pub(crate) const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("security-group", "security-group", "The security groups extension."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("port-security", "Port Security", "Provides port security"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("subnet-external-network", "Subnet External Network", "Subnets of external networks are visible to every project, as the networks are."),
];

fn ext(e: &(&str, &str, &str)) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2, "updated": "2026-12-07T00:00:00-00:00", "links": []})
}

/// `GET /v2.0/extensions`.
pub(crate) async fn extensions() -> Json<Value> {
    Json(json!({"extensions": EXTENSIONS.iter().map(ext).collect::<Vec<_>>()}))
}

/// `GET /v2.0/extensions/{alias}`.
pub(crate) async fn extension(Path(alias): Path<String>) -> Result<Json<Value>, Fault> {
    EXTENSIONS
        .iter()
        .find(|e| e.0 == alias)
        .map(|e| Json(json!({"extension": ext(e)})))
        .ok_or_else(|| {
            Fault::not_found(
                "HTTPNotFound",
                format!("Extension with alias {alias} does not exist"),
            )
        })
}

/// `GET /`: the API versions.
pub(crate) async fn versions(Extension(base): Extension<Base>) -> Json<Value> {
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{}/v2.0/", base.0)}]}]}))
}

/// `GET /v2.0/`: the collections of version 2.0.
pub(crate) async fn resources(Extension(base): Extension<Base>) -> Json<Value> {
    let list: Vec<Value> = collections()
        .iter()
        .map(|c| {
            json!({"name": c.kind, "collection": c.collection,
            "links": [{"rel": "self", "href": format!("{}/v2.0/{}", base.0, c.path)}]})
        })
        .collect();
    Json(json!({"resources": list}))
}

/// `GET /v3`: Keystone's version document.
pub(crate) async fn identity_version(Extension(base): Extension<Base>) -> Json<Value> {
    Json(crate::api::auth::v3_version(&base.0))
}

/// Anything else: 404 in Neutron's shape.
pub(crate) async fn not_found(uri: axum::http::Uri) -> (StatusCode, Json<Value>) {
    let f = Fault::not_found(
        "HTTPNotFound",
        format!("The resource could not be found: {}", uri.path()),
    );
    (
        StatusCode::NOT_FOUND,
        Json(json!({"NeutronError": {"type": f.kind, "message": f.message, "detail": ""}})),
    )
}

fn op(id: String, body: Option<&str>, ok: &str, param: Option<&str>) -> Operation {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let mut b = OperationBuilder::new()
        .operation_id(Some(id))
        .response(ok, ResponseBuilder::new().description("success").build())
        .response(
            "400",
            ResponseBuilder::new()
                .description("NeutronError: bad request")
                .build(),
        )
        .response(
            "401",
            ResponseBuilder::new()
                .description("no valid X-Auth-Token")
                .build(),
        )
        .response(
            "404",
            ResponseBuilder::new()
                .description("NeutronError: not found")
                .build(),
        );
    if let Some(name) = param {
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(utoipa::openapi::Required::True)
                .schema(Some(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .build(),
                ))
                .build(),
        );
    }
    if let Some(schema) = body {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build();
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", content)
                .build(),
        ));
    }
    b.build()
}

/// The OpenAPI document: every route of [`crate::api::router`], with the
/// schemas of the types its handlers read and answer.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut paths = Paths::new();
    let mut add =
        |path: &str, m: HttpMethod, o: Operation| paths.add_path_operation(path, vec![m], o);
    let mut components = ComponentsBuilder::new();
    for c in collections() {
        for (name, schema) in c.schemas {
            components = components.schema(name, schema);
        }
        let (create, update) = (c.create, c.update);
        let (list, one) = (
            format!("/v2.0/{}", c.path),
            format!("/v2.0/{}/{{id}}", c.path),
        );
        add(
            &list,
            HttpMethod::Get,
            op(format!("list_{}", c.collection), None, "200", None),
        );
        add(
            &list,
            HttpMethod::Post,
            op(format!("create_{}", c.kind), Some(&create), "201", None),
        );
        add(
            &one,
            HttpMethod::Get,
            op(format!("show_{}", c.kind), None, "200", Some("id")),
        );
        add(
            &one,
            HttpMethod::Put,
            op(
                format!("update_{}", c.kind),
                Some(&update),
                "200",
                Some("id"),
            ),
        );
        add(
            &one,
            HttpMethod::Delete,
            op(format!("delete_{}", c.kind), None, "204", Some("id")),
        );
    }
    {
        use crate::vnet::model::{InterfaceInfo, InterfaceRequest};
        use utoipa::{PartialSchema, ToSchema};
        let mut all = vec![
            (
                InterfaceRequest::name().into_owned(),
                InterfaceRequest::schema(),
            ),
            (InterfaceInfo::name().into_owned(), InterfaceInfo::schema()),
        ];
        InterfaceRequest::schemas(&mut all);
        InterfaceInfo::schemas(&mut all);
        for (name, schema) in all {
            components = components.schema(name, schema);
        }
    }
    for (path, _) in actions() {
        let name = path.rsplit('/').next().unwrap_or(path);
        add(
            path,
            HttpMethod::Put,
            op(
                name.to_string(),
                Some("InterfaceRequest"),
                "200",
                Some("id"),
            ),
        );
    }
    discovery_paths(&mut add);
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("nlab vnet (Neutron-compatible)")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths)
        .components(Some(components.build()))
        .build()
}

/// The discovery and token paths of the document.
fn discovery_paths(add: &mut impl FnMut(&str, HttpMethod, Operation)) {
    for (path, id) in [
        ("/", "versions"),
        ("/v2.0", "resources"),
        ("/v2.0/", "resources_slash"),
        ("/v2.0/extensions", "list_extensions"),
        ("/openapi.json", "openapi"),
        ("/v3", "identity_version"),
        ("/v3/", "identity_version_slash"),
    ] {
        add(path, HttpMethod::Get, op(id.into(), None, "200", None));
    }
    add(
        "/v2.0/extensions/{alias}",
        HttpMethod::Get,
        op("show_extension".into(), None, "200", Some("alias")),
    );
    add(
        "/v3/auth/tokens",
        HttpMethod::Post,
        op("issue_token".into(), None, "201", None),
    );
    add(
        "/v3/auth/tokens",
        HttpMethod::Delete,
        op("revoke_token".into(), None, "204", None),
    );
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
