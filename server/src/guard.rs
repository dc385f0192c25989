//! What the server does before (and after) any route runs, to keep browsers and strangers in
//! their lane: security headers and the CSP nonce ([`headers`]), cross-origin refusal
//! ([`csrf`]), and per-address budgets on the anonymous routes ([`ip_budget`]), which need to
//! know who the client is ([`client_ip`]).

mod client_ip;
pub mod csrf;
pub mod headers;
pub mod ip_budget;
