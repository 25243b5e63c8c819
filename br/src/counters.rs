//! Traffic and drop counters of the bridge core. Every dropped packet or frame is counted
//! under a [`DropReason`], whose stable name is also the Prometheus `reason` label.

use std::collections::BTreeMap;

use crate::nd::{NdError, RsError};

/// Why a packet or frame was not bridged. [`DropReason::as_str`] names are stable: they are
/// the metrics' `reason` label and the log summary's `drop.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// From the TUN: not an IPv6 packet.
    TunNotIpv6,
    /// From the TUN: an IPv6 header that does not parse or does not match the read length.
    TunBadIpv6,
    /// From the TUN: longer than `tun.mtu`.
    TunTooBig,
    /// From the TUN: an MLD listener message, which nothing on the mesh listens to.
    TunMldNotSent,
    /// From the TUN: UDP from the host address and `hrm.attached_port`, the attached
    /// IoTSSP's identity, whose real datagrams never pass the TUN. See [`crate::tun_source`].
    TunSpoofedAttachedIotssp,
    /// The radio has not told us our link address yet.
    RadioNotReady,
    /// To a multicast scope wider than the link (or realm).
    MulticastScopeNotLink,
    /// To an address neither in the mesh prefix nor link-local.
    NoRoute,
    /// To a mote neither configured nor learned.
    UnknownMote,
    /// 6LoWPAN compression or fragmentation refused the packet.
    Encode(lowpan::EncodeError),
    /// A radio frame whose 802.15.4 header does not parse.
    Mac(lowpan::ieee802154::Error),
    /// A radio frame that is not a data frame.
    MacNotData,
    /// A radio frame for another PAN or node.
    NotForUs,
    /// A radio frame without a usable source address.
    MacNoSource,
    /// A radio frame sent by ourselves.
    OwnFrame,
    /// A new mote not learned: the neighbour table is full (its packet still goes through).
    NeighbourTableFullNotLearned,
    /// 6LoWPAN decompression or reassembly refused the frame.
    Decode(lowpan::DecodeError),
    /// A partial datagram evicted to make room for a new one.
    ReassemblyEvicted,
    /// A partial datagram not completed in time.
    ReassemblyTimeout,
    /// From the radio: the reassembled IPv6 header does not parse or does not match.
    RadioBadIpv6,
    /// An invalid Router Solicitation.
    Rs(RsError),
    /// A Router Solicitation not answered: [`crate::bridge`] already holds as many
    /// delayed answers as it keeps.
    RsBacklogFull,
    /// An invalid ND message (other than an RS), DAR or DAC.
    Nd(NdError),
    /// An ND message from the radio that is not ours to answer (NA, RA, Redirect, DAC, an
    /// NS for another node): it stays on the mesh, never the TUN.
    NdNotForwarded,
    /// An address registration (ARO or DAR) for an address outside the mesh prefix and
    /// link-local, or a DAR not addressed to us.
    RegistrationNotOnMesh,
    /// From the radio: a multicast source address.
    RadioMulticastSource,
    /// From the radio: the IPv6 source is a delegated mote's address but the 802.15.4
    /// source is not that mote's (its configured EUI-64 or short address): another node
    /// posing as the mote towards its IoTSSP.
    RadioSpoofedDelegatedMote,
    /// The TUN could not be read.
    TunReadError,
    /// The TUN was full.
    TunWriteWouldBlock,
    /// The TUN could not be written.
    TunWriteError,
    /// A whole datagram (all its frames) dropped by the radio queue to make room, or
    /// because it could not fit ([`crate::radio_queue`]); counted once per datagram.
    RadioQueueFull,
    /// The radio driver is gone.
    RadioDown,
    /// The redirect socket could not be read.
    RedirectReadError,
    /// A datagram to a remote IoTSSP could not be sent.
    RedirectSendError,
    /// A datagram for a remote IoTSSP with no redirect socket open.
    RedirectNoSocket,
    /// An RPL control message the root refused or had no use for.
    Rpl(crate::rpl::RplDrop),
}

impl DropReason {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TunNotIpv6 => "tun_not_ipv6",
            DropReason::TunBadIpv6 => "tun_bad_ipv6",
            DropReason::TunTooBig => "tun_too_big",
            DropReason::TunMldNotSent => "tun_mld_not_sent",
            DropReason::TunSpoofedAttachedIotssp => "tun_spoofed_attached_iotssp",
            DropReason::RadioNotReady => "radio_not_ready",
            DropReason::MulticastScopeNotLink => "multicast_scope_not_link",
            DropReason::NoRoute => "no_route",
            DropReason::UnknownMote => "unknown_mote",
            DropReason::Encode(e) => e.as_str(),
            DropReason::Mac(e) => e.as_str(),
            DropReason::MacNotData => "mac_not_data",
            DropReason::NotForUs => "not_for_us",
            DropReason::MacNoSource => "mac_no_source",
            DropReason::OwnFrame => "own_frame",
            DropReason::NeighbourTableFullNotLearned => "neighbour_table_full_not_learned",
            DropReason::Decode(e) => e.as_str(),
            DropReason::ReassemblyEvicted => "reassembly_evicted",
            DropReason::ReassemblyTimeout => "reassembly_timeout",
            DropReason::RadioBadIpv6 => "radio_bad_ipv6",
            DropReason::Rs(e) => e.as_str(),
            DropReason::RsBacklogFull => "rs_backlog_full",
            DropReason::Nd(e) => e.as_str(),
            DropReason::NdNotForwarded => "nd_not_forwarded",
            DropReason::RegistrationNotOnMesh => "registration_not_on_mesh",
            DropReason::RadioMulticastSource => "radio_multicast_source",
            DropReason::RadioSpoofedDelegatedMote => "radio_spoofed_delegated_mote",
            DropReason::TunReadError => "tun_read_error",
            DropReason::TunWriteWouldBlock => "tun_write_would_block",
            DropReason::TunWriteError => "tun_write_error",
            DropReason::RadioQueueFull => "radio_queue_full",
            DropReason::RadioDown => "radio_down",
            DropReason::RedirectReadError => "redirect_read_error",
            DropReason::RedirectSendError => "redirect_send_error",
            DropReason::RedirectNoSocket => "redirect_no_socket",
            DropReason::Rpl(d) => d.as_str(),
        }
    }
}

/// Counters kept by [`crate::bridge::Bridge`]. Monotonic; never reset while running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub tun_rx_packets: u64,
    pub tun_rx_bytes: u64,
    pub tun_tx_packets: u64,
    pub tun_tx_bytes: u64,
    pub radio_rx_frames: u64,
    pub radio_rx_bytes: u64,
    pub radio_tx_frames: u64,
    pub radio_tx_bytes: u64,
    pub router_solicitations: u64,
    pub router_advertisements: u64,
    pub motes_learned: u64,
    pub reassembly_timeouts: u64,
    /// Registrations (NS with ARO, DAR) accepted or refreshed.
    pub address_registrations: u64,
    /// Registrations removed by their owner (lifetime 0).
    pub address_deregistrations: u64,
    /// Registrations answered "duplicate" or "neighbour cache full".
    pub registrations_refused: u64,
    /// Registrations that ran out.
    pub registrations_expired: u64,
    /// Duplicate Address Requests from 6LoWPAN routers answered.
    pub duplicate_address_requests: u64,
    drops: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// Count one drop for `reason`.
    pub fn drop(&mut self, reason: DropReason) {
        self.drop_n(reason, 1);
    }

    /// Count `n` drops for `reason`.
    pub fn drop_n(&mut self, reason: DropReason, n: u64) {
        if n > 0 {
            *self.drops.entry(reason.as_str()).or_insert(0) += n;
        }
    }

    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.drops.iter().map(|(k, v)| (*k, *v))
    }

    /// Drops counted under the stable name `reason` ([`DropReason::as_str`]).
    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }

    /// The plain counters as (name, value), in a fixed order.
    pub fn totals(&self) -> [(&'static str, u64); 17] {
        [
            ("tun_rx_packets", self.tun_rx_packets),
            ("tun_rx_bytes", self.tun_rx_bytes),
            ("tun_tx_packets", self.tun_tx_packets),
            ("tun_tx_bytes", self.tun_tx_bytes),
            ("radio_rx_frames", self.radio_rx_frames),
            ("radio_rx_bytes", self.radio_rx_bytes),
            ("radio_tx_frames", self.radio_tx_frames),
            ("radio_tx_bytes", self.radio_tx_bytes),
            ("router_solicitations", self.router_solicitations),
            ("router_advertisements", self.router_advertisements),
            ("motes_learned", self.motes_learned),
            ("reassembly_timeouts", self.reassembly_timeouts),
            ("address_registrations", self.address_registrations),
            ("address_deregistrations", self.address_deregistrations),
            ("registrations_refused", self.registrations_refused),
            ("registrations_expired", self.registrations_expired),
            (
                "duplicate_address_requests",
                self.duplicate_address_requests,
            ),
        ]
    }

    /// One log line: totals that are not zero, then drops by reason.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.totals() {
            if v != 0 {
                s.push_str(&format!("{k}={v} "));
            }
        }
        for (k, v) in self.drops() {
            s.push_str(&format!("drop.{k}={v} "));
        }
        if s.is_empty() {
            s.push_str("no traffic");
        }
        s.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_accumulate_by_reason() {
        let mut c = Counters::default();
        c.drop(DropReason::UnknownMote);
        c.drop(DropReason::UnknownMote);
        c.drop_n(DropReason::NoRoute, 3);
        c.drop_n(DropReason::OwnFrame, 0);
        assert_eq!(c.dropped("unknown_mote"), 2);
        assert_eq!(c.dropped("own_frame"), 0);
        assert_eq!(c.total_drops(), 5);
        assert_eq!(c.drops().count(), 2);
        c.tun_rx_packets = 1;
        assert_eq!(
            c.summary(),
            "tun_rx_packets=1 drop.no_route=3 drop.unknown_mote=2"
        );
    }
}
