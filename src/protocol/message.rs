//! The six messages of the firmware-update protocol, typed.
//!
//! The wire form is in `encode` and `decode`; these types hold only validated values, so
//! anything built from them can be published.

use std::fmt;

use chrono::{DateTime, FixedOffset};

use super::checksum::Md5Hex;
use super::ids::Id;
use super::topic::{TopicAddress, TopicKind, TopicPrefix};

/// The `version` Storefleet writes. Inbound, any `1.x.y` is accepted.
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// The spec's `event_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UpdateFirmware,
    UpdateFirmwareAck,
    UpdateFirmwareCompleted,
    UpdateFirmwareFailed,
    CancelUpdateFirmware,
    CancelUpdateFirmwareAck,
}

/// Who sends a message: Storefleet (a command) or a controller (a reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Command,
    Reply,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::UpdateFirmware,
        EventType::UpdateFirmwareAck,
        EventType::UpdateFirmwareCompleted,
        EventType::UpdateFirmwareFailed,
        EventType::CancelUpdateFirmware,
        EventType::CancelUpdateFirmwareAck,
    ];

    /// The exact wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpdateFirmware => "update_firmware",
            Self::UpdateFirmwareAck => "update_firmware_ack",
            Self::UpdateFirmwareCompleted => "update_firmware_completed",
            Self::UpdateFirmwareFailed => "update_firmware_failed",
            Self::CancelUpdateFirmware => "cancel_update_firmware",
            Self::CancelUpdateFirmwareAck => "cancel_update_firmware_ack",
        }
    }

    /// The wire string's event type; exact and case-sensitive.
    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The topic family the spec puts this event on: only the two acks go on `ack`.
    pub fn topic_kind(self) -> TopicKind {
        match self {
            Self::UpdateFirmwareAck | Self::CancelUpdateFirmwareAck => TopicKind::Ack,
            Self::UpdateFirmware
            | Self::UpdateFirmwareCompleted
            | Self::UpdateFirmwareFailed
            | Self::CancelUpdateFirmware => TopicKind::Action,
        }
    }

    /// Commands are what Storefleet (or another operator) sends; the rest are replies.
    pub fn direction(self) -> Direction {
        match self {
            Self::UpdateFirmware | Self::CancelUpdateFirmware => Direction::Command,
            _ => Direction::Reply,
        }
    }

    pub fn is_command(self) -> bool {
        self.direction() == Direction::Command
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `update_firmware` payload: what to install and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareUpdate {
    pub deployment_id: Id,
    /// Free text; its format is the firmware module's concern, not the wire's.
    pub firmware_version: String,
    /// Free text; reachability is checked by the firmware preflight, not here.
    pub file_url: String,
    /// Exact length in bytes of the file at `file_url`.
    pub file_size: u64,
    pub checksum: Md5Hex,
}

/// An event with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UpdateFirmware(FirmwareUpdate),
    UpdateFirmwareAck {
        deployment_id: Id,
    },
    UpdateFirmwareCompleted {
        deployment_id: Id,
    },
    /// `errors` is the controller's list, possibly empty, in its order.
    UpdateFirmwareFailed {
        deployment_id: Id,
        errors: Vec<String>,
    },
    CancelUpdateFirmware {
        deployment_id: Id,
    },
    CancelUpdateFirmwareAck {
        deployment_id: Id,
    },
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Self::UpdateFirmware(_) => EventType::UpdateFirmware,
            Self::UpdateFirmwareAck { .. } => EventType::UpdateFirmwareAck,
            Self::UpdateFirmwareCompleted { .. } => EventType::UpdateFirmwareCompleted,
            Self::UpdateFirmwareFailed { .. } => EventType::UpdateFirmwareFailed,
            Self::CancelUpdateFirmware { .. } => EventType::CancelUpdateFirmware,
            Self::CancelUpdateFirmwareAck { .. } => EventType::CancelUpdateFirmwareAck,
        }
    }

    /// Every event names its deployment; replies are matched on it.
    pub fn deployment_id(&self) -> &Id {
        match self {
            Self::UpdateFirmware(update) => &update.deployment_id,
            Self::UpdateFirmwareAck { deployment_id }
            | Self::UpdateFirmwareCompleted { deployment_id }
            | Self::UpdateFirmwareFailed { deployment_id, .. }
            | Self::CancelUpdateFirmware { deployment_id }
            | Self::CancelUpdateFirmwareAck { deployment_id } => deployment_id,
        }
    }
}

/// One message: the envelope fields of the spec and its event.
///
/// `version` is not stored: Storefleet always writes [`PROTOCOL_VERSION`], and the version
/// a controller sent is kept in [`Inbound`]. Equality compares `timestamp` as an instant
/// (chrono's rule); compare `timestamp.offset()` too where the offset matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's clock. Written with whole seconds; sub-seconds are dropped on encode.
    pub timestamp: DateTime<FixedOffset>,
    pub correlation_id: Id,
    pub store_id: Id,
    pub controller_id: Id,
    pub event: Event,
}

impl Envelope {
    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    pub fn direction(&self) -> Direction {
        self.event_type().direction()
    }

    /// The controller topic this message belongs on.
    pub fn address(&self) -> TopicAddress {
        TopicAddress::new(
            self.store_id.clone(),
            self.controller_id.clone(),
            self.event_type().topic_kind(),
        )
    }

    pub fn topic(&self, prefix: &TopicPrefix) -> String {
        self.address().render(prefix)
    }
}

/// A decoded message as received: the typed envelope plus what the wire said verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub envelope: Envelope,
    /// The `version` string as sent (any `1.x.y`).
    pub version: String,
    /// The `timestamp` string as sent, e.g. with `Z` or fractional seconds.
    pub raw_timestamp: String,
}

impl Inbound {
    pub fn event_type(&self) -> EventType {
        self.envelope.event_type()
    }

    /// A command heard on the wildcard subscription is an echo of ours or another
    /// operator's deployment, never a reply.
    pub fn direction(&self) -> Direction {
        self.envelope.direction()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_are_exact() {
        for e in EventType::ALL {
            assert_eq!(EventType::from_wire(e.as_str()), Some(e));
        }
        assert_eq!(EventType::from_wire("UPDATE_FIRMWARE"), None);
        assert_eq!(EventType::from_wire("update_firmware "), None);
        assert_eq!(EventType::from_wire(""), None);
    }

    #[test]
    fn only_the_two_acks_travel_on_the_ack_topic() {
        use EventType::*;
        for e in [
            UpdateFirmware,
            CancelUpdateFirmware,
            UpdateFirmwareCompleted,
            UpdateFirmwareFailed,
        ] {
            assert_eq!(e.topic_kind(), TopicKind::Action, "{e}");
        }
        for e in [UpdateFirmwareAck, CancelUpdateFirmwareAck] {
            assert_eq!(e.topic_kind(), TopicKind::Ack, "{e}");
        }
    }

    #[test]
    fn update_and_cancel_are_the_only_commands() {
        let commands: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|e| e.is_command())
            .collect();
        assert_eq!(
            commands,
            [EventType::UpdateFirmware, EventType::CancelUpdateFirmware]
        );
        assert_eq!(
            EventType::UpdateFirmwareFailed.direction(),
            Direction::Reply
        );
    }
}
