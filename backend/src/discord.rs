//! Everything that talks to Discord (or the simulator standing in for it).

pub mod gateway;
pub mod oauth;
pub mod rest;
