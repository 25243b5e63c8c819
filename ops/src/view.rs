//! The reading of a status document that both renderings share ([`crate::page`] and
//! [`crate::text`]): which values are the overview, which sections come in which order, and
//! each table's columns.
//!
//! The JSON's shape is shared by both daemons: top-level scalars are the overview, objects
//! of scalars are key/value sections (`counters`, `drops`), arrays of objects are tables
//! (`motes`, `flows`, `delegations`, `handshakes`).

use serde_json::{Map, Value};

/// Column order for the keys both daemons use; other keys follow alphabetically.
const PREFERRED: &[&str] = &[
    "name",
    "mote",
    "address",
    "link",
    "flow",
    "peer",
    "iotssp",
    "kind",
    "state",
    "phase",
    "outcome",
    "reason",
    "policy",
    "configured",
    "hops",
    "link_quality",
    "lqi",
    "rssi_dbm",
    "last_heard_s_ago",
    "started_s_ago",
    "age_s",
    "duration_ms",
];

/// Sections shown first, in this order; other sections follow alphabetically.
const SECTION_ORDER: &[&str] = &[
    "motes",
    "radio",
    "registrations",
    "rpl_routes",
    "flows",
    "iotssps",
    "border_routers",
    "delegations",
    "handshakes",
    "counters",
    "drops",
    "reload",
];

/// A status document as the renderings show it.
pub struct StatusView<'a> {
    /// The whole document (for what a rendering draws from several sections).
    pub document: &'a Map<String, Value>,
    /// The top-level scalars, in the document's order.
    pub overview: Vec<(&'a str, &'a Value)>,
    /// The other top-level values, in display order.
    pub sections: Vec<Section<'a>>,
}

/// One section of the document.
pub struct Section<'a> {
    pub key: &'a str,
    pub value: &'a Value,
    pub body: Body<'a>,
}

/// How a section is shown.
pub enum Body<'a> {
    /// An object: key/value lines (none when empty).
    Pairs(&'a Map<String, Value>),
    /// An array: a table (none when it has no rows).
    Table(Table<'a>),
}

/// An array of objects as a table: every key any row has, in display order.
pub struct Table<'a> {
    pub columns: Vec<&'a str>,
    pub rows: &'a [Value],
}

impl Table<'_> {
    /// The cell of `row` in `column` (null when the row lacks it).
    pub fn cell<'v>(row: &'v Value, column: &str) -> &'v Value {
        row.get(column).unwrap_or(&Value::Null)
    }
}

impl<'a> StatusView<'a> {
    /// The view of `status`, or `None` when it is not a JSON object.
    pub fn new(status: &'a Value) -> Option<StatusView<'a>> {
        let document = status.as_object()?;
        let overview = document
            .iter()
            .filter(|(_, v)| is_scalar(v))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let mut sections: Vec<Section<'a>> = document
            .iter()
            .filter_map(|(k, v)| {
                let body = match v {
                    Value::Object(m) => Body::Pairs(m),
                    Value::Array(rows) => Body::Table(Table {
                        columns: columns(rows),
                        rows,
                    }),
                    _ => return None,
                };
                Some(Section {
                    key: k.as_str(),
                    value: v,
                    body,
                })
            })
            .collect();
        sections.sort_by_key(|s| {
            (
                SECTION_ORDER
                    .iter()
                    .position(|o| *o == s.key)
                    .unwrap_or(usize::MAX),
                s.key,
            )
        });
        Some(StatusView {
            document,
            overview,
            sections,
        })
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn columns(rows: &[Value]) -> Vec<&str> {
    let mut cols: Vec<&str> = Vec::new();
    for k in rows
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys())
    {
        if !cols.contains(&k.as_str()) {
            cols.push(k);
        }
    }
    cols.sort_by_key(|k| {
        (
            PREFERRED.iter().position(|p| p == k).unwrap_or(usize::MAX),
            *k,
        )
    });
    cols
}
