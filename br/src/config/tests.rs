use std::net::{Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::schema::key_tree;
use super::validate::validate;
use super::*;

fn remote(c: &Config, i: usize) -> &RemoteIotssp {
    match &c.iotssps[i].kind {
        IotsspKind::Remote(r) => r,
        k => panic!("iotssp[{i}] is {k:?}"),
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::load_str(text, Path::new("test.toml"), Vec::<(String, String)>::new())
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_str(
        text,
        Path::new("test.toml"),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn keys(e: ConfigError) -> Vec<String> {
    e.issues().iter().map(|i| i.key.clone()).collect()
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(load("").unwrap(), Config::default());
}

#[test]
fn shipped_default_file_equals_defaults() {
    assert_eq!(load(DEFAULT_CONFIG_TOML).unwrap(), Config::default());
}

#[test]
fn defaults_are_valid_and_documented() {
    let d = Config::default();
    assert_eq!(d.radio.baud, 115_200);
    assert_eq!(d.radio.pan_id, 0xabcd);
    assert_eq!(d.tun.mtu, 1280);
    assert_eq!(d.network.prefix.to_string(), "fd00:aaaa::/64");
    assert_eq!(validate(ConfigFile::default()), Ok(d));
    // Every key of the schema is mentioned in the shipped file (commented or not).
    fn leaves(v: &toml::Value, p: &str, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| leaves(v, k, out)),
            toml::Value::Array(a) if a.first().is_some_and(|e| e.is_table()) => {
                leaves(&a[0], p, out)
            }
            _ => out.push(p.to_string()),
        }
    }
    let mut all = Vec::new();
    leaves(&key_tree(), "", &mut all);
    for k in all {
        assert!(
            DEFAULT_CONFIG_TOML.contains(&format!("{k} =")),
            "key {k} not documented in lowpan-br.toml"
        );
    }
}

#[test]
fn zep_without_configured_peers_is_accepted() {
    // The radio learns its peers from what they send (RIOT's socket_zep says hello first).
    let c = load("[radio]\nkind = \"zep\"\npeers = []\n").unwrap();
    assert!(c.radio.peers.is_empty());
}

#[test]
fn rpl_mode_is_non_storing_unless_storing_is_asked() {
    assert_eq!(
        load("[rpl]\nenabled = true\n").unwrap().rpl.mode,
        RplMode::NonStoring
    );
    let c = load("[rpl]\nenabled = true\nmode = \"storing\"\n").unwrap();
    assert_eq!(c.rpl.mode, RplMode::Storing);
    assert!(load("[rpl]\nmode = \"hybrid\"\n").is_err());
}

#[test]
fn rfc8138_source_routes_are_off_by_default_and_need_non_storing_mode() {
    assert_eq!(
        load("[rpl]\nenabled = true\n").unwrap().rpl.source_routing,
        SourceRouting::Rfc6554
    );
    let c = load("[rpl]\nenabled = true\nsource_routing = \"rfc8138\"\n").unwrap();
    assert_eq!(c.rpl.source_routing, SourceRouting::Rfc8138);
    let e = load("[rpl]\nenabled = true\nmode = \"storing\"\nsource_routing = \"rfc8138\"\n")
        .unwrap_err();
    assert_eq!(keys(e), ["rpl.source_routing"]);
    assert!(load("[rpl]\nsource_routing = \"6lorh\"\n").is_err());
}

#[test]
fn full_file_parses() {
    let c = load(
        r#"
        [radio]
        kind = "zep"
        bind = "127.0.0.1:17754"
        peers = ["127.0.0.1:17755", "[::1]:17756"]
        pan_id = 0x1234
        eui64 = "02124b0000000001"
        [tun]
        name = "lp1"
        [[mote]]
        eui64 = "00:12:4b:00:00:00:00:02"
        name = "kitchen"
        short = 0x0002
        [[mote]]
        eui64 = "00124b0000000003"
        name = "hall"
        [capture]
        pcap = "/tmp/x.pcap"
        [metrics]
        listen = "127.0.0.1:9700"
        "#,
    )
    .unwrap();
    assert_eq!(c.radio.kind, RadioKind::Zep);
    assert_eq!(c.radio.pan_id, 0x1234);
    assert_eq!(c.radio.peers.len(), 2);
    assert_eq!(c.motes.len(), 2);
    assert_eq!(c.motes[0].short, Some(2));
    assert_eq!(c.motes[1].eui64.0, [0, 0x12, 0x4b, 0, 0, 0, 0, 3]);
    assert_eq!(c.capture.pcap.as_deref(), Some(Path::new("/tmp/x.pcap")));
}

#[test]
fn unknown_keys_are_reported_with_path() {
    let e = load("[radio]\nbuad = 9600\n[bogus]\nx = 1\n[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nnmae = \"a\"\n").unwrap_err();
    let k = keys(e);
    assert!(k.contains(&"radio.buad".to_string()), "{k:?}");
    assert!(k.contains(&"bogus".to_string()), "{k:?}");
    assert!(k.contains(&"mote[0].nmae".to_string()), "{k:?}");
}

#[test]
fn each_validation_error_names_its_key() {
    let cases: &[(&str, &str)] = &[
        ("[radio]\nchannel = 5", "radio.channel"),
        ("[radio]\npan_id = 0xffff", "radio.pan_id"),
        ("[radio]\nwindow = 0", "radio.window"),
        ("[radio]\nwindow = 17", "radio.window"),
        ("[radio]\nmax_tx = 0", "radio.max_tx"),
        ("[radio]\nqueue_frames = 0", "radio.queue_frames"),
        ("[radio]\nmin_gap_us = 5000000", "radio.min_gap_us"),
        ("[radio]\ndevice = \"\"", "radio.device"),
        ("[radio]\nbaud = 0", "radio.baud"),
        ("[radio]\nreconnect_min_ms = 0", "radio.reconnect_min_ms"),
        (
            "[radio]\nreconnect_min_ms = 10\nreconnect_max_ms = 5",
            "radio.reconnect_max_ms",
        ),
        (
            "[radio]\nkind = \"tcp\"\naddress = \"nope\"",
            "radio.address",
        ),
        ("[radio]\nkind = \"zep\"\npeers = [\"x\"]", "radio.peers[0]"),
        (
            "[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\nbind = \"x\"",
            "radio.bind",
        ),
        (
            "[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\neui64 = \"zz\"",
            "radio.eui64",
        ),
        (
            "[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\neui64 = \"01:00:00:00:00:00:00:01\"",
            "radio.eui64",
        ),
        ("[radio]\nkind = \"carrier-pigeon\"", "radio.kind"),
        ("[radio]\nbaud = \"fast\"", "radio.baud"),
        ("[radio]\npan_id = 70000", "radio.pan_id"),
        ("[tun]\nmtu = 1000", "tun.mtu"),
        ("[tun]\nname = \"a/b\"", "tun.name"),
        ("[tun]\nname = \"averyveryverylongname\"", "tun.name"),
        ("[network]\nprefix = \"fd00::/48\"", "network.prefix"),
        ("[network]\nprefix = \"fd00::\"", "network.prefix"),
        ("[network]\nprefix = \"fe80::/64\"", "network.prefix"),
        ("[network]\nprefix = \"fd00::1/64\"", "network.prefix"),
        ("[network]\naddress = \"fd00:bbbb::1\"", "network.address"),
        ("[network]\naddress = \"fd00:aaaa::\"", "network.address"),
        ("[network]\naddress = \"nope\"", "network.address"),
        (
            "[network]\nra_preferred_lifetime_s = 100\nra_valid_lifetime_s = 10",
            "network.ra_preferred_lifetime_s",
        ),
        (
            "[network]\nra_router_lifetime_s = 9001",
            "network.ra_router_lifetime_s",
        ),
        (
            "[network]\nmax_learned_motes = 2000000",
            "network.max_learned_motes",
        ),
        ("[[mote]]\neui64 = \"nope\"", "mote[0].eui64"),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\n[[mote]]\neui64 = \"00124b0000000002\"",
            "mote[1].eui64",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nshort = 0xffff",
            "mote[0].short",
        ),
        ("[capture]\npcap = \"\"", "capture.pcap"),
        (
            "[capture]\nflush_interval_ms = 0",
            "capture.flush_interval_ms",
        ),
        ("[metrics]\nlisten = \"everywhere\"", "metrics.listen"),
        ("[log]\nlevel = \"info,[[[\"", "log.level"),
        ("[hrm]\ndtls_port = 0", "hrm.dtls_port"),
        ("[hrm]\nmax_flows = 0", "hrm.max_flows"),
        ("[hrm]\nhandshake_idle_secs = 0", "hrm.handshake_idle_secs"),
        ("[hrm]\nsession_idle_secs = 0", "hrm.session_idle_secs"),
        ("[hrm]\nattached_port = 0", "hrm.attached_port"),
        ("[hrm]\nunknown_flow = \"sometimes\"", "hrm.unknown_flow"),
        ("[hrm]\nredirect_listen = \"nope\"", "hrm.redirect_listen"),
        ("[hrm]\nmax_flow = 3", "hrm.max_flow"),
        (
            "[[iotssp]]\nattached = true\nconfig = \"x\"",
            "iotssp[0].name",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\n[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"y\"",
            "iotssp[1].name",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nattached = true",
            "iotssp[0].config",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\nkey = \"00\"",
            "iotssp[0].key",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\n[hrm]\nattached_port = 5684",
            "hrm.attached_port",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nkey = \"00112233445566778899aabbccddeeff\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].address",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"x\"\nkey = \"00112233445566778899aabbccddeeff\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].address",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].key",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"zz\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].key",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"0011\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].key",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"00112233445566778899aabbccddeeff\"\nkey_file = \"k\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].key_file",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nconfig = \"x\"\nkey_file = \"k\"\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].config",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"",
            "hrm.redirect_listen",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\nkeepalive_ms = 0\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].keepalive_ms",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\ndead_after_ms = 100\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].dead_after_ms",
        ),
        (
            "[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\nkeepalive_ms = 2000\ndead_after_ms = 3000\n[hrm]\nredirect_listen = \"[::]:7701\"",
            "iotssp[0].dead_after_ms",
        ),
        (
            "[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\nbogus = 1",
            "iotssp[0].bogus",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"delegate\"",
            "mote[0].iotssp",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"delegate\"\niotssp = \"nope\"",
            "mote[0].iotssp",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\niotssp = \"a\"\n[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"",
            "mote[0].iotssp",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"sometimes\"",
            "mote[0].policy",
        ),
        (
            "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\ndtls_port = 0",
            "mote[0].dtls_port",
        ),
    ];
    for (text, key) in cases {
        match load(text) {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(key),
                    "{text:?}: message does not name {key}: {msg}"
                );
            }
        }
    }
}

#[test]
fn redirection_keys_parse() {
    let c = load(
        r#"
        [hrm]
        dtls_port = 5685
        max_flows = 10
        handshake_idle_secs = 5
        session_idle_secs = 6
        unknown_flow = "drop"
        redirect_listen = "[::]:7701"
        attached_port = 6000
        [[iotssp]]
        name = "local"
        attached = true
        config = "/etc/iotssp.toml"
        [[iotssp]]
        name = "far"
        address = "[2001:db8:5::1]:7700"
        key = "00112233445566778899aabbccddeeff"
        key_id = 7
        keepalive_ms = 500
        dead_after_ms = 2000
        [[iotssp]]
        name = "far2"
        address = "192.0.2.1:7700"
        key_file = "/etc/far2.key"
        [[mote]]
        eui64 = "00:12:4b:00:00:00:00:02"
        policy = "delegate"
        iotssp = "far"
        dtls_port = 6684
        [[mote]]
        eui64 = "00:12:4b:00:00:00:00:03"
        "#,
    )
    .unwrap();
    assert_eq!(
        (
            c.hrm.dtls_port,
            c.hrm.max_flows,
            c.hrm.handshake_idle_secs,
            c.hrm.session_idle_secs
        ),
        (5685, 10, 5, 6)
    );
    assert_eq!(c.hrm.unknown_flow, hrm::UnknownFlowPolicy::Drop);
    assert_eq!(c.hrm.attached_port, 6000);
    assert!(matches!(c.iotssps[0].kind, IotsspKind::Attached { .. }));
    assert_eq!(remote(&c, 1).key_id, 7);
    assert_eq!(remote(&c, 2).key_id, 1, "key_id defaults to 1");
    assert_eq!(
        (remote(&c, 1).keepalive, remote(&c, 1).dead_after),
        (Duration::from_millis(500), Duration::from_millis(2000))
    );
    assert_eq!(
        (remote(&c, 2).keepalive, remote(&c, 2).dead_after),
        (Duration::from_millis(1000), Duration::from_millis(3000)),
        "the hrm channel defaults"
    );
    assert_eq!(remote(&c, 2).key, KeySource::File("/etc/far2.key".into()));
    assert_eq!(
        (
            c.motes[0].policy,
            c.motes[0].iotssp.as_deref(),
            c.motes[0].dtls_port
        ),
        (MotePolicy::Delegate, Some("far"), Some(6684))
    );
    assert_eq!(c.motes[1].policy, MotePolicy::Passthrough);
    assert_eq!(
        c.mote_address(&c.motes[0]),
        "fd00:aaaa::212:4b00:0:2".parse::<Ipv6Addr>().unwrap()
    );
    // Keys never appear in Debug output.
    assert!(!format!("{c:?}").contains("00112233"));
    let h = crate::iotssp_wiring::hrm_config(&c);
    assert_eq!(h.devices.len(), 2);
    // No IoTSSP sends to its motes through the TUN: no source is exempt.
    assert_eq!(h.ssps[0].addresses, Vec::<Ipv6Addr>::new());
    h.validate().unwrap();
}

#[test]
fn env_overrides_hrm_keys() {
    let c = load_env(
        "",
        &[
            ("LOWPAN_HRM__DTLS_PORT", "6000"),
            ("LOWPAN_HRM__UNKNOWN_FLOW", "drop"),
        ],
    )
    .unwrap();
    assert_eq!(c.hrm.dtls_port, 6000);
    assert_eq!(c.hrm.unknown_flow, hrm::UnknownFlowPolicy::Drop);
}

#[test]
fn syntax_error_is_reported() {
    let e = load("[radio\nbaud = 1").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("test.toml"));
}

#[test]
fn env_overrides_work() {
    let c = load_env(
        "[radio]\nbaud = 9600\n",
        &[
            ("LOWPAN_RADIO__BAUD", "57600"),
            ("LOWPAN_RADIO__KIND", "zep"),
            ("LOWPAN_RADIO__PEERS", "127.0.0.1:1,127.0.0.1:2"),
            ("LOWPAN_RADIO__PAN_ID", "0x1234"),
            ("LOWPAN_TUN__NAME", "lp9"),
            ("LOWPAN_RADIO__FLOW_CONTROL", "true"),
            ("PATH", "/usr/bin"),
        ],
    )
    .unwrap();
    assert_eq!(c.radio.baud, 57600);
    assert_eq!(c.radio.kind, RadioKind::Zep);
    assert_eq!(
        c.radio.peers,
        vec![
            "127.0.0.1:1".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:2".parse().unwrap()
        ]
    );
    assert_eq!(c.radio.pan_id, 0x1234);
    assert_eq!(c.tun.name, "lp9");
    assert!(c.radio.flow_control);
}

#[test]
fn unknown_env_key_is_reported() {
    let e = load_env("", &[("LOWPAN_RADIO__BUAD", "1")]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("radio.buad") && msg.contains("LOWPAN_RADIO__BUAD"),
        "{msg}"
    );
}

#[test]
fn lowpan_variables_without_section_separator_are_not_overrides() {
    // The test suite's own switch, set by .ci/run for every process it starts.
    let c = load_env(
        "",
        &[
            ("LOWPAN_PACKAGING_TESTS", "1"),
            ("LOWPAN_RADIO__BAUD", "57600"),
        ],
    )
    .unwrap();
    assert_eq!(c.radio.baud, 57600);
}

#[test]
fn bad_env_value_is_reported_with_key() {
    let e = load_env("", &[("LOWPAN_RADIO__CHANNEL", "40")]).unwrap_err();
    assert!(e.to_string().contains("radio.channel"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    // Unknown keys, values of the wrong type, values that do not parse and values out of
    // range, in several sections: one error lists them all.
    let e = load(
        r#"
        [radio]
        baud = "fast"
        buad = 1
        peers = ["127.0.0.1:1", "nope"]
        [network]
        address = "nope"
        [tun]
        mtu = 1000
        [hrm]
        redirect_listen = "[::]:7701"
        [[iotssp]]
        name = "a"
        attached = true
        config = "c"
        [[iotssp]]
        name = "b"
        address = "x"
        key = "00112233445566778899aabbccddeeff"
        [[mote]]
        eui64 = "zz"
        [[mote]]
        name = "no eui64"
        [bogus]
        x = 1
        "#,
    )
    .unwrap_err();
    let mut k = keys(e);
    k.sort();
    assert_eq!(
        k,
        [
            "bogus",
            "iotssp[1].address",
            "mote[0].eui64",
            "mote[1].eui64",
            "network.address",
            "radio.baud",
            "radio.buad",
            "radio.peers[1]",
            "tun.mtu"
        ]
    );
}

#[test]
fn values_the_radio_kind_does_not_use_must_still_parse() {
    // Every value is parsed, whether or not the radio kind uses it.
    let e = load("[radio]\nkind = \"serial\"\nbind = \"x\"\npeers = [\"nope\"]\neui64 = \"zz\"\n")
        .unwrap_err();
    let mut k = keys(e);
    k.sort();
    assert_eq!(k, ["radio.bind", "radio.eui64", "radio.peers[0]"]);
}

#[test]
fn a_mote_without_an_eui64_is_refused() {
    let e = load("[[mote]]\nname = \"kitchen\"\n").unwrap_err();
    assert_eq!(keys(e), ["mote[0].eui64"]);
}

#[test]
fn bad_env_value_type_names_key_and_variable() {
    let e = load_env(
        "",
        &[
            ("LOWPAN_RADIO__BAUD", "fast"),
            ("LOWPAN_METRICS__LISTEN", "everywhere"),
        ],
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("radio.baud") && msg.contains("LOWPAN_RADIO__BAUD"),
        "{msg}"
    );
    assert!(
        msg.contains("metrics.listen") && msg.contains("LOWPAN_METRICS__LISTEN"),
        "{msg}"
    );
}

#[test]
fn values_are_typed_once_loaded() {
    let c = load("[radio]\nkind = \"zep\"\npeers = [\"[::1]:17756\"]\nmin_gap_us = 250\n[metrics]\nlisten = \"127.0.0.1:9700\"\nsummary_interval_s = 0\n")
        .unwrap();
    assert_eq!(
        c.radio.peers,
        ["[::1]:17756".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(c.radio.min_gap, Duration::from_micros(250));
    assert_eq!(c.radio.eui64, Eui64([0x02, 0, 0, 0, 0, 0, 0, 1]));
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9700".parse().unwrap()));
    assert_eq!(c.metrics.summary_interval, Duration::ZERO);
    assert_eq!(c.prefix(), "fd00:aaaa::/64".parse::<Prefix64>().unwrap());
}
