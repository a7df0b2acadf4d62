//! What a simulated fleet did, counted lock-free and summarised in one line.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub updates: Counter,
    pub cancels: Counter,
    pub acks: Counter,
    pub completed: Counter,
    pub failed: Counter,
    pub cancel_acks: Counter,
    pub cancels_too_late: Counter,
    pub download_failures: Counter,
    pub reboots: Counter,
    pub bytes_downloaded: Counter,
    pub dropped_silent: Counter,
    pub dropped_offline: Counter,
    pub not_ours: Counter,
    pub malformed: Counter,
    pub published: Counter,
    /// Replies put on the outbound queue (published lags it).
    pub queued: Counter,
}

/// A snapshot of a fleet's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetStats {
    pub controllers: u64,
    pub stores: u64,
    /// `update_firmware` commands received by a controller that was listening.
    pub updates: u64,
    /// `cancel_update_firmware` commands received by a controller that was listening.
    pub cancels: u64,
    pub acks: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancel_acks: u64,
    /// Cancels that came after the point of no return (not acked; the update went on).
    pub cancels_too_late: u64,
    /// Failures caused by the download (HTTP error, size or checksum mismatch).
    pub download_failures: u64,
    pub reboots: u64,
    pub bytes_downloaded: u64,
    /// Commands ignored because their controller is silent.
    pub dropped_silent: u64,
    /// Commands lost because their controller was offline or rebooting.
    pub dropped_offline: u64,
    /// Messages for controllers this fleet does not simulate (or not on an action topic).
    pub not_ours: u64,
    /// Messages on our controllers' topics that do not decode.
    pub malformed: u64,
    /// Replies handed to the MQTT client.
    pub published: u64,
}

impl Counters {
    pub fn snapshot(&self, stores: u64, controllers: u64) -> FleetStats {
        FleetStats {
            controllers,
            stores,
            updates: self.updates.get(),
            cancels: self.cancels.get(),
            acks: self.acks.get(),
            completed: self.completed.get(),
            failed: self.failed.get(),
            cancel_acks: self.cancel_acks.get(),
            cancels_too_late: self.cancels_too_late.get(),
            download_failures: self.download_failures.get(),
            reboots: self.reboots.get(),
            bytes_downloaded: self.bytes_downloaded.get(),
            dropped_silent: self.dropped_silent.get(),
            dropped_offline: self.dropped_offline.get(),
            not_ours: self.not_ours.get(),
            malformed: self.malformed.get(),
            published: self.published.get(),
        }
    }
}

impl fmt::Display for FleetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} controllers in {} stores: {} updates ({} acked, {} completed, {} failed, {} reboots), \
             {} cancels ({} acked, {} too late), {:.1} MiB downloaded, \
             {} dropped (silent or offline), {} malformed, {} not ours",
            self.controllers,
            self.stores,
            self.updates,
            self.acks,
            self.completed,
            self.failed,
            self.reboots,
            self.cancels,
            self.cancel_acks,
            self.cancels_too_late,
            self.bytes_downloaded as f64 / (1024.0 * 1024.0),
            self.dropped_silent + self.dropped_offline,
            self.malformed,
            self.not_ours
        )
    }
}
