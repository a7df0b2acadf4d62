//! The bench's own MQTT clients: plain rumqttc, tuned like Storefleet's link (inflight 1000),
//! with no engine and no history. They are the baselines, and the simulated controllers.

use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, MqttOptions};

/// QoS 1 publishes in flight: the same throughput knob Storefleet's link uses.
pub const INFLIGHT: u16 = 1000;
const REQUEST_CAPACITY: usize = 10_000;

/// A client on the bench's mosquitto (`port`); `persistent` keeps its session and queue
/// while it is away.
pub fn client(port: u16, client_id: &str, persistent: bool) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(60))
        .set_clean_session(!persistent)
        .set_inflight(INFLIGHT)
        .set_max_packet_size(1 << 20, 1 << 20);
    AsyncClient::new(options, REQUEST_CAPACITY)
}
