//! The task that drives rumqttc: connect, poll, and reconnect with backoff.
//!
//! It only ever awaits `EventLoop::poll`, the backoff sleep, and room in the bounded channel
//! to the session: when the caller falls behind, it stops polling, so the socket is not read
//! and the broker keeps what it has not delivered (the module header of `link` says more).
//! It never sends a request itself (a full request queue would deadlock it).
//!
//! Each connection gets a fresh `EventLoop`, dropped when the connection ends. rumqttc's own
//! recovery would drain unsent requests into its retransmit queue and then discard that queue
//! when the broker has lost the session; a fresh loop leaves the session task the single,
//! exact record of what still has to go out.

use std::io;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet,
};
use rumqttc::{NetworkOptions, StateError, TlsError, mqttbytes};
use tokio::sync::mpsc;

use super::backoff::Backoff;

/// From the poller to the session, in the order things happened.
pub(crate) enum Wire {
    /// CONNACK received; `client` feeds this connection's event loop.
    Up {
        client: AsyncClient,
        session_present: bool,
    },
    Event(Event),
    /// The connection failed or ended; the next attempt starts after `retry_in`.
    Down {
        attempt: u32,
        retry_in: Duration,
        error: String,
    },
    /// The broker refused the login, or the TLS handshake failed: retrying cannot help, so
    /// the poller stops until the link is started again (new settings, or the user retries).
    Refused {
        reason: String,
    },
}

pub(crate) struct Poller {
    pub options: MqttOptions,
    pub network: NetworkOptions,
    /// rumqttc's request queue: publishes in flight plus room for acks.
    pub queue_capacity: usize,
    pub wire: mpsc::Sender<Wire>,
}

impl Poller {
    pub async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            let (client, mut eventloop) =
                AsyncClient::new(self.options.clone(), self.queue_capacity);
            eventloop.set_network_options(self.network.clone());
            let error = match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                    backoff.reset();
                    let up = Wire::Up {
                        client,
                        session_present: connack.session_present,
                    };
                    if self.wire.send(up).await.is_err() {
                        return;
                    }
                    // Set once we sent DISCONNECT: the connection closing next is ours.
                    let mut leaving = false;
                    loop {
                        match eventloop.poll().await {
                            Ok(event) => {
                                leaving |= matches!(event, Event::Outgoing(Outgoing::Disconnect));
                                if self.wire.send(Wire::Event(event)).await.is_err() {
                                    return;
                                }
                            }
                            Err(_) if leaving => return,
                            Err(error) => break describe(&error),
                        }
                    }
                }
                Ok(other) => format!("the broker answered CONNECT with {other:?}"),
                Err(error) if is_terminal(&error) => {
                    let reason = describe(&error);
                    tracing::info!(%reason, "broker connection refused; not retrying");
                    if self.wire.send(Wire::Refused { reason }).await.is_ok() {
                        // Keep the channel open: the session stays up to report the state.
                        std::future::pending::<()>().await;
                    }
                    return;
                }
                Err(error) => describe(&error),
            };
            drop(eventloop);
            let (attempt, retry_in) = backoff.next_delay();
            tracing::warn!(%error, attempt, ?retry_in, "broker connection down");
            let down = Wire::Down {
                attempt,
                retry_in,
                error,
            };
            if self.wire.send(down).await.is_err() {
                return;
            }
            tokio::time::sleep(retry_in).await;
        }
    }
}

/// One line a store IT person can act on.
pub(crate) fn describe(error: &ConnectionError) -> String {
    // TLS failures surface at several layers: TLS 1.3 reports a refused client certificate
    // only on the first read after the handshake, as an I/O error inside the MQTT codec.
    if let Some(tls) = rustls_error(error) {
        return format!("TLS handshake failed: {tls}{}", tls_hint(tls));
    }
    match error {
        ConnectionError::Io(e) => format!("cannot connect to the broker: {e}"),
        ConnectionError::Tls(e) => format!("TLS handshake failed: {e}"),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection: {}", refusal(*code))
        }
        ConnectionError::NetworkTimeout => format!(
            "the broker did not complete the connection within {} s",
            super::config::CONNECT_TIMEOUT_SECS
        ),
        ConnectionError::FlushTimeout => "writing to the broker timed out".to_owned(),
        ConnectionError::MqttState(StateError::ConnectionAborted) => {
            "the broker closed the connection".to_owned()
        }
        ConnectionError::MqttState(StateError::AwaitPingResp) => {
            "the broker stopped answering (keep-alive timeout)".to_owned()
        }
        ConnectionError::MqttState(StateError::Io(e))
        | ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::Io(e))) => {
            format!("connection lost: {e}")
        }
        ConnectionError::MqttState(StateError::Deserialization(e)) => {
            format!("the broker sent a malformed packet: {e}")
        }
        other => format!("connection lost: {other}"),
    }
}

/// A refused login or a failed TLS handshake, before CONNACK: the same credentials and
/// certificates fail the same way on every attempt.
fn is_terminal(error: &ConnectionError) -> bool {
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => true,
        ConnectionError::Tls(TlsError::Io(_)) => rustls_error(error).is_some(),
        ConnectionError::Tls(_) => true,
        _ => rustls_error(error).is_some(),
    }
}

fn io_error(error: &ConnectionError) -> Option<&io::Error> {
    match error {
        ConnectionError::Io(e)
        | ConnectionError::Tls(TlsError::Io(e))
        | ConnectionError::MqttState(StateError::Io(e))
        | ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::Io(e))) => {
            Some(e)
        }
        _ => None,
    }
}

fn rustls_error(error: &ConnectionError) -> Option<&rustls::Error> {
    if let ConnectionError::Tls(TlsError::TLS(e)) = error {
        return Some(e);
    }
    io_error(error)?.get_ref()?.downcast_ref::<rustls::Error>()
}

fn tls_hint(error: &rustls::Error) -> &'static str {
    use rustls::CertificateError as Cert;
    match error {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer) => {
            " (the broker's certificate is not signed by the configured CA)"
        }
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => " (the broker's certificate is for another host name)",
        rustls::Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            " (the broker's certificate has expired)"
        }
        rustls::Error::AlertReceived(_) => {
            " (the broker rejected us; does it require a client certificate, or another one?)"
        }
        _ => "",
    }
}

fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::BadUserNamePassword => "bad user name or password",
        ConnectReturnCode::NotAuthorized => "not authorized",
        ConnectReturnCode::BadClientId => "client id rejected",
        ConnectReturnCode::ServiceUnavailable => "service unavailable",
        ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 not supported",
        ConnectReturnCode::Success => "success",
    }
}
