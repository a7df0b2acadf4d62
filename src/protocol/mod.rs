//! The firmware-update wire protocol (placeholder until the codec lands).
