//! Operating the daemons, with the real binaries in namespaces: `lowpan-br status` and
//! `iotssp status` over their control sockets, the status page loaded in headless
//! Chromium (its DOM checked, a screenshot saved), and SIGHUP reloads (what applies,
//! what is refused, an invalid file kept out) without losing the radio link or a
//! transferred session.

use integration_tests::delegation_bed::*;
use integration_tests::testbed::{Link, Options, Testbed, eui64_text, mote_addr, mote_eui64};
use integration_tests::{eventually, workspace_bin};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// `<bin> status [--json] --socket <path>`.
fn status(bin: &str, socket: &Path, json: bool) -> Output {
    let mut cmd = std::process::Command::new(workspace_bin(bin));
    cmd.arg("status").arg("--socket").arg(socket);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run status")
}

fn status_json(bin: &str, socket: &Path) -> serde_json::Value {
    let out = status(bin, socket, true);
    assert!(
        out.status.success(),
        "{bin} status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
}

fn mote<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["motes"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no mote {name} in {status:#}"))
}

#[test]
fn status_command_shows_the_radio_the_motes_and_counters() {
    let Some(mut bed) = Testbed::start(
        "status_command_shows_the_radio_the_motes_and_counters",
        Options::default(),
    ) else {
        return;
    };
    let socket = bed.control_socket();
    let mode = std::fs::metadata(&socket)
        .expect("control socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "control socket not owner-only");
    assert_eq!(bed.ping(mote_addr(1), 3, 16), 3);

    let s = eventually(Duration::from_secs(10), || {
        let s = status_json("lowpan-br", &socket);
        (s["radio"]["link"] == "up" && mote(&s, "mote1")["last_heard_s_ago"].is_number())
            .then_some(s)
    })
    .expect("radio up and mote1 heard");
    assert_eq!(s["daemon"], "lowpan-br");
    assert_eq!(s["radio"]["own_eui64"], "00:12:4b:00:00:00:ff:01");
    let m1 = mote(&s, "mote1");
    assert_eq!(m1["link"], eui64_text(mote_eui64(1)));
    assert_eq!(m1["address"], mote_addr(1).to_string());
    assert_eq!(m1["policy"], "passthrough");
    assert_eq!(m1["hops"], 1);
    // A slip-radio reports no link quality: the status says so instead of showing a number.
    assert_eq!(m1["link_quality"], "not reported by the radio", "{m1}");
    assert!(m1["lqi"].is_null() && m1["rssi_dbm"].is_null(), "{m1}");
    assert!(
        s["radio"]["link_quality"]
            .as_str()
            .is_some_and(|q| q.contains("slip-radio protocol carries no LQI or RSSI")),
        "{s:#}"
    );
    assert!(m1["rx_frames"].as_u64().is_some_and(|n| n >= 3), "{m1}");
    assert!(
        mote(&s, "mote2")["last_heard_s_ago"].is_null()
            || mote(&s, "mote2")["rx_frames"].as_u64() > Some(0)
    );
    assert!(
        s["counters"]["radio_rx_frames"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{s:#}"
    );
    assert!(
        s["counters"]["tun_rx_packets"]
            .as_u64()
            .is_some_and(|n| n >= 3)
    );
    assert!(s["uptime_s"].as_f64().is_some_and(|u| u > 0.0));
    assert_eq!(s["radio"]["connects"], 1);

    // The text form, for a person.
    let out = status("lowpan-br", &socket, false);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for must in [
        "daemon",
        "lowpan-br",
        "radio:",
        "link",
        "up",
        "motes:",
        "mote1",
        "mote2",
        "not reported by the radio",
        "counters:",
        "drops:",
    ] {
        assert!(text.contains(must), "{must:?} missing in:\n{text}");
    }

    // With the daemon gone: the socket is removed and the command says so.
    bed.border_router.stop();
    assert!(
        !socket.exists(),
        "control socket left behind after a clean stop"
    );
    let out = status("lowpan-br", &socket, false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lowpan-br is not running"), "{err}");
    // A socket left behind by a crash: "nothing answers".
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let err = String::from_utf8_lossy(&status("lowpan-br", &socket, false).stderr).to_string();
    assert!(err.contains("nothing answers"), "{err}");
}

#[test]
fn status_command_refuses_others_and_a_second_instance_keeps_the_first_socket() {
    let Some(bed) = Testbed::start(
        "status_command_refuses_others_and_a_second_instance_keeps_the_first_socket",
        Options::default(),
    ) else {
        return;
    };
    let socket = bed.control_socket();
    // As an unprivileged user the owner-only socket cannot be opened.
    let nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(workspace_bin("lowpan-br"))
        .args(["status", "--socket"])
        .arg(&socket)
        .output();
    if let Ok(out) = nobody {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "an unprivileged user read the status"
        );
        // The scratch directory itself may already stop them; either way, no status.
        assert!(
            err.contains("permission denied") || err.contains("Permission denied"),
            "{err}"
        );
    }
    // A second daemon (in a namespace of its own) with the same socket does not take it over.
    let other = integration_tests::NetNs::new("lbx");
    let mut cmd = other.command(workspace_bin("lowpan-br"));
    cmd.arg("--config")
        .arg(bed.config_path())
        .env("LOWPAN_TUN__NAME", integration_tests::unique("lbx"))
        .env("LOWPAN_RADIO__ADDRESS", "127.0.0.1:9")
        .env("RUST_LOG", "info");
    let mut second = integration_tests::Daemon::spawn("lowpan-br-2", cmd);
    let line = second.wait_for_line("no control socket", Duration::from_secs(10));
    assert!(line.contains("another process answers"), "{line}");
    second.stop();
    let s = status_json("lowpan-br", &socket);
    assert_eq!(
        s["pid"].as_u64(),
        bed.border_router.pid().map(u64::from),
        "the first daemon no longer answers"
    );
}

/// The status page in headless Chromium: the DOM it built is checked, and a screenshot
/// is saved (its path printed; `LOWPAN_STATUS_SCREENSHOT=path` saves a copy, e.g. for the docs).
/// The radio is ZEP, and motesim reports each mote's link with its own LQI (and for mote1 an
/// RSSI): the status command and the page show what the frames carried.
#[test]
fn status_page_renders_in_headless_chromium() {
    let test = "status_page_renders_in_headless_chromium";
    if !test_support::require_program(test, "chromium", "--version") {
        return;
    }
    let listen = "127.0.0.1:9710";
    let opts = Options {
        motes: 3,
        link: Link::Zep,
        motesim_args: vec!["--link".into(), "0-1:0:200:-62,0-2:0:90,0-3".into()],
        br_extra: format!("[metrics]\nlisten = \"{listen}\"\n"),
        ..Options::default()
    };
    let Some(bed) = Testbed::start(test, opts) else {
        return;
    };
    assert_eq!(bed.ping(mote_addr(1), 2, 16), 2);
    assert_eq!(bed.ping(mote_addr(2), 2, 16), 2);

    // The link quality of each mote's last frame, as its ZEP datagram reported it.
    let s = status_json("lowpan-br", &bed.control_socket());
    let (m1, m2) = (mote(&s, "mote1"), mote(&s, "mote2"));
    assert_eq!(
        (m1["lqi"].as_u64(), m1["rssi_dbm"].as_i64()),
        (Some(200), Some(-62)),
        "{m1}"
    );
    assert_eq!(m1["link_quality"], "LQI 200, RSSI -62 dBm", "{m1}");
    assert_eq!(
        (m2["lqi"].as_u64(), m2["rssi_dbm"].as_i64()),
        (Some(90), None),
        "{m2}"
    );
    assert_eq!(m2["link_quality"], "LQI 90", "{m2}");
    assert!(
        m1["last_heard_s_ago"].as_f64().is_some_and(|t| t < 10.0),
        "{m1}"
    );
    assert!(
        s["radio"]["link_quality"]
            .as_str()
            .is_some_and(|q| q.contains("ZEP")),
        "{s:#}"
    );
    let text = String::from_utf8_lossy(&status("lowpan-br", &bed.control_socket(), false).stdout)
        .to_string();
    assert!(
        text.contains("LQI 200, RSSI -62 dBm") && text.contains("LQI 90"),
        "{text}"
    );
    // The same beside the Prometheus metrics (an RSSI only where the radio gave one).
    let metrics = bed.br.enter(move || {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(listen).expect("connect to the metrics");
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        let _ = sock.read_to_string(&mut text);
        text
    });
    let body = metrics
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let m = ops::metrics::parse(body).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    let sample = |family: &str, n: u8| {
        m.get(&format!(
            "{family}{{mote=\"{}\",name=\"mote{n}\"}}",
            eui64_text(mote_eui64(n))
        ))
        .copied()
    };
    assert_eq!(
        (
            sample("lowpan_br_mote_lqi", 1),
            sample("lowpan_br_mote_rssi_dbm", 1)
        ),
        (Some(200.0), Some(-62.0)),
        "{body}"
    );
    assert_eq!(
        (
            sample("lowpan_br_mote_lqi", 2),
            sample("lowpan_br_mote_rssi_dbm", 2)
        ),
        (Some(90.0), None),
        "{body}"
    );

    let url = format!("http://{listen}/");
    let chromium = |args: &[&str]| {
        let profile = bed.dir.path().join("chromium-profile");
        let out = bed
            .br
            .command("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).to_string();
    assert!(dom.contains("<title>lowpan-br status</title>"), "{dom}");
    // The mesh: the border router with its radio up, three motes, the pinged ones fresh.
    assert!(
        dom.contains("id=\"border-router\" data-radio=\"up\""),
        "{dom}"
    );
    for n in 1..=3 {
        assert!(
            dom.contains(&format!("class=\"mote\" data-name=\"mote{n}\"")),
            "mote{n} not drawn:\n{dom}"
        );
    }
    for (n, quality) in [(1, "LQI 200, RSSI -62 dBm"), (2, "LQI 90")] {
        let node = format!(
            "data-name=\"mote{n}\" data-link=\"{}\" data-hops=\"1\" data-fresh=\"true\" data-link-quality=\"{quality}\"",
            eui64_text(mote_eui64(n))
        );
        assert!(dom.contains(&node), "{node} missing in:\n{dom}");
        assert!(dom.contains(&format!(">1 hop, {quality}</text>")), "{dom}");
    }
    // Live counters and the motes' table.
    let rx = dom
        .split("<tr data-key=\"radio_rx_frames\"><th>radio_rx_frames</th><td class=\"num\">")
        .nth(1)
        .expect("radio_rx_frames row");
    let rx: u64 = rx.split('<').next().unwrap().parse().expect("a number");
    assert!(rx >= 4, "radio_rx_frames {rx}");
    assert!(
        dom.contains("<tr class=\"motes\" data-name=\"mote1\">"),
        "{dom}"
    );
    assert!(
        !dom.contains("src=\"http") && !dom.contains("href=\"http"),
        "external assets in the page"
    );

    let shot = target_dir().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1300,1500",
        "--hide-scrollbars",
    ]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
    println!("status page screenshot: {}", shot.display());
    if let Some(copy) = std::env::var_os("LOWPAN_STATUS_SCREENSHOT") {
        std::fs::copy(&shot, &copy).expect("copy the screenshot");
    }
}

/// Motes as 6LoWPAN hosts over ZEP: each registration in the status carries the last frame
/// and the link quality of the neighbour it came through, as motesim's links reported them.
#[test]
fn status_shows_registrations_with_their_last_frame_and_link_quality() {
    let opts = Options {
        link: Link::Zep,
        sixlowpan_hosts: Some(5),
        motesim_args: vec!["--link".into(), "0-1:0:150:-70,0-2:0:60".into()],
        ..Options::default()
    };
    let Some(bed) = Testbed::start(
        "status_shows_registrations_with_their_last_frame_and_link_quality",
        opts,
    ) else {
        return;
    };
    let socket = bed.control_socket();
    let registration = |s: &serde_json::Value, n: u8| -> Option<serde_json::Value> {
        s["registrations"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == mote_addr(n).to_string())
            .cloned()
    };
    let s = eventually(Duration::from_secs(30), || {
        let s = status_json("lowpan-br", &socket);
        (registration(&s, 1).is_some() && registration(&s, 2).is_some()).then_some(s)
    })
    .expect("both motes registered");
    for (n, lqi, rssi, text) in [
        (1, 150, Some(-70), "LQI 150, RSSI -70 dBm"),
        (2, 60, None, "LQI 60"),
    ] {
        let r = registration(&s, n).unwrap();
        assert_eq!(
            r["link"],
            format!("link {}", eui64_text(mote_eui64(n))),
            "{r}"
        );
        assert_eq!(r["hops"], 1, "{r}");
        assert_eq!(
            (r["lqi"].as_u64(), r["rssi_dbm"].as_i64()),
            (Some(lqi), rssi),
            "{r}"
        );
        assert_eq!(r["link_quality"], text, "{r}");
        assert!(
            r["last_heard_s_ago"].as_f64().is_some_and(|t| t < 30.0),
            "{r}"
        );
    }
    let text = String::from_utf8_lossy(&status("lowpan-br", &socket, false).stdout).to_string();
    assert!(
        text.contains("registrations:") && text.contains("LQI 150, RSSI -70 dBm"),
        "{text}"
    );
}

fn target_dir() -> PathBuf {
    workspace_bin("lowpan-br")
        .parent()
        .expect("target/<profile>")
        .to_path_buf()
}

fn sighup(pid: Option<u32>) {
    let pid = nix::unistd::Pid::from_raw(pid.expect("running") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
}

#[test]
fn sighup_reloads_log_level_and_motes_refuses_restart_keys_and_keeps_an_invalid_file_out() {
    // RUST_LOG empty: [log] level rules (RUST_LOG would win over it).
    let opts = Options {
        br_env: vec![("RUST_LOG".into(), String::new())],
        ..Options::default()
    };
    let Some(mut bed) = Testbed::start(
        "sighup_reloads_log_level_and_motes_refuses_restart_keys_and_keeps_an_invalid_file_out",
        opts,
    ) else {
        return;
    };
    let socket = bed.control_socket();
    let config = bed.config_path();
    let original = std::fs::read_to_string(&config).unwrap();
    assert_eq!(bed.ping(mote_addr(1), 2, 16), 2);
    let before = status_json("lowpan-br", &socket);

    // Valid: a new log level, mote2 renamed, a third mote added.
    let text = original.replace("name = \"mote2\"", "name = \"porch\"")
        + &format!(
            "[log]\nlevel = \"debug\"\n\n[[mote]]\neui64 = \"{}\"\nname = \"shed\"\n",
            eui64_text(mote_eui64(9))
        );
    integration_tests::write(&config, &text);
    sighup(bed.border_router.pid());
    let line = bed
        .border_router
        .wait_for_line("configuration reloaded", Duration::from_secs(10));
    assert!(
        line.contains("log level") && line.contains("motes"),
        "{line}"
    );
    // Debug lines flow now (the first one comes just before the line above).
    assert!(
        bed.border_router
            .log
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains("log filter replaced")),
        "{}",
        bed.border_router.log.join("\n")
    );
    assert_eq!(bed.ping(mote_addr(1), 1, 16), 1);
    let s = status_json("lowpan-br", &socket);
    assert_eq!(s["log_level"], "debug");
    assert_eq!(s["reload"]["last_outcome"], "applied", "{s:#}");
    mote(&s, "porch");
    assert_eq!(mote(&s, "shed")["configured"], true);
    // The radio link was not touched: same connection, the motes' traffic counted on.
    assert_eq!(s["radio"]["connects"], 1);
    assert!(mote(&s, "mote1")["rx_frames"].as_u64() > mote(&before, "mote1")["rx_frames"].as_u64());

    // Needs a restart: refused as a whole, with the key named.
    integration_tests::write(
        &config,
        &text
            .replace("level = \"debug\"", "level = \"info\"")
            .replace("[tun]\n", "[tun]\nmtu = 1500\n"),
    );
    sighup(bed.border_router.pid());
    let line = bed
        .border_router
        .wait_for_line("reload refused", Duration::from_secs(10));
    assert!(
        line.contains("[tun] changed, which needs a restart")
            && line.contains("running configuration stays"),
        "{line}"
    );
    let s = status_json("lowpan-br", &socket);
    assert_eq!(
        s["log_level"], "debug",
        "a refused reload applied its log level"
    );
    assert_eq!(s["reload"]["last_outcome"], "refused");

    // Invalid: the running configuration stays, the reason is logged, traffic goes on.
    integration_tests::write(
        &config,
        &text.replace("[radio]\n", "[radio]\nbaud = \"fast\"\n"),
    );
    sighup(bed.border_router.pid());
    let line = bed
        .border_router
        .wait_for_line("reload invalid", Duration::from_secs(10));
    assert!(
        line.contains("radio.baud") && line.contains("running configuration stays"),
        "{line}"
    );
    assert_eq!(bed.ping(mote_addr(1), 2, 16), 2);
    let s = status_json("lowpan-br", &socket);
    assert_eq!(s["reload"]["applied"], 1);
    assert_eq!(s["reload"]["refused"], 2);
    assert_eq!(s["radio"]["connects"], 1);
    assert!(bed.border_router.is_running());
}

#[test]
fn remote_iotssp_status_and_reload_keep_a_transferred_session() {
    let test = "remote_iotssp_status_and_reload_keep_a_transferred_session";
    let iotssp_http = "127.0.0.1:9701";
    let mut opts = BedOptions::new(Mode::Remote);
    opts.iotssp_extra = format!("[status]\nlisten = \"{iotssp_http}\"\n");
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    let mut c = bed.s_client(DELEGATED);
    assert!(
        c.wait_for(ECDHE_OK, Duration::from_secs(60)),
        "handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line("ECHO before-reload");
    assert!(
        c.wait_for("ECHO before-reload", Duration::from_secs(20)),
        "{}",
        c.output()
    );

    // iotssp status: the border router alive, the handshake transferred with its timeline.
    let iotssp_socket = bed.iotssp_control_socket();
    let s = eventually(Duration::from_secs(10), || {
        let s = status_json("iotssp", &iotssp_socket);
        (!s["handshakes"].as_array()?.is_empty()).then_some(s)
    })
    .expect("a handshake in iotssp status");
    assert_eq!(s["daemon"], "iotssp");
    assert_eq!(s["border_routers"][0]["state"], "alive", "{s:#}");
    let h = &s["handshakes"][0];
    assert_eq!(h["outcome"], "transferred", "{s:#}");
    assert_eq!(h["mote"], "mote-1");
    let events: Vec<&str> = h["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events.first(), Some(&"client_hello"), "{events:?}");
    assert_eq!(events.last(), Some(&"transferred"), "{events:?}");
    // The mote's association leg: the transfer goes out only after the client's Finished.
    let at = |e: &str| events.iter().position(|x| *x == e);
    assert!(
        at("client_finished").is_some_and(|f| at("transfer_sent").is_some_and(|t| f < t)),
        "{events:?}"
    );
    assert_eq!(s["keys_held"], 0);
    assert_eq!(s["counters"]["handshakes_completed"], 1);

    // lowpan-br status: the remote IoTSSP alive, the flow transferred.
    let br = status_json("lowpan-br", &bed.br_control_socket());
    assert_eq!(br["iotssps"][0]["kind"], "remote");
    assert_eq!(br["iotssps"][0]["state"], "alive", "{br:#}");
    let flows = br["flows"].as_array().unwrap();
    assert!(
        flows
            .iter()
            .any(|f| f["state"] == "transferred" && f["mote"] == "mote-1"),
        "{br:#}"
    );
    assert_eq!(mote(&br, "mote-1")["policy"], "delegate");

    // Both daemons' metrics agree with their status.
    let m = bed.iotssp_metrics(iotssp_http);
    assert_eq!(
        m.get("iotssp_total{counter=\"handshakes_completed\"}"),
        Some(&1),
        "{m:#?}"
    );
    assert_eq!(
        m.get("iotssp_total{counter=\"transfers_completed\"}"),
        Some(&1),
        "{m:#?}"
    );
    assert_eq!(
        m.get("iotssp_total{counter=\"redirect_rejected\"}"),
        Some(&0),
        "{m:#?}"
    );
    assert_eq!(m.get("iotssp_keys_held"), Some(&0), "{m:#?}");
    let br_name = s["border_routers"][0]["name"]
        .as_str()
        .expect("the border router's name");
    assert_eq!(
        m.get(&format!(
            "iotssp_border_router_alive{{border_router=\"{br_name}\"}}"
        )),
        Some(&1),
        "{m:#?}"
    );
    let m = bed.metrics();
    assert_eq!(
        m.get(&format!(
            "lowpan_br_iotssp_alive{{iotssp=\"{IOTSSP_NAME}\"}}"
        )),
        Some(&1),
        "{m:#?}"
    );
    assert!(
        m.get("lowpan_br_hrm_flows").is_some_and(|n| *n >= 1),
        "{m:#?}"
    );

    // Reload both with their files unchanged: applied, and the session goes on.
    let iotssp_pid = bed.iotssp.as_ref().and_then(|d| d.pid());
    sighup(iotssp_pid);
    bed.iotssp
        .as_mut()
        .unwrap()
        .wait_for_line("configuration reloaded", Duration::from_secs(10));
    sighup(bed.border_router.pid());
    bed.border_router
        .wait_for_line("configuration reloaded", Duration::from_secs(10));
    c.send_line("ECHO after-reload");
    assert!(
        c.wait_for("ECHO after-reload", Duration::from_secs(20)),
        "session lost by the reload:\n{}",
        c.output()
    );

    // An invalid iotssp file is kept out; the service still answers.
    let conf = bed.file("iotssp.toml");
    let good = std::fs::read_to_string(&conf).unwrap();
    integration_tests::write(&conf, &good.replace("[trust]", "[trust]\nbogus = 1\n"));
    sighup(iotssp_pid);
    let line = bed
        .iotssp
        .as_mut()
        .unwrap()
        .wait_for_line("reload invalid", Duration::from_secs(10));
    assert!(line.contains("running configuration stays"), "{line}");
    let s = status_json("iotssp", &iotssp_socket);
    assert_eq!(s["reload"]["last_outcome"], "invalid");
    assert_eq!(s["reload"]["applied"], 1);
    c.send_line("ECHO after-invalid");
    assert!(
        c.wait_for("ECHO after-invalid", Duration::from_secs(20)),
        "{}",
        c.output()
    );
    c.kill();
}

#[test]
fn status_shows_rpl_hops_and_parents() {
    let opts = Options {
        motes: 3,
        br_extra: "[rpl]\nenabled = true\ndio_interval_min = 10\n".into(),
        motesim_args: vec!["--rpl".into(), "--link".into(), "0-1,1-2,2-3".into()],
        ..Options::default()
    };
    let Some(bed) = Testbed::start("status_shows_rpl_hops_and_parents", opts) else {
        return;
    };
    let s = eventually(Duration::from_secs(60), || {
        bed.ping(mote_addr(3), 1, 8);
        let s = status_json("lowpan-br", &bed.control_socket());
        (mote(&s, "mote3")["hops"] == 3).then_some(s)
    })
    .expect("mote3 three hops away in lowpan-br status");
    assert_eq!(
        mote(&s, "mote3")["parent"],
        mote_addr(2).to_string(),
        "{s:#}"
    );
    assert_eq!(mote(&s, "mote1")["hops"], 1);
    assert!(mote(&s, "mote1")["parent"].is_null());
}

/// The hex redirect key in `file` (`key = "..."`), as lowpan-provision writes it.
fn redirect_key_in(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("read configuration");
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("key = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no redirect key in {}", file.display()))
}

#[test]
fn sighup_replaces_the_redirect_key_in_both_daemons_and_the_old_key_is_refused() {
    let test = "sighup_replaces_the_redirect_key_in_both_daemons_and_the_old_key_is_refused";
    let Some(mut bed) = DelegationBed::start(test, BedOptions::new(Mode::Remote)) else {
        return;
    };
    let (br_conf, ssp_conf) = (bed.file("lowpan-br.toml"), bed.file("iotssp.toml"));
    let old = redirect_key_in(&br_conf);
    assert_eq!(
        redirect_key_in(&ssp_conf),
        old,
        "provisioned daemons disagree on the key"
    );
    // The same key id with a new secret: a replacement, so the old secret is not kept.
    let new: String = old
        .chars()
        .map(|c| if c == 'a' { 'b' } else { 'a' })
        .collect();
    let replace = |p: &Path, extra: &str| {
        let text = std::fs::read_to_string(p).unwrap();
        integration_tests::write(p, &format!("{}{extra}", text.replace(&old, &new)));
    };
    replace(&br_conf, "");
    // The IoTSSP's log level goes to debug in the same reload (RUST_LOG is not set).
    replace(&ssp_conf, "\n[log]\nlevel = \"debug\"\n");
    sighup(bed.iotssp.as_ref().and_then(|d| d.pid()));
    let line = bed
        .iotssp
        .as_mut()
        .unwrap()
        .wait_for_line("configuration reloaded", Duration::from_secs(10));
    assert!(
        line.contains("redirect key of") && line.contains("log level"),
        "{line}"
    );
    sighup(bed.border_router.pid());
    bed.border_router
        .wait_for_line("configuration reloaded", Duration::from_secs(10));

    // Both agree on the new key: a delegated handshake goes through the redirect channel.
    let mut c = bed.s_client(DELEGATED);
    assert!(
        c.wait_for(ECDHE_OK, Duration::from_secs(60)),
        "handshake after the key change:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line("ECHO new-key");
    assert!(
        c.wait_for("ECHO new-key", Duration::from_secs(20)),
        "{}",
        c.output()
    );
    c.kill();

    // A message sealed with the old key is refused by both.
    let now = std::time::Instant::now();
    let wall = std::time::SystemTime::now();
    let old_key = redirect::RedirectKey::from_hex(1, &old).expect("key");
    let mut ch = redirect::RedirectChannel::new(
        redirect::ChannelConfig::default(),
        redirect::Role::Iotssp,
        redirect::KeyRing::new(old_key),
        0x01d,
        now,
        wall,
    );
    let to_br = ch
        .seal(now, wall, &redirect::RedirectMessage::Hello)
        .expect("seal");
    let to_ssp = ch
        .seal(now, wall, &redirect::RedirectMessage::Hello)
        .expect("seal");
    let auth_before = bed.iotssp_counter("redirect_auth_failures");
    let br_addr: std::net::SocketAddr = BR_REDIRECT.parse().unwrap();
    bed.ssp.as_ref().unwrap().enter(move || {
        let sock = std::net::UdpSocket::bind((ssp_addr(), 0)).expect("bind");
        sock.send_to(&to_br, br_addr).expect("send");
    });
    let ssp_addr_port: std::net::SocketAddr = IOTSSP_REDIRECT.parse().unwrap();
    bed.br.enter(move || {
        let side: std::net::Ipv6Addr = BR_SSP_SIDE.parse().unwrap();
        let sock = std::net::UdpSocket::bind((side, 0)).expect("bind");
        sock.send_to(&to_ssp, ssp_addr_port).expect("send");
    });
    let refused = eventually(Duration::from_secs(5), || {
        (bed.iotssp_counter("redirect_auth_failures") > auth_before).then_some(())
    });
    assert!(
        refused.is_some(),
        "lowpan-br accepted a message under the old key"
    );
    // Logged at debug, which the reload switched on.
    bed.iotssp
        .as_mut()
        .unwrap()
        .wait_for_line("redirect message refused", Duration::from_secs(5));
    let s = status_json("iotssp", &bed.iotssp_control_socket());
    assert!(s["redirect_rejected"].as_u64().unwrap() >= 1, "{s:#}");
    assert_eq!(s["border_routers"][0]["state"], "alive", "{s:#}");
}
