//! Where a capture's bytes come from: a file, standard input (`-`, `/dev/stdin`), and a gzip or
//! zstd stream, recognised by its magic number (not by the file name) and decompressed as it
//! is read, so memory stays bounded whatever the size.
//!
//! The reader handed to pcap-parser starts with the whole file header (pcap's 24 bytes, or
//! pcapng's Section Header Block): pcap-parser recognises the format from its first read,
//! and a pipe's first read may hold only part of it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::ReadError;

/// How the capture's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The command that checks a compressed file, named in the error when it is corrupt.
    pub(super) fn check_command(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd -t",
            _ => "gzip -t",
        }
    }
}

/// Whether `path` means standard input: `-` or `/dev/stdin`.
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdin")
}

/// The name standard input has in messages.
pub const STDIN_NAME: &str = "standard input";

/// The last I/O error a reader met, kept for the message (pcap-parser reduces every read error
/// to one variant without its cause).
#[derive(Debug, Clone, Default)]
pub(super) struct Slot(Arc<Mutex<Option<io::Error>>>);

impl Slot {
    pub(super) fn take(&self) -> Option<io::Error> {
        self.0.lock().ok().and_then(|mut e| e.take())
    }

    fn put(&self, e: io::Error) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(e);
        }
    }
}

/// A reader that keeps its errors in a [`Slot`] (and retries interrupted reads).
struct Watch<R> {
    inner: R,
    slot: Slot,
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kind = e.kind();
                    let msg = e.to_string();
                    self.slot.put(e);
                    return Err(io::Error::new(kind, msg));
                }
                ok => return ok,
            }
        }
    }
}

/// Bytes already read (to look at the magic number) served before the rest of the stream.
struct Prefixed<R> {
    prefix: Vec<u8>,
    at: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[self.at..self.at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Reads until `buf` holds `want` bytes or the stream ends.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let mut chunk = [0u8; 512];
    while buf.len() < want {
        let room = (want - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..room]) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The largest Section Header Block read ahead whole (a larger one is left to pcap-parser).
const MAX_SHB_PEEK: usize = 1 << 20;

/// An opened source of capture bytes.
pub struct Input {
    /// The name messages use (the path, or "standard input").
    pub name: PathBuf,
    pub reader: Box<dyn Read + Send>,
    pub compression: Compression,
    /// A pipe, FIFO, socket or terminal: data arrives over time, so output is flushed per
    /// packet.
    pub live: bool,
    /// The length of a regular file (compressed or not), for progress.
    pub size: Option<u64>,
    /// A live input's descriptor (a duplicate), to ask whether data is waiting.
    pub poll_fd: Option<std::os::fd::OwnedFd>,
    /// Errors of the file or pipe itself.
    pub(super) raw_errors: Slot,
    /// Errors of the decompressor (corrupt data).
    pub(super) codec_errors: Slot,
}

impl Input {
    /// Checks that `path` is there, is not a directory and, when it is a regular file, opens;
    /// nothing is read. A FIFO is not opened here: opening it waits for its writer, and closing
    /// it again would leave the writer with a broken pipe.
    pub fn check(path: &Path) -> Result<(), ReadError> {
        if is_stdin(path) {
            return Ok(());
        }
        let open_error = |cause| ReadError::Open {
            path: path.to_owned(),
            cause,
        };
        let meta = std::fs::metadata(path).map_err(open_error)?;
        if meta.is_file() {
            File::open(path).map_err(open_error)?;
        } else if meta.is_dir() {
            return open_file(path).map(|_| ());
        }
        Ok(())
    }

    /// Opens `path`; `-` and `/dev/stdin` are standard input.
    pub fn open(path: &Path) -> Result<Input, ReadError> {
        let (name, file, meta) = open_file(path)?;
        let kind = meta.as_ref().map(|m| m.file_type());
        let live = kind.is_some_and(|t| t.is_fifo() || t.is_socket() || t.is_char_device());
        if is_stdin(path) && std::io::IsTerminal::is_terminal(&file) {
            return Err(ReadError::StdinIsTerminal);
        }
        let size = meta.filter(|m| m.is_file()).map(|m| m.len());
        let poll_fd = if live {
            use std::os::fd::AsFd;
            file.as_fd().try_clone_to_owned().ok()
        } else {
            None
        };
        let mut input = Input::from_reader(&name, file)?;
        input.live = live;
        input.size = size;
        input.poll_fd = poll_fd;
        Ok(input)
    }

    /// Reads from any byte stream (decompressing gzip and zstd); `name` is used in messages.
    pub fn from_reader<R: Read + Send + 'static>(name: &Path, read: R) -> Result<Input, ReadError> {
        let raw_errors = Slot::default();
        let codec_errors = Slot::default();
        let mut raw = Watch {
            inner: read,
            slot: raw_errors.clone(),
        };
        let open_error = |slot: &Slot, e: io::Error| ReadError::Io {
            path: name.to_owned(),
            offset: 0,
            cause: slot.take().unwrap_or(e),
        };
        let mut magic = Vec::with_capacity(24);
        fill(&mut raw, &mut magic, 24).map_err(|e| open_error(&raw_errors, e))?;
        let raw = Prefixed {
            prefix: magic,
            at: 0,
            inner: raw,
        };
        let m = &raw.prefix[..];
        let (compression, stream): (Compression, Box<dyn Read + Send>) =
            if m.starts_with(&[0x1f, 0x8b]) {
                let dec = flate2::read::MultiGzDecoder::new(raw);
                (Compression::Gzip, Box::new(dec))
            } else if m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                let dec = zstd::stream::read::Decoder::new(raw)
                    .map_err(|e| open_error(&raw_errors, e))?;
                (Compression::Zstd, Box::new(dec))
            } else if let Some(what) = unsupported_compression(m) {
                return Err(ReadError::Unsupported {
                    path: name.to_owned(),
                    what,
                });
            } else {
                (Compression::None, Box::new(raw))
            };
        let mut stream: Box<dyn Read + Send> = if compression == Compression::None {
            stream
        } else {
            Box::new(Watch {
                inner: stream,
                slot: codec_errors.clone(),
            })
        };
        let name = match compression {
            Compression::None => name.to_owned(),
            _ => PathBuf::from(format!("{} (decompressed)", name.display())),
        };
        // The decompressed stream's file header, whole.
        let mut head = Vec::with_capacity(64);
        let fail = |e: io::Error| -> ReadError {
            if let Some(cause) = raw_errors.take() {
                return ReadError::Io {
                    path: name.clone(),
                    offset: 0,
                    cause,
                };
            }
            ReadError::Decompress {
                path: name.clone(),
                codec: compression.name(),
                check: compression.check_command(),
                offset: 0,
                packets: 0,
                cause: codec_errors.take().unwrap_or(e),
            }
        };
        fill(&mut stream, &mut head, 24).map_err(fail)?;
        if head.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) && head.len() >= 12 {
            let len: [u8; 4] = head[4..8].try_into().unwrap_or_default();
            let big = head[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
            let len = if big {
                u32::from_be_bytes(len)
            } else {
                u32::from_le_bytes(len)
            } as usize;
            if len <= MAX_SHB_PEEK {
                fill(&mut stream, &mut head, len).map_err(fail)?;
            }
        }
        Ok(Input {
            name,
            reader: Box::new(Prefixed {
                prefix: head,
                at: 0,
                inner: stream,
            }),
            compression,
            live: false,
            size: None,
            poll_fd: None,
            raw_errors,
            codec_errors,
        })
    }
}

/// Opens `path` (standard input for `-` and `/dev/stdin`): the name for messages, the file,
/// and what it is. A directory is refused here.
fn open_file(path: &Path) -> Result<(PathBuf, File, Option<std::fs::Metadata>), ReadError> {
    let (name, file) = if is_stdin(path) {
        let name = PathBuf::from(STDIN_NAME);
        let file = stdin_file().map_err(|cause| ReadError::Open {
            path: name.clone(),
            cause,
        })?;
        (name, file)
    } else {
        let file = File::open(path).map_err(|cause| ReadError::Open {
            path: path.to_owned(),
            cause,
        })?;
        (path.to_owned(), file)
    };
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(ReadError::Open {
            path: name,
            cause: io::Error::new(
                io::ErrorKind::IsADirectory,
                "it is a directory, not a capture file",
            ),
        });
    }
    Ok((name, file, meta))
}

/// Whether reading `fd` now would return at once (data waiting, or the end of the stream):
/// false when a read would wait for the writer.
pub(super) fn ready(fd: &std::os::fd::OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    // An error (EINTR) counts as ready: the read itself will tell.
    poll(&mut fds, PollTimeout::ZERO).map_or(true, |n| n > 0)
}

/// Standard input as a file of its own (a duplicate of descriptor 0), read without Rust's
/// buffer, whose type (pipe, FIFO, file) can be asked.
fn stdin_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    Ok(File::from(fd))
}

/// Compression formats recognised but not read, with the command that undoes them.
fn unsupported_compression(m: &[u8]) -> Option<&'static str> {
    if m.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz (decompress it first: xz -dc FILE | sockscope replay -)")
    } else if m.starts_with(b"BZh") {
        Some("bzip2 (decompress it first: bzip2 -dc FILE | sockscope replay -)")
    } else if m.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4 (decompress it first: lz4 -dc FILE | sockscope replay -)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per read, as a slow pipe may.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    fn read_all(mut i: Input) -> Vec<u8> {
        let mut v = Vec::new();
        i.reader.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn a_trickling_pipe_gives_the_whole_header_at_once() {
        let mut shb = vec![0x0a, 0x0d, 0x0d, 0x0a, 40, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a];
        shb.resize(40, 0);
        let i = Input::from_reader(Path::new("p"), Trickle(io::Cursor::new(shb.clone()))).unwrap();
        let mut i = i;
        let mut first = vec![0u8; 4096];
        let n = i.reader.read(&mut first).unwrap();
        assert_eq!(n, 40, "the first read holds the whole Section Header Block");
        assert_eq!(&first[..n], &shb[..]);
    }

    #[test]
    fn gzip_and_zstd_are_recognised_by_magic() {
        use std::io::Write;
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let i = Input::from_reader(Path::new("x"), io::Cursor::new(gz)).unwrap();
        assert_eq!(i.compression, Compression::Gzip);
        assert_eq!(read_all(i), data);
        let zst = zstd::encode_all(&data[..], 1).unwrap();
        let i = Input::from_reader(Path::new("x"), io::Cursor::new(zst)).unwrap();
        assert_eq!(i.compression, Compression::Zstd);
        assert_eq!(read_all(i), data);
        let i = Input::from_reader(Path::new("x"), io::Cursor::new(data.clone())).unwrap();
        assert_eq!(i.compression, Compression::None);
        assert_eq!(read_all(i), data);
    }

    #[test]
    fn xz_is_named_with_the_way_out() {
        let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4];
        let e = Input::from_reader(Path::new("a.pcap.xz"), io::Cursor::new(xz.to_vec()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("xz -dc"), "{e}");
    }
}
