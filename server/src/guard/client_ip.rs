//! Who is asking, as an address: the socket peer, or what a trusted proxy says the client was.
//!
//! `X-Forwarded-For` is read only when the peer is a configured proxy (`TRUSTED_PROXIES`): from
//! anyone else it is whatever the client chose to write. Each proxy appends the address it got the
//! request from, so the list is read from the right, skipping proxies we trust; the first address
//! that is not one is the client. The entries left of it were written by that client and mean
//! nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use backend::config::IpBudgetConfig;

/// The client's address for the request that came from `peer` with `headers`.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, config: &IpBudgetConfig) -> IpAddr {
    let mut client = peer.to_canonical();
    if !config.trusts(client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        // An entry we cannot read ends the trail: the last proxy we trust is the best we know.
        let Some(address) = parse_hop(hop) else {
            return client;
        };
        client = address.to_canonical();
        if !config.trusts(client) {
            return client;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

/// The key a client's budget is kept under. An IPv6 host usually holds a whole /64, so one budget
/// covers the /64; otherwise every request could come from a fresh address.
pub(crate) fn budget_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn config(trusted: &str) -> IpBudgetConfig {
        backend::Config::from_vars([("TRUSTED_PROXIES".to_owned(), trusted.to_owned())])
            .unwrap()
            .ip_budget
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let none = config("");
        let proxies = config("10.0.0.0/8");
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.1"), &headers, &none), ip("198.51.100.1"));
        assert_eq!(
            client_ip(ip("198.51.100.1"), &headers, &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &proxies), ip("203.0.113.9"));
        // An IPv4 peer on a dual-stack socket is still that IPv4 address.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &headers, &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = config("10.0.0.0/8");
        // The client wrote a fake first entry; our proxies appended the rest.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &proxies), ip("203.0.113.9"));
        let headers = forwarded(&["[2001:db8::5]:4711, 10.0.0.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &proxies), ip("2001:db8::5"));
        // Garbage stops the walk at the last proxy we trust.
        let headers = forwarded(&["203.0.113.9, not-an-ip, 10.0.0.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &proxies), ip("10.0.0.7"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_ipv6_client_is_budgeted_by_its_64() {
        assert_eq!(budget_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            budget_key(ip("2001:db8:1:2:ffff::9")),
            budget_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            budget_key(ip("2001:db8:1:3::1")),
            budget_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(budget_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(budget_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
