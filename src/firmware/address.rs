//! Which host name goes into firmware URLs: the address the controllers will connect to.

use std::net::{IpAddr, Ipv4Addr};

use super::server::ServerError;

/// The first IPv4 address that is neither loopback, link-local nor unspecified.
pub fn first_non_loopback_ipv4(addrs: impl IntoIterator<Item = IpAddr>) -> Option<Ipv4Addr> {
    addrs.into_iter().find_map(|ip| match ip {
        IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() => {
            Some(v4)
        }
        _ => None,
    })
}

/// The host to advertise for a bind address when none was given.
pub fn default_advertise_host(bind: IpAddr) -> String {
    if !bind.is_unspecified() {
        return bind.to_string();
    }
    let addrs = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect::<Vec<_>>())
        .unwrap_or_default();
    match first_non_loopback_ipv4(addrs) {
        Some(ip) => ip.to_string(),
        None => {
            tracing::warn!(
                "no network address besides loopback: advertising 127.0.0.1, which only this machine can reach"
            );
            Ipv4Addr::LOCALHOST.to_string()
        }
    }
}

/// Checks an advertised host and writes it as a URL authority host (IPv6 in brackets).
pub(crate) fn url_host(host: &str) -> Result<String, ServerError> {
    let bad = || ServerError::InvalidAdvertise(host.to_owned());
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(IpAddr::V6(v6)) = bare.parse::<IpAddr>() {
        return Ok(format!("[{v6}]"));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if valid {
        Ok(host.to_owned())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_usable_ipv4_is_advertised() {
        let addrs: Vec<IpAddr> = [
            "127.0.0.1",
            "::1",
            "169.254.3.4",
            "fe80::1",
            "192.168.1.20",
            "10.0.0.2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(
            first_non_loopback_ipv4(addrs),
            Some(Ipv4Addr::new(192, 168, 1, 20))
        );
        assert_eq!(
            first_non_loopback_ipv4(["127.0.0.1".parse().unwrap()]),
            None
        );
    }

    #[test]
    fn a_specific_bind_address_is_its_own_advertised_host() {
        assert_eq!(
            default_advertise_host("127.0.0.1".parse().unwrap()),
            "127.0.0.1"
        );
        assert_eq!(
            default_advertise_host("10.1.2.3".parse().unwrap()),
            "10.1.2.3"
        );
        let any = default_advertise_host(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ip: Ipv4Addr = any.parse().unwrap();
        assert!(!ip.is_unspecified());
    }

    #[test]
    fn advertised_hosts_are_checked() {
        assert_eq!(
            url_host("fw.store-12.example").unwrap(),
            "fw.store-12.example"
        );
        assert_eq!(url_host("10.0.0.5").unwrap(), "10.0.0.5");
        assert_eq!(url_host("::1").unwrap(), "[::1]");
        assert_eq!(url_host("[fe80::2]").unwrap(), "[fe80::2]");
        for bad in ["", "a b", "host/path", "user@host", "host:80", "h?x"] {
            assert!(url_host(bad).is_err(), "{bad:?}");
        }
    }
}
