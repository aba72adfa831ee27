//! A small Neutron client for `nlab net|subnet|port|router|fip|sg|instance`:
//! finds the server and a token, sends JSON, and turns Neutron's error
//! shape into an error that says what to do.

use super::super::output::BadInput;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::time::Duration;

/// Where the API is and who is asking: flags first, then the environment
/// variables OpenStack's own clients read.
#[derive(Args, Debug, Clone)]
pub struct Endpoint {
    /// The `nlab serve` to talk to (env NLAB_VNET_URL; default
    /// http://127.0.0.1:9696).
    #[arg(
        long,
        global = true,
        env = "NLAB_VNET_URL",
        default_value = "http://127.0.0.1:9696",
        hide_env = true,
        hide_default_value = true
    )]
    pub url: String,
    /// A token (Keystone's, or the server's `admin_token`; env OS_TOKEN).
    /// Without one, `OS_USERNAME`/`OS_PASSWORD`/`OS_PROJECT_NAME` get one
    /// from the server's `/v3/auth/tokens`.
    #[arg(long, global = true, env = "OS_TOKEN", hide_env = true)]
    pub token: Option<String>,
    /// The server's users file: root on the server's host acts as the
    /// admin through its `admin_token` when no other credential is given
    /// (env NLAB_VNET_USERS; default /etc/nlab/vnet-users.yaml).
    #[arg(
        long,
        global = true,
        env = "NLAB_VNET_USERS",
        default_value = "/etc/nlab/vnet-users.yaml",
        hide_env = true,
        hide_default_value = true
    )]
    pub users: std::path::PathBuf,
}

/// The `admin_token` of a users file this user may read.
fn users_file_token(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
    v["admin_token"].as_str().map(str::to_string)
}

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Client {
    pub fn connect(ep: &Endpoint) -> Result<Client> {
        let base = ep.url.trim_end_matches('/').to_string();
        let agent = agent();
        let token = match &ep.token {
            Some(t) => t.clone(),
            None => match users_file_token(&ep.users) {
                Some(t) if std::env::var_os("OS_USERNAME").is_none() => t,
                _ => password_token(&agent, &base)?,
            },
        };
        Ok(Client { base, token, agent })
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let unreachable = || {
            format!(
                "{method} {url}: no answer from the nlab API; is `nlab serve` running \
                 (or set --url / NLAB_VNET_URL)?"
            )
        };
        let mut resp = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("X-Auth-Token", &self.token)
                .call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("X-Auth-Token", &self.token)
                .call(),
            ("POST", b) => self
                .agent
                .post(&url)
                .header("X-Auth-Token", &self.token)
                .send_json(b.cloned().unwrap_or(Value::Null)),
            (_, b) => self
                .agent
                .put(&url)
                .header("X-Auth-Token", &self.token)
                .send_json(b.cloned().unwrap_or(Value::Null)),
        }
        .with_context(unreachable)?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().with_context(unreachable)?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {url}: the answer is not JSON: {text:.200}"))?
        };
        if status >= 400 {
            return Err(neutron_error(method, path, status, &body));
        }
        Ok(body)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.send("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.send("PUT", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Result<()> {
        self.send("DELETE", path, None).map(drop)
    }
}

/// Keystone v3 password authentication with OpenStack's usual variables.
fn password_token(agent: &ureq::Agent, base: &str) -> Result<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(user), Some(password)) = (var("OS_USERNAME"), var("OS_PASSWORD")) else {
        return Err(BadInput(
            "no credentials: pass --token (or OS_TOKEN), set OS_USERNAME, OS_PASSWORD and \
             OS_PROJECT_NAME, or run as root beside the server (its users file, --users, \
             holds the admin_token)"
                .into(),
        )
        .into());
    };
    let project = var("OS_PROJECT_NAME").unwrap_or_else(|| "admin".into());
    let domain = var("OS_USER_DOMAIN_NAME").unwrap_or_else(|| "Default".into());
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": domain}}}},
        "scope": {"project": {"name": project, "domain": {"name": domain}}}}});
    let url = format!("{base}/v3/auth/tokens");
    let mut resp = agent
        .post(&url)
        .send_json(body)
        .with_context(|| format!("POST {url}: no answer; is `nlab serve` running?"))?;
    let status = resp.status().as_u16();
    if status >= 400 {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        return Err(anyhow!(
            "logging in as {user} (project {project}) at {url} failed with HTTP {status}: \
             {text:.200}; check OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME"
        ));
    }
    resp.headers()
        .get("X-Subject-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{url} answered {status} without an X-Subject-Token header"))
}

/// Neutron's `{"NeutronError": {"type", "message", "detail"}}` as an error;
/// a 4xx is the caller's mistake (exit code 2), a 5xx the server's.
fn neutron_error(method: &str, path: &str, status: u16, body: &Value) -> anyhow::Error {
    let e = &body["NeutronError"];
    let message = e["message"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .unwrap_or("no message");
    let kind = e["type"].as_str().unwrap_or("");
    let hint = match status {
        401 => "; the token is missing or expired: pass --token, or set OS_USERNAME/OS_PASSWORD",
        403 => "; this user's role may not do that (readers cannot write)",
        _ => "",
    };
    let text = format!("{method} {path}: HTTP {status} {kind}: {message}{hint}");
    if (400..500).contains(&status) {
        BadInput(text).into()
    } else {
        anyhow!(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutron_errors_name_their_type_and_message() {
        let body = json!({"NeutronError": {"type": "NetworkNotFound",
            "message": "Network abc could not be found.", "detail": ""}});
        let e = neutron_error("GET", "/v2.0/networks/abc", 404, &body);
        assert!(e.downcast_ref::<BadInput>().is_some());
        assert_eq!(
            e.to_string(),
            "GET /v2.0/networks/abc: HTTP 404 NetworkNotFound: Network abc could not be found."
        );
        let e = neutron_error("POST", "/v2.0/ports", 500, &json!({}));
        assert!(e.downcast_ref::<BadInput>().is_none());
        assert!(e.to_string().contains("HTTP 500"));
    }
}
