//! The address a request comes from: the TCP peer, or, when the peer is a configured trusted
//! proxy (`server.trusted-proxies`), the client it forwarded for in `X-Forwarded-For`. Everything
//! that records or decides by address (the actor in history, the login throttle, UDP push
//! destinations) takes it from here, computed once per request by [`ClientAddr::decide`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of IPs and CIDRs; empty trusts nobody.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client: the peer, unless the peer is trusted; then the nearest untrusted address in
    /// `X-Forwarded-For` read from the right (each trusted proxy appends what it saw).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        let mut client = peer;
        for ip in forwarded.into_iter().rev() {
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// Where a request comes from, as [`ClientAddr::decide`] decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    pub fn of(request: &Request) -> Self {
        request
            .extensions()
            .get::<ClientAddr>()
            .copied()
            .unwrap_or(ClientAddr(None))
    }

    /// The address as history and logs write it ("" when unknown).
    pub fn text(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

impl ClientAddr {
    /// The request's client: its peer, or what trusted proxies say it is (decided once, by the
    /// HTTP edge middleware, for every handler after it).
    pub fn decide(request: &Request, trusted: &TrustedProxies) -> Self {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        ClientAddr(trusted.client_ip(peer, request.headers()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let none = TrustedProxies::parse("").unwrap();
        assert_eq!(
            none.client_ip(Some(ip("10.0.0.5")), &headers(&["1.2.3.4"])),
            Some(ip("10.0.0.5")),
            "an untrusted peer cannot claim another address"
        );
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&["1.2.3.4"])),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            proxies.client_ip(
                Some(ip("10.0.0.5")),
                &headers(&["6.6.6.6, 1.2.3.4", "192.168.1.1"])
            ),
            Some(ip("1.2.3.4")),
            "the client spoofing a leftmost entry is skipped: the nearest untrusted wins"
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&[])),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.5")), &headers(&["garbage"])),
            Some(ip("10.0.0.5"))
        );
    }

    #[test]
    fn a_bad_entry_is_refused_by_name() {
        let e = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(e.contains("proxy.local"), "{e}");
    }
}
