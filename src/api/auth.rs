//! Authentication: users and projects from a root-only YAML file, a
//! Keystone v3 password token endpoint of nlab's own, and the
//! `admin_token` for scripts. Tokens are recorded in the vnet database
//! (`vnet::store`'s `tokens` table) and cached in memory, so they stay
//! valid across a restart of the service until they expire or are
//! revoked (`DELETE /v3/auth/tokens`); the roles a token grants are
//! those of the users file the running service read (a user removed from
//! the file is logged out when the service restarts).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::kernel::files;
use crate::vnet::ops::{fill_random, Caller, Fault};
use crate::vnet::store::{iso_utc, Store};

/// Where the users file lives unless `--users` says otherwise.
pub(crate) const DEFAULT_USERS: &str = "/etc/nlab/vnet-users.yaml";

/// How long a token is valid unless `--token-life` says otherwise.
pub(crate) const TOKEN_LIFE: Duration = Duration::from_secs(8 * 3600);

/// The users file.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersFile {
    /// `X-Auth-Token: <admin_token>` acts as the admin, for scripts.
    pub admin_token: String,
    pub projects: Vec<ProjectEntry>,
    pub users: Vec<UserEntry>,
}

/// A project (Keystone's tenant).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectEntry {
    pub id: String,
    pub name: String,
}

/// A user's membership of one project, with its roles (`admin`,
/// `member`, `reader`).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserEntry {
    pub name: String,
    pub password: String,
    pub project: String,
    pub roles: Vec<String>,
}

/// A token's holder.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub caller: Caller,
    /// Reader only: may not write.
    pub read_only: bool,
    expires: u64,
}

/// Users, projects and the tokens handed out (those checked since the
/// start are cached; the database has them all).
pub(crate) struct Auth {
    file: UsersFile,
    tokens: Mutex<HashMap<String, Session>>,
    life: Duration,
}

/// Whom a token was handed to, as the database keeps it.
#[derive(serde::Serialize, Deserialize)]
struct Holder {
    user: String,
    project_id: String,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unauthorized(msg: &str) -> Fault {
    Fault::new(401, "HTTPUnauthorized", msg)
}

fn needs_auth() -> Fault {
    unauthorized("The request you have made requires authentication.")
}

impl Auth {
    /// Reads the users file, or (when it does not exist) writes a new one
    /// (0600, its directory made 0700) with a random admin password and
    /// admin token, and says on stderr where to find them.
    pub(crate) fn load_or_create(path: &Path, life: Duration) -> anyhow::Result<Auth> {
        if !path.exists() {
            if let Some(dir) = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty() && !d.exists())
            {
                files::ensure_dir(dir, 0o700)
                    .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", dir.display()))?;
            }
            let text = format!(
                "# nlab serve: users and projects (root only). Roles: admin, member, reader.\n\
                 admin_token: {}\nprojects:\n  - {{id: {}, name: admin}}\n\
                 users:\n  - {{name: admin, password: {}, project: admin, roles: [admin]}}\n",
                random_hex(16),
                random_hex(16),
                random_hex(12)
            );
            crate::store::write_atomic(path, text.as_bytes()).map_err(|e| {
                anyhow::anyhow!("cannot write the users file {}: {e}", path.display())
            })?;
            eprintln!(
                "nlab serve: created {} with a random admin password and admin_token (read it as root)",
                path.display()
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("cannot read the users file {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the users file {} is readable by others (mode {:o}): it holds passwords; chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the users file {}: {e}", path.display()))?;
        let file: UsersFile = serde_saphyr::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "users file {}: {e}; fix it or move it away to get a new one",
                path.display()
            )
        })?;
        for u in &file.users {
            if !file.projects.iter().any(|p| p.name == u.project) {
                anyhow::bail!(
                    "users file {}: user {} names project {} that is not under projects:",
                    path.display(),
                    u.name,
                    u.project
                );
            }
        }
        Ok(Auth {
            file,
            tokens: Mutex::new(HashMap::new()),
            life,
        })
    }

    /// The session of `holder`'s token expiring at `expires`, with the
    /// roles the users file gives them now; `None` when the user or
    /// their project is no longer there.
    fn session(&self, holder: &Holder, expires: u64) -> Option<Session> {
        let project = self
            .file
            .projects
            .iter()
            .find(|p| p.id == holder.project_id)?;
        let entry = self
            .file
            .users
            .iter()
            .find(|u| u.name == holder.user && u.project == project.name)?;
        let is_admin = entry.roles.iter().any(|r| r == "admin");
        Some(Session {
            caller: Caller {
                user_id: entry.name.clone(),
                project_id: project.id.clone(),
                is_admin,
            },
            read_only: !is_admin && !entry.roles.iter().any(|r| r == "member"),
            expires,
        })
    }

    /// The session of `token` as the database has it (a token handed
    /// out before a restart), cached; `None` when unknown or revoked.
    fn recorded(&self, store: &Store, token: &str) -> Result<Option<Session>, Fault> {
        let Some((holder, expires)) = store.read(|tx| tx.token(token))? else {
            return Ok(None);
        };
        let Ok(holder) = serde_json::from_str::<Holder>(&holder) else {
            return Ok(None);
        };
        let session = self.session(&holder, expires);
        if let Some(s) = &session {
            self.cache().insert(token.to_string(), s.clone());
        }
        Ok(session)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of `token`, or 401 (none, unknown, revoked, expired).
    pub(crate) fn check(&self, store: &Store, token: Option<&str>) -> Result<Session, Fault> {
        let Some(token) = token else {
            return Err(needs_auth());
        };
        if token == self.file.admin_token {
            let project = self
                .file
                .projects
                .first()
                .map(|p| p.id.clone())
                .unwrap_or_default();
            return Ok(Session {
                caller: Caller::admin(&project),
                read_only: false,
                expires: u64::MAX,
            });
        }
        let cached = self.cache().get(token).cloned();
        let session = match cached {
            Some(s) => Some(s),
            None => self.recorded(store, token)?,
        };
        match session {
            Some(s) if s.expires > now_secs() => Ok(s),
            Some(_) => {
                self.cache().remove(token);
                Err(needs_auth())
            }
            None => Err(needs_auth()),
        }
    }

    /// `DELETE /v3/auth/tokens`: revokes `token` (404 when it is not one
    /// this service handed out, or already revoked).
    pub(crate) fn revoke(&self, store: &Store, token: Option<&str>) -> Result<(), Fault> {
        let token = token.ok_or_else(|| {
            Fault::bad_request("Revoking a token needs it in the X-Subject-Token header.")
        })?;
        self.cache().remove(token);
        if store.write(|tx| tx.delete_token(token))? {
            Ok(())
        } else {
            Err(Fault::new(
                404,
                "NotFound",
                "Could not find token: it was never issued here, or it was revoked.",
            ))
        }
    }

    fn project(&self, scope: &Value) -> Option<&ProjectEntry> {
        let p = scope.get("project")?;
        let (id, name) = (
            p.get("id").and_then(Value::as_str),
            p.get("name").and_then(Value::as_str),
        );
        self.file
            .projects
            .iter()
            .find(|e| Some(e.id.as_str()) == id || Some(e.name.as_str()) == name)
    }

    /// `POST /v3/auth/tokens`: the new token and Keystone's token body
    /// (with a catalog whose `network` and `identity` endpoints are at
    /// `base`).
    pub(crate) fn issue(
        &self,
        store: &Store,
        body: &Value,
        base: &str,
    ) -> Result<(String, Value), Fault> {
        let ident = &body["auth"]["identity"];
        let methods = ident["methods"].as_array().cloned().unwrap_or_default();
        if !methods.iter().any(|m| m == "password") {
            return Err(unauthorized("Only the password method is supported."));
        }
        let user = &ident["password"]["user"];
        let name = user["name"]
            .as_str()
            .or(user["id"].as_str())
            .unwrap_or_default();
        let password = user["password"].as_str().unwrap_or_default();
        let scope = &body["auth"]["scope"];
        let wanted = if scope.is_null() {
            None
        } else {
            Some(
                self.project(scope)
                    .ok_or_else(|| unauthorized("Unknown project in scope."))?,
            )
        };
        let entry = self
            .file
            .users
            .iter()
            .find(|u| {
                u.name == name
                    && u.password == password
                    && wanted.is_none_or(|p| p.name == u.project)
            })
            .ok_or_else(|| {
                unauthorized("The password is incorrect, or the user has no role on the project.")
            })?;
        let project = self
            .file
            .projects
            .iter()
            .find(|p| p.name == entry.project)
            .ok_or_else(|| unauthorized("Unknown project."))?;
        let token = random_hex(24);
        let now = now_secs();
        let expires = now.saturating_add(self.life.as_secs());
        let holder = Holder {
            user: entry.name.clone(),
            project_id: project.id.clone(),
        };
        let session = self
            .session(&holder, expires)
            .ok_or_else(|| unauthorized("Unknown project."))?;
        let recorded = serde_json::to_string(&holder)
            .map_err(|e| Fault::internal(format!("encoding a token's holder: {e}")))?;
        // Recorded before it is handed out: an acknowledged token
        // survives `kill -9`.
        store.write(|tx| tx.put_token(&token, &recorded, expires, now))?;
        self.cache().insert(token.clone(), session);
        let domain = json!({"id": "default", "name": "Default"});
        let endpoint = |kind: &str, url: String| {
            let endpoints: Vec<Value> = ["public", "internal", "admin"]
                .iter()
                .map(|i| json!({"id": format!("{kind}-{i}"), "interface": i, "region": "RegionOne", "region_id": "RegionOne", "url": url}))
                .collect();
            let name = if kind == "network" {
                "neutron"
            } else {
                "keystone"
            };
            json!({"type": kind, "name": name, "id": kind, "endpoints": endpoints})
        };
        let roles: Vec<Value> = entry
            .roles
            .iter()
            .map(|r| json!({"id": r, "name": r}))
            .collect();
        let body = json!({"token": {
            "methods": ["password"],
            "user": {"id": entry.name, "name": entry.name, "domain": domain, "password_expires_at": null},
            "audit_ids": [random_hex(8)],
            "issued_at": iso_utc(now, true),
            "expires_at": iso_utc(expires, true),
            "project": {"id": project.id, "name": project.name, "domain": domain},
            "is_domain": false,
            "roles": roles,
            "catalog": [endpoint("network", base.to_string()), endpoint("identity", format!("{base}/v3"))],
        }});
        Ok((token, body))
    }
}

/// Keystone's `GET /v3` version document.
pub(crate) fn v3_version(base: &str) -> Value {
    json!({"version": {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_writes_a_private_file_and_tokens_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("etc").join("users.yaml");
        let auth = Auth::load_or_create(&path, TOKEN_LIFE).expect("create");
        let store = Store::open(&dir.path().join("vnet.db")).expect("db");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let admin = auth.file.users[0].clone();
        assert!(auth.check(&store, None).is_err());
        assert!(auth.check(&store, Some("nope")).is_err());
        assert!(auth
            .check(&store, Some(&auth.file.admin_token.clone()))
            .is_ok_and(|s| s.caller.is_admin));
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": admin.password, "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
        let (token, answer) = auth
            .issue(&store, &body, "http://127.0.0.1:1")
            .expect("token");
        assert!(auth
            .check(&store, Some(&token))
            .is_ok_and(|s| s.caller.is_admin && !s.read_only));
        assert_eq!(
            answer["token"]["catalog"][0]["endpoints"][0]["url"],
            "http://127.0.0.1:1"
        );
        let mut wrong = body.clone();
        wrong["auth"]["identity"]["password"]["user"]["password"] = json!("x");
        assert_eq!(
            auth.issue(&store, &wrong, "b").map_err(|f| f.status).err(),
            Some(401)
        );
        let again = Auth::load_or_create(&path, TOKEN_LIFE).expect("reload");
        assert_eq!(again.file.admin_token, auth.file.admin_token);
        // A new Auth (a restarted service) knows the token from the
        // database; revoked, it is gone.
        assert!(again.check(&store, Some(&token)).is_ok());
        assert!(again.revoke(&store, Some(&token)).is_ok());
        assert_eq!(
            again
                .check(&store, Some(&token))
                .map_err(|f| f.status)
                .err(),
            Some(401)
        );
        assert_eq!(
            again
                .revoke(&store, Some(&token))
                .map_err(|f| f.status)
                .err(),
            Some(404)
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = Auth::load_or_create(&path, TOKEN_LIFE)
            .err()
            .map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.contains("chmod 600")));
    }
}
