//! Which addresses a feed may lead gleaner to. A public feed must not be able to point the
//! daemon, by a redirect, at the machine it runs on or at its network (a router's admin page, a
//! cloud metadata service): those addresses are refused unless the source allows them. The
//! check is on the addresses actually connected to: [`PublicOnly`] is the DNS resolver of the
//! guarded HTTP client, so a name that resolves differently the second time (DNS rebinding)
//! cannot dodge it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Debug builds count the addresses listed here (comma-separated) as public besides the real
/// ones: the integration tests have only loopback servers, so they stand one loopback address
/// in for the internet. Release builds ignore it.
pub const TEST_PUBLIC_ADDRESSES: &str = "GLEANER_TEST_PUBLIC_ADDRESSES";

/// Why `ip` is not a public address ("loopback", "private", ...), or `None` when it is one.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        // 0.0.0.0/8 is "this network": Linux connects 0.0.0.0 to the local host.
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        // Carrier-grade NAT: the provider's network, not the internet.
        (100, 64..=127, _) => "shared",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (224..=239, ..) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        // IETF protocol assignments, benchmarking, and the old class E.
        (192, 0, 0) | (198, 18..=19, _) | (240..=255, ..) => "reserved",
        _ => return None,
    };
    Some(kind)
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    // ::ffff:127.0.0.1 reaches 127.0.0.1.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_kind(v4);
    }
    let s = ip.segments();
    let kind = match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // IPv4-compatible addresses: deprecated, never routed.
        [0, 0, 0, 0, 0, 0, _, _] => "reserved",
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that a gateway
        // reaches on our behalf: judge that address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x2002, hi, lo, ..] => {
            return v4_kind(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
        }
        // Local-use NAT64 (64:ff9b:1::/48) translates into a private network.
        [0x64, 0xff9b, 1, ..] => "private",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x100, 0, 0, 0, ..] => "reserved",
        // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
        [first, ..] if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 => "private",
        [first, ..] if first & 0xffc0 == 0xfe80 => "link-local",
        [first, ..] if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(kind)
}

/// The real address classes, plus any address the caller counts as public (see
/// [`TEST_PUBLIC_ADDRESSES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressRules {
    counted_public: Vec<IpAddr>,
}

impl AddressRules {
    /// The real classes, and in a debug build the addresses named by [`TEST_PUBLIC_ADDRESSES`].
    pub fn from_env() -> Result<AddressRules, String> {
        let listed = match std::env::var(TEST_PUBLIC_ADDRESSES) {
            Ok(text) if cfg!(debug_assertions) => text,
            _ => return Ok(AddressRules::default()),
        };
        let counted_public = listed
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse()
                    .map_err(|_| format!("{TEST_PUBLIC_ADDRESSES}: `{item}` is not an IP address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(AddressRules { counted_public })
    }

    /// Why `ip` may not be reached without the source's leave, or `None` when it may.
    pub fn kind(&self, ip: IpAddr) -> Option<&'static str> {
        if self.counted_public.contains(&ip) {
            return None;
        }
        non_public_kind(ip)
    }

    pub fn is_public(&self, ip: IpAddr) -> bool {
        self.kind(ip).is_none()
    }
}

/// Addresses refused for a host: each with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPublic {
    pub refused: Vec<(IpAddr, &'static str)>,
}

impl NotPublic {
    /// "(10.0.0.5) refused: a private address"; a name's addresses are all listed.
    pub fn describe(&self) -> String {
        let mut addresses: Vec<String> = Vec::new();
        let mut kinds: Vec<&str> = Vec::new();
        for (ip, kind) in &self.refused {
            let ip = ip.to_string();
            if !addresses.contains(&ip) {
                addresses.push(ip);
            }
            if !kinds.contains(kind) {
                kinds.push(kind);
            }
        }
        let kinds = kinds.join(" or ");
        let article = if kinds.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!(
            "({}) refused: {article} {kinds} address",
            addresses.join(", ")
        )
    }
}

impl fmt::Display for NotPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl std::error::Error for NotPublic {}

/// A DNS resolver that keeps only the addresses `rules` count as public, and fails with
/// [`NotPublic`] when a name has no other.
#[derive(Debug, Clone)]
pub struct PublicOnly {
    pub rules: Arc<AddressRules>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = Arc::clone(&self.rules);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The system resolver (getaddrinfo, /etc/hosts) blocks: off the async workers, as
            // reqwest's own resolver does. Port 0: the connector puts the URL's port in.
            let found: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                (host.as_str(), 0).to_socket_addrs().map(Iterator::collect)
            })
            .await??;
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
                .into_iter()
                .partition(|addr| rules.is_public(addr.ip()));
            if public.is_empty() && !refused.is_empty() {
                let refused = refused
                    .iter()
                    .filter_map(|addr| Some((addr.ip(), rules.kind(addr.ip())?)))
                    .collect();
                return Err(Box::new(NotPublic { refused }) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        non_public_kind(text.parse().unwrap())
    }

    #[test]
    fn ipv4_classes() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("100.64.0.1", "shared"),
            ("100.127.255.255", "shared"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("198.18.0.1", "reserved"),
            ("192.0.0.8", "reserved"),
            ("192.0.2.1", "documentation"),
            ("203.0.113.9", "documentation"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "223.255.255.255",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn ipv6_classes_and_embedded_ipv4() {
        for (ip, expected) in [
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fec0::1", "private"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "reserved"),
            ("64:ff9b::10.0.0.1", "private"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b:1::1", "private"),
            ("2002:a00:1::1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
        for public in [
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "fbff::1",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn counted_public_addresses_are_the_only_exception() {
        let loopback: IpAddr = "127.0.0.2".parse().unwrap();
        let rules = AddressRules {
            counted_public: vec![loopback],
        };
        assert!(rules.is_public(loopback));
        assert_eq!(rules.kind("127.0.0.1".parse().unwrap()), Some("loopback"));
        assert!(!AddressRules::default().is_public(loopback));
    }

    #[test]
    fn refusals_name_every_address_and_why() {
        let one = NotPublic {
            refused: vec![("10.0.0.5".parse().unwrap(), "private")],
        };
        assert_eq!(one.describe(), "(10.0.0.5) refused: a private address");
        let name = NotPublic {
            refused: vec![
                ("127.0.0.1".parse().unwrap(), "loopback"),
                ("::1".parse().unwrap(), "loopback"),
                ("fe80::1".parse().unwrap(), "link-local"),
            ],
        };
        assert_eq!(
            name.describe(),
            "(127.0.0.1, ::1, fe80::1) refused: a loopback or link-local address"
        );
        let unspecified = NotPublic {
            refused: vec![("0.0.0.0".parse().unwrap(), "unspecified")],
        };
        assert_eq!(
            unspecified.describe(),
            "(0.0.0.0) refused: an unspecified address"
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_non_public_addresses() {
        let refused = PublicOnly {
            rules: Arc::default(),
        }
        .resolve("localhost".parse().unwrap())
        .await
        .err()
        .expect("localhost has no public address");
        let refused = refused
            .downcast_ref::<NotPublic>()
            .expect("a refusal, not a lookup failure");
        assert!(
            refused
                .refused
                .contains(&("127.0.0.1".parse().unwrap(), "loopback")),
            "{refused:?}"
        );

        // With 127.0.0.1 counted public, localhost resolves to it and to nothing else.
        let counted = PublicOnly {
            rules: Arc::new(AddressRules {
                counted_public: vec!["127.0.0.1".parse().unwrap()],
            }),
        };
        let addrs: Vec<SocketAddr> = counted
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs.iter().all(|a| a.ip() == IpAddr::from([127, 0, 0, 1])),
            "{addrs:?}"
        );
    }
}
