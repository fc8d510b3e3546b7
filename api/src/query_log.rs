//! The log of every request made through the API: who, what, when, and how it ended. One
//! JSON object per line, appended and flushed per request. Query text is logged (it is the
//! analyst's question, never event data); tokens never are.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::ApiError;

/// What a route adds to its request's log line (the SQL statement, rows returned...), carried
/// as a response extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QueryNote(pub serde_json::Map<String, serde_json::Value>);

impl QueryNote {
    pub(crate) fn new() -> QueryNote {
        QueryNote::default()
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> QueryNote {
        self.0.insert(key.to_owned(), value.into());
        self
    }
}

pub(crate) struct Entry<'a> {
    pub who: Option<&'a str>,
    pub role: Option<&'a str>,
    pub method: &'a str,
    pub route: &'a str,
    pub query: Option<&'a str>,
    pub note: Option<&'a QueryNote>,
    pub status: u16,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub(crate) struct QueryLog {
    file: Mutex<BufWriter<File>>,
}

impl QueryLog {
    pub(crate) fn open(path: &Path) -> Result<QueryLog, ApiError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ApiError::Io {
                action: "create",
                path: parent.to_owned(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ApiError::Io {
                action: "open the query log",
                path: path.to_owned(),
                source,
            })?;
        Ok(QueryLog {
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    pub(crate) fn write(&self, entry: Entry<'_>) {
        let mut line = serde_json::Map::new();
        line.insert(
            "at".to_owned(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        line.insert("who".to_owned(), entry.who.into());
        line.insert("role".to_owned(), entry.role.into());
        line.insert("method".to_owned(), entry.method.into());
        line.insert("route".to_owned(), entry.route.into());
        line.insert("query".to_owned(), entry.query.into());
        line.insert("status".to_owned(), entry.status.into());
        line.insert(
            "ms".to_owned(),
            ((entry.elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0).into(),
        );
        if let Some(note) = entry.note {
            for (key, value) in &note.0 {
                line.insert(key.clone(), value.clone());
            }
        }
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = serde_json::to_writer(&mut *file, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush());
        if let Err(error) = written {
            tracing::error!(%error, "cannot write the query log");
        }
    }
}
