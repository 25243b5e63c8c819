//! DTLS 1.2 engine.
