//! [`KeyStore`] on SQLite: the statements of [`crate::sql`] with `?N` placeholders,
//! prepared once per connection; minting, hashing and the record checks are shared
//! with every backend in [`crate::keys`].

use rusqlite::params;

use crate::error::LedgerError;
use crate::keys::{self, KeyRecord, KeyStore, NewKey, RawRecord};
use crate::money::PicoUsd;
use crate::now_ms;
use crate::sql::{self, Placeholders};
use crate::sqlite::SqliteLedger;

const PH: Placeholders = Placeholders::QuestionNumbered;

fn raw_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        key_id: r.get(0)?,
        tenant: r.get(1)?,
        name: r.get(2)?,
        created_ms: r.get(3)?,
        revoked_ms: r.get(4)?,
        budget: r.get(5)?,
        period: r.get(6)?,
        rpm: r.get(7)?,
        tpm: r.get(8)?,
        models: r.get(9)?,
    })
}

impl SqliteLedger {
    fn key_db_err(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerError + '_ {
        move |e| LedgerError::Database {
            location: self.location().to_string(),
            op,
            source: Box::new(e),
        }
    }
}

impl KeyStore for SqliteLedger {
    fn create_key(&self, k: &NewKey) -> Result<(KeyRecord, String), LedgerError> {
        let (budget, models) = keys::checked(k)?;
        let m = keys::mint()?;
        let created_ms = now_ms();
        self.conn()
            .prepare_cached(&sql::key_insert_sql(PH))
            .map_err(self.key_db_err("prepare the key insert"))?
            .execute(params![
                m.key_id,
                m.prefix,
                m.salt_hex,
                m.hash_hex,
                k.tenant,
                k.name,
                created_ms,
                Option::<i64>::None,
                budget,
                k.period.as_str(),
                k.rpm,
                k.tpm,
                models,
            ])
            .map_err(self.key_db_err("insert a key"))?;
        Ok((keys::new_record(m.key_id, k, created_ms), m.secret))
    }

    fn find_key(&self, secret: &str) -> Result<Option<KeyRecord>, LedgerError> {
        let Some(prefix) = keys::lookup_prefix(secret) else {
            return Ok(None);
        };
        let candidates: Vec<(RawRecord, String, String)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(&sql::key_candidates_sql(PH))
                .map_err(self.key_db_err("prepare the key lookup"))?;
            let rows = stmt
                .query_map([prefix], |r| Ok((raw_record(r)?, r.get(10)?, r.get(11)?)))
                .map_err(self.key_db_err("look up a key"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.key_db_err("read a key"))?
        };
        keys::matching(secret, candidates, self.location())
    }

    fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, LedgerError> {
        let raws: Vec<RawRecord> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(&sql::key_select_sql(PH, tenant.is_some()))
                .map_err(self.key_db_err("prepare the key list"))?;
            let rows = match tenant {
                Some(t) => stmt.query_map([t], raw_record),
                None => stmt.query_map([], raw_record),
            }
            .map_err(self.key_db_err("list keys"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.key_db_err("read a key"))?
        };
        raws.into_iter()
            .map(|raw| raw.into_record(self.location()))
            .collect()
    }

    fn revoke_key(&self, key_id: &str) -> Result<bool, LedgerError> {
        let changed = self
            .conn()
            .prepare_cached(&sql::key_revoke_sql(PH))
            .map_err(self.key_db_err("prepare the key revocation"))?
            .execute(params![key_id, now_ms()])
            .map_err(self.key_db_err("revoke a key"))?;
        Ok(changed > 0)
    }

    fn spent(&self, key_id: &str, since_ms: Option<i64>) -> Result<PicoUsd, LedgerError> {
        // Rows still in the queue count too (budgets are checked against every answer
        // given), summed in memory rather than committed first: a budget check does
        // not pay for a commit.
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&sql::key_spent_sql(PH, since_ms.is_some()))
            .map_err(self.key_db_err("prepare the key spend query"))?;
        let sum: i64 = match since_ms {
            Some(since) => stmt.query_row(params![key_id, since], |r| r.get(0)),
            None => stmt.query_row([key_id], |r| r.get(0)),
        }
        .map_err(self.key_db_err("sum a key's spend"))?;
        drop(stmt);
        let committed = keys::spent_from_sum(key_id, sum, self.location())?;
        let queued = self.queued_cost(&conn, |r| {
            r.key_id.as_deref() == Some(key_id) && since_ms.is_none_or(|s| r.time_ms >= s)
        });
        Ok(committed.saturating_add(queued))
    }
}
