//! The vnet database: SQLite (bundled), one row per resource holding its
//! JSON, WAL with `synchronous=FULL`, one `BEGIN IMMEDIATE` transaction
//! per API write. An acknowledged write has been committed and synced, so
//! it survives `kill -9`; a write that fails rolls back and leaves nothing.

mod snapshot;
mod tokens;

pub(crate) use snapshot::Snapshot;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::kernel::files;
use crate::vnet::model::Resource;
use crate::vnet::ops::Fault;

/// Where the database lives unless `--db` says otherwise.
pub(crate) const DEFAULT_DB: &str = "/var/lib/nlab/vnet.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY);
";

/// The open database. Writers take turns on one connection.
pub(crate) struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn db_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Fault {
    Fault::internal(format!(
        "vnet database {}: {what}: {e}; check the file and its directory (nlab serve --db PATH)",
        path.display()
    ))
}

impl Store {
    /// Opens (creating if needed) the database at `path`: a missing parent
    /// directory is made 0700, a new file 0600.
    pub(crate) fn open(path: &Path) -> Result<Store, Fault> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                files::ensure_dir(dir, 0o700).map_err(|e| db_err(path, "make its directory", e))?;
            }
        }
        files::open_file(path, 0o600, false).map_err(|e| db_err(path, "create", e))?;
        let conn = Connection::open(path).map_err(|e| db_err(path, "open", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| conn.busy_timeout(std::time::Duration::from_secs(10)))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .and_then(|()| conn.execute_batch(tokens::SCHEMA))
            .map_err(|e| db_err(path, "set up", e))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic in another request leaves the connection usable: its
        // transaction was rolled back when it was dropped.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one write transaction: committed (and synced) when it
    /// returns `Ok`, rolled back when it returns `Err`.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&Tx) -> Result<R, Fault>) -> Result<R, Fault> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&self.path, "begin", e))?;
        let out = f(&Tx {
            tx: &tx,
            path: &self.path,
            now: now_iso(),
        })?;
        tx.commit().map_err(|e| db_err(&self.path, "commit", e))?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (a consistent view).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Tx) -> Result<R, Fault>) -> Result<R, Fault> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| db_err(&self.path, "begin", e))?;
        f(&Tx {
            tx: &tx,
            path: &self.path,
            now: now_iso(),
        })
    }

    /// Every resource, read in one transaction.
    pub(crate) fn snapshot(&self) -> Result<Snapshot, Fault> {
        self.read(Snapshot::read)
    }
}

/// One transaction's view of the database.
pub(crate) struct Tx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    path: &'a Path,
    /// The transaction's timestamp (`created_at`/`updated_at`).
    pub now: String,
}

impl Tx<'_> {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> Fault {
        db_err(self.path, what, e)
    }

    /// The resource `id`, if there is one.
    pub(crate) fn get<T: Resource>(&self, id: &str) -> Result<Option<T>, Fault> {
        let body: Option<String> = self
            .tx
            .query_row(
                "SELECT body FROM resources WHERE kind = ?1 AND id = ?2",
                params![T::KIND, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("read", e))?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| self.err("decode", e)))
            .transpose()
    }

    /// Every resource of a kind, oldest first.
    pub(crate) fn list<T: Resource>(&self) -> Result<Vec<T>, Fault> {
        let mut st = self
            .tx
            .prepare_cached("SELECT body FROM resources WHERE kind = ?1 ORDER BY rowid")
            .map_err(|e| self.err("read", e))?;
        let rows = st
            .query_map(params![T::KIND], |r| r.get::<_, String>(0))
            .map_err(|e| self.err("read", e))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(|e| self.err("read", e))?;
            out.push(serde_json::from_str(&body).map_err(|e| self.err("decode", e))?);
        }
        Ok(out)
    }

    /// Inserts or replaces `r`.
    pub(crate) fn put<T: Resource>(&self, r: &T) -> Result<(), Fault> {
        let body = serde_json::to_string(r).map_err(|e| self.err("encode", e))?;
        let changed = self
            .tx
            .execute(
                "UPDATE resources SET body = ?3, project_id = ?4 WHERE kind = ?1 AND id = ?2",
                params![T::KIND, r.id(), body, r.project()],
            )
            .map_err(|e| self.err("write", e))?;
        if changed == 0 {
            self.tx
                .execute(
                    "INSERT INTO resources (kind, id, project_id, body) VALUES (?1, ?2, ?3, ?4)",
                    params![T::KIND, r.id(), r.project(), body],
                )
                .map_err(|e| self.err("write", e))?;
        }
        Ok(())
    }

    /// Deletes the resource `id` of kind `T` (nothing if there is none).
    pub(crate) fn delete<T: Resource>(&self, id: &str) -> Result<(), Fault> {
        self.tx
            .execute(
                "DELETE FROM resources WHERE kind = ?1 AND id = ?2",
                params![T::KIND, id],
            )
            .map_err(|e| self.err("delete", e))?;
        Ok(())
    }

    /// The addresses held on `subnet` by ports other than `except`,
    /// read in SQL (no port is decoded).
    pub(crate) fn subnet_addresses(
        &self,
        subnet: &str,
        except: Option<&str>,
    ) -> Result<Vec<String>, Fault> {
        self.strings(
            "SELECT json_extract(f.value, '$.ip_address') FROM resources, json_each(resources.body, '$.fixed_ips') AS f
             WHERE resources.kind = 'port' AND resources.id != ?2 AND json_extract(f.value, '$.subnet_id') = ?1",
            subnet,
            except.unwrap_or(""),
        )
    }

    /// The MACs of the ports on `network` other than `except`.
    pub(crate) fn network_macs(
        &self,
        network: &str,
        except: Option<&str>,
    ) -> Result<Vec<String>, Fault> {
        self.strings(
            "SELECT json_extract(body, '$.mac_address') FROM resources
             WHERE kind = 'port' AND id != ?2 AND json_extract(body, '$.network_id') = ?1",
            network,
            except.unwrap_or(""),
        )
    }

    fn strings(&self, sql: &str, a: &str, b: &str) -> Result<Vec<String>, Fault> {
        let mut st = self
            .tx
            .prepare_cached(sql)
            .map_err(|e| self.err("read", e))?;
        let rows = st
            .query_map(params![a, b], |r| r.get::<_, Option<String>>(0))
            .map_err(|e| self.err("read", e))?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r.map_err(|e| self.err("read", e))?);
        }
        Ok(out)
    }

    /// Records that `project` has been seen; true the first time.
    pub(crate) fn first_use(&self, project: &str) -> Result<bool, Fault> {
        let n = self
            .tx
            .execute(
                "INSERT OR IGNORE INTO projects (id) VALUES (?1)",
                params![project],
            )
            .map_err(|e| self.err("write", e))?;
        Ok(n == 1)
    }

    /// Every project seen so far.
    pub(crate) fn projects(&self) -> Result<Vec<String>, Fault> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id FROM projects ORDER BY id")
            .map_err(|e| self.err("read", e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err("read", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| self.err("read", e))
    }
}

/// Now as Neutron writes it: `2026-12-07T14:51:17Z` (UTC).
pub(crate) fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    iso_utc(secs, false)
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (with `.000000`
/// before the `Z` when `micros`, as Keystone writes expiry times).
pub(crate) fn iso_utc(secs: u64, micros: bool) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = if micros { ".000000" } else { "" };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vnet::model::{Network, Port};

    fn net(id: &str) -> Network {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "n", "description": "", "project_id": "p", "tenant_id": "p",
            "admin_state_up": true, "status": "ACTIVE", "subnets": [], "shared": false,
            "mtu": 1500, "router:external": false, "port_security_enabled": true, "tags": [],
            "created_at": "", "updated_at": "", "revision_number": 0
        }))
        .expect("a network")
    }

    #[test]
    fn iso_dates_match_the_calendar() {
        assert_eq!(iso_utc(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400, false), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_796_655_077, true), "2026-12-07T14:51:17.000000Z");
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_a_committed_one_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("vnet.db");
        let store = Store::open(&path).expect("open");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        store.write(|tx| tx.put(&net("a"))).expect("commit");
        let failed = store.write(|tx| {
            tx.put(&net("b"))?;
            Err::<(), _>(Fault::conflict("Test", "rolled back"))
        });
        assert!(failed.is_err());
        drop(store);
        let store = Store::open(&path).expect("reopen");
        let ids: Vec<String> = store
            .read(|tx| tx.list::<Network>())
            .expect("list")
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(ids, ["a"]);
        assert!(store.read(|tx| tx.get::<Port>("a")).expect("get").is_none());
        store.write(|tx| tx.delete::<Network>("a")).expect("delete");
        assert!(store.snapshot().expect("snapshot").networks.is_empty());
    }
}
