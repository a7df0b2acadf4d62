//! The simulator's MQTT client settings: one connection for the whole fleet.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rumqttc::MqttOptions;

/// Largest packet the fleet's client accepts. Far above any real message, so a hostile
/// multi-megabyte publish on a controller topic is read and ignored, instead of being a
/// protocol error that drops the whole fleet's connection.
pub const MAX_INCOMING_PACKET: usize = 64 * 1024 * 1024;
/// Our replies are a few hundred bytes.
const MAX_OUTGOING_PACKET: usize = 1024 * 1024;
/// QoS 1 publishes in flight: the throughput knob (RECIPES: about 7x from 100 to 1000).
pub const INFLIGHT: u16 = 1000;
/// Requests queued towards the event loop.
pub const REQUEST_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    #[error("broker URL {0:?} must look like mqtt://host:port")]
    Malformed(String),
    #[error("broker URL {0:?}: the simulator speaks plain mqtt:// only, not TLS")]
    Tls(String),
}

/// `mqtt://host[:port]` (also `tcp://`); the port defaults to 1883.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
}

impl FromStr for BrokerUrl {
    type Err = BrokerUrlError;
    fn from_str(url: &str) -> Result<Self, BrokerUrlError> {
        let bad = || BrokerUrlError::Malformed(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        match scheme {
            "mqtt" | "tcp" => {}
            "mqtts" | "ssl" | "tls" => return Err(BrokerUrlError::Tls(url.to_owned())),
            _ => return Err(bad()),
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        // `[::1]:1883`: the brackets delimit an IPv6 literal.
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(bad)?;
                (host, after.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => 1883,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "mqtt://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mqtt://{}:{}", self.host, self.port)
        }
    }
}

/// Options tuned for one connection carrying a whole fleet.
pub fn fleet_options(url: &BrokerUrl, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_inflight(INFLIGHT)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let u: BrokerUrl = "mqtt://127.0.0.1:1884".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 1884));
        assert_eq!(u.to_string(), "mqtt://127.0.0.1:1884");
        let u: BrokerUrl = "mqtt://broker.local".parse().unwrap();
        assert_eq!(u.port, 1883);
        let u: BrokerUrl = "tcp://[::1]:1999/".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1999));
        assert_eq!(u.to_string(), "mqtt://[::1]:1999");
        assert!(matches!(
            "mqtts://h:8883".parse::<BrokerUrl>(),
            Err(BrokerUrlError::Tls(_))
        ));
        for bad in [
            "",
            "127.0.0.1:1883",
            "http://h:1",
            "mqtt://",
            "mqtt://h:x",
            "mqtt://h:99999",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad:?}");
        }
    }
}
