//! The quick setting of the experiment, end to end: every bed, every kind, loss 0 and 10%,
//! two handshakes per cell. It checks that every file is produced and well-formed (CSV
//! shapes, SVG and PNG structure, the tables), never a timing.

use std::path::Path;
use std::process::Command;

fn bin_dir() -> std::path::PathBuf {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lowpan-eval"));
    exe.parent().expect("bin folder").to_path_buf()
}

fn check_csv(path: &Path, header: &str, rows_at_least: usize) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{} header", path.display());
    let cols = header.split(',').count();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(
        rows.len() >= rows_at_least,
        "{}: {} rows, expected >= {rows_at_least}",
        path.display(),
        rows.len()
    );
    for r in &rows {
        assert_eq!(r.len(), cols, "{}: {r:?}", path.display());
    }
    rows
}

#[test]
fn quick_setting_produces_every_figure_csv_and_chart() {
    if !test_support::require_root("quick_setting_produces_every_figure_csv_and_chart")
        || !test_support::require_openssl("quick_setting_produces_every_figure_csv_and_chart")
    {
        return;
    }
    let bins = bin_dir();
    for b in ["lowpan-br", "iotssp", "motesim", "lowpan-provision"] {
        assert!(
            bins.join(b).exists(),
            "{b} not built in {}: run `cargo build --workspace --bins` first (the test suite's \
             `cargo nextest run --workspace` does)",
            bins.display()
        );
    }
    let out = tempfile::tempdir().expect("tempdir");
    let md = out.path().join("BENCHMARKS.md");
    std::fs::write(
        &md,
        "# B\n<!-- eval:paper:begin -->\nold\n<!-- eval:paper:end -->\ntail\n",
    )
    .expect("write");
    let status = Command::new(env!("CARGO_BIN_EXE_lowpan-eval"))
        .args(["paper", "--quick", "--out"])
        .arg(out.path().join("results"))
        .arg("--benchmarks-md")
        .arg(&md)
        .status()
        .expect("run lowpan-eval");
    assert!(
        status.success(),
        "lowpan-eval paper --quick failed: {status}"
    );
    let res = out.path().join("results");

    let kinds = [
        "delegated-psk-attached",
        "delegated-psk-remote",
        "keyless-attached",
        "keyless-remote",
        "dcert-hw",
        "dcert-sw",
        "cdpsk",
    ];
    let runs = check_csv(
        &res.join("runs.csv"),
        lowpan_eval::report::RUNS_HEADER,
        kinds.len() * 2 * 2,
    );
    for k in kinds {
        for loss in ["0", "0.1"] {
            let n = runs.iter().filter(|r| r[0] == k && r[1] == loss).count();
            assert_eq!(n, 2, "{k} at loss {loss}: {n} handshakes in runs.csv");
        }
    }
    // Every value parses; a successful handshake has a latency and frames at the mote.
    for r in &runs {
        for v in &r[5..] {
            v.parse::<f64>()
                .unwrap_or_else(|_| panic!("not a number {v:?} in {r:?}"));
        }
        if r[4] == "true" {
            assert!(r[5].parse::<f64>().unwrap() > 0.0, "{r:?}");
            assert!(
                r[8].parse::<u64>().unwrap() > 0 && r[9].parse::<u64>().unwrap() > 0,
                "{r:?}"
            );
        }
    }
    let ok = runs.iter().filter(|r| r[4] == "true").count();
    assert!(
        ok * 2 >= runs.len(),
        "most handshakes must succeed: {ok} of {}",
        runs.len()
    );
    check_csv(
        &res.join("cells.csv"),
        lowpan_eval::report::CELLS_HEADER,
        kinds.len() * 2,
    );

    let summary = std::fs::read_to_string(res.join("summary.md")).expect("summary.md");
    for needle in [
        "### Per cell",
        "### Energy of the mote",
        "paper: CDPSK",
        "370.8",
        "### Against the paper",
        "delegated-psk-remote",
        "keyless-remote",
    ] {
        assert!(
            summary.contains(needle),
            "summary.md lacks {needle:?}:\n{summary}"
        );
    }
    for chart in lowpan_eval::charts::CHARTS {
        let svg = std::fs::read_to_string(res.join(format!("{chart}.svg"))).expect("svg");
        assert!(
            svg.trim_start().starts_with("<svg") || svg.trim_start().starts_with("<?xml"),
            "{chart}.svg"
        );
        assert!(
            svg.trim_end().ends_with("</svg>"),
            "{chart}.svg is not closed"
        );
        assert!(svg.contains("<text"), "{chart}.svg has no labels");
        let png = std::fs::read(res.join(format!("{chart}.png"))).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{chart}.png signature");
        assert_eq!(&png[12..16], b"IHDR", "{chart}.png header");
        let (w, h) = (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        );
        assert!(w >= 800 && h >= 400, "{chart}.png is {w}x{h}");
        assert!(png.ends_with(b"IEND\xaeB`\x82"), "{chart}.png is truncated");
    }
    let md = std::fs::read_to_string(&md).expect("BENCHMARKS.md");
    assert!(
        md.starts_with("# B\n<!-- eval:paper:begin -->\n")
            && md.ends_with("<!-- eval:paper:end -->\ntail\n"),
        "{md}"
    );
    assert!(
        !md.contains("old") && md.contains("fig4-latency.svg") && md.contains("runs.csv"),
        "{md}"
    );
}

#[test]
fn capacity_and_border_router_quick_settings_produce_their_tables() {
    let test = "capacity_and_border_router_quick_settings_produce_their_tables";
    if !test_support::require_root(test) || !test_support::require_openssl(test) {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    for what in ["capacity", "border-router"] {
        let status = Command::new(env!("CARGO_BIN_EXE_lowpan-eval"))
            .args([what, "--quick", "--out"])
            .arg(out.path())
            .status()
            .expect("run lowpan-eval");
        assert!(
            status.success(),
            "lowpan-eval {what} --quick failed: {status}"
        );
    }
    let csv = std::fs::read_to_string(out.path().join("capacity.csv")).expect("capacity.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0].split(',').count(), 9, "{csv}");
    for server in [
        "openssl s_server",
        "our DTLS engine",
        "delegated path, attached IoTSSP",
        "delegated path, remote IoTSSP",
    ] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(server))
            .unwrap_or_else(|| panic!("no {server} in {csv}"));
        let completed: usize = row
            .split(',')
            .nth(4)
            .and_then(|v| v.parse().ok())
            .expect("completed");
        assert!(completed > 0, "{row}");
    }
    let md = std::fs::read_to_string(out.path().join("capacity.md")).expect("capacity.md");
    assert!(md.contains("Against openssl s_server"), "{md}");
    let br =
        std::fs::read_to_string(out.path().join("border-router.md")).expect("border-router.md");
    for needle in [
        "HRM per packet",
        "application data of a transferred session",
        "lowpan-br RSS",
        "Frames per CPU-second beside Contiki-NG",
        "| lowpan-br | 64 B |",
        "| lowpan-br | 1232 B |",
        "skipped: no binary",
        "Goodput under 2x overload: not in this run",
    ] {
        assert!(
            br.contains(needle),
            "border-router.md lacks {needle:?}:\n{br}"
        );
    }
}
