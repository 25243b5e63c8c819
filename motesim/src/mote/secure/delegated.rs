//! placeholder
use super::server::PskConfig;
use super::*;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct DelegatedConfig {
    pub iotssp: PskConfig,
    pub transfer_port: u16,
    pub slots: usize,
}

pub struct DelegatedDevice {
    counters: SecurityCounters,
}
impl DelegatedDevice {
    pub fn new(_c: &DelegatedConfig, _i: u32) -> Result<Self, dtls::Error> {
        Ok(DelegatedDevice {
            counters: SecurityCounters::default(),
        })
    }
}
impl SecureDevice for DelegatedDevice {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Delegated
    }
    fn owns_port(&self, _port: u16) -> bool {
        false
    }
    fn handle_datagram(&mut self, _now: Instant, _local_port: u16, _peer: Peer, _payload: &[u8]) {}
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn counters(&self) -> &SecurityCounters {
        &self.counters
    }
}
