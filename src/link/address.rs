//! Broker addresses: `mqtt://host[:port]` (plain TCP, default port 1883) and
//! `mqtts://host[:port]` (TLS, default port 8883).
//!
//! Deliberately narrower than a general URL: no user name or password (credentials belong in
//! the profile and the keychain, never in a string that ends up in configs and logs), no path,
//! query or fragment. Errors quote the input with `{:?}`, so they always stay on one line.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Default port of `mqtt://`.
pub const MQTT_PORT: u16 = 1883;
/// Default port of `mqtts://`.
pub const MQTTS_PORT: u16 = 8883;

/// Longest host name accepted (the DNS limit).
const MAX_HOST_CHARS: usize = 253;

/// Plain TCP or TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Mqtt,
    Mqtts,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Mqtts => "mqtts",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Mqtt => MQTT_PORT,
            Self::Mqtts => MQTTS_PORT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the broker address is empty; write mqtt://host:port or mqtts://host:port")]
    Empty,
    #[error(
        "the broker address must not contain a user name or password; set them in the broker profile"
    )]
    Credentials,
    #[error("broker address {0:?} has no scheme; write mqtt://host:port or mqtts://host:port")]
    MissingScheme(String),
    #[error("unsupported scheme {0:?} in the broker address; use mqtt:// or mqtts://")]
    UnsupportedScheme(String),
    #[error("broker address {0:?} has no host")]
    MissingHost(String),
    #[error("invalid broker host {0:?}")]
    InvalidHost(String),
    #[error("broker host {0:?} looks like an IPv6 address; write it in brackets: [{0}]")]
    UnbracketedIpv6(String),
    #[error("invalid broker port {0:?}; expected a number from 1 to 65535")]
    InvalidPort(String),
    #[error("broker address {0:?} must not have a path, query or fragment")]
    Path(String),
}

/// Where the broker is: scheme, host and port. Parsed from and displayed as a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BrokerAddress {
    scheme: Scheme,
    /// A DNS name, an IPv4 address, or an IPv6 address without its brackets.
    host: String,
    port: u16,
}

impl BrokerAddress {
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Result<Self, AddressError> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.parse::<Ipv6Addr>().is_err() {
            check_host(host)?;
        }
        if port == 0 {
            return Err(AddressError::InvalidPort(port.to_string()));
        }
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Mqtts
    }

    /// The host without brackets: what TLS checks the certificate against.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }

    /// The host as a socket address wants it: IPv6 in brackets.
    pub(crate) fn connect_host(&self) -> String {
        if self.is_ipv6() {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}",
            self.scheme.as_str(),
            self.connect_host(),
            self.port
        )
    }
}

impl FromStr for BrokerAddress {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, AddressError> {
        // Pasted addresses often carry a trailing newline or spaces.
        let text = input.trim();
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        // Checked first so that no error message ever echoes a password.
        if text.contains('@') {
            return Err(AddressError::Credentials);
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(AddressError::MissingScheme(text.to_owned()));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" => Scheme::Mqtt,
            "mqtts" => Scheme::Mqtts,
            _ => return Err(AddressError::UnsupportedScheme(scheme.to_owned())),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(AddressError::Path(text.to_owned()));
        }
        let (host, port) = split_authority(authority, text)?;
        let port = match port {
            None => scheme.default_port(),
            Some(port) => parse_port(port)?,
        };
        Self::new(scheme, host, port)
    }
}

/// Splits `host[:port]` or `[v6][:port]`; `text` is the whole input, for messages.
fn split_authority<'a>(
    authority: &'a str,
    text: &str,
) -> Result<(&'a str, Option<&'a str>), AddressError> {
    if authority.is_empty() {
        return Err(AddressError::MissingHost(text.to_owned()));
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err(AddressError::InvalidHost(authority.to_owned()));
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(AddressError::InvalidHost(v6.to_owned()));
        }
        return match after {
            "" => Ok((v6, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((v6, Some(port))),
                None => Err(AddressError::InvalidHost(authority.to_owned())),
            },
        };
    }
    match authority.split_once(':') {
        None => Ok((authority, None)),
        Some((host, port)) if !port.contains(':') => {
            if host.is_empty() {
                return Err(AddressError::MissingHost(text.to_owned()));
            }
            Ok((host, Some(port)))
        }
        Some(_) if authority.parse::<Ipv6Addr>().is_ok() => {
            Err(AddressError::UnbracketedIpv6(authority.to_owned()))
        }
        Some(_) => Err(AddressError::InvalidHost(authority.to_owned())),
    }
}

fn parse_port(port: &str) -> Result<u16, AddressError> {
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(number) if digits && number > 0 => Ok(number),
        _ => Err(AddressError::InvalidPort(port.to_owned())),
    }
}

/// A DNS name or an IPv4 address: dot-separated labels of letters, digits, `-` and `_`.
fn check_host(host: &str) -> Result<(), AddressError> {
    let invalid = || AddressError::InvalidHost(host.to_owned());
    if host.is_empty() || host.len() > MAX_HOST_CHARS {
        return Err(invalid());
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    for label in host.split('.') {
        let bytes = label.as_bytes();
        let good = !label.is_empty()
            && label.len() <= 63
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if !good {
            return Err(invalid());
        }
    }
    Ok(())
}

impl TryFrom<String> for BrokerAddress {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, AddressError> {
        value.parse()
    }
}

impl From<BrokerAddress> for String {
    fn from(address: BrokerAddress) -> String {
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<BrokerAddress, AddressError> {
        s.parse()
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        let plain = parse("mqtt://broker.local").unwrap();
        assert_eq!((plain.scheme(), plain.port()), (Scheme::Mqtt, 1883));
        let tls = parse("mqtts://broker.local/").unwrap();
        assert_eq!((tls.scheme(), tls.port()), (Scheme::Mqtts, 8883));
        assert!(tls.is_tls());
    }

    #[test]
    fn explicit_ports_hosts_and_ipv6() {
        let a = parse("  MQTT://10.0.0.5:11883\n").unwrap();
        assert_eq!((a.host(), a.port()), ("10.0.0.5", 11883));
        assert_eq!(a.to_string(), "mqtt://10.0.0.5:11883");
        let v6 = parse("mqtts://[::1]:8884").unwrap();
        assert_eq!((v6.host(), v6.port()), ("::1", 8884));
        assert_eq!(v6.connect_host(), "[::1]");
        assert_eq!(v6.to_string(), "mqtts://[::1]:8884");
        assert_eq!(parse("mqtt://[fe80::1]").unwrap().port(), 1883);
    }

    #[test]
    fn round_trips_through_display_and_serde() {
        let a = parse("mqtts://broker_1.example.com:9000").unwrap();
        assert_eq!(parse(&a.to_string()).unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"mqtts://broker_1.example.com:9000\"");
        assert_eq!(serde_json::from_str::<BrokerAddress>(&json).unwrap(), a);
        assert!(serde_json::from_str::<BrokerAddress>("\"http://x\"").is_err());
    }

    #[test]
    fn refuses_everything_else_with_one_line_errors() {
        let cases = [
            ("", AddressError::Empty),
            (
                "broker:1883",
                AddressError::MissingScheme("broker:1883".into()),
            ),
            (
                "tcp://broker",
                AddressError::UnsupportedScheme("tcp".into()),
            ),
            ("ws://broker", AddressError::UnsupportedScheme("ws".into())),
            ("mqtt://", AddressError::MissingHost("mqtt://".into())),
            (
                "mqtt://:1883",
                AddressError::MissingHost("mqtt://:1883".into()),
            ),
            ("mqtt://user:secret@host", AddressError::Credentials),
            ("mqtt://host:0", AddressError::InvalidPort("0".into())),
            (
                "mqtt://host:65536",
                AddressError::InvalidPort("65536".into()),
            ),
            ("mqtt://host:", AddressError::InvalidPort("".into())),
            ("mqtt://host:+1", AddressError::InvalidPort("+1".into())),
            (
                "mqtt://host/topic",
                AddressError::Path("mqtt://host/topic".into()),
            ),
            (
                "mqtt://host?x=1",
                AddressError::Path("mqtt://host?x=1".into()),
            ),
            ("mqtt://ho st", AddressError::InvalidHost("ho st".into())),
            ("mqtt://-host", AddressError::InvalidHost("-host".into())),
            ("mqtt://a..b", AddressError::InvalidHost("a..b".into())),
            ("mqtt://::1", AddressError::UnbracketedIpv6("::1".into())),
            ("mqtt://[::1", AddressError::InvalidHost("[::1".into())),
            ("mqtt://[nope]:1", AddressError::InvalidHost("nope".into())),
        ];
        for (input, expected) in cases {
            let err = parse(input).expect_err(input);
            assert_eq!(err, expected, "{input:?}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        let err = parse("mqtt://host\n:1883").unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn credentials_are_never_echoed() {
        for input in ["mqtt://admin:hunter2@host", "admin:hunter2@host:1883"] {
            let err = parse(input).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }
}
