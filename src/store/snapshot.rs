//! Every row of the SQLite store, read in one snapshot as plain values: the source of
//! `gleaner migrate-to` (`postgres::copy`). No rusqlite type leaves this module.
//!
//! The snapshot is one read transaction (WAL): a daemon may keep writing meanwhile, and what
//! is read is the database as it was when the first row was read, every table alike.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// One SQLite value, as stored (SQLite's five storage classes).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// What SQLite calls its storage class, for error messages.
    pub fn class(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// A table of the store: its name and columns, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
}

/// What the reader hands on, in order: for each table asked for, `Begin`, its rows in
/// batches, then `End`.
#[derive(Debug)]
pub enum Event {
    /// A table starts; `rows` is its row count in the snapshot.
    Begin {
        table: usize,
        rows: u64,
    },
    /// Some rows of the table begun last, each with the columns asked for, in that order.
    Rows(Vec<Vec<Value>>),
    End {
        table: usize,
    },
}

/// Rows per [`Event::Rows`]: enough to cost little per batch, few enough to keep memory small.
const BATCH: usize = 1_000;

/// The SQLite store, brought to the latest schema, ready to be read.
pub struct Snapshot {
    conn: Connection,
}

impl Snapshot {
    /// Opens the store at `path` as gleaner opens it for writing (migrating it to the latest
    /// schema). A missing file is an error: there is nothing to copy, and none is created.
    pub fn open(path: &Path) -> Result<Snapshot, StoreError> {
        if !path.exists() {
            return Err(StoreError::Open {
                path: path.to_owned(),
                message: "does not exist: there is nothing to copy (check `database` in the \
                          configuration, or --database)"
                    .into(),
            });
        }
        Ok(Snapshot {
            conn: super::open_for_writing(path)?,
        })
    }

    /// The store's own tables with their columns, by name: not SQLite's (`sqlite_*`), not the
    /// full-text index (a virtual table) nor the tables it keeps (shadow tables).
    pub fn tables(&self) -> Result<Vec<Table>, StoreError> {
        let names: Vec<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
        names
            .into_iter()
            .map(|name| {
                let columns = stmt
                    .query_map([&name], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(Table { name, columns })
            })
            .collect()
    }

    /// Reads `tables` (each with the columns wanted, in that order) in one snapshot and hands
    /// each to `send` as [`Event`]s. Stops early, without error, when `send` returns false
    /// (the receiver gave up).
    pub fn read(
        &mut self,
        tables: &[Table],
        mut send: impl FnMut(Event) -> bool,
    ) -> Result<(), StoreError> {
        // DEFERRED, not the connection's IMMEDIATE: a read takes no write lock, so a running
        // daemon is not held up for the length of the copy.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        for (i, table) in tables.iter().enumerate() {
            let name = quote(&table.name);
            let count: i64 =
                tx.query_row(&format!("SELECT count(*) FROM {name}"), [], |r| r.get(0))?;
            if !send(Event::Begin {
                table: i,
                rows: count as u64,
            }) {
                return Ok(());
            }
            let columns: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
            let mut stmt = tx.prepare(&format!("SELECT {} FROM {name}", columns.join(", ")))?;
            let mut rows = stmt.query([])?;
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(row) = rows.next()? {
                let mut values = Vec::with_capacity(columns.len());
                for c in 0..columns.len() {
                    values.push(match row.get_ref(c)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(i) => Value::Integer(i),
                        ValueRef::Real(f) => Value::Real(f),
                        // Text that is not UTF-8 (gleaner never writes any) is kept as bytes;
                        // the copy then says where it is.
                        ValueRef::Text(t) => match std::str::from_utf8(t) {
                            Ok(s) => Value::Text(s.to_owned()),
                            Err(_) => Value::Blob(t.to_vec()),
                        },
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    });
                }
                batch.push(values);
                if batch.len() == BATCH
                    && !send(Event::Rows(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH),
                    )))
                {
                    return Ok(());
                }
            }
            if !batch.is_empty() && !send(Event::Rows(batch)) {
                return Ok(());
            }
            if !send(Event::End { table: i }) {
                return Ok(());
            }
        }
        // Read only: nothing to keep.
        tx.rollback()?;
        Ok(())
    }
}

/// An identifier as SQL writes it, quoted (SQLite and PostgreSQL alike).
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
