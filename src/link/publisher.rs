//! Publishing: a cloneable handle that queues QoS 1, non-retained publishes for the session.
//!
//! Checks happen here, before anything is queued, so that a publish the broker or rumqttc would
//! refuse can never sit at the head of the queue and block the ones behind it.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::config::MAX_PACKET_BYTES;

/// How many publishes may wait for the session before `publish` waits too.
pub(crate) const QUEUE: usize = 1024;

/// MQTT strings carry a two-byte length.
const MAX_TOPIC_BYTES: usize = u16::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("cannot publish to topic {topic:?}: {reason}")]
    InvalidTopic { topic: String, reason: &'static str },
    #[error("a message of {0} bytes is larger than MQTT allows")]
    TooLarge(usize),
    #[error("the publish queue is full")]
    Full,
    #[error("the broker link has stopped")]
    Closed,
}

/// A publish as queued for the session.
#[derive(Debug)]
pub(crate) struct PublishRequest {
    pub id: u64,
    pub topic: String,
    pub payload: Bytes,
}

impl PublishRequest {
    fn new(id: u64, topic: String, payload: Bytes) -> Result<Self, PublishError> {
        let reason = if topic.is_empty() {
            Some("the topic is empty")
        } else if topic.contains(['+', '#']) {
            Some("wildcards '+' and '#' are for subscriptions only")
        } else if topic.contains('\0') {
            Some("the topic contains NUL")
        } else if topic.len() > MAX_TOPIC_BYTES {
            Some("the topic is longer than 65535 bytes")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(PublishError::InvalidTopic { topic, reason });
        }
        // Topic length, topic, packet id, payload.
        let size = 2 + topic.len() + 2 + payload.len();
        if size > MAX_PACKET_BYTES {
            return Err(PublishError::TooLarge(payload.len()));
        }
        Ok(Self { id, topic, payload })
    }
}

/// Sends publishes through the link. Cheap to clone; every clone feeds the same session.
///
/// Each publish carries the caller's `id` (an outbox row id, say); the link reports
/// [`LinkEvent::Published`](super::LinkEvent::Published) with that id once the broker has
/// acknowledged it. Publishes made while the broker is away are held and sent on the next
/// connection.
#[derive(Debug, Clone)]
pub struct Publisher {
    queue: mpsc::Sender<PublishRequest>,
}

impl Publisher {
    pub(crate) fn new(queue: mpsc::Sender<PublishRequest>) -> Self {
        Self { queue }
    }

    /// Queues a QoS 1 publish, waiting while the link already holds as many as it may.
    pub async fn publish(
        &self,
        id: u64,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let request = PublishRequest::new(id, topic.into(), payload.into())?;
        self.queue
            .send(request)
            .await
            .map_err(|_| PublishError::Closed)
    }

    /// Queues a QoS 1 publish without waiting; [`PublishError::Full`] when the queue is full.
    pub fn try_publish(
        &self,
        id: u64,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let request = PublishRequest::new(id, topic.into(), payload.into())?;
        self.queue.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => PublishError::Full,
            mpsc::error::TrySendError::Closed(_) => PublishError::Closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_topics_and_sizes_the_broker_would_refuse() {
        let ok = PublishRequest::new(1, "/stores/s/controllers/c/action".into(), Bytes::new());
        assert!(ok.is_ok());
        for topic in ["", "/stores/+/x", "a/#", "a\0b"] {
            let err = PublishRequest::new(1, topic.into(), Bytes::new()).unwrap_err();
            assert!(
                matches!(err, PublishError::InvalidTopic { .. }),
                "{topic:?}"
            );
            assert!(!err.to_string().contains('\n'));
        }
        let huge = Bytes::from(vec![0u8; MAX_PACKET_BYTES]);
        assert_eq!(
            PublishRequest::new(1, "t".into(), huge).unwrap_err(),
            PublishError::TooLarge(MAX_PACKET_BYTES)
        );
    }

    #[tokio::test]
    async fn a_full_or_closed_queue_is_reported() {
        let (tx, rx) = mpsc::channel(1);
        let publisher = Publisher::new(tx);
        publisher.try_publish(1, "t", "a").unwrap();
        assert_eq!(publisher.try_publish(2, "t", "b"), Err(PublishError::Full));
        drop(rx);
        assert_eq!(
            publisher.publish(3, "t", "c").await,
            Err(PublishError::Closed)
        );
    }
}
