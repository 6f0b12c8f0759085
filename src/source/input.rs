//! Input: the bytes of one archive file, as a stream the next stage (`csvscan`) reads through a
//! [`Feed`]. zstd and gzip are recognised by their magic bytes, whatever the file is called,
//! and decoded as they are read, so memory stays bounded; UTF-16 text (PowerShell's
//! `Out-File`) is converted to UTF-8 on the way.
//!
//! Plain files are read, not memory-mapped: archives are synced (rsync, OneDrive) while the
//! nightly job runs, and a mapped file that shrinks kills the process with SIGBUS. A read sees
//! the shrinking as an early end of the file, which becomes an error here (the file is then
//! `cut`), never a crash. Reading into a reused buffer costs one copy at memory speed, and it
//! spares the page faults of a fresh mapping (12% of a run's profile with the map).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The container format, from the first bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Csv,
    Zstd,
    Gzip,
}

impl Format {
    pub fn sniff(head: &[u8]) -> Format {
        match head {
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Format::Zstd,
            // A skippable frame first, as pzstd writes: the decoder skips it.
            [0x50..=0x5F, 0x2A, 0x4D, 0x18, ..] => Format::Zstd,
            [0x1F, 0x8B, ..] => Format::Gzip,
            _ => Format::Csv,
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

/// A whole input available at once, in a buffer the caller owns (tests, benches, fuzzing).
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

/// A stream (a file, a decoder, a pipe) read a window at a time.
pub struct StreamFeed<R> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read so far; the first window holds at least [`FIRST_FILL`] (or the whole input).
    total: u64,
}

/// What the first window holds at least, however the reader hands out its bytes (a head read
/// to find the compression comes back first): enough to see a BOM whole, and to tell NDJSON
/// from pretty-printed JSON by the first line (`source::json::sniff`).
const FIRST_FILL: u64 = 64 << 10;

impl<R: Read> StreamFeed<R> {
    pub fn new(reader: R) -> StreamFeed<R> {
        StreamFeed::with_window(reader, STREAM_WINDOW)
    }

    /// A feed refilled `window` bytes at a time (at least 4); small windows are for tests and
    /// fuzzing, where every record should cross refills.
    pub fn with_window(reader: R, window: usize) -> StreamFeed<R> {
        StreamFeed::with_buffer(reader, vec![0; window.max(4)])
    }

    /// A feed that reads into `buf` (of at least 4 bytes), a buffer kept from an earlier feed:
    /// a worker reading thousands of small files allocates its window once.
    pub fn with_buffer(reader: R, mut buf: Vec<u8>) -> StreamFeed<R> {
        if buf.len() < 4 {
            buf.resize(STREAM_WINDOW, 0);
        }
        StreamFeed { reader, buf, start: 0, end: 0, total: 0 }
    }

    /// The buffer, for the next feed.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
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
                        if self.total >= FIRST_FILL || self.end == self.buf.len() {
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

/// The text encoding of an input, after decompression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// UTF-16 with a byte-order mark (PowerShell's `Out-File`), converted to UTF-8 as read.
    Utf16,
}

/// An opened archive file.
pub struct Opened {
    pub format: Format,
    pub encoding: Encoding,
    /// Size on disk, when known (not for stdin).
    pub disk_bytes: Option<u64>,
    /// The decoded bytes.
    pub reader: Box<dyn Read + Send>,
    /// A fingerprint of a regular file's content ([`fingerprint`]), taken from the handle that
    /// is read; 0 for a pipe or stdin.
    pub content: u64,
}

impl Opened {
    /// The format as truncation.csv names it: `csv`, `zst`, `gz`, with `+utf16` for UTF-16
    /// text.
    pub fn format_name(&self) -> &'static str {
        match (self.format, self.encoding) {
            (f, Encoding::Utf8) => f.name(),
            (Format::Csv, Encoding::Utf16) => "csv+utf16",
            (Format::Zstd, Encoding::Utf16) => "zst+utf16",
            (Format::Gzip, Encoding::Utf16) => "gz+utf16",
        }
    }
}

/// Decoded chunks handed from a decoder thread to the parser; a few in flight keep both busy.
const CHANNEL_CHUNKS: usize = 4;

/// Reads what a decoder thread produces, so decompression overlaps CSV parsing when there are
/// more worker threads than files (one big compressed export, or a compressed stdin).
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The thread sent its end (an empty chunk); a channel closed before that means the thread
    /// died, which must not pass for the end of the file.
    ended: bool,
}

impl ChannelReader {
    /// Starts the thread that reads `reader`; where no thread can be started, hands `reader`
    /// back to be read inline.
    fn spawn(reader: Box<dyn Read + Send>) -> Result<ChannelReader, Box<dyn Read + Send>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_CHUNKS);
        // The reader goes to the thread once it runs, so a refused thread leaves it here.
        let (give, take) = std::sync::mpsc::sync_channel::<Box<dyn Read + Send>>(1);
        let started = std::thread::Builder::new().spawn(move || {
            let Ok(mut reader) = take.recv() else { return };
            loop {
                let mut buf = vec![0; STREAM_WINDOW];
                // A decoder that panics on some input ends this thread, and with it the
                // channel; the reader then reports an error (see `ended`).
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
            }
        });
        if started.is_err() {
            return Err(reader);
        }
        match give.send(reader) {
            Ok(()) => Ok(ChannelReader { rx, chunk: Vec::new(), pos: 0, ended: false }),
            Err(refused) => Err(refused.0),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.ended = chunk.is_empty();
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::other("the decoder stopped before the end of the file"))
                }
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
    /// when cores would otherwise idle; plain inputs are returned as they are.
    pub fn overlap_decoding(self) -> Opened {
        if self.format == Format::Csv {
            return self;
        }
        match ChannelReader::spawn(self.reader) {
            Ok(threaded) => Opened { reader: Box::new(threaded), ..self },
            Err(inline) => Opened { reader: inline, ..self },
        }
    }

    /// Runs `f` with a [`Feed`] over the (decoded) bytes.
    pub fn with_feed<T>(self, f: impl FnOnce(&mut dyn Feed) -> T) -> T {
        f(&mut StreamFeed::new(self.reader))
    }

    /// [`Opened::with_feed`] reading into `buf`, which is handed back for the next file.
    pub fn with_feed_in<T>(self, buf: &mut Vec<u8>, f: impl FnOnce(&mut dyn Feed) -> T) -> T {
        let mut feed = StreamFeed::with_buffer(self.reader, std::mem::take(buf));
        let out = f(&mut feed);
        *buf = feed.into_buffer();
        out
    }
}

/// Opens one archive entry, whatever its origin; a broken entry is its error.
pub fn open(origin: &crate::source::discover::Origin) -> io::Result<Opened> {
    match origin {
        crate::source::discover::Origin::File(path) => open_path(path),
        crate::source::discover::Origin::Stdin => open_stdin(),
        crate::source::discover::Origin::Broken(why) => Err(io::Error::other(why.clone())),
    }
}

/// Reads a regular file, expecting as many bytes as it had when opened: a file that shrinks
/// while it is read (an archive synced under the nightly job) ends with an error, so it is
/// reported `cut` rather than taken for a shorter, complete file.
struct Sized<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Sized<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 {
            return Err(shrank(self.left));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

fn shrank(missing: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the file shrank while it was read ({missing} bytes fewer than when opened)"),
    )
}

/// Opens a file: sniffs its format and text encoding, wraps compressed files in a decoder.
pub fn open_path(path: &Path) -> io::Result<Opened> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let disk_bytes = Some(meta.len());
    let mut head = [0u8; 4];
    let got = read_up_to(&mut file, &mut head)?;
    let format = Format::sniff(&head[..got]);
    let content = if meta.is_file() { fingerprint(&file, meta.len()) } else { 0 };
    // Read on from where sniffing stopped, with the sniffed bytes put back in front: a pipe
    // (a FIFO, `<(zstd -dc …)`) cannot be opened a second time from its start.
    let rest: Box<dyn Read + Send> = if meta.is_file() {
        let left = meta.len().saturating_sub(got as u64);
        Box::new(io::Cursor::new(head[..got].to_vec()).chain(Sized { inner: file, left }))
    } else {
        Box::new(io::Cursor::new(head[..got].to_vec()).chain(file))
    };
    let mut opened = finish_open(format, disk_bytes, rest)?;
    opened.content = content;
    Ok(opened)
}

/// The content fingerprint ([`fingerprint`]) of the regular file at `path`, as reading it
/// would take it; `None` when it cannot be opened or is not a regular file.
pub fn fingerprint_path(path: &Path) -> Option<u64> {
    // Checked before opening: opening a named pipe would wait for a writer.
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then(|| fingerprint(&file, meta.len()))
}

/// How much of each end of a file [`fingerprint`] reads.
const FINGERPRINT_BYTES: u64 = 64 << 10;

/// A fingerprint of a regular file's content: a hash of its size and of its first and last
/// 64 KiB. With the path, it identifies the file when partial states from different tasks meet
/// (SPEC 3): a file read twice (a retried task, a partial listed twice) counts once, and the
/// same path with other content (a file rewritten between two tasks) is another file. Export
/// files change at their ends when they are rewritten or appended to, which this sees, at the
/// cost of two small reads whatever the file's size. Positional reads: the handle's offset,
/// which the reader goes on from, does not move.
fn fingerprint(file: &File, size: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&size.to_le_bytes());
    let mut buf = vec![0u8; FINGERPRINT_BYTES as usize];
    for start in [0, size.saturating_sub(FINGERPRINT_BYTES)] {
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        hasher.update(&buf[..got]);
    }
    hasher.digest()
}

/// Opens standard input, sniffing compression from its first bytes.
pub fn open_stdin() -> io::Result<Opened> {
    let mut reader = BufReader::with_capacity(STREAM_WINDOW, io::stdin());
    let mut head = Vec::with_capacity(4);
    // The first bytes of a pipe may come a few at a time: read until four are there.
    while head.len() < 4 {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(4 - head.len());
        head.extend_from_slice(&buf[..n]);
        reader.consume(n);
    }
    let format = Format::sniff(&head);
    finish_open(format, None, Box::new(io::Cursor::new(head).chain(reader)))
}

fn finish_open(
    format: Format,
    disk_bytes: Option<u64>,
    raw: Box<dyn Read + Send>,
) -> io::Result<Opened> {
    let decoded: Box<dyn Read + Send> = match format {
        Format::Csv => raw,
        // zstd's Decoder goes on through concatenated frames (and skips skippable ones).
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(BufReader::new(raw))?),
        Format::Gzip => Box::new(GzMembers::new(BufReader::new(raw))),
    };
    let (encoding, reader) = utf16_to_utf8(decoded)?;
    Ok(Opened { format, encoding, disk_bytes, reader, content: 0 })
}

/// Text that starts with a UTF-16 byte-order mark is converted to UTF-8 as it is read; any
/// other text is passed on untouched (byte for byte: invalid UTF-8 is handled later, per row).
fn utf16_to_utf8(mut reader: Box<dyn Read + Send>) -> io::Result<(Encoding, Box<dyn Read + Send>)> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let again = io::Cursor::new(head[..got].to_vec()).chain(reader);
    if matches!(&head[..got], [0xFF, 0xFE] | [0xFE, 0xFF]) {
        let utf8 = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .bom_sniffing(true)
            .strip_bom(true)
            .build(again);
        Ok((Encoding::Utf16, Box::new(utf8)))
    } else {
        Ok((Encoding::Utf8, Box::new(again)))
    }
}

/// The members of a gzip file one after another, as `gzip -d` reads them: zero bytes after the
/// last member (some tools pad to a block size) end the file like its end does; anything else
/// after a member that is not another member is an error.
struct GzMembers<R: BufRead> {
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(reader: R) -> GzMembers<R> {
        GzMembers { member: Some(flate2::bufread::GzDecoder::new(reader)) }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else { return Ok(0) };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: what follows decides.
            let Some(member) = self.member.take() else { return Ok(0) };
            let mut rest = member.into_inner();
            let mut padded = false;
            loop {
                let avail = rest.fill_buf()?;
                match avail {
                    [] => return Ok(0),
                    [0, ..] => {
                        let zeros = avail.iter().take_while(|&&b| b == 0).count();
                        rest.consume(zeros);
                        padded = true;
                    }
                    [0x1F, ..] if !padded => {
                        self.member = Some(flate2::bufread::GzDecoder::new(rest));
                        break;
                    }
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "data after the last gzip member that is not another member",
                        ))
                    }
                }
            }
        }
    }
}

/// Reads bytes `start..end` of a file with positioned reads, so the workers sharing one big
/// export each read their own part without a shared file position. A file that shrank below
/// `end` is an error, as for a whole file.
pub struct RangeReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl RangeReader {
    pub fn new(file: Arc<File>, start: u64, end: u64) -> RangeReader {
        RangeReader { file, pos: start, end }
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(shrank(self.end - self.pos));
        }
        self.pos += n as u64;
        Ok(n)
    }
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

    fn drain(feed: &mut dyn Feed) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let chunk = feed.peek()?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(chunk);
            let n = chunk.len();
            feed.consume(n);
        }
    }

    fn read_file(path: &Path) -> io::Result<(Opened, Vec<u8>)> {
        let opened = open_path(path)?;
        let mut again = open_path(path)?;
        let mut bytes = Vec::new();
        again.reader.read_to_end(&mut bytes)?;
        Ok((opened, bytes))
    }

    #[test]
    fn overlapped_decoding_gives_the_same_bytes_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{i},x\n").into_bytes()).collect();
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let path = dir.path().join("a.zst");
        std::fs::write(&path, &zst).unwrap();
        let opened = open_path(&path).unwrap().overlap_decoding();
        assert_eq!(opened.with_feed(drain).unwrap(), text);
        std::fs::write(&path, &zst[..zst.len() / 2]).unwrap();
        let opened = open_path(&path).unwrap().overlap_decoding();
        assert!(opened.with_feed(drain).is_err(), "a truncated stream still reports its error");
    }

    /// A decoder that produces some bytes and then panics, as a decoder bug on a hostile input
    /// would.
    struct Dies(u8);
    impl Read for Dies {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                panic!("decoder bug");
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_decoder_thread_that_dies_is_an_error_not_the_end_of_the_file() {
        let Ok(mut reader) = ChannelReader::spawn(Box::new(Dies(3))) else {
            panic!("no thread for the decoder")
        };
        let mut got = Vec::new();
        let err = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"xxx");
        assert!(err.to_string().contains("decoder stopped before the end"), "{err}");
    }

    #[test]
    fn sniffs_by_magic_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a,b\n1,2\n".repeat(1000);
        let zst = zstd::encode_all(&text[..], 3).unwrap();
        let path = dir.path().join("really-zstd.csv");
        std::fs::write(&path, &zst).unwrap();
        let (opened, bytes) = read_file(&path).unwrap();
        assert_eq!((opened.format, bytes), (Format::Zstd, text.clone()));

        let plain = dir.path().join("plain.gz");
        std::fs::write(&plain, &text).unwrap();
        let (opened, bytes) = read_file(&plain).unwrap();
        assert_eq!((opened.format, bytes), (Format::Csv, text));
    }

    #[test]
    fn zstd_with_a_skippable_frame_first_and_gzip_padded_with_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a,b\n1,2\n".repeat(100);
        // pzstd starts with a skippable frame (magic 0x184D2A50, then a length and its data).
        let mut zst = vec![0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        zst.extend(zstd::encode_all(&text[..], 3).unwrap());
        let path = dir.path().join("p.zst");
        std::fs::write(&path, &zst).unwrap();
        assert_eq!(read_file(&path).unwrap().1, text);

        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut e, data).unwrap();
            e.finish().unwrap()
        };
        let mut two = gz(&text[..400]);
        two.extend(gz(&text[400..]));
        let mut padded = two.clone();
        padded.extend([0u8; 512]);
        for (name, bytes) in [("two.gz", &two), ("padded.gz", &padded)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(read_file(&path).unwrap().1, text, "{name}");
        }
        let mut garbage = padded.clone();
        garbage.extend(b"junk");
        let path = dir.path().join("garbage.gz");
        std::fs::write(&path, &garbage).unwrap();
        let err = read_file(&path).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("after the last gzip member"), "{err}");
    }

    #[test]
    fn utf16_text_is_read_as_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Operation,AuditData\nMeetingParticipantDetail,\"{\"\"x\"\":\"\"Zoë\"\"}\"\n";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
        for (name, bytes) in [("le.csv", le), ("be.csv", be)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let (opened, got) = read_file(&path).unwrap();
            assert_eq!(opened.format_name(), "csv+utf16");
            assert_eq!(String::from_utf8(got).unwrap(), text, "{name}");
        }
    }

    #[test]
    fn a_file_that_shrinks_while_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shrinks.csv");
        std::fs::write(&path, vec![b'x'; 3 << 20]).unwrap();
        let opened = open_path(&path).unwrap();
        let mut feed = StreamFeed::new(opened.reader);
        let first = feed.peek().unwrap().len();
        feed.consume(first);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 20).unwrap();
        let err = drain(&mut feed).unwrap_err();
        assert!(err.to_string().contains("the file shrank while it was read"), "{err}");
        // A part read by positioned reads, the same.
        let file = Arc::new(File::open(&path).unwrap());
        let mut part = RangeReader::new(file, 0, 2 << 20);
        let err = part.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("the file shrank"), "{err}");
    }
}
