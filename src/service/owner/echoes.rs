//! Our own commands come back to us on the wildcard subscription. A message that is
//! byte for byte a command this process just published, on its topic, is that command's
//! echo: it is acknowledged without being decoded. In a round trip every third message is an
//! echo, and decoding it only for the engine to call it ours was a sixth of the owner's work.
//!
//! Why an exact copy is safe to skip: decoding it could only lead where the command itself
//! led (the same correlation id, target and kind), that is, to the engine's `OwnEcho`, which
//! changes nothing. Anything else on the topic (another operator's command, a forgery, a
//! redelivery after the entry was taken) is decoded and judged as before.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// Commands remembered, at most. Echoes come back within the link's in-flight window; one
/// that comes later than this many commands is decoded, with the same outcome.
pub(super) const REMEMBERED: usize = 8_192;

#[derive(Default)]
pub(super) struct Echoes {
    /// The last command published on each topic, with its publish sequence number.
    by_topic: HashMap<String, (u64, Bytes)>,
    /// Publish order, for forgetting the oldest; entries already taken stay until they age out.
    order: VecDeque<(u64, String)>,
}

impl Echoes {
    /// A command handed to the link.
    pub fn published(&mut self, seq: u64, topic: &str, body: &Bytes) {
        if self.order.len() == REMEMBERED
            && let Some((old, old_topic)) = self.order.pop_front()
            && self
                .by_topic
                .get(&old_topic)
                .is_some_and(|(s, _)| *s == old)
        {
            self.by_topic.remove(&old_topic);
        }
        self.by_topic.insert(topic.to_owned(), (seq, body.clone()));
        self.order.push_back((seq, topic.to_owned()));
    }

    /// Whether this message is the echo of a remembered command; if so it is forgotten, so a
    /// second copy is decoded.
    pub fn take(&mut self, topic: &str, payload: &[u8]) -> bool {
        let echo = self
            .by_topic
            .get(topic)
            .is_some_and(|(_, body)| body.as_ref() == payload);
        if echo {
            self.by_topic.remove(topic);
        }
        echo
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.by_topic.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn an_exact_copy_is_taken_once() {
        let mut e = Echoes::default();
        e.published(1, "t/a", &body("{\"x\":1}"));
        assert!(!e.take("t/b", b"{\"x\":1}"), "another topic");
        assert!(!e.take("t/a", b"{\"x\":2}"), "another body");
        assert!(!e.take("t/a", b"{\"x\":1} "), "not byte for byte");
        assert!(e.take("t/a", b"{\"x\":1}"));
        assert!(!e.take("t/a", b"{\"x\":1}"), "a second copy is decoded");
    }

    #[test]
    fn a_newer_command_on_the_topic_replaces_the_older() {
        let mut e = Echoes::default();
        e.published(1, "t/a", &body("update"));
        e.published(2, "t/a", &body("cancel"));
        assert!(!e.take("t/a", b"update"));
        assert!(e.take("t/a", b"cancel"));
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound() {
        let mut e = Echoes::default();
        for seq in 0..(REMEMBERED as u64 + 10) {
            e.published(seq, &format!("t/{seq}"), &body("c"));
        }
        assert_eq!(e.remembered(), REMEMBERED);
        assert!(!e.take("t/0", b"c"), "aged out");
        assert!(e.take(&format!("t/{}", REMEMBERED + 9), b"c"));
        // A topic published again keeps its newer command when the older one ages out.
        let mut e = Echoes::default();
        e.published(0, "t/a", &body("old"));
        e.published(1, "t/a", &body("new"));
        for seq in 2..(REMEMBERED as u64 + 1) {
            e.published(seq, &format!("t/{seq}"), &body("c"));
        }
        assert!(e.take("t/a", b"new"));
    }
}
