//! What a SIGHUP may change in a running border router, and what needs a restart.
//!
//! Reloaded in place: `[log] level`, `[metrics] summary_interval_s`, the `[[mote]]` list
//! (policies, IoTSSP, DTLS port, names; motes may be added but not removed or readdressed)
//! and the IoTSSPs' key material: a remote one's redirect key (`key`, `key_file`,
//! `key_id`), an attached one's files (certificates, PSKs, trust anchors, authorization).
//! Transferred sessions and the radio link are kept: the HRM's flow table stays and the
//! radio driver is not touched.
//!
//! Everything else is held open or built into the running state (the TUN and its
//! addresses, the radio, the sockets, the HRM's limits, RPL, the set of IoTSSPs): a new value
//! there refuses the whole reload, and the running configuration stays.

use crate::config::{Config, IotsspKind};

/// The keys changed between `old` and `new` that only a restart can apply; empty when
/// the reload may go ahead.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let mut v = Vec::new();
    let mut section = |name: &str, same: bool| {
        if !same {
            v.push(name.to_string());
        }
    };
    section("[radio]", old.radio == new.radio);
    section("[tun]", old.tun == new.tun);
    section("[network]", old.network == new.network);
    section("[hrm]", old.hrm == new.hrm);
    section("[capture]", old.capture == new.capture);
    section("[metrics] listen", old.metrics.listen == new.metrics.listen);
    section("[control]", old.control == new.control);
    section("[rpl]", old.rpl == new.rpl);
    for (i, m) in old.motes.iter().enumerate() {
        match new.motes.iter().find(|n| n.eui64 == m.eui64) {
            None => v.push(format!("mote[{i}] ({}) removed", m.name)),
            Some(n) if n.short != m.short => {
                v.push(format!("mote[{i}] ({}) short address", m.name))
            }
            Some(_) => {}
        }
    }
    if old.iotssps.len() != new.iotssps.len() {
        v.push("[[iotssp]] added or removed".into());
    } else {
        for (i, (o, n)) in old.iotssps.iter().zip(&new.iotssps).enumerate() {
            let same = o.name == n.name
                && match (&o.kind, &n.kind) {
                    (IotsspKind::Attached { config: a }, IotsspKind::Attached { config: b }) => {
                        a == b
                    }
                    (IotsspKind::Remote(a), IotsspKind::Remote(b)) => {
                        a.address == b.address
                            && a.keepalive == b.keepalive
                            && a.dead_after == b.dead_after
                    }
                    _ => false,
                };
            if !same {
                v.push(format!(
                    "iotssp[{i}] ({}) name, kind, address or timers",
                    o.name
                ));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(text: &str) -> Config {
        Config::load_str(text, Path::new("test.toml"), Vec::new()).unwrap()
    }

    const BASE: &str = "[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nname = \"a\"\n";

    #[test]
    fn log_level_and_motes_reload_the_rest_needs_a_restart() {
        let old = load(BASE);
        let new = load(&format!(
            "{BASE}[log]\nlevel = \"debug\"\n[[mote]]\neui64 = \"00:12:4b:00:00:00:00:03\"\nname = \"b\"\n"
        ));
        assert!(needs_restart(&old, &new).is_empty());
        let renamed = load(&BASE.replace("\"a\"", "\"kitchen\""));
        assert!(needs_restart(&old, &renamed).is_empty());
        let new = load(&format!(
            "{BASE}[tun]\nname = \"other0\"\n[radio]\nbaud = 57600\n"
        ));
        assert_eq!(needs_restart(&old, &new), ["[radio]", "[tun]"]);
        let removed = load("");
        assert_eq!(needs_restart(&old, &removed), ["mote[0] (a) removed"]);
    }
}
