//! Keystone tokens `nlab serve` handed out, kept in the database so a
//! restart of the service (or `kill -9`) logs no client out, as Keystone's
//! Fernet tokens outlive a restart. A row holds who the token is for (as
//! JSON the API layer reads) and when it expires; a revoked token's row is
//! gone. The database is root-only (0600 in a 0700 directory), like the
//! users file beside it; even so a row keeps only the token's SHA-256, so
//! a copy of the database (a backup, a bug report) hands out no session.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::Tx;
use crate::vnet::ops::Fault;

/// The table, made with the rest of the schema.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires INTEGER NOT NULL
);
";

impl Tx<'_> {
    /// Records `token` for `holder` until `expires` (seconds since the
    /// epoch), and forgets tokens that expired before `now`.
    pub(crate) fn put_token(
        &self,
        token: &str,
        holder: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), Fault> {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        self.tx
            .execute("DELETE FROM tokens WHERE expires <= ?1", params![secs(now)])
            .and_then(|_| {
                self.tx.execute(
                    "INSERT OR REPLACE INTO tokens (digest, holder, expires) VALUES (?1, ?2, ?3)",
                    params![digest(token), holder, secs(expires)],
                )
            })
            .map_err(|e| self.err("write a token", e))?;
        Ok(())
    }

    /// The holder and expiry of `token`, if it was handed out and not
    /// revoked (expired or not: the caller decides).
    pub(crate) fn token(&self, token: &str) -> Result<Option<(String, u64)>, Fault> {
        self.tx
            .query_row(
                "SELECT holder, expires FROM tokens WHERE digest = ?1",
                params![digest(token)],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map(|o| o.map(|(h, e)| (h, u64::try_from(e).unwrap_or(0))))
            .map_err(|e| self.err("read a token", e))
    }

    /// Revokes `token`; false when there was no such token.
    pub(crate) fn delete_token(&self, token: &str) -> Result<bool, Fault> {
        let n = self
            .tx
            .execute(
                "DELETE FROM tokens WHERE digest = ?1",
                params![digest(token)],
            )
            .map_err(|e| self.err("revoke a token", e))?;
        Ok(n == 1)
    }
}

/// What the table keys a token by: its SHA-256 in hex.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Store;

    #[test]
    fn the_database_file_keeps_no_token_only_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vnet.db");
        let store = Store::open(&path).expect("open");
        let token = "gAAAAnlab-token-under-test";
        store
            .write(|tx| tx.put_token(token, "{}", 200, 100))
            .expect("put");
        let got = store.read(|tx| tx.token(token)).expect("read");
        assert_eq!(got, Some(("{}".to_string(), 200)));
        assert_eq!(store.read(|tx| tx.token("other")).expect("read"), None);
        drop(store);
        let mut bytes = std::fs::read(&path).expect("db");
        for wal in ["vnet.db-wal", "vnet.db-shm"] {
            bytes.extend(std::fs::read(dir.path().join(wal)).unwrap_or_default());
        }
        let needle = token.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        let store = Store::open(&path).expect("reopen");
        assert!(store.write(|tx| tx.delete_token(token)).expect("revoke"));
        assert_eq!(store.read(|tx| tx.token(token)).expect("read"), None);
    }
}
