//! IEEE 802.15.4 frames, 6LoWPAN header compression (RFC 6282) and fragmentation (RFC 4944).
