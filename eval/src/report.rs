//! Aggregates per cell, the comparison with the paper and with our targets, and the
//! files: runs.csv (one line per handshake), cells.csv (one per cell) and summary.md.

use std::fmt::Write as _;

use crate::experiment::Row;

/// The paper's figures (seed 000, section V).
pub mod paper {
    /// Handshake fragments of a delegated mote against DCert: 70.2% fewer.
    pub const FRAGMENTS_VS_DCERT: f64 = 1.0 - 0.702;
    /// Handshake latency of a delegated mote against CDPSK: 26% longer.
    pub const LATENCY_VS_CDPSK: f64 = 1.26;
    /// Energy of one handshake, mJ (Table II).
    pub const ENERGY_CDPSK_MJ: f64 = 370.8;
    pub const ENERGY_DELEGATED_MJ: f64 = 397.5;
}

/// Our targets, as ratios: delegated against DCert-hw (frames) and against CDPSK (latency,
/// energy always on and duty-cycled).
pub mod target {
    pub const FRAMES_VS_DCERT: f64 = 0.10;
    pub const LATENCY_VS_CDPSK: f64 = 1.0;
    pub const ENERGY_DUTY_VS_CDPSK: f64 = 0.5;
    pub const ENERGY_ALWAYS_ON_VS_CDPSK: f64 = 1.0;
}

/// Mean, standard deviation (n-1) and 95th percentile (nearest rank).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub p95: f64,
}

pub fn summarize(values: &[f64]) -> Summary {
    let n = values.len();
    if n == 0 {
        return Summary {
            n: 0,
            mean: f64::NAN,
            sd: f64::NAN,
            p95: f64::NAN,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
    Summary {
        n,
        mean,
        sd,
        p95: sorted[rank - 1],
    }
}

/// One cell: a kind at a loss rate.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub kind: String,
    pub loss: f64,
    pub handshakes: usize,
    pub failures: usize,
    pub latency_ms: Summary,
    pub frames_down: f64,
    pub frames_up: f64,
    pub bytes_down: f64,
    pub bytes_up: f64,
    pub fragments: Summary,
    pub frag_headers: f64,
    pub mac_retx_down: f64,
    pub mac_retx_up: f64,
    pub acks_sent: f64,
    pub acks_received: f64,
    pub ecc_ms: f64,
    /// Always-on: cpu, ecc, tx, rx (with idle listening), idle listening alone, total; mJ.
    pub on: [f64; 6],
    /// Duty-cycled: cpu, ecc, tx, rx (with channel checks), lpm, total; mJ.
    pub duty: [f64; 6],
}

impl Cell {
    /// Every frame on air at the mote: first transmissions, MAC retransmissions and ACKs.
    pub fn all_frames(&self) -> f64 {
        self.frames_down
            + self.frames_up
            + self.mac_retx_down
            + self.mac_retx_up
            + self.acks_sent
            + self.acks_received
    }
}

/// Cells in first-seen order of (kind, loss). Per-handshake figures are over the
/// successful handshakes (failures are counted apart).
pub fn cells(rows: &[Row]) -> Vec<Cell> {
    let mut keys: Vec<(String, f64)> = Vec::new();
    for r in rows {
        if !keys.iter().any(|(k, l)| *k == r.kind && *l == r.loss) {
            keys.push((r.kind.clone(), r.loss));
        }
    }
    keys.into_iter()
        .map(|(kind, loss)| {
            let all: Vec<&Row> = rows
                .iter()
                .filter(|r| r.kind == kind && r.loss == loss)
                .collect();
            let ok: Vec<&Row> = all.iter().copied().filter(|r| r.ok).collect();
            let mean = |f: &dyn Fn(&Row) -> f64| {
                if ok.is_empty() {
                    f64::NAN
                } else {
                    ok.iter().map(|r| f(r)).sum::<f64>() / ok.len() as f64
                }
            };
            Cell {
                kind,
                loss,
                handshakes: all.len(),
                failures: all.len() - ok.len(),
                latency_ms: summarize(&ok.iter().map(|r| r.latency_ms).collect::<Vec<_>>()),
                frames_down: mean(&|r| r.frames_down as f64),
                frames_up: mean(&|r| r.frames_up as f64),
                bytes_down: mean(&|r| r.bytes_down as f64),
                bytes_up: mean(&|r| r.bytes_up as f64),
                fragments: summarize(
                    &ok.iter()
                        .map(|r| r.paper_fragments() as f64)
                        .collect::<Vec<_>>(),
                ),
                frag_headers: mean(&|r| (r.frag_headers_down + r.frag_headers_up) as f64),
                mac_retx_down: mean(&|r| r.mac_retx_down as f64),
                mac_retx_up: mean(&|r| r.mac_retx_up as f64),
                acks_sent: mean(&|r| r.acks_sent as f64),
                acks_received: mean(&|r| r.acks_received as f64),
                ecc_ms: mean(&|r| r.ecc_ms as f64),
                on: [
                    mean(&|r| r.on_cpu_mj),
                    mean(&|r| r.on_ecc_mj),
                    mean(&|r| r.on_tx_mj),
                    mean(&|r| r.on_rx_mj),
                    mean(&|r| r.on_idle_mj),
                    mean(&|r| r.on_total_mj),
                ],
                duty: [
                    mean(&|r| r.duty_cpu_mj),
                    mean(&|r| r.duty_ecc_mj),
                    mean(&|r| r.duty_tx_mj),
                    mean(&|r| r.duty_rx_mj),
                    mean(&|r| r.duty_lpm_mj),
                    mean(&|r| r.duty_total_mj),
                ],
            }
        })
        .collect()
}

pub const RUNS_HEADER: &str = "kind,loss,run,mote,ok,latency_ms,client_datagrams_out,client_datagrams_in,\
frames_down,frames_up,bytes_down,bytes_up,other_frames,paper_fragments,frag_headers_down,frag_headers_up,mac_retx_down,mac_retx_up,\
acks_sent,acks_received,tx_us,rx_us,ecc_ms,ecc_ops,on_cpu_mj,on_ecc_mj,on_tx_mj,on_rx_mj,on_idle_mj,on_total_mj,\
duty_cpu_mj,duty_ecc_mj,duty_tx_mj,duty_rx_mj,duty_lpm_mj,duty_total_mj";

pub fn runs_csv(rows: &[Row]) -> String {
    let mut s = format!("{RUNS_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
            r.kind,
            r.loss,
            r.run,
            r.mote,
            r.ok,
            r.latency_ms,
            r.client_datagrams_out,
            r.client_datagrams_in,
            r.frames_down,
            r.frames_up,
            r.bytes_down,
            r.bytes_up,
            r.other_frames,
            r.paper_fragments(),
            r.frag_headers_down,
            r.frag_headers_up,
            r.mac_retx_down,
            r.mac_retx_up,
            r.acks_sent,
            r.acks_received,
            r.tx_us,
            r.rx_us,
            r.ecc_ms,
            r.ecc_ops,
            r.on_cpu_mj,
            r.on_ecc_mj,
            r.on_tx_mj,
            r.on_rx_mj,
            r.on_idle_mj,
            r.on_total_mj,
            r.duty_cpu_mj,
            r.duty_ecc_mj,
            r.duty_tx_mj,
            r.duty_rx_mj,
            r.duty_lpm_mj,
            r.duty_total_mj
        );
    }
    s
}

pub const CELLS_HEADER: &str = "kind,loss,handshakes,failures,latency_mean_ms,latency_sd_ms,latency_p95_ms,\
fragments_mean,fragments_sd,frames_down,frames_up,bytes_down,bytes_up,frag_headers,mac_retx_down,mac_retx_up,\
acks_sent,acks_received,all_frames,ecc_ms,on_cpu_mj,on_ecc_mj,on_tx_mj,on_rx_mj,on_idle_mj,on_total_mj,\
duty_cpu_mj,duty_ecc_mj,duty_tx_mj,duty_rx_mj,duty_lpm_mj,duty_total_mj";

pub fn cells_csv(cells: &[Cell]) -> String {
    let mut s = format!("{CELLS_HEADER}\n");
    for c in cells {
        let mut line = format!(
            "{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}",
            c.kind,
            c.loss,
            c.handshakes,
            c.failures,
            c.latency_ms.mean,
            c.latency_ms.sd,
            c.latency_ms.p95,
            c.fragments.mean,
            c.fragments.sd,
            c.frames_down,
            c.frames_up,
            c.bytes_down,
            c.bytes_up,
            c.frag_headers,
            c.mac_retx_down,
            c.mac_retx_up,
            c.acks_sent,
            c.acks_received,
            c.all_frames(),
            c.ecc_ms
        );
        for v in c.on.iter().chain(c.duty.iter()) {
            let _ = write!(line, ",{v:.4}");
        }
        let _ = writeln!(s, "{line}");
    }
    s
}

fn find<'a>(cells: &'a [Cell], kind: &str, loss: f64) -> Option<&'a Cell> {
    cells.iter().find(|c| c.kind == kind && c.loss == loss)
}

fn pct(l: f64) -> String {
    format!("{:.0}%", l * 100.0)
}

fn f(v: f64, digits: usize) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.digits$}")
    }
}

/// A target line: the figure and whether it meets the target.
fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio.is_nan() {
        "not measured"
    } else if ratio <= target {
        "met"
    } else {
        "not met"
    }
}

/// The markdown tables: per cell, the comparisons with the paper, the targets.
pub fn markdown(cells: &[Cell]) -> String {
    let mut s = String::new();
    let mut losses: Vec<f64> = cells.iter().map(|c| c.loss).collect();
    losses.sort_by(f64::total_cmp);
    losses.dedup();
    // Every kind of delegation, keyless included, against DCert and CDPSK.
    let delegated: Vec<String> = {
        let mut k: Vec<String> = cells
            .iter()
            .filter(|c| c.kind.starts_with("delegated") || c.kind.starts_with("keyless"))
            .map(|c| c.kind.clone())
            .collect();
        k.dedup();
        k.sort();
        k.dedup();
        k
    };

    s.push_str("### Per cell (per handshake, means over the successful handshakes)\n\n");
    s.push_str("| kind | loss | n | failed | latency mean ms | sd | p95 | fragments (paper) | frames down/up | bytes down/up | FRAG headers | MAC retx down/up | ACKs sent/recv | ECC ms |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {}/{} | {} | {}/{} | {}/{} | {} |",
            c.kind,
            pct(c.loss),
            c.handshakes,
            c.failures,
            f(c.latency_ms.mean, 0),
            f(c.latency_ms.sd, 0),
            f(c.latency_ms.p95, 0),
            f(c.fragments.mean, 1),
            f(c.frames_down, 1),
            f(c.frames_up, 1),
            f(c.bytes_down, 0),
            f(c.bytes_up, 0),
            f(c.frag_headers, 1),
            f(c.mac_retx_down, 1),
            f(c.mac_retx_up, 1),
            f(c.acks_sent, 1),
            f(c.acks_received, 1),
            f(c.ecc_ms, 0)
        );
    }

    s.push_str("\n### Energy of the mote per handshake, mJ (Table II)\n\n");
    s.push_str("| kind | loss | always-on: CPU | ECC | Tx | Rx (idle listening) | total | duty-cycled: CPU | ECC | Tx | Rx (checks) | LPM | total |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} ({}) | **{}** | {} | {} | {} | {} | {} | **{}** |",
            c.kind,
            pct(c.loss),
            f(c.on[0], 1),
            f(c.on[1], 1),
            f(c.on[2], 1),
            f(c.on[3], 1),
            f(c.on[4], 1),
            f(c.on[5], 1),
            f(c.duty[0], 2),
            f(c.duty[1], 1),
            f(c.duty[2], 2),
            f(c.duty[3], 2),
            f(c.duty[4], 2),
            f(c.duty[5], 2)
        );
    }
    let _ = writeln!(
        s,
        "| paper: CDPSK | testbed | | | | | **{}** | | | | | | |\n| paper: CDSSP (delegated) | testbed | | | | | **{}** | | | | | | |",
        paper::ENERGY_CDPSK_MJ,
        paper::ENERGY_DELEGATED_MJ
    );

    s.push_str("\n### Against the paper and our targets\n\n");
    s.push_str("| delegated kind | loss | fragments vs DCert-hw (paper 0.298, target <= 0.10) | all frames on air vs DCert-hw | latency vs CDPSK (paper 1.26, target <= 1.0) | energy always-on vs CDPSK (paper 1.072, target <= 1.0) | energy duty-cycled vs CDPSK (target <= 0.5) |\n");
    s.push_str("|---|---|---|---|---|---|---|\n");
    for k in &delegated {
        for &l in &losses {
            let (Some(d), dc, cp) = (
                find(cells, k, l),
                find(cells, "dcert-hw", l),
                find(cells, "cdpsk", l),
            ) else {
                continue;
            };
            let r = |a: f64, b: Option<f64>| b.map_or(f64::NAN, |b| a / b);
            let frag = r(d.fragments.mean, dc.map(|c| c.fragments.mean));
            let all = r(d.all_frames(), dc.map(Cell::all_frames));
            let lat = r(d.latency_ms.mean, cp.map(|c| c.latency_ms.mean));
            let on = r(d.on[5], cp.map(|c| c.on[5]));
            let duty = r(d.duty[5], cp.map(|c| c.duty[5]));
            let _ = writeln!(
                s,
                "| {k} | {} | {} ({}) | {} | {} ({}) | {} ({}) | {} ({}) |",
                pct(l),
                f(frag, 3),
                verdict(frag, target::FRAMES_VS_DCERT),
                f(all, 3),
                f(lat, 2),
                verdict(lat, target::LATENCY_VS_CDPSK),
                f(on, 2),
                verdict(on, target::ENERGY_ALWAYS_ON_VS_CDPSK),
                f(duty, 2),
                verdict(duty, target::ENERGY_DUTY_VS_CDPSK)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_statistics() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.n, 4);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.sd - 1.2909944487358056).abs() < 1e-12);
        assert_eq!(s.p95, 4.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(summarize(&v).p95, 95.0);
        assert!(summarize(&[]).mean.is_nan());
    }

    fn row(kind: &str, loss: f64, ok: bool, latency: f64, frames: u64) -> Row {
        Row {
            kind: kind.into(),
            loss,
            ok,
            latency_ms: latency,
            frames_down: frames,
            frames_up: frames,
            ..Row::default()
        }
    }

    #[test]
    fn cells_count_failures_apart_and_tables_compare() {
        let rows = vec![
            row("cdpsk", 0.0, true, 100.0, 5),
            row("cdpsk", 0.0, false, 9000.0, 50),
            row("dcert-hw", 0.0, true, 3000.0, 20),
            row("delegated-psk-attached", 0.0, true, 90.0, 2),
        ];
        let c = cells(&rows);
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].handshakes, c[0].failures), (2, 1));
        assert_eq!(c[0].latency_ms.mean, 100.0);
        let md = markdown(&c);
        assert!(
            md.contains("| delegated-psk-attached | 0% | 0.100 (met)"),
            "{md}"
        );
        assert!(md.contains("| 0.90 (met)"), "{md}");
        assert_eq!(cells_csv(&c).lines().count(), 4);
        assert_eq!(
            runs_csv(&rows).lines().nth(1).map(|l| l.split(',').count()),
            Some(RUNS_HEADER.split(',').count())
        );
    }

    #[test]
    fn keyless_cells_are_compared_like_the_delegated() {
        let rows = vec![
            row("cdpsk", 0.0, true, 100.0, 5),
            row("dcert-hw", 0.0, true, 3000.0, 20),
            row("keyless-attached", 0.0, true, 120.0, 4),
        ];
        let md = markdown(&cells(&rows));
        assert!(
            md.contains("| keyless-attached | 0% | 0.200 (not met)"),
            "{md}"
        );
        assert!(md.contains("| 1.20 (not met)"), "{md}");
    }
}
