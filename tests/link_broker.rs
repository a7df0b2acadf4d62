//! The broker link against a real mosquitto: subscriptions, PUBACK accounting, hostile
//! traffic, a broker restart, offline start, and the persistent session.

#[path = "support/link_harness.rs"]
mod link_harness;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::HashSet;
use std::time::Duration;

use link_harness::{OtherClient, Recorder, client_id, config, topic};
use mosquitto::Mosquitto;
use storefleet::link::{FIRST_RETRY, LinkState, MAX_RETRY};
use storefleet::protocol::TopicPrefix;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_subscribes_and_receives_both_topic_families() {
    let broker = Mosquitto::start();
    let mut link = Recorder::start(config(&broker.url(), &client_id("receive")));
    assert!(!link.connected().await, "a new client id has no session");
    assert!(link.link.state().current().is_connected());

    let mut other = OtherClient::connect(broker.port(), "receive-other").await;
    other.publish(&topic("s1", "c1", "ack"), "ack-1").await;
    other
        .publish(&topic("s1", "c1", "action"), "action-1")
        .await;
    other
        .publish("/stores/s1/controllers/c1/status", "no")
        .await;
    other.publish("/elsewhere", "no").await;
    other.publish(&topic("s2", "c9", "ack"), "last").await;
    link.until("the last message", |r| r.has_payload(b"last"))
        .await;

    let got: Vec<_> = link
        .messages
        .iter()
        .map(|m| {
            (
                m.topic.clone(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            )
        })
        .collect();
    let want = [
        (topic("s1", "c1", "ack"), "ack-1"),
        (topic("s1", "c1", "action"), "action-1"),
        (topic("s2", "c9", "ack"), "last"),
    ]
    .map(|(t, p)| (t, p.to_owned()));
    assert_eq!(got, want);
    assert!(link.refused.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_prefix_scopes_the_subscriptions() {
    let broker = Mosquitto::start();
    let mut config = config(&broker.url(), &client_id("prefix"));
    config.topic_prefix = TopicPrefix::new("site1").unwrap();
    let mut link = Recorder::start(config);
    link.connected().await;

    let mut other = OtherClient::connect(broker.port(), "prefix-other").await;
    other.publish(&topic("s1", "c1", "ack"), "unprefixed").await;
    other
        .publish(&format!("site1{}", topic("s1", "c1", "ack")), "prefixed")
        .await;
    link.until("the prefixed message", |r| r.has_payload(b"prefixed"))
        .await;
    assert_eq!(link.messages.len(), 1, "{:?}", link.messages);
}

/// Publishes `count` commands and checks that each id is reported published exactly once and
/// that each command reached the broker (the link hears its own commands).
async fn every_publish_is_acknowledged_once(test: &str, inflight: u16, count: u64) {
    let broker = Mosquitto::start();
    let mut config = config(&broker.url(), &client_id(test));
    config.inflight = inflight;
    let mut link = Recorder::start(config);
    link.connected().await;

    let publisher = link.link.publisher();
    let sender = tokio::spawn(async move {
        for id in 0..count {
            let topic = topic("s1", &format!("c{}", id % 50), "action");
            publisher
                .publish(id, topic, format!("cmd-{id}"))
                .await
                .unwrap();
        }
    });
    link.until("every PUBACK", |r| r.published.len() as u64 >= count)
        .await;
    sender.await.unwrap();
    link.until("every command echoed", |r| r.messages.len() as u64 >= count)
        .await;

    // One more, acknowledged after all the others: any duplicate report would precede it.
    link.link
        .publish(count, topic("s1", "c1", "action"), "barrier")
        .await
        .unwrap();
    link.until("the barrier's PUBACK", |r| r.published.contains(&count))
        .await;

    let counts = link.published_counts();
    assert_eq!(counts.len() as u64, count + 1);
    for id in 0..=count {
        assert_eq!(
            counts.get(&id),
            Some(&1),
            "id {id} reported {:?} times",
            counts.get(&id)
        );
    }
    let payloads: HashSet<_> = link.messages.iter().map(|m| m.payload.clone()).collect();
    for id in 0..count {
        assert!(
            payloads.contains(format!("cmd-{id}").as_bytes()),
            "cmd-{id} never arrived"
        );
    }
    assert_eq!(link.reconnects(), 0, "{}", link.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_publishes_are_each_acknowledged_once() {
    every_publish_is_acknowledged_once("pub5000", 1000, 5000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_ids_are_reused_without_mixing_up_ids() {
    // 7 packet ids for 700 publishes: each id is reused a hundred times.
    every_publish_is_acknowledged_once("pub7", 7, 700).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_messages_do_not_drop_the_connection() {
    let broker = Mosquitto::start();
    let mut link = Recorder::start(config(&broker.url(), &client_id("hostile")));
    link.connected().await;
    let mut other = OtherClient::connect(broker.port(), "hostile-other").await;
    let ack = topic("s1", "c1", "ack");

    let big = vec![b'{'; 2 * 1024 * 1024];
    other.publish(&ack, big.clone()).await;
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
        .collect();
    assert!(std::str::from_utf8(&garbage).is_err());
    other.publish(&ack, garbage.clone()).await;
    other
        .publish(&topic("s1", "c1", "action"), Vec::new())
        .await;
    other.publish_with(&ack, "qos0", 0, false).await;
    other.publish_with(&ack, "qos2", 2, false).await;
    // Garbage straight at the broker's socket: mosquitto drops that client, not ours.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", broker.port()))
        .await
        .unwrap();
    raw.write_all(&garbage).await.unwrap();
    drop(raw);
    other.publish(&ack, "normal").await;

    // QoS 2 is released to subscribers only on PUBREL, so arrival order is not guaranteed.
    let expected: [&[u8]; 5] = [&garbage, b"", b"qos0", b"qos2", b"normal"];
    let big_md5 = {
        use md5::Digest;
        hex::encode(md5::Md5::digest(&big))
    };
    link.until("every message, the hostile ones included", |r| {
        expected.iter().all(|payload| r.has_payload(payload))
            && r.messages.iter().any(|m| {
                m.oversize == Some((big.len() as u64, big_md5.clone()))
                    && m.payload.len() == storefleet::link::EXCERPT_BYTES
            })
    })
    .await;
    assert_eq!(link.reconnects(), 0, "{}", link.summary());
    assert!(link.link.state().current().is_connected());

    // And the link still publishes.
    link.link
        .publish(1, topic("s1", "c1", "action"), "still-here")
        .await
        .unwrap();
    link.until("PUBACK and echo", |r| {
        r.published == [1] && r.has_payload(b"still-here")
    })
    .await;
    assert_eq!(link.reconnects(), 0, "{}", link.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_nothing_and_counts_nothing_twice() {
    const STREAM: u64 = 2000;
    let mut broker = Mosquitto::start();
    let mut link = Recorder::start(config(&broker.url(), &client_id("restart")));
    link.connected().await;

    let publisher = link.link.publisher();
    let sender = tokio::spawn(async move {
        for id in 0..STREAM {
            let topic = topic("s1", &format!("c{}", id % 20), "action");
            publisher
                .publish(id, topic, format!("stream-{id}"))
                .await
                .unwrap();
            if id % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    link.until("the stream under way", |r| r.published.len() >= 100)
        .await;
    let killed = std::time::Instant::now();
    broker.stop();
    link.until("the drop noticed", |r| r.reconnects() >= 1)
        .await;
    let acked_before: HashSet<u64> = link.published.iter().copied().collect();
    let noticed = link.states.last().unwrap().0;
    assert!(noticed - killed < Duration::from_secs(1));

    // Let a few attempts fail, so the backoff shows, then bring the broker back.
    link.until("three failed attempts", |r| r.reconnects() >= 3)
        .await;
    broker.start_again();
    let from = link.states.len();
    let session_present = link.connected_after(from).await;
    assert!(
        !session_present,
        "mosquitto without persistence lost the session"
    );

    let retries: Vec<(u32, Duration, String)> = link
        .states
        .iter()
        .filter_map(|(_, s)| match s {
            LinkState::Reconnecting {
                attempt,
                retry_in,
                error,
            } => Some((*attempt, *retry_in, error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!((retries[0].0, retries[0].1), (1, FIRST_RETRY));
    assert!(FIRST_RETRY < Duration::from_secs(1));
    for pair in retries.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + 1, "{retries:?}");
        assert!(
            pair[1].1 >= pair[0].1 && pair[1].1 <= MAX_RETRY,
            "{retries:?}"
        );
    }
    assert!(retries[1].1 > retries[0].1, "the delay grows: {retries:?}");
    for (_, _, error) in &retries {
        assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
    }

    sender.await.unwrap();
    link.until("every id acknowledged", |r| {
        r.published_counts().len() as u64 == STREAM
    })
    .await;
    // Re-subscribed before resending: every command not acknowledged before the crash went
    // out again after the restart and came back to us.
    link.until("the resent commands echoed", |r| {
        (0..STREAM)
            .filter(|id| !acked_before.contains(id))
            .all(|id| r.has_payload(format!("stream-{id}").as_bytes()))
    })
    .await;
    let mut other = OtherClient::connect(broker.port(), "restart-other").await;
    other
        .publish(&topic("s3", "c3", "ack"), "after-restart")
        .await;
    link.until("someone else's message", |r| {
        r.has_payload(b"after-restart")
    })
    .await;

    let counts = link.published_counts();
    assert!(counts.values().all(|&n| n == 1), "an id was reported twice");
    assert!((0..STREAM).all(|id| counts.contains_key(&id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_without_a_broker_and_publishes_when_it_appears() {
    let mut broker = Mosquitto::start();
    broker.stop();
    let mut link = Recorder::start(config(&broker.url(), &client_id("offline")));
    link.link
        .publish(7, topic("s1", "c1", "action"), "made-offline")
        .await
        .unwrap();
    link.until("two failed attempts", |r| r.reconnects() >= 2)
        .await;
    let (first, second) = match (&link.states[0].1, &link.states[1].1, &link.states[2].1) {
        (LinkState::Connecting, first, second) => (first.clone(), second.clone()),
        other => panic!("unexpected states {other:?}"),
    };
    match (first, second) {
        (
            LinkState::Reconnecting {
                attempt: 1,
                retry_in: r1,
                error,
            },
            LinkState::Reconnecting {
                attempt: 2,
                retry_in: r2,
                ..
            },
        ) => {
            assert_eq!((r1, r2), (FIRST_RETRY, FIRST_RETRY * 2));
            assert!(
                error.starts_with("cannot connect to the broker:"),
                "{error}"
            );
        }
        other => panic!("unexpected states {other:?}"),
    }
    assert!(link.published.is_empty());

    broker.start_again();
    link.until("the offline command acknowledged and echoed", |r| {
        r.published == [7] && r.has_payload(b"made-offline")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_keeps_unacked_and_offline_messages() {
    let broker = Mosquitto::start();
    let id = client_id("persist");
    let ack = topic("s1", "c1", "ack");

    let mut first = Recorder::start(config(&broker.url(), &id));
    first.auto_ack = false;
    assert!(!first.connected().await);
    let mut other = OtherClient::connect(broker.port(), "persist-other").await;
    other.publish(&ack, "recorded").await;
    other.publish(&ack, "not-recorded").await;
    first
        .until("both messages", |r| r.messages.len() >= 2)
        .await;
    // The first was recorded and is acked; the second's token is dropped unacked.
    let mut tokens = std::mem::take(&mut first.unacked);
    tokens.remove(0).ack();
    drop(tokens);
    first.link.shutdown().await;

    other.publish(&ack, "while-away").await;

    let mut second = Recorder::start(config(&broker.url(), &id));
    assert!(second.connected().await, "the broker kept the session");
    second
        .until("the unacked and the offline message", |r| {
            r.has_payload(b"not-recorded") && r.has_payload(b"while-away")
        })
        .await;
    other.publish(&ack, "barrier").await;
    second
        .until("the barrier", |r| r.has_payload(b"barrier"))
        .await;
    assert!(
        !second.has_payload(b"recorded"),
        "an acked message came back"
    );
    let redelivered = second
        .messages
        .iter()
        .find(|m| m.payload == b"not-recorded")
        .unwrap();
    assert!(redelivered.duplicate, "a redelivery carries DUP");
}

/// The mark a connection sends its own session comes back after every message the broker
/// kept for it, once, and is not reported as a publish of the caller's; with nothing kept it
/// comes back at once. This is what tells a `cancel` it may act (DESIGN.md section 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_mark_comes_back_after_everything_the_broker_kept() {
    let broker = Mosquitto::start();
    let id = client_id("backlog");
    let ack = topic("s3", "c3", "ack");

    let mut first = Recorder::start(config(&broker.url(), &id));
    assert!(!first.connected().await);
    first
        .until("the first connection's mark", |r| !r.marks.is_empty())
        .await;
    assert_eq!(first.marks, vec![(0, true)], "nothing was kept: at once");
    first.link.shutdown().await;

    let mut other = OtherClient::connect(broker.port(), "backlog-other").await;
    for n in 0..300 {
        other.publish(&ack, format!("kept-{n}")).await;
    }
    let mut second = Recorder::start(config(&broker.url(), &id));
    assert!(second.connected().await, "the broker kept the session");
    second
        .until("the mark", |r| r.marks.iter().any(|(_, current)| *current))
        .await;
    assert_eq!(second.marks, vec![(300, true)], "after all 300 kept");
    assert!(second.published.is_empty(), "{:?}", second.published);
    assert!(!second.unmarked && second.refused.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_dropped_link() {
    let broker = Mosquitto::start();
    let id = client_id("dropped");
    let ack = topic("s2", "c2", "ack");

    let mut first = Recorder::start(config(&broker.url(), &id));
    first.connected().await;
    drop(first);

    let mut other = OtherClient::connect(broker.port(), "dropped-other").await;
    for n in 0..10 {
        other.publish(&ack, format!("away-{n}")).await;
    }
    let mut second = Recorder::start(config(&broker.url(), &id));
    assert!(second.connected().await, "the broker kept the session");
    second
        .until("every message sent while away", |r| {
            (0..10).all(|n| r.has_payload(format!("away-{n}").as_bytes()))
        })
        .await;

    // A clean session, by contrast, starts empty.
    let mut config = config(&broker.url(), &client_id("clean"));
    config.clean_session = true;
    let mut clean = Recorder::start(config);
    assert!(!clean.connected().await);
}
