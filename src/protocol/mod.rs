//! The firmware-update wire protocol (`spec/firmware-update-protocol.md`), with the rules
//! DESIGN.md section 1 adds: ids, topics, the six messages, and their JSON encoding and
//! decoding.
//!
//! Pure: no I/O, no clock (timestamps are passed in), no shared state. Decoding never
//! panics; every refusal is a [`Rejection`] with a stable [`Rejection::code`].

mod checksum;
mod decode;
mod encode;
mod ids;
mod json;
mod message;
mod topic;

#[cfg(test)]
mod tests;

pub use checksum::{ChecksumError, MD5_HEX_LEN, Md5Hex};
pub use decode::{FieldProblem, MAX_BODY_BYTES, Rejection, decode};
pub use encode::{
    EncodeError, Encoded, encode, encode_command, format_timestamp, new_correlation_id,
};
pub use ids::{Id, IdError, MAX_ID_CHARS};
pub use message::{
    Direction, Envelope, Event, EventType, FirmwareUpdate, Inbound, PROTOCOL_VERSION,
};
pub use topic::{
    MAX_PREFIX_CHARS, TopicAddress, TopicError, TopicKind, TopicPrefix, TopicPrefixError,
    subscription_filter, subscription_filters,
};
