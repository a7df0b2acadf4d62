//! Whether the messages the broker kept for this session have been taken in: a command that
//! acts on the history (a cancel, a retry) must not act before them, or it would cancel
//! controllers that finished while nobody listened.
//!
//! The link marks the end of the backlog on each connection (`link/session.rs`); the owner
//! reports it once it has applied every message before the mark, so a request sent after
//! [`Backlog::TakenIn`] is seen meets the engine with them applied.

/// Where the backlog of the current connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// Not connected yet, or the mark has not come back.
    Arriving,
    /// Every message the broker held before the mark has been applied.
    TakenIn,
    /// The broker refused the mark's subscription: its end cannot be told.
    Unmarked,
}
