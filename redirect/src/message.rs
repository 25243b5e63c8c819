//! What a border router and an IoTSSP tell each other, as values: the flow a message is
//! about ([`FlowTag`]) and the messages themselves ([`RedirectMessage`]). Their byte layout
//! is in `wire`.

use std::net::Ipv6Addr;

/// The real endpoints of a diverted datagram: the Internet peer and the mote it was sent
/// to. Carried in every redirect message; the key of the HRM's flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowTag {
    pub peer_addr: Ipv6Addr,
    pub peer_port: u16,
    pub mote_addr: Ipv6Addr,
    pub mote_port: u16,
}

impl FlowTag {
    /// All zero: the tag of messages that concern no flow (Hello).
    pub const NONE: FlowTag = FlowTag {
        peer_addr: Ipv6Addr::UNSPECIFIED,
        peer_port: 0,
        mote_addr: Ipv6Addr::UNSPECIFIED,
        mote_port: 0,
    };
}

impl core::fmt::Display for FlowTag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "[{}]:{} -> [{}]:{}",
            self.peer_addr, self.peer_port, self.mote_addr, self.mote_port
        )
    }
}

/// Message type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Divert,
    Emit,
    FlowTransferred,
    FlowAbandoned,
    Hello,
    MoteDatagram,
    SessionResumable,
    ResumableAck,
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Divert,
            2 => MessageType::Emit,
            3 => MessageType::FlowTransferred,
            4 => MessageType::FlowAbandoned,
            5 => MessageType::Hello,
            6 => MessageType::MoteDatagram,
            7 => MessageType::SessionResumable,
            8 => MessageType::ResumableAck,
            x => MessageType::Unknown(x),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(v: MessageType) -> u8 {
        match v {
            MessageType::Divert => 1,
            MessageType::Emit => 2,
            MessageType::FlowTransferred => 3,
            MessageType::FlowAbandoned => 4,
            MessageType::Hello => 5,
            MessageType::MoteDatagram => 6,
            MessageType::SessionResumable => 7,
            MessageType::ResumableAck => 8,
            MessageType::Unknown(x) => x,
        }
    }
}

/// Why an IoTSSP gave up a delegated handshake (for the border router's counters and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbandonReason {
    /// The handshake with the peer failed (bad Finished, alert from the peer...).
    HandshakeFailed,
    /// The mote did not answer or refused (busy: its availability check).
    MoteUnavailable,
    /// The Authorization Module denied the client, or the CAM rejected its chain.
    Unauthorized,
    /// The peer went silent.
    Timeout,
    Unknown(u8),
}

impl From<u8> for AbandonReason {
    fn from(v: u8) -> Self {
        match v {
            1 => AbandonReason::HandshakeFailed,
            2 => AbandonReason::MoteUnavailable,
            3 => AbandonReason::Unauthorized,
            4 => AbandonReason::Timeout,
            x => AbandonReason::Unknown(x),
        }
    }
}

impl From<AbandonReason> for u8 {
    fn from(v: AbandonReason) -> u8 {
        match v {
            AbandonReason::HandshakeFailed => 1,
            AbandonReason::MoteUnavailable => 2,
            AbandonReason::Unauthorized => 3,
            AbandonReason::Timeout => 4,
            AbandonReason::Unknown(x) => x,
        }
    }
}

/// What a border router and an IoTSSP tell each other. Payloads borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectMessage<'a> {
    /// BR -> IoTSSP: a datagram (the records the IoTSSP must see) from `flow.peer` to
    /// `flow.mote`.
    Divert { flow: FlowTag, datagram: &'a [u8] },
    /// IoTSSP -> BR: send `datagram` to the peer as if from the mote's address and port.
    Emit { flow: FlowTag, datagram: &'a [u8] },
    /// IoTSSP -> BR: the mote confirmed the session transfer; route the flow's application
    /// data to the mote from now on, then send `final_flight` (the IoTSSP's
    /// ChangeCipherSpec + Finished, may be empty) to the peer. One message, so the peer
    /// cannot receive the Finished (and send application data) before the border router
    /// knows the flow is transferred. Idempotent: the IoTSSP answers a retransmitted client
    /// flight with the same message, which also heals a lost one.
    FlowTransferred {
        flow: FlowTag,
        final_flight: &'a [u8],
    },
    /// IoTSSP -> BR: the delegated handshake on this flow is over without a transfer.
    FlowAbandoned {
        flow: FlowTag,
        reason: AbandonReason,
    },
    /// Both ways, for liveness (sent when nothing else was for a keepalive interval).
    Hello,
    /// Both ways: a datagram between a remote IoTSSP and one of its motes' transfer port
    /// (`flow.mote_addr`, `flow.mote_port`; the peer half of the tag is zero). IoTSSP -> BR:
    /// the border router sends it to the mote from the IoTSSP's configured source address
    /// and port. BR -> IoTSSP: what the mote sent from its transfer port to that address and
    /// port. So nothing of the IoTSSP's mote leg ever passes the TUN, and the border router
    /// can close the transfer port to everything that does.
    MoteDatagram { flow: FlowTag, datagram: &'a [u8] },
    /// IoTSSP -> BR: the mote of `flow` holds the session with id `session_id` and may
    /// resume it itself for `lifetime_secs` (its Transfer carried the master secret). Sent
    /// just after the flow's FlowTransferred, and again until a [`ResumableAck`] comes
    /// (`resumable::ResumableOutbox`); the border router accepts it only for a flow it holds
    /// as transferred. It then sends a client that comes back with this id (and a cookie of
    /// the border router's) to the mote instead of the IoTSSP (docs/protocol.md,
    /// "Resumption at the mote").
    ///
    /// [`ResumableAck`]: RedirectMessage::ResumableAck
    SessionResumable {
        flow: FlowTag,
        lifetime_secs: u32,
        session_id: &'a [u8],
    },
    /// BR -> IoTSSP: the SessionResumable of `flow` and `session_id` was applied (or had
    /// been already); the IoTSSP stops sending it again.
    ResumableAck { flow: FlowTag, session_id: &'a [u8] },
}

/// The longest session id (RFC 5246 7.4.1.2).
pub const MAX_SESSION_ID_LEN: usize = 32;

impl RedirectMessage<'_> {
    pub fn msg_type(&self) -> MessageType {
        match self {
            RedirectMessage::Divert { .. } => MessageType::Divert,
            RedirectMessage::Emit { .. } => MessageType::Emit,
            RedirectMessage::FlowTransferred { .. } => MessageType::FlowTransferred,
            RedirectMessage::FlowAbandoned { .. } => MessageType::FlowAbandoned,
            RedirectMessage::Hello => MessageType::Hello,
            RedirectMessage::MoteDatagram { .. } => MessageType::MoteDatagram,
            RedirectMessage::SessionResumable { .. } => MessageType::SessionResumable,
            RedirectMessage::ResumableAck { .. } => MessageType::ResumableAck,
        }
    }

    pub fn flow(&self) -> FlowTag {
        match self {
            RedirectMessage::Divert { flow, .. }
            | RedirectMessage::Emit { flow, .. }
            | RedirectMessage::FlowTransferred { flow, .. }
            | RedirectMessage::FlowAbandoned { flow, .. }
            | RedirectMessage::MoteDatagram { flow, .. }
            | RedirectMessage::SessionResumable { flow, .. }
            | RedirectMessage::ResumableAck { flow, .. } => *flow,
            RedirectMessage::Hello => FlowTag::NONE,
        }
    }

    pub fn payload_len(&self) -> usize {
        match self {
            RedirectMessage::Divert { datagram, .. }
            | RedirectMessage::Emit { datagram, .. }
            | RedirectMessage::MoteDatagram { datagram, .. } => datagram.len(),
            RedirectMessage::FlowTransferred { final_flight, .. } => final_flight.len(),
            RedirectMessage::FlowAbandoned { .. } => 1,
            RedirectMessage::SessionResumable { session_id, .. } => 4 + session_id.len(),
            RedirectMessage::ResumableAck { session_id, .. } => session_id.len(),
            RedirectMessage::Hello => 0,
        }
    }
}
