//! Starts the real `nlab serve` on a free loopback port with a temp
//! database and users file, and talks to it over HTTP (no root needed).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "admintoken0123456789";

/// A running server; killed (SIGKILL) and its files removed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// Its lab, taken down on drop (`None` after `kill9`).
    lab: Option<String>,
}

fn users(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("users.yaml");
    let text = format!(
        "admin_token: {ADMIN_TOKEN}\nprojects:\n  - {{id: padmin, name: admin}}\n  - {{id: pone, name: one}}\n  - {{id: ptwo, name: two}}\n\
         users:\n  - {{name: admin, password: pw-admin, project: admin, roles: [admin]}}\n\
         \x20 - {{name: alice, password: pw-alice, project: one, roles: [member]}}\n\
         \x20 - {{name: bob, password: pw-bob, project: two, roles: [member]}}\n\
         \x20 - {{name: rita, password: pw-rita, project: one, roles: [reader]}}\n"
    );
    std::fs::write(&path, text).expect("write users file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod users file");
    path
}

impl Server {
    /// A fresh server on a new database.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        users(dir.path());
        Server::start_in(dir)
    }

    /// A server on the database and users file of `dir`.
    pub fn start_in(dir: tempfile::TempDir) -> Server {
        Server::start_with(dir, &[])
    }

    /// As [`Server::start_in`], with more arguments for `nlab serve`.
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        // A lab of its own per database (the reconciler builds it when
        // run as root), the same again when a test restarts on `dir`.
        let lab = lab_for(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_nlab"))
            .args(["serve", "--listen", "127.0.0.1:0", "--lab", &lab])
            .arg("--db")
            .arg(dir.path().join("vnet.db"))
            .arg("--users")
            .arg(dir.path().join("users.yaml"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nlab serve");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("first line");
        let at = line.find("http://").expect("the address on the first line");
        let base: String = line[at..]
            .split("/v2.0")
            .next()
            .unwrap_or_default()
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            child,
            base,
            dir,
            agent,
            lab: Some(lab),
        }
    }

    /// The lab the server builds its networks in.
    pub fn lab(&self) -> String {
        lab_for(self.dir.path())
    }

    /// Kills the server with SIGKILL and hands back its directory.
    pub fn kill9(mut self) -> tempfile::TempDir {
        // Its lab stays for the server that starts again on `dir`.
        self.lab = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// One request: (status, JSON body or Null).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => with_token(self.agent.get(&url), token).call(),
            ("DELETE", _) => with_token(self.agent.delete(&url), token).call(),
            ("POST", Some(b)) => with_token(self.agent.post(&url), token).send_json(b),
            ("PUT", Some(b)) => with_token(self.agent.put(&url), token).send_json(b),
            ("POST", None) => with_token(self.agent.post(&url), token).send_empty(),
            ("PUT", None) => with_token(self.agent.put(&url), token).send_empty(),
            _ => panic!("method {method}"),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// As the admin token.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(ADMIN_TOKEN), body)
    }

    /// A Keystone token for `user` (password `pw-<user>`) in `project`.
    pub fn token(&self, user: &str, project: &str) -> String {
        let url = format!("{}/v3/auth/tokens", self.base);
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user":
            {"name": user, "password": format!("pw-{user}"), "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let resp = self
            .agent
            .post(&url)
            .send_json(body)
            .expect("token request");
        assert_eq!(resp.status().as_u16(), 201);
        resp.headers()
            .get("x-subject-token")
            .and_then(|h| h.to_str().ok())
            .expect("X-Subject-Token")
            .to_string()
    }
}

fn with_token<B>(r: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    match token {
        Some(t) => r.header("X-Auth-Token", t),
        None => r,
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(lab) = &self.lab {
            let _ = Command::new(env!("CARGO_BIN_EXE_nlab"))
                .args(["down", lab])
                .output();
        }
    }
}

/// The lab of the server on database directory `dir`: `va` and the
/// directory's random name, lowercased.
fn lab_for(dir: &std::path::Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let tail: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("va{}", &tail[tail.len().saturating_sub(8)..])
}

/// The `NeutronError.type` of an error answer.
pub fn kind(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("")
}

/// The ids of a list answer's `collection`.
pub fn ids(v: &Value, collection: &str) -> Vec<String> {
    v[collection]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
