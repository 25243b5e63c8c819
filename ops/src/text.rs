//! The terminal rendering of a status document (what `lowpan-br status` prints without
//! `--json`): the overview as `key: value` lines, then each section, tables with aligned
//! columns. The document is read by [`crate::view`], as for [`crate::page`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::view::{Body, StatusView, Table};

pub fn render(status: &Value) -> String {
    let mut s = String::new();
    let Some(view) = StatusView::new(status) else {
        return format!("{status}\n");
    };
    let width = view
        .overview
        .iter()
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0);
    for (k, v) in &view.overview {
        let _ = writeln!(s, "{k:width$}  {}", scalar(v));
    }
    for section in &view.sections {
        let _ = writeln!(s, "\n{}:", section.key);
        match &section.body {
            Body::Pairs(m) if m.is_empty() => s.push_str("  none\n"),
            Body::Pairs(m) => {
                let width = m.keys().map(String::len).max().unwrap_or(0);
                for (k, v) in *m {
                    let _ = writeln!(s, "  {k:width$}  {}", scalar(v));
                }
            }
            Body::Table(t) if t.rows.is_empty() => s.push_str("  none\n"),
            Body::Table(t) => table(&mut s, t),
        }
    }
    s
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

fn table(s: &mut String, t: &Table<'_>) {
    let cols = &t.columns;
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| cols.iter().map(|c| scalar(Table::cell(r, c))).collect())
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
    let header: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    line(s, &header);
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
