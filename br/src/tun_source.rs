//! Which TUN-side sources the border router refuses: packets read from the TUN come from
//! the host or, forwarded by it, from the Internet, so none may carry the source only the
//! border router's attached IoTSSP owns.
//!
//! Mesh-prefix sources are not refused here: traffic between two motes leaves the radio
//! into the TUN and comes back from it (the kernel routes it), so a mote's address is a
//! legitimate TUN-side source until motes' traffic to motes is bridged on the radio side.
//!
//! - The host's TUN address with UDP source port `hrm.attached_port`, while an attached
//!   IoTSSP is configured: that exact pair is the attached IoTSSP's identity towards its
//!   motes, and its real datagrams go straight to the radio side, never through the TUN.
//!   The host address alone cannot be refused: the host's own processes (a `ping`, a CoAP
//!   client in the border router's namespace) legitimately send to motes from it. IPv6
//!   fragments and malformed extension chains from the host address are refused too while
//!   an attached IoTSSP is configured, since their UDP source port cannot be checked; the
//!   host does not need them towards motes whose link MTU is the IPv6 minimum.
//!
//! Linux forwards a packet from another interface whose source is one of its own
//! addresses, so the host address must be checked here and not assumed unreachable.
//! Pure: a packet in, a verdict out; never panics.

use std::net::Ipv6Addr;

use lowpan::ip::UdpPacket;
use lowpan::{CheckedIpv6Packet, NextHeader, UpperLayer};

use crate::counters::DropReason;

/// The rule's parameters (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunSourceFilter {
    /// The host's address on the TUN.
    pub host: Ipv6Addr,
    /// `hrm.attached_port` when an attached IoTSSP is configured.
    pub attached_port: Option<u16>,
}

impl TunSourceFilter {
    /// Why a packet read from the TUN must be dropped, if it must. Packets that do not
    /// parse never get here: the bridge drops them under its own reasons.
    pub fn refuse<T: AsRef<[u8]>>(&self, ip: &CheckedIpv6Packet<T>) -> Option<DropReason> {
        let src = ip.src_addr();
        if src != self.host {
            return None;
        }
        let port = self.attached_port?;
        let spoofed = match ip.upper_layer() {
            UpperLayer::Protocol(NextHeader::Udp, udp) => {
                // A truncated UDP header still names its source port if two bytes are there.
                UdpPacket::new_checked(udp)
                    .map(|u| u.src_port())
                    .ok()
                    .or_else(|| udp.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])))
                    == Some(port)
            }
            UpperLayer::Protocol(..) => false,
            UpperLayer::Fragment | UpperLayer::BadExtension => true,
        };
        spoofed.then_some(DropReason::TunSpoofedAttachedIotssp)
    }
}
