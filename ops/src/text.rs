//! The terminal rendering of a status document (what `lowpan-br status` prints without
//! `--json`): the overview as `key: value` lines, then each section, tables with aligned
//! columns. Same reading of the JSON as [`crate::page`].

use std::fmt::Write as _;

use serde_json::Value;

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
    "last_heard_s_ago",
    "started_s_ago",
    "age_s",
    "duration_ms",
];
const SECTION_ORDER: &[&str] = &[
    "motes",
    "radio",
    "registrations",
    "flows",
    "iotssps",
    "border_routers",
    "delegations",
    "handshakes",
    "counters",
    "drops",
    "reload",
];

pub fn render(status: &Value) -> String {
    let mut s = String::new();
    let Some(obj) = status.as_object() else {
        return format!("{status}\n");
    };
    let scalars: Vec<(&String, &Value)> = obj.iter().filter(|(_, v)| is_scalar(v)).collect();
    let width = scalars.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in scalars {
        let _ = writeln!(s, "{k:width$}  {}", scalar(v));
    }
    let mut keys: Vec<&str> = obj
        .iter()
        .filter(|(_, v)| !is_scalar(v))
        .map(|(k, _)| k.as_str())
        .collect();
    keys.sort_by_key(|k| {
        (
            SECTION_ORDER
                .iter()
                .position(|o| o == k)
                .unwrap_or(usize::MAX),
            k.to_string(),
        )
    });
    for k in keys {
        let _ = writeln!(s, "\n{k}:");
        match &obj[k] {
            Value::Object(m) if m.is_empty() => s.push_str("  none\n"),
            Value::Object(m) => {
                let width = m.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in m {
                    let _ = writeln!(s, "  {k:width$}  {}", scalar(v));
                }
            }
            Value::Array(rows) if rows.is_empty() => s.push_str("  none\n"),
            Value::Array(rows) => table(&mut s, rows),
            _ => {}
        }
    }
    s
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(t) => t.clone(),
        Value::Array(items) => items
            .iter()
            .map(
                |i| match (i.get("event").and_then(Value::as_str), i.get("at_ms")) {
                    (Some(ev), Some(at)) => format!("{ev}@{at}ms"),
                    _ => scalar(i),
                },
            )
            .collect::<Vec<_>>()
            .join(" "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn table(s: &mut String, rows: &[Value]) {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        for k in r.as_object().into_iter().flat_map(|m| m.keys()) {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    cols.sort_by_key(|k| {
        (
            PREFERRED.iter().position(|p| p == k).unwrap_or(usize::MAX),
            k.clone(),
        )
    });
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| scalar(r.get(c).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |s: &mut String, row: &[String]| {
        for (i, c) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            let _ = write!(s, "  {c}{}", " ".repeat(pad));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    };
    line(s, &cols);
    for r in &cells {
        line(s, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overview_sections_and_aligned_tables() {
        let v = json!({
            "daemon": "lowpan-br", "uptime_s": 12,
            "motes": [{"name": "kitchen", "link": "00:12", "last_heard_s_ago": 1.5}, {"name": "x", "link": "0005"}],
            "drops": {}
        });
        let t = render(&v);
        assert!(t.starts_with("daemon    lowpan-br\nuptime_s  12\n"), "{t}");
        assert!(t.contains("\nmotes:\n  name     link   last_heard_s_ago\n  kitchen  00:12  1.5\n  x        0005   -\n"), "{t}");
        assert!(t.contains("\ndrops:\n  none\n"), "{t}");
    }
}
