//! Input: the bytes of one archive file. Plain files are memory-mapped (falling back to reads);
//! zstd and gzip are recognised by their magic bytes, whatever the file is called, and decoded
//! as a stream so memory stays bounded. Either way the next stage, `csvscan`, sees a [`Feed`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The container format, from the first bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Csv,
    Zstd,
    Gzip,
}

impl Format {
    pub fn sniff(head: &[u8]) -> Format {
        if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
            Format::Zstd
        } else if head.starts_with(&[0x1F, 0x8B]) {
            Format::Gzip
        } else {
            Format::Csv
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Zstd => "zst",
            Format::Gzip => "gz",
        }
    }
}

/// Bytes of an input, handed out as the unconsumed part of a window that refills itself.
/// `csvscan` drives csv-core from this one interface for every kind of input.
pub trait Feed {
    /// The bytes not consumed yet; refills when they run out. Empty only at the end.
    fn peek(&mut self) -> io::Result<&[u8]>;
    /// Marks the first `n` bytes of the last `peek` as consumed.
    fn consume(&mut self, n: usize);
}

/// A whole input available at once: a memory map, or a buffer the caller owns.
pub struct SliceFeed<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceFeed<'a> {
    pub fn new(data: &'a [u8]) -> SliceFeed<'a> {
        SliceFeed { data, pos: 0 }
    }
}

impl Feed for SliceFeed<'_> {
    fn peek(&mut self) -> io::Result<&[u8]> {
        Ok(self.data.get(self.pos..).unwrap_or_default())
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }
}

/// 1 MiB windows: large enough that refills are rare per record, small enough for many workers.
const STREAM_WINDOW: usize = 1 << 20;

/// A stream (decoder, pipe, or plain reads when mapping failed).
pub struct StreamFeed<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read so far; the first window holds at least 4 so a BOM is seen whole.
    total: u64,
}

impl<R: Read> StreamFeed<R> {
    pub fn new(reader: R) -> StreamFeed<R> {
        StreamFeed::with_window(reader, STREAM_WINDOW)
    }

    /// A feed refilled `window` bytes at a time (at least 4); small windows are for tests and
    /// fuzzing, where every record should cross refills.
    pub fn with_window(reader: R, window: usize) -> StreamFeed<R> {
        StreamFeed { reader, buf: vec![0; window.max(4)], start: 0, end: 0, total: 0 }
    }
}

impl<R: Read> Feed for StreamFeed<R> {
    fn peek(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            loop {
                match self.reader.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.end += n;
                        self.total += n as u64;
                        if self.total >= 4 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

/// The body of an opened input, before it is lent out as a [`Feed`].
pub enum Body {
    Mapped(memmap2::Mmap),
    Empty,
    Stream(Box<dyn Read + Send>),
}

/// An opened archive file.
pub struct Opened {
    pub format: Format,
    /// Size on disk, when known (not for stdin).
    pub disk_bytes: Option<u64>,
    pub body: Body,
}

/// Decoded chunks handed from a decoder thread to the parser; a few in flight keep both busy.
const CHANNEL_CHUNKS: usize = 4;

/// Reads what a decoder thread produces, so decompression overlaps CSV parsing when there are
/// more worker threads than files (one big compressed export, or a compressed stdin).
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn spawn(mut reader: Box<dyn Read + Send>) -> ChannelReader {
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_CHUNKS);
        std::thread::spawn(move || loop {
            let mut buf = vec![0; STREAM_WINDOW];
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            buf.truncate(n);
            // A closed channel means the parser stopped reading: nothing more to do.
            if tx.send(Ok(buf)).is_err() || n == 0 {
                return;
            }
        });
        ChannelReader { rx, chunk: Vec::new(), pos: 0 }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The decoder thread ended after sending its last (empty) chunk.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Opened {
    /// Moves decompression to a thread of its own, overlapping it with parsing. Worth it only
    /// when cores would otherwise idle; plain and mapped inputs are returned as they are.
    pub fn overlap_decoding(self) -> Opened {
        match self.body {
            Body::Stream(reader) if self.format != Format::Csv => {
                Opened { body: Body::Stream(Box::new(ChannelReader::spawn(reader))), ..self }
            }
            body => Opened { body, ..self },
        }
    }

    /// Runs `f` with a [`Feed`] over the (decoded) bytes.
    pub fn with_feed<T>(self, f: impl FnOnce(&mut dyn Feed) -> T) -> T {
        match self.body {
            Body::Mapped(map) => f(&mut SliceFeed::new(&map)),
            Body::Empty => f(&mut SliceFeed::new(&[])),
            Body::Stream(reader) => f(&mut StreamFeed::new(reader)),
        }
    }
}

/// Opens one archive entry, whatever its origin; a broken entry is its error.
pub fn open(origin: &crate::discover::Origin) -> io::Result<Opened> {
    match origin {
        crate::discover::Origin::File(path) => open_path(path),
        crate::discover::Origin::Stdin => open_stdin(),
        crate::discover::Origin::Broken(why) => Err(io::Error::other(why.clone())),
    }
}

/// Opens a file: sniffs its format, maps plain CSV, wraps compressed files in a decoder.
pub fn open_path(path: &Path) -> io::Result<Opened> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let disk_bytes = Some(meta.len());
    let mut head = [0u8; 4];
    let got = read_up_to(&mut file, &mut head)?;
    let format = Format::sniff(&head[..got]);
    if format == Format::Csv && meta.is_file() {
        if meta.len() == 0 {
            return Ok(Opened { format, disk_bytes, body: Body::Empty });
        }
        // SAFETY: the map is only read, and only while this file is being scanned. The
        // contract is that exports are not modified while tala-bulk reads them (as for
        // ripgrep's mmap search); if one is truncated underneath us the process may get
        // SIGBUS, which is why stdin and anything that is not a regular file takes the read
        // path instead.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(Opened { format, disk_bytes, body: Body::Mapped(map) });
        }
    }
    // Read on from where sniffing stopped, with the sniffed bytes put back in front: a pipe
    // (a FIFO, `<(zstd -dc …)`) cannot be opened a second time from its start.
    let rest = io::Cursor::new(head[..got].to_vec()).chain(file);
    let body = match format {
        Format::Csv => Body::Stream(Box::new(rest)),
        _ => decoder(format, BufReader::new(rest))?,
    };
    Ok(Opened { format, disk_bytes, body })
}

/// Opens standard input, sniffing compression from its first bytes.
pub fn open_stdin() -> io::Result<Opened> {
    let mut reader = BufReader::with_capacity(STREAM_WINDOW, io::stdin());
    // The first buffer of a pipe: normally far more than the 4 magic bytes (a writer that
    // sends fewer first would be read as plain CSV).
    let format = Format::sniff(reader.fill_buf()?);
    let body = match format {
        Format::Csv => Body::Stream(Box::new(reader)),
        _ => decoder(format, reader)?,
    };
    Ok(Opened { format, disk_bytes: None, body })
}

fn decoder<R: BufRead + Send + 'static>(format: Format, reader: R) -> io::Result<Body> {
    Ok(Body::Stream(match format {
        // zstd's Decoder goes on through concatenated frames; MultiGzDecoder through members.
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Format::Csv => Box::new(reader),
    }))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(feed: &mut dyn Feed) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let chunk = feed.peek().unwrap();
            if chunk.is_empty() {
                return out;
            }
            out.extend_from_slice(chunk);
            let n = chunk.len();
            feed.consume(n);
        }
    }

    #[test]
    fn overlapped_decoding_gives_the_same_bytes_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{i},x\n").into_bytes()).collect();
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let path = dir.path().join("a.zst");
        std::fs::write(&path, &zst).unwrap();
        let opened = open_path(&path).unwrap().overlap_decoding();
        assert_eq!(opened.with_feed(drain), text);
        std::fs::write(&path, &zst[..zst.len() / 2]).unwrap();
        let opened = open_path(&path).unwrap().overlap_decoding();
        let err = opened.with_feed(|feed| loop {
            match feed.peek() {
                Ok([]) => break None,
                Ok(chunk) => {
                    let n = chunk.len();
                    feed.consume(n)
                }
                Err(e) => break Some(e),
            }
        });
        assert!(err.is_some(), "a truncated stream still reports its error");
    }

    #[test]
    fn sniffs_by_magic_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a,b\n1,2\n".repeat(1000);
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let path = dir.path().join("really-zstd.csv");
        std::fs::write(&path, &zst).unwrap();
        let opened = open_path(&path).unwrap();
        assert_eq!(opened.format, Format::Zstd);
        assert_eq!(opened.with_feed(drain), text);

        let plain = dir.path().join("plain.gz");
        std::fs::write(&plain, &text).unwrap();
        let opened = open_path(&plain).unwrap();
        assert_eq!(opened.format, Format::Csv);
        assert_eq!(opened.with_feed(drain), text);
    }
}
