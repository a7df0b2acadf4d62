//! A response body that counts the bytes it hands out and reports once, when it ends or
//! is dropped (the client went away), so that every download is recorded exactly once.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};

type Report = Box<dyn FnOnce(u64, bool) + Send>;

/// Counts bytes and calls its report exactly once with `(bytes, completed)`.
pub(crate) struct Meter {
    expected: Option<u64>,
    sent: u64,
    report: Option<Report>,
}

impl Meter {
    /// `expected` is the response's Content-Length; a body that sent all of it is complete
    /// even if the connection dropped it before polling its end.
    pub(crate) fn new(
        expected: Option<u64>,
        report: impl FnOnce(u64, bool) + Send + 'static,
    ) -> Self {
        Self {
            expected,
            sent: 0,
            report: Some(Box::new(report)),
        }
    }

    fn add(&mut self, n: usize) {
        self.sent += n as u64;
    }

    fn finish(&mut self, ended: bool) {
        if let Some(report) = self.report.take() {
            let completed = match self.expected {
                Some(expected) => self.sent == expected,
                None => ended,
            };
            report(self.sent, completed);
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Wraps a body with a [`Meter`].
pub(crate) struct MeteredBody<B> {
    inner: B,
    meter: Meter,
}

impl<B> MeteredBody<B> {
    pub(crate) fn new(inner: B, meter: Meter) -> Self {
        Self { inner, meter }
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    this.meter.add(data.len());
                }
            }
            Some(Err(_)) => this.meter.finish(false),
            None => this.meter.finish(true),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    type Reports = Arc<Mutex<Vec<(u64, bool)>>>;

    fn body(expected: Option<u64>) -> (MeteredBody<Chunks>, Reports) {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reports);
        let chunks = (0..4).map(|i| Bytes::from(vec![i as u8; 10])).collect();
        let meter = Meter::new(expected, move |n, done| {
            sink.lock().unwrap().push((n, done))
        });
        (MeteredBody::new(Chunks(chunks), meter), reports)
    }

    fn poll_once(b: &mut MeteredBody<Chunks>) -> Option<usize> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(b).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => Some(f.into_data().unwrap().len()),
            Poll::Ready(None) => None,
            other => panic!("unexpected {:?}", other.is_ready()),
        }
    }

    #[test]
    fn a_body_read_to_the_end_reports_once_complete() {
        let (mut b, reports) = body(None);
        while poll_once(&mut b).is_some() {}
        assert_eq!(*reports.lock().unwrap(), vec![(40, true)]);
        drop(b);
        assert_eq!(reports.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_dropped_body_reports_what_it_sent() {
        let (mut b, reports) = body(Some(40));
        assert_eq!(poll_once(&mut b), Some(10));
        assert_eq!(poll_once(&mut b), Some(10));
        assert!(reports.lock().unwrap().is_empty());
        drop(b);
        assert_eq!(*reports.lock().unwrap(), vec![(20, false)]);
    }

    #[test]
    fn all_expected_bytes_count_as_complete_even_without_the_end() {
        let (mut b, reports) = body(Some(40));
        for _ in 0..4 {
            poll_once(&mut b);
        }
        drop(b);
        assert_eq!(*reports.lock().unwrap(), vec![(40, true)]);
    }
}
