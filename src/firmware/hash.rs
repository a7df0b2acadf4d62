//! MD5 and size of a file in one streaming read.
//!
//! A second thread reads while the calling thread hashes (double buffering), into a few
//! buffers small enough to stay in the CPU cache, which are reused rather than reallocated:
//! the file is never held in memory, and reading costs almost nothing on top of hashing.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

use md5::{Digest as _, Md5};

/// Bytes per read: a multiple of MD5's 64-byte block that fits in L2 together with its peers.
pub const CHUNK: usize = 128 * 1024;
/// Buffers in flight between the reader and the hasher.
const BUFFERS: usize = 4;
/// Progress is reported after every this many bytes, and once at the end.
pub const PROGRESS_EVERY: u64 = 32 << 20;

/// The size and MD5 of a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    pub size: u64,
    pub md5: [u8; 16],
}

impl FileDigest {
    /// The MD5 as lowercase hex, the form the protocol's `checksum` uses.
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

/// How far a hash has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashProgress {
    pub done: u64,
    /// The file's size when hashing started, if known.
    pub total: Option<u64>,
}

/// An incremental MD5 that also counts bytes.
#[derive(Debug, Clone, Default)]
pub struct Md5Stream {
    hasher: Md5,
    size: u64,
}

impl Md5Stream {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.size += data.len() as u64;
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> FileDigest {
        FileDigest {
            size: self.size,
            md5: self.hasher.finalize().into(),
        }
    }
}

/// The lowercase hex MD5 of a byte slice.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Hashes a file in one pass, calling `progress` as it goes.
pub fn hash_file(path: &Path, progress: &mut dyn FnMut(HashProgress)) -> io::Result<FileDigest> {
    let file = File::open(path)?;
    let total = file.metadata().ok().map(|m| m.len());
    hash_reader(file, total, progress)
}

/// Hashes everything `reader` yields; `total` is only used for progress reports.
pub fn hash_reader<R: Read + Send>(
    reader: R,
    total: Option<u64>,
    progress: &mut dyn FnMut(HashProgress),
) -> io::Result<FileDigest> {
    hash_reader_every(reader, total, PROGRESS_EVERY, progress)
}

fn hash_reader_every<R: Read + Send>(
    reader: R,
    total: Option<u64>,
    report_every: u64,
    progress: &mut dyn FnMut(HashProgress),
) -> io::Result<FileDigest> {
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(BUFFERS);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        free_tx
            .send(vec![0; CHUNK])
            .expect("the channel has room for every buffer");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || read_into_buffers(reader, free_rx, full_tx));
        let mut stream = Md5Stream::new();
        let mut next_report = report_every;
        // Returning early (an error) drops both channel ends, which ends the reader.
        for item in full_rx {
            let (buf, n) = item?;
            stream.update(&buf[..n]);
            if stream.size() >= next_report {
                progress(HashProgress {
                    done: stream.size(),
                    total,
                });
                next_report += report_every;
            }
            // The reader may have stopped already (end of file): a refused buffer is fine.
            let _ = free_tx.send(buf);
        }
        progress(HashProgress {
            done: stream.size(),
            total,
        });
        Ok(stream.finish())
    })
}

/// The reader thread: fill each free buffer and pass it on, until end of file or error.
fn read_into_buffers<R: Read>(
    mut reader: R,
    free: mpsc::Receiver<Vec<u8>>,
    full: mpsc::SyncSender<io::Result<(Vec<u8>, usize)>>,
) {
    while let Ok(mut buf) = free.recv() {
        let item = match fill(&mut reader, &mut buf) {
            Ok(0) => return,
            Ok(n) => Ok((buf, n)),
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if full.send(item).is_err() || failed {
            return;
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1321, appendix A.5.
    const RFC1321: &[(&str, &str)] = &[
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            "abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];

    fn no_progress() -> impl FnMut(HashProgress) {
        |_| {}
    }

    #[test]
    fn rfc1321_vectors() {
        for (input, expected) in RFC1321 {
            assert_eq!(md5_hex(input.as_bytes()), *expected, "md5({input:?})");
            let d = hash_reader(input.as_bytes(), None, &mut no_progress()).unwrap();
            assert_eq!(d.md5_hex(), *expected, "streamed md5({input:?})");
            assert_eq!(d.size, input.len() as u64);
        }
    }

    /// A reader that hands out at most `step` bytes per call, as pipes and sockets do.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn streaming_equals_one_shot(len in 0..3 * CHUNK, seed in any::<u64>(), step in 1usize..70_000) {
            // Bytes from a seed: generating them one by one would dominate the test's time.
            let mut x = seed | 1;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let d = hash_reader(Trickle { data: &data, step }, None, &mut no_progress()).unwrap();
            prop_assert_eq!(d.md5_hex(), md5_hex(&data));
            prop_assert_eq!(d.size, data.len() as u64);
        }
    }

    #[test]
    fn progress_is_reported_as_it_goes_and_ends_at_the_total() {
        let every = CHUNK as u64;
        let data = vec![7u8; 5 * CHUNK + 5];
        let mut seen = Vec::new();
        let d = hash_reader_every(&data[..], Some(data.len() as u64), every, &mut |p| {
            seen.push(p)
        })
        .unwrap();
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
        let last = seen.last().unwrap();
        assert_eq!((last.done, last.total), (d.size, Some(d.size)));
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn a_read_error_is_returned() {
        let err = hash_reader(Failing, None, &mut no_progress()).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn hash_file_reads_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fw.bin");
        let data: Vec<u8> = (0..CHUNK * 2 + 17).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let d = hash_file(&path, &mut no_progress()).unwrap();
        assert_eq!((d.size, d.md5_hex()), (data.len() as u64, md5_hex(&data)));
        assert!(hash_file(&dir.path().join("absent"), &mut no_progress()).is_err());
    }
}
