//! The publishes the link holds until the broker acknowledges them, and the map from rumqttc's
//! packet ids back to the caller's ids.
//!
//! rumqttc's client API cannot send a publish with a chosen packet id, so rumqttc numbers them.
//! The link makes that numbering observable: each connection gets a fresh event loop whose
//! request queue only the session writes to, so rumqttc takes publishes strictly in the order
//! they were sent, and reports each one as `Outgoing::Publish(pkid)` (or, when the id is still
//! in use, `Outgoing::AwaitAck(pkid)` now and `Outgoing::Publish(pkid)` once it goes out).
//! Binding those events in order gives every packet id its publish; a PUBACK for a packet id
//! then belongs to the oldest publish bound to it.
//!
//! Resending is ours, not rumqttc's: when a connection ends, everything not yet acknowledged
//! is queued again, in the order it was accepted, for the next connection.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

/// One accepted publish.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub id: u64,
    pub topic: String,
    pub payload: Bytes,
}

/// rumqttc reported a publish the link did not send: the model above no longer holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unexpected(pub u16);

#[derive(Debug)]
pub(crate) struct Outbound {
    capacity: usize,
    /// Every accepted publish not yet acknowledged, keyed by acceptance order.
    held: BTreeMap<u64, Held>,
    /// To send on the current connection, in order.
    unsent: VecDeque<u64>,
    /// Handed to rumqttc, packet id not yet reported.
    unbound: VecDeque<u64>,
    /// Packet id to the publishes carrying it: two at most, while one waits for the id.
    bound: HashMap<u16, VecDeque<u64>>,
    /// The packet id a publish is waiting for (rumqttc holds one such publish at a time).
    parked: Option<u16>,
    next_seq: u64,
}

impl Outbound {
    pub fn new(capacity: u16) -> Self {
        Self {
            capacity: usize::from(capacity.max(1)),
            held: BTreeMap::new(),
            unsent: VecDeque::new(),
            unbound: VecDeque::new(),
            bound: HashMap::new(),
            parked: None,
            next_seq: 0,
        }
    }

    /// Whether another publish may be accepted. Bounding what is held also bounds what is in
    /// flight, so rumqttc's own in-flight window never fills with our requests queued behind.
    pub fn has_room(&self) -> bool {
        self.held.len() < self.capacity
    }

    pub fn accept(&mut self, held: Held) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.held.insert(seq, held);
        self.unsent.push_back(seq);
    }

    /// The next publish to send on this connection.
    pub fn next_unsent(&self) -> Option<&Held> {
        self.unsent.front().map(|seq| &self.held[seq])
    }

    /// The publish [`Self::next_unsent`] returned is now in rumqttc's queue.
    pub fn mark_sent(&mut self) {
        if let Some(seq) = self.unsent.pop_front() {
            self.unbound.push_back(seq);
        }
    }

    /// rumqttc wrote the next queued publish with `pkid`, or released the one waiting for it.
    pub fn on_outgoing_publish(&mut self, pkid: u16) -> Result<(), Unexpected> {
        if self.parked == Some(pkid) {
            self.parked = None;
            return Ok(());
        }
        self.bind(pkid)
    }

    /// rumqttc took the next queued publish but `pkid` is still in flight: it waits.
    pub fn on_await_ack(&mut self, pkid: u16) -> Result<(), Unexpected> {
        self.parked = Some(pkid);
        self.bind(pkid)
    }

    fn bind(&mut self, pkid: u16) -> Result<(), Unexpected> {
        let seq = self.unbound.pop_front().ok_or(Unexpected(pkid))?;
        self.bound.entry(pkid).or_default().push_back(seq);
        Ok(())
    }

    /// The broker acknowledged `pkid`: the caller's id, once.
    pub fn on_puback(&mut self, pkid: u16) -> Option<u64> {
        let queue = self.bound.get_mut(&pkid)?;
        let seq = queue.pop_front()?;
        if queue.is_empty() {
            self.bound.remove(&pkid);
        }
        self.held.remove(&seq).map(|held| held.id)
    }

    /// The connection ended: whatever it did not acknowledge goes out again on the next one.
    pub fn connection_lost(&mut self) {
        self.unbound.clear();
        self.bound.clear();
        self.parked = None;
        self.unsent = self.held.keys().copied().collect();
    }

    /// Drops every publish held under `id` that is not in flight (after [`Self::connection_lost`]:
    /// all of them), so that it is not sent again.
    pub fn forget(&mut self, id: u64) {
        let unsent: Vec<u64> = self
            .unsent
            .iter()
            .copied()
            .filter(|seq| self.held.get(seq).is_some_and(|h| h.id == id))
            .collect();
        self.unsent.retain(|seq| !unsent.contains(seq));
        for seq in unsent {
            self.held.remove(&seq);
        }
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(id: u64) -> Held {
        Held {
            id,
            topic: format!("t/{id}"),
            payload: Bytes::from(id.to_string()),
        }
    }

    fn send_all(out: &mut Outbound) -> Vec<u64> {
        let mut sent = Vec::new();
        while let Some(h) = out.next_unsent() {
            sent.push(h.id);
            out.mark_sent();
        }
        sent
    }

    /// A forgotten publish is not sent again after a reconnect; the others keep their order.
    #[test]
    fn a_forgotten_publish_is_not_resent() {
        let mut out = Outbound::new(4);
        for id in [1, 99, 2, 99] {
            out.accept(held(id));
        }
        assert_eq!(send_all(&mut out), [1, 99, 2, 99]);
        out.connection_lost();
        out.forget(99);
        assert_eq!(out.held(), 2);
        assert_eq!(send_all(&mut out), [1, 2]);
    }

    #[test]
    fn pubacks_map_back_to_ids_in_any_order() {
        let mut out = Outbound::new(3);
        for id in [10, 11, 12] {
            assert!(out.has_room());
            out.accept(held(id));
        }
        assert!(!out.has_room());
        assert_eq!(send_all(&mut out), [10, 11, 12]);
        for pkid in [1, 2, 3] {
            out.on_outgoing_publish(pkid).unwrap();
        }
        assert_eq!(out.on_puback(2), Some(11));
        assert_eq!(out.on_puback(2), None, "a PUBACK counts once");
        assert_eq!(out.on_puback(3), Some(12));
        assert_eq!(out.on_puback(1), Some(10));
        assert_eq!(out.held(), 0);
    }

    #[test]
    fn a_publish_waiting_for_its_id_is_bound_behind_the_one_using_it() {
        let mut out = Outbound::new(4);
        out.accept(held(1));
        out.accept(held(2));
        assert_eq!(send_all(&mut out), [1, 2]);
        out.on_outgoing_publish(1).unwrap();
        // Packet id 1 is still in flight when rumqttc numbers the second publish 1 again.
        out.on_await_ack(1).unwrap();
        assert_eq!(out.on_puback(1), Some(1));
        // rumqttc releases the waiting publish: the same event, not a new publish.
        out.on_outgoing_publish(1).unwrap();
        assert_eq!(out.on_puback(1), Some(2));
        assert_eq!(out.on_outgoing_publish(5), Err(Unexpected(5)));
    }

    #[test]
    fn a_lost_connection_requeues_everything_unacknowledged_in_order() {
        let mut out = Outbound::new(10);
        for id in 0..5 {
            out.accept(held(id));
        }
        assert_eq!(send_all(&mut out), [0, 1, 2, 3, 4]);
        out.on_outgoing_publish(1).unwrap();
        out.on_outgoing_publish(2).unwrap();
        assert_eq!(out.on_puback(2), Some(1));
        out.accept(held(5));
        out.connection_lost();
        assert_eq!(send_all(&mut out), [0, 2, 3, 4, 5]);
        // The new connection numbers from scratch; old packet ids mean nothing.
        assert_eq!(out.on_puback(1), None);
        for pkid in 1..=5 {
            out.on_outgoing_publish(pkid).unwrap();
        }
        let acked: Vec<_> = (1..=5).rev().filter_map(|p| out.on_puback(p)).collect();
        assert_eq!(acked, [5, 4, 3, 2, 0]);
        assert_eq!(out.held(), 0);
    }
}
