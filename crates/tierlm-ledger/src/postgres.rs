//! The PostgreSQL ledger, for gateways that run as several replicas against one
//! database. It runs the same migrations and queries as SQLite ([`crate::sql`], `$N`
//! placeholders) and passes the same test suites. Every insert is its own committed
//! statement, so a row is durable (by the server's own `synchronous_commit`) when
//! [`LedgerStore::insert`] returns.
//!
//! A small pool of connections ([`POOL_SIZE`]) serves the process: a call takes a free
//! connection or waits for one, a broken connection is dropped and reconnected on
//! its next use, and each connection prepares a statement once. Migrations take a
//! transaction-scoped advisory lock, so replicas starting together apply each once.
//! Connections are plain TCP or Unix-socket (no TLS yet: `sslmode=require` fails to
//! connect with a clear error); use a loopback address, a socket, or a TLS-terminating
//! proxy on the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use crate::error::{BoxError, LedgerError};
use crate::keys::{self, KeyRecord, KeyStore, NewKey, RawRecord};
use crate::money::PicoUsd;
use crate::now_ms;
use crate::sql::{self, Placeholders};
use crate::store::LedgerStore;
use crate::usage::{self, Row, UsageQuery, UsageReport};

/// Connections kept per process; the server's blocking pool calls in parallel.
pub const POOL_SIZE: usize = 4;

/// How long connecting waits when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The advisory lock key migrations hold (any constant unique to tierlm).
const MIGRATION_LOCK: i64 = 0x7469_6572_6c6d; // "tierlm"

const PH: Placeholders = Placeholders::Dollar;

/// The row insert, formatted once (every request runs it).
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| sql::insert_sql(PH));

/// One pooled connection and the statements it has prepared.
struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    /// `text` prepared on this connection, once.
    fn statement(&mut self, text: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.get(text) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(text)?;
        self.prepared.insert(text.to_string(), s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        text: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let s = self.statement(text)?;
        self.client.query(&s, params)
    }

    fn execute(
        &mut self,
        text: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(text)?;
        self.client.execute(&s, params)
    }
}

/// A ledger in a PostgreSQL database.
pub struct PostgresLedger {
    config: postgres::Config,
    slots: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
    location: String,
    applied: usize,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A PostgreSQL error with the server's own message (severity, text, detail and
/// hint), which the client error's `Display` alone leaves out.
fn describe(e: &postgres::Error) -> BoxError {
    let text = match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                s.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                s.push_str(&format!("; hint: {hint}"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let c = cause.to_string();
                if !s.contains(&c) {
                    s.push_str(&format!(": {c}"));
                }
                source = cause.source();
            }
            s
        }
    };
    text.into()
}

fn db_err(location: &str, op: &'static str, e: &postgres::Error) -> LedgerError {
    LedgerError::Database {
        location: location.to_string(),
        op,
        source: describe(e),
    }
}

impl PostgresLedger {
    /// Connects to the database `url` names (`postgres://user:pass@host:port/db`,
    /// or any form the `postgres` crate reads) and brings its schema up to date.
    /// `location` is how errors name the database (the URL without its password).
    pub fn open(url: &str, location: String) -> Result<Self, LedgerError> {
        // The client library reads the scheme in lowercase only.
        let url = match url.find("://") {
            Some(i) => format!("{}{}", url[..i].to_ascii_lowercase(), &url[i..]),
            None => url.to_string(),
        };
        let mut config: postgres::Config = url.parse().map_err(|e| LedgerError::InvalidUrl {
            url: location.clone(),
            reason: describe(&e).to_string(),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tierlm");
        }
        let mut first = Conn {
            client: config
                .connect(NoTls)
                .map_err(|e| db_err(&location, "connect", &e))?,
            prepared: HashMap::new(),
        };
        let applied = migrate(&mut first.client, &location)?;
        let mut slots: Vec<Mutex<Option<Conn>>> =
            (0..POOL_SIZE).map(|_| Mutex::new(None)).collect();
        slots[0] = Mutex::new(Some(first));
        Ok(Self {
            config,
            slots,
            next: AtomicUsize::new(0),
            location,
            applied,
        })
    }

    /// The URL this ledger was opened with, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// How many schema migrations opening this ledger applied.
    pub fn migrations_applied(&self) -> usize {
        self.applied
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i64, LedgerError> {
        self.with_conn("read the schema version", |c| {
            let rows = c.query(sql::CURRENT_VERSION, &[])?;
            rows.first()
                .map(|r| r.try_get::<_, i32>(0))
                .transpose()
                .map(|v| i64::from(v.unwrap_or(0)))
        })
    }

    /// A free slot if there is one, else the next slot in turn (waiting for it).
    fn slot(&self) -> MutexGuard<'_, Option<Conn>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.slots.len() {
            if let Ok(guard) = self.slots[(start + i) % self.slots.len()].try_lock() {
                return guard;
            }
        }
        // A panic mid-call leaves at worst an aborted transaction, which the server
        // rolls back when the connection is used again or dropped.
        self.slots[start % self.slots.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pooled connection, connecting first if the slot is empty or its
    /// connection broke. A failed call whose connection is now closed empties the
    /// slot; the call itself is not retried (an insert might have committed).
    fn with_conn<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Conn) -> Result<T, postgres::Error>,
    ) -> Result<T, LedgerError> {
        let mut slot = self.slot();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(|e| db_err(&self.location, "connect", &e))?;
            *slot = Some(Conn {
                client,
                prepared: HashMap::new(),
            });
        }
        let Some(conn) = slot.as_mut() else {
            return Err(LedgerError::Database {
                location: self.location.clone(),
                op,
                source: "no connection".into(),
            });
        };
        let result = f(conn);
        if result.is_err() && conn.client.is_closed() {
            *slot = None;
        }
        result.map_err(|e| db_err(&self.location, op, &e))
    }
}

/// Applies the migrations the database has not seen, each in its own transaction
/// under an advisory lock, so replicas opening a new database at once apply each
/// migration once (PostgreSQL's DDL is transactional: a failed one leaves nothing).
fn migrate(client: &mut Client, location: &str) -> Result<usize, LedgerError> {
    let newer = |found: i64| LedgerError::NewerSchema {
        location: location.to_string(),
        found,
        supported: sql::SCHEMA_VERSION,
    };
    let mut applied = 0;
    for (i, migration) in sql::MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(i).unwrap_or(i32::MAX).saturating_add(1);
        let failed = |e: postgres::Error| LedgerError::Migration {
            location: location.to_string(),
            version: i64::from(version),
            source: describe(&e),
        };
        let mut tx = client.transaction().map_err(failed)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(failed)?;
        tx.batch_execute(sql::CREATE_MIGRATIONS_TABLE)
            .map_err(failed)?;
        let current: i32 = tx
            .query_one(sql::CURRENT_VERSION, &[])
            .and_then(|r| r.try_get(0))
            .map_err(failed)?;
        if i64::from(current) > sql::SCHEMA_VERSION {
            return Err(newer(i64::from(current)));
        }
        if current >= version {
            continue; // dropping `tx` rolls the empty transaction back
        }
        tx.batch_execute(migration).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
            &[&version, &now_ms()],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        applied += 1;
    }
    let current: i32 = client
        .query_one(sql::CURRENT_VERSION, &[])
        .and_then(|r| r.try_get(0))
        .map_err(|e| db_err(location, "read the schema version", &e))?;
    if i64::from(current) > sql::SCHEMA_VERSION {
        return Err(newer(i64::from(current)));
    }
    Ok(applied)
}

fn raw_record(r: &postgres::Row) -> Result<RawRecord, postgres::Error> {
    Ok(RawRecord {
        key_id: r.try_get(0)?,
        tenant: r.try_get(1)?,
        name: r.try_get(2)?,
        created_ms: r.try_get(3)?,
        revoked_ms: r.try_get(4)?,
        budget: r.try_get(5)?,
        period: r.try_get(6)?,
        rpm: r.try_get(7)?,
        tpm: r.try_get(8)?,
        models: r.try_get(9)?,
    })
}

impl LedgerStore for PostgresLedger {
    fn insert(&self, row: &Row) -> Result<(), LedgerError> {
        let (cost, counterfactual) = usage::stored_money(row)?;
        self.with_conn("insert a row", |c| {
            c.execute(
                &INSERT_SQL,
                &[
                    &row.request_id,
                    &row.time_ms,
                    &row.tenant,
                    &row.key_id,
                    &row.endpoint,
                    &row.route,
                    &row.reason,
                    &row.model,
                    &row.served_model,
                    &row.provider,
                    &i64::from(row.prompt_tokens),
                    &i64::from(row.completion_tokens),
                    &i64::from(row.latency_ms),
                    &row.ttft_ms.map(i64::from),
                    &i32::from(row.status),
                    &cost,
                    &counterfactual,
                    &row.tiers,
                ],
            )
            .map(drop)
        })
    }

    fn usage(&self, q: &UsageQuery) -> Result<UsageReport, LedgerError> {
        let (text, bounds) = sql::usage_sql(q, PH);
        let params: Vec<&(dyn ToSql + Sync)> =
            bounds.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        let raw = self.with_conn("query usage", |c| {
            c.query(&text, &params)?
                .iter()
                .map(|r| {
                    let mut sums = [0i64; 7];
                    for (i, s) in sums.iter_mut().enumerate() {
                        *s = r.try_get(i + 1)?;
                    }
                    Ok((r.try_get::<_, String>(0)?, sums))
                })
                .collect::<Result<Vec<_>, postgres::Error>>()
        })?;
        usage::assemble(&self.location, q, raw)
    }

    fn count(&self) -> Result<u64, LedgerError> {
        let n: i64 = self.with_conn("count rows", |c| {
            c.query(sql::COUNT_SQL, &[])?
                .first()
                .map_or(Ok(0), |r| r.try_get(0))
        })?;
        usage::unsigned(&self.location, "row count", n)
    }
}

impl KeyStore for PostgresLedger {
    fn create_key(&self, k: &NewKey) -> Result<(KeyRecord, String), LedgerError> {
        let (budget, models) = keys::checked(k)?;
        let m = keys::mint()?;
        let created_ms = now_ms();
        let text = sql::key_insert_sql(PH);
        self.with_conn("insert a key", |c| {
            c.execute(
                &text,
                &[
                    &m.key_id,
                    &m.prefix,
                    &m.salt_hex,
                    &m.hash_hex,
                    &k.tenant,
                    &k.name,
                    &created_ms,
                    &Option::<i64>::None,
                    &budget,
                    &k.period.as_str(),
                    &k.rpm.map(i64::from),
                    &k.tpm.map(i64::from),
                    &models,
                ],
            )
        })?;
        Ok((keys::new_record(m.key_id, k, created_ms), m.secret))
    }

    fn find_key(&self, secret: &str) -> Result<Option<KeyRecord>, LedgerError> {
        let Some(prefix) = keys::lookup_prefix(secret) else {
            return Ok(None);
        };
        let text = sql::key_candidates_sql(PH);
        let candidates = self.with_conn("look up a key", |c| {
            c.query(&text, &[&prefix])?
                .iter()
                .map(|r| Ok((raw_record(r)?, r.try_get(10)?, r.try_get(11)?)))
                .collect::<Result<Vec<_>, postgres::Error>>()
        })?;
        keys::matching(secret, candidates, &self.location)
    }

    fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, LedgerError> {
        let text = sql::key_select_sql(PH, tenant.is_some());
        let raws = self.with_conn("list keys", |c| {
            let rows = match tenant {
                Some(t) => c.query(&text, &[&t])?,
                None => c.query(&text, &[])?,
            };
            rows.iter()
                .map(raw_record)
                .collect::<Result<Vec<_>, postgres::Error>>()
        })?;
        raws.into_iter()
            .map(|raw| raw.into_record(&self.location))
            .collect()
    }

    fn revoke_key(&self, key_id: &str) -> Result<bool, LedgerError> {
        let text = sql::key_revoke_sql(PH);
        let changed =
            self.with_conn("revoke a key", |c| c.execute(&text, &[&key_id, &now_ms()]))?;
        Ok(changed > 0)
    }

    fn spent(&self, key_id: &str, since_ms: Option<i64>) -> Result<PicoUsd, LedgerError> {
        let text = sql::key_spent_sql(PH, since_ms.is_some());
        let sum: i64 = self.with_conn("sum a key's spend", |c| {
            let rows = match since_ms {
                Some(since) => c.query(&text, &[&key_id, &since])?,
                None => c.query(&text, &[&key_id])?,
            };
            rows.first().map_or(Ok(0), |r| r.try_get(0))
        })?;
        keys::spent_from_sum(key_id, sum, &self.location)
    }
}
