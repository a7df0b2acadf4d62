//! An MQTT broker inside the process (rumqttd), for demo mode and for tests that want no
//! outside broker.
//!
//! rumqttd's `Broker::start` blocks for good and has no shutdown: the broker runs on its own
//! threads (a router and a listener) until the process exits. Dropping [`EmbeddedBroker`]
//! therefore does NOT stop it: the port stays open and connected clients stay connected.
//! Start one per process (or per test binary) and keep it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Largest publish the broker accepts: well above the 2 MB a hostile client might send,
/// so such a message reaches subscribers (who must cope) instead of breaking the broker.
pub const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

const START_TIMEOUT: Duration = Duration::from_secs(5);
const PORT_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot pick a free port on {ip}: {source}")]
    NoFreePort {
        ip: std::net::IpAddr,
        source: io::Error,
    },
    #[error("cannot start the embedded broker's thread: {0}")]
    Thread(io::Error),
    #[error("the embedded broker did not accept MQTT connections on {addr} within {secs}s")]
    NotListening { addr: SocketAddr, secs: u64 },
}

/// A running in-process broker; see the module docs for what dropping it does.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> Result<Self, BrokerError> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Starts on `addr`; port 0 picks a free one (rumqttd itself does not take port 0).
    /// Blocks until the broker answers an MQTT CONNECT (a few milliseconds).
    pub fn start_on(addr: SocketAddr) -> Result<Self, BrokerError> {
        let attempts = if addr.port() == 0 { PORT_ATTEMPTS } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let listen = match addr.port() {
                0 => free_port(addr)?,
                _ => addr,
            };
            std::thread::Builder::new()
                .name("storefleet-broker".to_owned())
                .spawn(move || {
                    let mut broker = rumqttd::Broker::new(config(listen));
                    // Returns only if the listener fails (e.g. the port was taken meanwhile).
                    if let Err(e) = broker.start() {
                        tracing::error!(error = %e, "embedded broker stopped");
                    }
                })
                .map_err(BrokerError::Thread)?;
            if wait_until_answering(listen) {
                return Ok(Self { addr: listen });
            }
            // A free port can be taken between our probe and rumqttd's bind: try another.
            last = Some(listen);
        }
        Err(BrokerError::NotListening {
            addr: last.unwrap_or(addr),
            secs: START_TIMEOUT.as_secs(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://127.0.0.1:PORT`, as `--broker` takes it.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

fn free_port(addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    let no_port = |source| BrokerError::NoFreePort {
        ip: addr.ip(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(no_port)?;
    listener.local_addr().map_err(no_port)
}

/// rumqttd settings for one laptop's fleet: many connections, large batches, big payloads.
fn config(listen: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: MAX_PAYLOAD,
        // Packets read from a socket per batch: with clients that keep 1,000 publishes in
        // flight, small batches are what made rumqttd fall behind mosquitto.
        max_inflight_count: 1000,
        auth: None,
        external_auth: None,
        // Without it rumqttd disconnects a client that publishes to a topic nobody
        // subscribes to (a controller's ack before Storefleet listens, say).
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "storefleet-embedded".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    let router = RouterConfig {
        max_connections: 10_000,
        max_outgoing_packet_count: 1000,
        // Each subscription filter keeps a log of this many segments of this size (in
        // memory); older messages are dropped from it, so a subscriber far behind may miss
        // some. 8 x 64 MiB is far more than a demo or a 100k-target benchmark needs.
        max_segment_size: 64 * 1024 * 1024,
        max_segment_count: 8,
        ..RouterConfig::default()
    };
    Config {
        router,
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    }
}

/// Polls with a real MQTT CONNECT (a bare TCP probe would make rumqttd log an error).
fn wait_until_answering(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if mqtt_ping(addr).unwrap_or(false) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn mqtt_ping(addr: SocketAddr) -> io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let client_id = format!("storefleet-probe-{}", std::process::id());
    let mut connect = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x0a];
    connect.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    connect.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, connect.len() as u8]; // < 128 bytes: one length byte
    packet.extend_from_slice(&connect);
    stream.write_all(&packet)?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack)?;
    let ok = connack == [0x20, 0x02, 0x00, 0x00];
    stream.write_all(&[0xe0, 0x00])?; // DISCONNECT
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_free_loopback_port_and_answers_mqtt() {
        let broker = EmbeddedBroker::start().unwrap();
        assert!(broker.addr().ip().is_loopback());
        assert_ne!(broker.addr().port(), 0);
        assert_eq!(broker.url(), format!("mqtt://{}", broker.addr()));
        assert!(mqtt_ping(broker.addr()).unwrap());
    }
}
