//! Contract tests: the real twilight gateway and HTTP clients and the real `oauth2` client,
//! driven against the simulator on a loopback port.

mod control;
mod decoder;
mod faults;
mod gateway;
mod oauth;
mod payloads;
mod peer;
mod raw;
mod rest;
mod support;
