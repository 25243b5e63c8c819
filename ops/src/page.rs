//! The status page: one self-contained HTML document (inline style and SVG, no script, no
//! external assets) drawn from a daemon's status JSON, refreshed by the browser every few
//! seconds.
//!
//! The document is read by [`crate::view`], as for [`crate::text`]: the overview, then each
//! section as key/value lines or a table. A `motes` array is also drawn as the
//! mesh seen from the border router, and each `handshakes` entry's `timeline` as a bar.
//! Every value is escaped; elements carry `id`s and `data-` attributes so that tests can
//! read the page from its DOM.

use std::fmt::Write as _;

use serde_json::Value;

use crate::view::{Body, StatusView, Table};

/// Seconds between the browser's reloads of the page.
pub const REFRESH_S: u32 = 5;

pub fn render(title: &str, status: &Value) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let daemon = status
        .get("daemon")
        .and_then(Value::as_str)
        .unwrap_or(title);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
         <title>{} status</title><style>{STYLE}</style></head><body>\n<h1>{} status</h1>\n",
        esc(daemon),
        esc(daemon)
    );
    let Some(view) = StatusView::new(status) else {
        s.push_str("<p id=\"error\">no status from the daemon</p></body></html>\n");
        return s;
    };
    // Overview: the top-level scalars.
    s.push_str("<section id=\"overview\"><table class=\"kv\">");
    for (k, v) in &view.overview {
        let _ = write!(
            s,
            "<tr data-key=\"{}\"><th>{}</th><td>{}</td></tr>",
            esc(k),
            esc(&label(k)),
            cell(k, v)
        );
    }
    s.push_str("</table></section>\n");
    for section in &view.sections {
        let k = section.key;
        let _ = write!(s, "<section id=\"{}\"><h2>{}</h2>", esc(k), esc(&label(k)));
        if k == "motes"
            && let Some(motes) = section.value.as_array()
        {
            mesh(&mut s, view.document.get("radio"), motes);
        }
        match &section.body {
            Body::Pairs(m) => kv_table(&mut s, m),
            Body::Table(t) if t.rows.is_empty() => s.push_str("<p class=\"none\">none</p>"),
            Body::Table(t) => table(&mut s, k, t),
        }
        s.push_str("</section>\n");
    }
    s.push_str("<footer>Data: <a href=\"status.json\">status.json</a> · <a href=\"metrics\">metrics</a></footer>\n</body></html>\n");
    s
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .6em}section{display:inline-block;vertical-align:top;margin:0 1.5em .5em 0}\
section#motes,section#flows,section#delegations,section#handshakes{display:block}h2{font-size:1.1em;margin:1.2em 0 .4em}\
table{border-collapse:collapse;background:#fff;margin-bottom:.5em}\
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.ok{color:#080}.bad{color:#b00}.none{color:#888}\
svg{background:#fff;border:1px solid #ddd;display:block;margin-bottom:.5em}\
.bar{display:inline-block;height:10px;background:#7a9;margin-right:1px;vertical-align:middle}\
.bar.failed{background:#c66}footer{margin-top:2em;color:#888}";

fn label(k: &str) -> String {
    k.replace('_', " ")
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A value as table-cell content (escaped), coloured where its meaning is plain.
fn cell(key: &str, v: &Value) -> String {
    match v {
        Value::Null => "<span class=\"none\">–</span>".into(),
        Value::Bool(b) => format!(
            "<span class=\"{}\">{}</span>",
            if *b { "ok" } else { "bad" },
            if *b { "yes" } else { "no" }
        ),
        Value::Number(n) => esc(&n.to_string()),
        Value::String(t) => {
            let class = match (key, t.as_str()) {
                (_, "up" | "alive" | "transferred" | "ok" | "applied") => " class=\"ok\"",
                (_, "down" | "dead" | "failed" | "refused" | "invalid") => " class=\"bad\"",
                _ => "",
            };
            format!("<span{class}>{}</span>", esc(t))
        }
        Value::Array(items) if key == "timeline" => timeline(items),
        Value::Array(items) => items
            .iter()
            .map(|i| cell("", i))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{}={}", esc(k), cell(k, v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A handshake's timeline (`[{"at_ms": 0, "event": "client_hello"}, ...]`) as proportional
/// bars between events, with the events named.
fn timeline(items: &[Value]) -> String {
    let events: Vec<(u64, &str)> = items
        .iter()
        .filter_map(|i| Some((i.get("at_ms")?.as_u64()?, i.get("event")?.as_str()?)))
        .collect();
    let total = events.last().map_or(0, |e| e.0).max(1);
    let mut s = String::from("<span class=\"timeline\">");
    let mut prev = 0;
    for (at, ev) in &events {
        let w = ((at - prev.min(*at)) * 200 / total).max(1);
        let failed = if ev.starts_with("failed") {
            " failed"
        } else {
            ""
        };
        let _ = write!(
            s,
            "<span class=\"bar{failed}\" style=\"width:{w}px\" title=\"{}\"></span>",
            esc(ev)
        );
        let _ = write!(
            s,
            "<small data-event=\"{}\">{} +{at} ms</small> ",
            esc(ev),
            esc(ev)
        );
        prev = *at;
    }
    s.push_str("</span>");
    s
}

fn kv_table(s: &mut String, m: &serde_json::Map<String, Value>) {
    if m.is_empty() {
        s.push_str("<p class=\"none\">none</p>");
        return;
    }
    s.push_str("<table class=\"kv\">");
    for (k, v) in m {
        let num = if v.is_number() { " class=\"num\"" } else { "" };
        let _ = write!(
            s,
            "<tr data-key=\"{}\"><th>{}</th><td{num}>{}</td></tr>",
            esc(k),
            esc(k),
            cell(k, v)
        );
    }
    s.push_str("</table>");
}

fn table(s: &mut String, section: &str, t: &Table<'_>) {
    s.push_str("<table><tr>");
    for c in &t.columns {
        let _ = write!(s, "<th>{}</th>", esc(&label(c)));
    }
    s.push_str("</tr>");
    for r in t.rows {
        let name = r
            .get("name")
            .or_else(|| r.get("flow"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let _ = write!(
            s,
            "<tr class=\"{}\" data-name=\"{}\">",
            esc(section),
            esc(name)
        );
        for c in &t.columns {
            let v = Table::cell(r, c);
            let num = if v.is_number() { " class=\"num\"" } else { "" };
            let _ = write!(s, "<td data-col=\"{}\"{num}>{}</td>", esc(c), cell(c, v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}

/// The mesh as the border router sees it: itself in the middle, each mote on a circle
/// around it, joined by a line per radio hop; green when heard within a minute, grey when
/// never heard or silent longer.
fn mesh(s: &mut String, radio: Option<&Value>, motes: &[Value]) {
    const W: f64 = 520.0;
    const H: f64 = 360.0;
    let (cx, cy, r) = (W / 2.0, H / 2.0, 130.0);
    let radio_up = radio.and_then(|r| r.get("link")).and_then(Value::as_str) == Some("up");
    let _ = write!(
        s,
        "<svg id=\"mesh\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"mesh\">"
    );
    let n = motes.len().max(1) as f64;
    // Each mote on a ring by its hop count, joined to its parent (another mote, with RPL)
    // or to the border router.
    let pos: Vec<(f64, f64)> = motes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let hops = m
                .get("hops")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 3) as f64;
            let a = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
            let r = r * (0.55 + 0.3 * (hops - 1.0)).min(1.2);
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let mut nodes = String::new();
    for (i, m) in motes.iter().enumerate() {
        let (x, y) = pos[i];
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let link = m.get("link").and_then(Value::as_str).unwrap_or("?");
        let heard = m.get("last_heard_s_ago").and_then(Value::as_f64);
        let fresh = heard.is_some_and(|h| h < 60.0);
        let hops = m.get("hops").and_then(Value::as_u64).unwrap_or(1);
        let parent = m.get("parent").and_then(Value::as_str);
        let (px, py) = parent
            .and_then(|p| {
                motes
                    .iter()
                    .position(|o| o.get("address").and_then(Value::as_str) == Some(p))
            })
            .map_or((cx, cy), |j| pos[j]);
        let colour = if fresh || hops > 1 { "#2a2" } else { "#aaa" };
        let dash = if fresh || hops > 1 {
            ""
        } else {
            " stroke-dasharray=\"4 4\""
        };
        let _ = write!(
            s,
            "<line x1=\"{px:.0}\" y1=\"{py:.0}\" x2=\"{x:.0}\" y2=\"{y:.0}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>"
        );
        let (mx, my) = ((px + x) / 2.0, (py + y) / 2.0);
        // The last frame's link quality belongs to the link to the border router: shown
        // for its radio neighbours only, as the radio reported it (or that it did not).
        let quality = m
            .get("link_quality")
            .and_then(Value::as_str)
            .filter(|_| hops == 1);
        let label = match quality {
            Some(q) => format!("{hops} hop, {q}"),
            None => format!("{hops} hop"),
        };
        let _ = write!(
            s,
            "<text x=\"{mx:.0}\" y=\"{my:.0}\" font-size=\"10\" fill=\"#666\">{}</text>",
            esc(&label)
        );
        let title = name.unwrap_or(link);
        let heard_text = heard.map_or_else(
            || "never heard".to_string(),
            |h| format!("heard {h:.0} s ago"),
        );
        let _ = write!(
            nodes,
            "<g class=\"mote\" data-name=\"{}\" data-link=\"{}\" data-hops=\"{hops}\" data-fresh=\"{fresh}\" data-link-quality=\"{}\">\
             <title>{} ({}) {}</title>\
             <circle cx=\"{x:.0}\" cy=\"{y:.0}\" r=\"16\" fill=\"{}\" stroke=\"#333\"/>\
             <text x=\"{x:.0}\" y=\"{:.0}\" font-size=\"11\" text-anchor=\"middle\">{}</text></g>",
            esc(name.unwrap_or("")),
            esc(link),
            esc(quality.unwrap_or("")),
            esc(title),
            esc(link),
            esc(&heard_text),
            if fresh { "#cfc" } else { "#eee" },
            y + 30.0,
            esc(title)
        );
    }
    s.push_str(&nodes);
    let _ = write!(
        s,
        "<g id=\"border-router\" data-radio=\"{}\"><rect x=\"{:.0}\" y=\"{:.0}\" width=\"90\" height=\"34\" rx=\"6\" fill=\"{}\" stroke=\"#333\"/>\
         <text x=\"{cx:.0}\" y=\"{:.0}\" font-size=\"12\" text-anchor=\"middle\">border router</text></g></svg>",
        if radio_up { "up" } else { "down" },
        cx - 45.0,
        cy - 17.0,
        if radio_up { "#cdf" } else { "#fcc" },
        cy + 4.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_motes_tables_and_escapes_everything() {
        let v = json!({
            "daemon": "lowpan-br", "uptime_s": 12,
            "radio": {"link": "up", "own_eui64": "00:12"},
            "motes": [
                {"name": "kitchen", "link": "00:12:4b:00:00:00:00:02", "hops": 1, "last_heard_s_ago": 2.0, "address": "fd00::2",
                 "link_quality": "LQI 200, RSSI -62 dBm", "lqi": 200, "rssi_dbm": -62},
                {"name": "<script>", "link": "0005", "hops": 1, "last_heard_s_ago": null},
                {"name": "far", "link": "0006", "hops": 2, "parent": "fd00::2", "address": "fd00::6", "link_quality": "LQI 9"}
            ],
            "handshakes": [{"flow": "f", "outcome": "transferred", "timeline": [
                {"at_ms": 0, "event": "client_hello"}, {"at_ms": 40, "event": "transferred"}]}],
            "counters": {"radio_rx_frames": 3},
            "drops": {}
        });
        let page = render("lowpan-br", &v);
        assert!(
            page.contains("<g class=\"mote\" data-name=\"kitchen\""),
            "{page}"
        );
        assert!(page.contains("data-fresh=\"true\" data-link-quality=\"LQI 200, RSSI -62 dBm\""));
        assert!(
            page.contains(">1 hop, LQI 200, RSSI -62 dBm</text>"),
            "{page}"
        );
        // A mote two hops away: its frames' quality is not that of the link drawn.
        assert!(!page.contains("LQI 9</text>"), "{page}");
        assert!(
            page.contains("data-name=\"far\" data-link=\"0006\" data-hops=\"2\""),
            "{page}"
        );
        assert!(page.contains("data-name=\"&lt;script&gt;\""));
        assert!(!page.contains("<script>"));
        assert!(page.contains("data-radio=\"up\""));
        assert!(page.contains("data-event=\"transferred\">transferred +40 ms"));
        assert!(page.contains(
            "<tr data-key=\"radio_rx_frames\"><th>radio_rx_frames</th><td class=\"num\">3</td>"
        ));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external assets"
        );
        // Sections in their order.
        let at = |id: &str| page.find(&format!("<section id=\"{id}\"")).unwrap();
        assert!(
            at("motes") < at("radio")
                && at("radio") < at("handshakes")
                && at("handshakes") < at("counters")
        );
    }
}
