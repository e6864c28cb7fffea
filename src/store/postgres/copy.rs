//! `gleaner migrate-to URL`: the SQLite store copied into an empty PostgreSQL database, keys
//! and all.
//!
//! How, and why:
//! * The tables and columns come from the two databases themselves (SQLite's tables that are
//!   not FTS5's, PostgreSQL's columns that are not generated), so a new migration is copied
//!   without a change here. A SQLite table or column PostgreSQL lacks is refused (its rows
//!   would be lost); a PostgreSQL-only column is left to its default.
//! * Tables go parents first (PostgreSQL's foreign keys), each by binary COPY, all in one
//!   transaction: the target has everything or nothing.
//! * The target's copied tables are locked (EXCLUSIVE: readers go on, writers wait) before they
//!   are found empty, so nothing slips in between the check and the copy.
//! * SQLite is read in one snapshot on a blocking thread, in batches through a small channel:
//!   reading and writing overlap, and memory stays at a few batches.
//! * Row counts are checked in the transaction before it commits; identity sequences are set
//!   past the largest id copied, so new rows do not collide with copied ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{Conn, clean, message, migrate, without_password};
use crate::store::StoreError;
use crate::store::snapshot::{Event, Snapshot, Table, Value, quote};

/// Why a copy did not happen. In every case no row was written: the transaction was rolled
/// back, or never began.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{target} is not empty (it has {counts}): migrate-to copies into an empty database \
         only, so nothing was copied; create a new database (`createdb gleaner`) and give its URL"
    )]
    NotEmpty { target: String, counts: String },
    #[error("the SQLite and PostgreSQL schemas do not match, so nothing was copied: {0}")]
    Schema(String),
    #[error("{table}.{column} of the row with {key}: {problem}; nothing was copied")]
    Value {
        table: String,
        column: String,
        key: String,
        problem: String,
    },
    #[error("copying {table} failed, so nothing was copied: {message}")]
    Copying { table: String, message: String },
    #[error(
        "{table}: {found} rows in PostgreSQL after the copy, but {expected} in SQLite; \
         nothing was copied"
    )]
    Count {
        table: String,
        expected: u64,
        found: u64,
    },
    #[error("reading the SQLite database stopped unexpectedly; nothing was copied")]
    ReaderGone,
}

/// What was copied: each table with its rows, in the order copied.
#[derive(Debug, Clone)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
    /// The target as it may be shown (no password).
    pub target: String,
    pub elapsed: Duration,
}

/// Copies the SQLite store at `sqlite` (first migrated to the latest schema) into the
/// PostgreSQL database at `url` (a URL or key/value connection string), whose schema is
/// created or upgraded first. Refuses a target that has rows in any table to be copied.
pub async fn migrate_to(sqlite: &Path, url: &str) -> Result<Copied, CopyError> {
    let began = Instant::now();
    let target = without_password(url);
    let path = sqlite.to_owned();
    let (snapshot, lite) = tokio::task::spawn_blocking(move || {
        let snapshot = Snapshot::open(&path)?;
        let tables = snapshot.tables()?;
        Ok::<_, StoreError>((snapshot, tables))
    })
    .await
    .map_err(|_| CopyError::ReaderGone)??;
    let mut conn = Conn::open(url).await?;
    let result = copy(&mut conn, snapshot, lite, &target).await;
    conn.close().await;
    let tables = result?;
    Ok(Copied {
        tables,
        target,
        elapsed: began.elapsed(),
    })
}

/// A table to copy: the columns both databases have, in PostgreSQL's order, with their types
/// there, and the identity (or serial) sequences among them.
struct Plan {
    table: Table,
    types: Vec<Type>,
    kinds: Vec<Kind>,
    /// (column, sequence) for each column with a sequence.
    sequences: Vec<(String, String)>,
}

async fn copy(
    conn: &mut Conn,
    mut snapshot: Snapshot,
    lite: Vec<Table>,
    target: &str,
) -> Result<Vec<(String, u64)>, CopyError> {
    migrate(&mut conn.client).await?;
    let tx = conn.client.transaction().await.map_err(StoreError::from)?;
    let plans = plan(&tx, lite).await?;
    let names: Vec<String> = plans.iter().map(|p| quote(&p.table.name)).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        names.join(", ")
    ))
    .await
    .map_err(StoreError::from)?;
    let mut found = Vec::new();
    for plan in &plans {
        let rows = count(&tx, &plan.table.name).await?;
        if rows > 0 {
            found.push(format!("{} {}", plan.table.name, grouped(rows)));
        }
    }
    if !found.is_empty() {
        return Err(CopyError::NotEmpty {
            target: target.to_owned(),
            counts: found.join(", "),
        });
    }

    let (events, mut rx) = mpsc::channel(8);
    let tables: Vec<Table> = plans.iter().map(|p| p.table.clone()).collect();
    let reader = tokio::task::spawn_blocking(move || {
        snapshot.read(&tables, |event| events.blocking_send(event).is_ok())
    });
    let copied = copy_tables(&tx, &plans, &mut rx).await;
    // The reader waits on a full channel: let it go before waiting for it.
    drop(rx);
    let read = reader.await.map_err(|_| CopyError::ReaderGone)?;
    // SQLite's own error first: the copy only saw the rows stop.
    read?;
    let copied = copied?;

    for (plan, &rows) in plans.iter().zip(&copied) {
        let found = count(&tx, &plan.table.name).await?;
        if found != rows {
            return Err(CopyError::Count {
                table: plan.table.name.clone(),
                expected: rows,
                found,
            });
        }
        for (column, sequence) in &plan.sequences {
            // Past the largest id copied (`setval` is strict: an empty table leaves it be).
            let sql = format!(
                "SELECT setval($1::text::regclass, max({})) FROM {}",
                quote(column),
                quote(&plan.table.name)
            );
            tx.execute(&sql, &[sequence])
                .await
                .map_err(StoreError::from)?;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(plans
        .into_iter()
        .zip(copied)
        .map(|(plan, rows)| (plan.table.name, rows))
        .collect())
}

async fn count(tx: &Transaction<'_>, table: &str) -> Result<u64, CopyError> {
    let n: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {}", quote(table)), &[])
        .await
        .map_err(StoreError::from)?
        .get(0);
    Ok(n as u64)
}

/// The tables to copy, parents first: SQLite's tables matched with PostgreSQL's, by name.
async fn plan(tx: &Transaction<'_>, lite: Vec<Table>) -> Result<Vec<Plan>, CopyError> {
    // PostgreSQL's tables in the schema gleaner uses, with the columns a copy can fill (not
    // generated ones), their types and sequences.
    let rows = tx
        .query(
            "SELECT c.relname::text, a.attname::text, a.atttypid,
                    pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)
             FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY c.relname, a.attnum",
            &[],
        )
        .await
        .map_err(StoreError::from)?;
    let mut pg: BTreeMap<String, Vec<(String, u32, Option<String>)>> = BTreeMap::new();
    for row in rows {
        pg.entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2), row.get(3)));
    }
    let mut plans = BTreeMap::new();
    for table in lite {
        let Some(pg_columns) = pg.get(&table.name) else {
            return Err(CopyError::Schema(format!(
                "PostgreSQL has no table {}, whose rows would be lost",
                table.name
            )));
        };
        if let Some(missing) = table
            .columns
            .iter()
            .find(|c| !pg_columns.iter().any(|p| &p.0 == *c))
        {
            return Err(CopyError::Schema(format!(
                "PostgreSQL's table {} has no column {missing}, whose values would be lost",
                table.name
            )));
        }
        let mut plan = Plan {
            table: Table {
                name: table.name.clone(),
                columns: Vec::new(),
            },
            types: Vec::new(),
            kinds: Vec::new(),
            sequences: Vec::new(),
        };
        // PostgreSQL-only columns are left out: they take their defaults.
        for (column, oid, sequence) in pg_columns.iter().filter(|p| table.columns.contains(&p.0)) {
            let ty = Type::from_oid(*oid);
            let Some((ty, kind)) = ty.and_then(|t| Kind::of(&t).map(|k| (t, k))) else {
                return Err(CopyError::Schema(format!(
                    "{}.{column} has a PostgreSQL type (oid {oid}) that migrate-to cannot fill",
                    table.name
                )));
            };
            plan.table.columns.push(column.clone());
            plan.types.push(ty);
            plan.kinds.push(kind);
            if let Some(sequence) = sequence {
                plan.sequences.push((column.clone(), sequence.clone()));
            }
        }
        plans.insert(table.name, plan);
    }

    // Parents before children, by the target's foreign keys; by name among equals.
    let keys = tx
        .query(
            "SELECT child.relname::text, parent.relname::text
             FROM pg_constraint k
             JOIN pg_class child ON child.oid = k.conrelid
             JOIN pg_class parent ON parent.oid = k.confrelid
             JOIN pg_namespace n ON n.oid = child.relnamespace
             WHERE k.contype = 'f' AND n.nspname = current_schema()",
            &[],
        )
        .await
        .map_err(StoreError::from)?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in keys {
        let (child, parent): (String, String) = (key.get(0), key.get(1));
        // A table referring to itself, or to a table not copied, waits for nothing.
        if child != parent && plans.contains_key(&child) && plans.contains_key(&parent) {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut ordered = Vec::with_capacity(plans.len());
    while !plans.is_empty() {
        let ready = plans
            .keys()
            .find(|t| {
                parents
                    .get(*t)
                    .is_none_or(|p| p.iter().all(|p| !plans.contains_key(p)))
            })
            .cloned();
        let Some(ready) = ready else {
            let left: Vec<&str> = plans.keys().map(String::as_str).collect();
            return Err(CopyError::Schema(format!(
                "the foreign keys of {} form a cycle, so no order of copying satisfies them",
                left.join(", ")
            )));
        };
        ordered.extend(plans.remove(&ready));
    }
    Ok(ordered)
}

/// Copies each table's rows as the reader hands them on; returns each table's row count.
async fn copy_tables(
    tx: &Transaction<'_>,
    plans: &[Plan],
    events: &mut mpsc::Receiver<Event>,
) -> Result<Vec<u64>, CopyError> {
    let mut counts = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        let name = &plan.table.name;
        let expected = match events.recv().await {
            Some(Event::Begin { table, rows }) if table == i => rows,
            _ => return Err(CopyError::ReaderGone),
        };
        let failed = |e: tokio_postgres::Error| CopyError::Copying {
            table: name.clone(),
            message: message(&e),
        };
        let columns: Vec<String> = plan.table.columns.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            quote(name),
            columns.join(", ")
        );
        let sink = tx.copy_in(&sql).await.map_err(failed)?;
        let writer = BinaryCopyInWriter::new(sink, &plan.types);
        let mut writer = std::pin::pin!(writer);
        let mut sent = 0u64;
        let mut logged = Instant::now();
        loop {
            match events.recv().await {
                Some(Event::Rows(rows)) => {
                    for row in rows {
                        let cells = cells(plan, row)?;
                        writer
                            .as_mut()
                            .write_raw(cells.iter().map(Cell::sql))
                            .await
                            .map_err(failed)?;
                        sent += 1;
                    }
                }
                Some(Event::End { table }) if table == i => break,
                _ => return Err(CopyError::ReaderGone),
            }
            if logged.elapsed() >= Duration::from_secs(2) {
                tracing::info!(
                    table = %name,
                    "copying {name}: {} of {} rows",
                    grouped(sent),
                    grouped(expected)
                );
                logged = Instant::now();
            }
        }
        let copied = writer.as_mut().finish().await.map_err(failed)?;
        if copied != expected || sent != expected {
            return Err(CopyError::Count {
                table: name.clone(),
                expected,
                found: copied,
            });
        }
        tracing::debug!(table = %name, rows = copied, "copied");
        counts.push(copied);
    }
    Ok(counts)
}

/// The PostgreSQL types a SQLite value can be copied into.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int8,
    Int4,
    Int2,
    Float8,
    Float4,
    Bool,
    Text,
    Bytea,
}

impl Kind {
    /// PostgreSQL's name of the type.
    fn name(self) -> &'static str {
        match self {
            Kind::Int8 => "bigint",
            Kind::Int4 => "integer",
            Kind::Int2 => "smallint",
            Kind::Float8 => "double precision",
            Kind::Float4 => "real",
            Kind::Bool => "boolean",
            Kind::Text => "text",
            Kind::Bytea => "bytea",
        }
    }

    fn of(ty: &Type) -> Option<Kind> {
        Some(match *ty {
            Type::INT8 => Kind::Int8,
            Type::INT4 => Kind::Int4,
            Type::INT2 => Kind::Int2,
            Type::FLOAT8 => Kind::Float8,
            Type::FLOAT4 => Kind::Float4,
            Type::BOOL => Kind::Bool,
            Type::TEXT | Type::VARCHAR => Kind::Text,
            Type::BYTEA => Kind::Bytea,
            _ => return None,
        })
    }
}

/// A value ready for the binary COPY: typed as its column is, NULL included.
#[derive(Debug)]
enum Cell {
    Int8(Option<i64>),
    Int4(Option<i32>),
    Int2(Option<i16>),
    Float8(Option<f64>),
    Float4(Option<f32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytea(Option<Vec<u8>>),
}

impl Cell {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int8(v) => v,
            Cell::Int4(v) => v,
            Cell::Int2(v) => v,
            Cell::Float8(v) => v,
            Cell::Float4(v) => v,
            Cell::Bool(v) => v,
            Cell::Text(v) => v,
            Cell::Bytea(v) => v,
        }
    }

    fn null(kind: Kind) -> Cell {
        match kind {
            Kind::Int8 => Cell::Int8(None),
            Kind::Int4 => Cell::Int4(None),
            Kind::Int2 => Cell::Int2(None),
            Kind::Float8 => Cell::Float8(None),
            Kind::Float4 => Cell::Float4(None),
            Kind::Bool => Cell::Bool(None),
            Kind::Text => Cell::Text(None),
            Kind::Bytea => Cell::Bytea(None),
        }
    }
}

/// A SQLite row as PostgreSQL's columns take it, or which value cannot be and why.
fn cells(plan: &Plan, row: Vec<Value>) -> Result<Vec<Cell>, CopyError> {
    // The row's first column (its id, or key) says which row a bad value is in.
    let key = match row.first() {
        Some(first) => format!("{} {}", plan.table.columns[0], shown(first)),
        None => String::new(),
    };
    row.into_iter()
        .zip(&plan.kinds)
        .enumerate()
        .map(|(i, (value, &kind))| {
            convert(value, kind).map_err(|problem| CopyError::Value {
                table: plan.table.name.clone(),
                column: plan.table.columns[i].clone(),
                key: key.clone(),
                problem,
            })
        })
        .collect()
}

/// A value as the error shows it: short.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(t) if t.chars().count() > 40 => {
            format!("{:?}…", t.chars().take(40).collect::<String>())
        }
        Value::Text(t) => format!("{t:?}"),
        Value::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// One SQLite value as a PostgreSQL column of `kind` takes it. Only lossless conversions:
/// an integer into a float or text column, an integral real into an integer column, 0/1 into
/// a boolean, UTF-8 bytes into text; text gets the NUL rule ([`clean`]).
fn convert(value: Value, kind: Kind) -> Result<Cell, String> {
    let wrong = |value: &Value| {
        format!(
            "{} ({}) cannot go into a PostgreSQL {} column",
            value.class(),
            shown(value),
            kind.name()
        )
    };
    Ok(match (value, kind) {
        (Value::Null, kind) => Cell::null(kind),
        (Value::Integer(i), Kind::Int8) => Cell::Int8(Some(i)),
        (Value::Integer(i), Kind::Int4) => Cell::Int4(Some(
            i32::try_from(i).map_err(|_| format!("{i} is too large"))?,
        )),
        (Value::Integer(i), Kind::Int2) => Cell::Int2(Some(
            i16::try_from(i).map_err(|_| format!("{i} is too large"))?,
        )),
        (Value::Integer(i), Kind::Float8) => Cell::Float8(Some(i as f64)),
        (Value::Integer(i), Kind::Float4) => Cell::Float4(Some(i as f32)),
        (Value::Integer(i @ (0 | 1)), Kind::Bool) => Cell::Bool(Some(i == 1)),
        (Value::Integer(i), Kind::Text) => Cell::Text(Some(i.to_string())),
        (Value::Real(f), Kind::Float8) => Cell::Float8(Some(f)),
        (Value::Real(f), Kind::Float4) => Cell::Float4(Some(f as f32)),
        (Value::Real(f), Kind::Int8 | Kind::Int4 | Kind::Int2)
            if f.fract() == 0.0 && f.abs() < 9.0e15 =>
        {
            return convert(Value::Integer(f as i64), kind);
        }
        (Value::Text(t), Kind::Text) => {
            let t = if t.contains('\0') {
                clean(&t).into_owned()
            } else {
                t
            };
            Cell::Text(Some(t))
        }
        (Value::Blob(b), Kind::Bytea) => Cell::Bytea(Some(b)),
        (Value::Blob(b), Kind::Text) => match String::from_utf8(b) {
            Ok(t) => return convert(Value::Text(t), kind),
            Err(e) => {
                return Err(format!(
                    "{} bytes that are not UTF-8 text",
                    e.as_bytes().len()
                ));
            }
        },
        (value, _) => return Err(wrong(&value)),
    })
}

/// `n` with a comma between thousands: 3,402.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_losslessly_or_say_why_not() {
        assert!(matches!(
            convert(Value::Integer(-5), Kind::Int8),
            Ok(Cell::Int8(Some(-5)))
        ));
        assert!(matches!(
            convert(Value::Null, Kind::Text),
            Ok(Cell::Text(None))
        ));
        match convert(Value::Text("a\0b".into()), Kind::Text) {
            Ok(Cell::Text(Some(t))) => assert_eq!(t, "a\u{FFFD}b"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            convert(Value::Real(3.0), Kind::Int8),
            Ok(Cell::Int8(Some(3)))
        ));
        assert!(matches!(
            convert(Value::Integer(1 << 40), Kind::Int4),
            Err(e) if e.contains("too large")
        ));
        assert!(matches!(
            convert(Value::Text("soon".into()), Kind::Int8),
            Err(e) if e.contains("text (\"soon\")") && e.contains("bigint")
        ));
        assert!(matches!(
            convert(Value::Blob(vec![0xff, 0xfe]), Kind::Text),
            Err(e) if e.contains("not UTF-8")
        ));
        assert!(convert(Value::Real(1.5), Kind::Int8).is_err());
        assert!(convert(Value::Integer(2), Kind::Bool).is_err());
    }

    #[test]
    fn counts_have_thousands_separated() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(3_402), "3,402");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
