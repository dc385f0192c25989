//! A protocol-faithful Discord simulator: gateway WebSocket, REST and OAuth2 on one loopback port.
//!
//! It is the product's embedded default when no Discord credentials are configured, and the peer
//! every integration test talks to.
