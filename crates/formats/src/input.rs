//! Opening inputs: files, directories (walked recursively, in sorted order), `-` for standard
//! input, and transparent gzip decompression (detected by its magic bytes, not the file name).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;

use crate::FormatError;

/// One input to read.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// How the input is named in messages (the path, or `-`).
    pub display: Arc<str>,
    /// The path, or `None` for standard input (or bytes in memory).
    pub path: Option<PathBuf>,
    /// Size on disk in bytes (0 for standard input).
    pub size: u64,
    /// The input's bytes, when they are in memory (an HTTP body, a batch of Kafka messages)
    /// rather than in a file. Shared, not copied: its lines are parsed where they lie.
    pub data: Option<Bytes>,
}

impl InputFile {
    /// An input held in memory (plain or gzip), named `display` in messages.
    pub fn memory(display: impl Into<Arc<str>>, data: impl Into<Bytes>) -> InputFile {
        let data: Bytes = data.into();
        InputFile {
            display: display.into(),
            path: None,
            size: data.len() as u64,
            data: Some(data),
        }
    }

    /// A file on disk.
    pub fn file(path: &Path) -> std::io::Result<InputFile> {
        let size = std::fs::metadata(path)?.len();
        Ok(InputFile {
            display: Arc::from(path.display().to_string()),
            path: Some(path.to_path_buf()),
            size,
            data: None,
        })
    }
}

/// Expands the paths given on the command line into files: directories are walked recursively
/// (files sorted by path, hidden files skipped), `-` is standard input.
pub fn expand_paths<P: AsRef<str>>(paths: &[P]) -> Result<Vec<InputFile>, FormatError> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p == "-" {
            out.push(InputFile {
                display: Arc::from("-"),
                path: None,
                size: 0,
                data: None,
            });
            continue;
        }
        let path = Path::new(p);
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FormatError::NotFound(p.to_string()),
            _ => FormatError::Io {
                path: p.to_string(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            // A `gatehouse simulate` output folder holds its ground truth beside the logs; those two
            // files are not logs and are skipped when the folder is walked.
            let simulator_output =
                path.join("labels.jsonl").is_file() && path.join("tenant.json").is_file();
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(path)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                })
            {
                let entry = entry.map_err(|e| FormatError::Io {
                    path: e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| p.to_string()),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("walk failed")),
                })?;
                if simulator_output
                    && entry.depth() == 1
                    && matches!(
                        entry.file_name().to_str(),
                        Some("labels.jsonl" | "tenant.json")
                    )
                {
                    continue;
                }
                if entry.file_type().is_file() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    files.push(InputFile {
                        display: Arc::from(entry.path().display().to_string()),
                        path: Some(entry.path().to_path_buf()),
                        size,
                        data: None,
                    });
                }
            }
            out.extend(files);
        } else {
            out.push(InputFile {
                display: Arc::from(p),
                path: Some(path.to_path_buf()),
                size: meta.len(),
                data: None,
            });
        }
    }
    Ok(out)
}

/// Counts the bytes read from the underlying (possibly compressed) file, for progress reporting.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// Bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts `n` more bytes (for sources that are not files).
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

struct Counting<R> {
    inner: R,
    counter: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Bytes a reader buffers at a time (and [`InMemory`] hands out at a time).
const BLOCK: usize = 1 << 20;

/// Bytes in memory as a reader that copies nothing to be read a block at a time: `fill_buf`
/// hands out the bytes themselves, and what is consumed or read is counted.
struct InMemory {
    data: Bytes,
    pos: usize,
    counter: ByteCounter,
}

impl Read for InMemory {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let block = self.fill_buf()?;
        let n = block.len().min(buf.len());
        buf[..n].copy_from_slice(&block[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for InMemory {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let end = self.pos.saturating_add(BLOCK).min(self.data.len());
        Ok(&self.data[self.pos.min(end)..end])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.data.len() - self.pos.min(self.data.len()));
        self.pos += amt;
        self.counter.add(amt as u64);
    }
}

/// An opened input: decompressed bytes, whether it was gzip, and how to count progress.
pub struct Opened {
    /// The decompressed byte stream.
    pub reader: Box<dyn BufRead + Send>,
    /// Whether the input was gzip-compressed.
    pub gzip: bool,
    /// Brings the byte counter up to date (see [`FileProgress::update`]).
    pub progress: FileProgress,
}

/// Counts the bytes read from a file by its offset rather than by wrapping its reader: a
/// wrapper would hide the file's `read_buf` from `Read::read_to_end`, which then zero-fills
/// every block before reading into it.
pub struct FileProgress {
    /// A handle sharing the file's offset (none for standard input, which counts as it reads).
    file: Option<File>,
    /// Bytes already added to `counter`.
    counted: u64,
    counter: ByteCounter,
}

impl FileProgress {
    /// Adds the bytes read since the last update to the counter (call it now and then while
    /// reading, and once at the end).
    pub fn update(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if let Ok(offset) = file.stream_position() {
            if offset > self.counted {
                self.counter.add(offset - self.counted);
                self.counted = offset;
            }
        }
    }
}

/// Opens an input, un-gzipping it if it starts with the gzip magic bytes.
pub fn open(input: &InputFile, counter: &ByteCounter) -> Result<Opened, FormatError> {
    let io_error = |e| FormatError::Io {
        path: input.display.to_string(),
        source: e,
    };
    let (mut buffered, offset): (Box<dyn BufRead + Send>, Option<File>) =
        match (&input.path, &input.data) {
            // Bytes in memory are handed out where they lie (a 1 MiB buffer would copy the head
            // of every batch and push body only to sniff it before it is read in place).
            (None, Some(data)) => (
                Box::new(InMemory {
                    data: data.clone(),
                    pos: 0,
                    counter: counter.clone(),
                }),
                None,
            ),
            (None, None) => (
                Box::new(BufReader::with_capacity(
                    BLOCK,
                    Counting {
                        inner: io::stdin(),
                        counter: counter.clone(),
                    },
                )),
                None,
            ),
            (Some(path), _) => {
                let file = File::open(path).map_err(io_error)?;
                let offset = file.try_clone().map_err(io_error)?;
                (
                    Box::new(BufReader::with_capacity(BLOCK, file)),
                    Some(offset),
                )
            }
        };
    let progress = FileProgress {
        file: offset,
        counted: 0,
        counter: counter.clone(),
    };
    let head = buffered.fill_buf().map_err(io_error)?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            BLOCK,
            MultiGzDecoder::new(buffered),
        ))
    } else {
        buffered
    };
    Ok(Opened {
        reader,
        gzip,
        progress,
    })
}
