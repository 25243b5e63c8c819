//! The mote's energy for one handshake, from what the emulated radio and CPU did.
//!
//! Power figures: the CC2538 at 3 V (seed 002, Table 1): CPU 39 mW, LPM 1.8 mW, Tx 85 mW,
//! Rx 72 mW listening (idle) and 60 mW receiving (active). Energy is time in each state
//! times its power. The times come from motesim: air time of every frame the mote sent
//! (MAC retransmissions included) and of the ACKs it sent (Tx); of every frame and ACK it
//! received (Rx active); the emulated ECC computation (ECC, at the CPU's power). The rest
//! of the CPU's work (6LoWPAN, the DTLS record layer, AES-CCM in the radio's engine) is
//! not emulated: it is charged per frame sent or received, [`Model::cpu_per_frame`], an
//! assumption of ours, not a measured figure.
//!
//! Two settings:
//! - **Always-on** (the paper's measurement across a battery resistor during the whole
//!   handshake): the radio listens for the whole handshake, so every moment it does not
//!   transmit or receive is idle listening at Rx idle power. The MCU's work (CPU, ECC) is
//!   charged on top of the radio.
//! - **Duty-cycled** (a ContikiMAC-like receiver behind an always-on border router): the
//!   radio is on only for the mote's own frames and ACKs, what it receives, and periodic
//!   channel checks ([`Model::check_rate`] per second of [`Model::check_time`] each, at
//!   Rx idle power); the rest of the handshake the MCU sleeps in LPM. The border router
//!   listens all the time, so the mote's frames need no strobing; the wait for the mote's
//!   next channel check, which would lengthen the handshake, is not modelled.

use std::time::Duration;

/// CC2538 power at 3 V, W (seed 002, Table 1).
pub const P_CPU: f64 = 0.039;
pub const P_LPM: f64 = 0.0018;
pub const P_TX: f64 = 0.085;
pub const P_RX_IDLE: f64 = 0.072;
pub const P_RX_ACTIVE: f64 = 0.060;

/// The parameters of the model that are assumptions rather than datasheet figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Model {
    /// MCU time to handle one 802.15.4 frame in or out (6LoWPAN, DTLS record layer).
    pub cpu_per_frame: Duration,
    /// Duty-cycled: channel checks per second (ContikiMAC's default 8 Hz).
    pub check_rate: f64,
    /// Duty-cycled: radio-on time of one channel check (two CCAs and the guard time).
    pub check_time: Duration,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            cpu_per_frame: Duration::from_micros(500),
            check_rate: 8.0,
            check_time: Duration::from_micros(500),
        }
    }
}

/// What the mote did during one handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Activity {
    /// The handshake's duration (first ClientHello to the client's Finished).
    pub window: Duration,
    /// The mote's radio transmitting: its frames with retransmissions, and its ACKs.
    pub tx: Duration,
    /// The mote's radio receiving frames and ACKs that reached it.
    pub rx: Duration,
    /// Emulated ECC computation.
    pub ecc: Duration,
    /// 802.15.4 data frames the mote handled (received and sent, first transmissions).
    pub frames: u64,
}

/// Energy by part, J.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Energy {
    pub cpu: f64,
    pub ecc: f64,
    pub tx: f64,
    /// Receiving plus listening (idle listening, or channel checks when duty-cycled).
    pub rx: f64,
    /// Of `rx`, idle listening or channel checks.
    pub listen: f64,
    /// MCU asleep (duty-cycled only).
    pub lpm: f64,
}

impl Energy {
    pub fn total(&self) -> f64 {
        self.cpu + self.ecc + self.tx + self.rx + self.lpm
    }
}

impl Model {
    pub fn always_on(&self, a: &Activity) -> Energy {
        let w = a.window.as_secs_f64();
        let (tx, rx) = (a.tx.as_secs_f64(), a.rx.as_secs_f64());
        let idle = (w - tx - rx).max(0.0);
        let listen = idle * P_RX_IDLE;
        Energy {
            cpu: self.cpu_time(a) * P_CPU,
            ecc: a.ecc.as_secs_f64() * P_CPU,
            tx: tx * P_TX,
            rx: rx * P_RX_ACTIVE + listen,
            listen,
            lpm: 0.0,
        }
    }

    pub fn duty_cycled(&self, a: &Activity) -> Energy {
        let w = a.window.as_secs_f64();
        let (tx, rx) = (a.tx.as_secs_f64(), a.rx.as_secs_f64());
        let checks = w * self.check_rate * self.check_time.as_secs_f64();
        let (cpu, ecc) = (self.cpu_time(a), a.ecc.as_secs_f64());
        let asleep = (w - tx - rx - checks - cpu - ecc).max(0.0);
        let listen = checks * P_RX_IDLE;
        Energy {
            cpu: cpu * P_CPU,
            ecc: ecc * P_CPU,
            tx: tx * P_TX,
            rx: rx * P_RX_ACTIVE + listen,
            listen,
            lpm: asleep * P_LPM,
        }
    }

    fn cpu_time(&self, a: &Activity) -> f64 {
        self.cpu_per_frame.as_secs_f64() * a.frames as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_on_listens_the_whole_window() {
        let m = Model {
            cpu_per_frame: Duration::ZERO,
            ..Model::default()
        };
        let a = Activity {
            window: Duration::from_secs(1),
            ..Activity::default()
        };
        let e = m.always_on(&a);
        assert!((e.total() - 0.072).abs() < 1e-12);
        assert!((e.listen - 0.072).abs() < 1e-12);
    }

    #[test]
    fn parts_add_up() {
        let m = Model::default();
        let a = Activity {
            window: Duration::from_millis(2000),
            tx: Duration::from_millis(10),
            rx: Duration::from_millis(20),
            ecc: Duration::from_millis(340),
            frames: 10,
        };
        let e = m.always_on(&a);
        let expect = 10.0 * 0.0005 * P_CPU
            + 0.34 * P_CPU
            + 0.010 * P_TX
            + 0.020 * P_RX_ACTIVE
            + 1.97 * P_RX_IDLE;
        assert!((e.total() - expect).abs() < 1e-12, "{e:?}");
        let d = m.duty_cycled(&a);
        assert!(d.total() < e.total());
        let checks = 2.0 * 8.0 * 0.0005;
        let asleep = 2.0 - 0.010 - 0.020 - checks - 0.005 - 0.34;
        let expect = 0.005 * P_CPU
            + 0.34 * P_CPU
            + 0.010 * P_TX
            + 0.020 * P_RX_ACTIVE
            + checks * P_RX_IDLE
            + asleep * P_LPM;
        assert!((d.total() - expect).abs() < 1e-12, "{d:?}");
    }
}
