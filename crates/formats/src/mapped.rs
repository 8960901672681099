//! Reading uncompressed NDJSON in place: each chunk is a window of the file mapped into memory
//! (or a slice of an input already in memory, such as a batch of Kafka messages), so the
//! records' bytes are never copied. The kernel maps the pages it already holds in its page
//! cache, and the workers parse them where they lie.
//!
//! Reading into buffers instead copies every byte once in the kernel (`read`) and keeps the
//! buffers' own pages in memory; for a large export that copy was a twentieth of ingest's CPU.
//!
//! A mapped file must not shrink while it is read: touching a page past its new end raises
//! `SIGBUS`. The `gatehouse` binary turns that signal into a message naming the cause; callers that
//! cannot rule it out read through [`crate::split::Splitter`] instead
//! ([`crate::read::ReadOptions::map_files`]).

use std::fs::File;
use std::io;
use std::ops::Deref;

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};

use crate::split::{long_line_reason, Chunk, LineNumbers, Uncut, MAX_RECORD_BYTES};

/// The bytes of a chunk read in place.
#[derive(Debug)]
pub enum Window {
    /// A window of a file mapped into memory.
    Mapped(Mmap),
    /// A slice of an input held in memory (shared with it, not copied).
    Shared(Bytes),
}

impl Deref for Window {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Window::Mapped(map) => map,
            Window::Shared(bytes) => bytes,
        }
    }
}

/// Where [`MappedLines`] reads.
enum Source {
    /// A file, mapped a window at a time.
    File(File),
    /// Bytes in memory.
    Memory(Bytes),
}

/// Cuts NDJSON into chunks of whole lines, each a window of the mapped file (or of the bytes in
/// memory) whose lines are cut by the worker that reads them ([`Chunk::records`]); the chunks
/// number their lines relative to each other ([`LineNumbers::Relative`]).
pub struct MappedLines {
    source: Source,
    /// The file's length as last seen.
    len: u64,
    /// Where the next window starts: the start of a line.
    pos: u64,
    done: bool,
    /// Lines longer than this are rejected ([`MAX_RECORD_BYTES`]; smaller in tests).
    max_line: usize,
}

impl MappedLines {
    /// Reads `file` (positioned anywhere; it is read from its start).
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(MappedLines {
            source: Source::File(file),
            len,
            pos: 0,
            done: false,
            max_line: MAX_RECORD_BYTES,
        })
    }

    /// Reads bytes held in memory: the chunks are slices of them.
    pub fn memory(data: Bytes) -> Self {
        MappedLines {
            len: data.len() as u64,
            source: Source::Memory(data),
            pos: 0,
            done: false,
            max_line: MAX_RECORD_BYTES,
        }
    }

    /// Bytes of the file consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next chunk of about `target_bytes` (more when a line is longer), `None` at the end.
    pub fn next_chunk(&mut self, target_bytes: usize) -> Option<Chunk> {
        if self.done {
            return None;
        }
        match self.window(target_bytes.max(1)) {
            Ok(chunk) => chunk,
            Err(e) => {
                self.done = true;
                Some(Chunk {
                    fatal: Some((1, format!("cannot read: {e}"))),
                    numbers: self.numbers(0),
                    ..Chunk::default()
                })
            }
        }
    }

    /// The numbering of a chunk starting at `pos` that spans `lines` lines besides those its
    /// reader cuts.
    fn numbers(&self, lines: u64) -> LineNumbers {
        LineNumbers::Relative {
            starts_input: self.pos == 0,
            lines,
        }
    }

    /// Maps the next window of whole lines (left uncut); `None` when the file has ended.
    fn window(&mut self, target: usize) -> io::Result<Option<Chunk>> {
        if self.pos >= self.len {
            // A file that grew while it was read is read to its new end.
            if let Source::File(file) = &self.source {
                self.len = file.metadata()?.len();
            }
            if self.pos >= self.len {
                self.done = true;
                return Ok(None);
            }
        }
        let mut size = target;
        loop {
            let left = self.len - self.pos;
            let size_now = usize::try_from(left).map_or(size, |left| size.min(left));
            let at_end = size_now as u64 == left;
            let map = self.map(size_now)?;
            let whole = match memchr::memrchr(b'\n', &map) {
                Some(last) => last + 1,
                // The last line of the file needs no newline.
                None if at_end => map.len(),
                None if size_now > self.max_line => {
                    drop(map);
                    return self.skip_long_line().map(Some);
                }
                // A line longer than the window: map more of it (up to one byte over the limit,
                // which is enough to know the line is too long).
                None => {
                    size = size.saturating_mul(2).min(self.max_line + 1);
                    continue;
                }
            };
            let until = if at_end { map.len() } else { whole };
            let chunk = Chunk {
                mapped: Some(map),
                uncut: Some(Uncut {
                    len: until,
                    max_line: self.max_line,
                }),
                numbers: self.numbers(0),
                ..Chunk::default()
            };
            self.pos += until as u64;
            return Ok(Some(chunk));
        }
    }

    /// Maps `size` bytes from `pos`, with their pages mapped in at once (one call, instead of a
    /// page fault every few pages as the parsers reach them); in memory, slices them.
    fn map(&self, size: usize) -> io::Result<Window> {
        let file = match &self.source {
            Source::File(file) => file,
            Source::Memory(data) => {
                let start = usize::try_from(self.pos)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                return Ok(Window::Shared(
                    data.slice(start..start.saturating_add(size).min(data.len())),
                ));
            }
        };
        // SAFETY: the map is only read. Its contents change if another process writes the file
        // meanwhile (the records read are then whatever the file held); if the file shrinks,
        // reading past its new end raises SIGBUS, as the module documentation says.
        let map = unsafe {
            MmapOptions::new()
                .offset(self.pos)
                .len(size)
                .populate()
                .map(file)
        }?;
        Ok(Window::Mapped(map))
    }

    /// Rejects the line at `pos`, longer than the limit, and moves past it.
    fn skip_long_line(&mut self) -> io::Result<Chunk> {
        let chunk = Chunk {
            rejected: vec![(1, long_line_reason(self.max_line))],
            numbers: self.numbers(1),
            ..Chunk::default()
        };
        const STEP: usize = 64 << 20;
        loop {
            let left = self.len - self.pos;
            let size = usize::try_from(left).map_or(STEP, |left| STEP.min(left));
            if size == 0 {
                self.done = true;
                return Ok(chunk);
            }
            let map = self.map(size)?;
            match memchr::memchr(b'\n', &map) {
                Some(i) => {
                    self.pos += i as u64 + 1;
                    return Ok(chunk);
                }
                None => self.pos += size as u64,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::{LineBase, Splitter};

    /// Every (line, record) and rejection of `input` as the mapped reader finds them.
    type Found = (Vec<(u64, String)>, Vec<(u64, String)>);

    /// As read from a mapped file; the same input read in place from memory must give the same.
    fn mapped(input: &[u8], target: usize, max_line: usize) -> Found {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, input).unwrap();
        let from_file = in_place(
            MappedLines::new(File::open(&path).unwrap()).unwrap(),
            input,
            target,
            max_line,
        );
        let from_memory = in_place(
            MappedLines::memory(Bytes::copy_from_slice(input)),
            input,
            target,
            max_line,
        );
        assert_eq!(from_file, from_memory, "from a file and from memory");
        from_file
    }

    fn in_place(mut lines: MappedLines, input: &[u8], target: usize, max_line: usize) -> Found {
        lines.max_line = max_line;
        let (mut items, mut rejected) = (Vec::new(), Vec::new());
        let mut base = LineBase::default();
        while let Some(c) = lines.next_chunk(target) {
            assert!(c.fatal.is_none(), "{:?}", c.fatal);
            assert!(c.buf.is_empty() && c.items.is_empty());
            let (mut got, mut refused) = (Vec::new(), Vec::new());
            let mut records = c.records();
            for (line, record) in records.by_ref() {
                match record {
                    Ok(bytes) => got.push((line, String::from_utf8_lossy(bytes).into_owned())),
                    Err(reason) => refused.push((line, reason)),
                }
            }
            refused.extend(c.rejected.iter().cloned());
            let add = base.next(records.numbers());
            items.extend(got.into_iter().map(|(line, r)| (line + add, r)));
            rejected.extend(refused.into_iter().map(|(line, r)| (line + add, r)));
        }
        assert_eq!(lines.position(), input.len() as u64);
        rejected.sort();
        (items, rejected)
    }

    fn split(input: &[u8]) -> Found {
        let mut s = Splitter::new(input);
        let (mut items, mut rejected) = (Vec::new(), Vec::new());
        while let Some(c) = s.next_chunk(1 << 20) {
            for it in &c.items {
                items.push((it.line, String::from_utf8_lossy(c.bytes(it)).into_owned()));
            }
            rejected.extend(c.rejected);
        }
        (items, rejected)
    }

    #[test]
    fn mapped_lines_are_the_lines_the_splitter_finds() {
        let long = format!("{{\"pad\":\"{}\"}}", "x".repeat(300));
        let inputs: Vec<String> = vec![
            "\u{feff}{\"a\":1}\r\n\n  {\"b\":\"x y\"}  \n{\"c\":[1,2,3]}\n\n{\"d\":{}}".into(),
            "{\"a\":1}\n".into(),
            "{\"a\":1}".into(),
            "{\"a\":1}\n\n\n\n\n\n\n\n\n\n   \n\t\n{\"b\":2}\n\n".into(),
            format!("{long}\n{{\"a\":1}}\n{long}\n{long}"),
            // Lines that are not JSON: cutting lines does not care.
            "{\"a\":1}\n{\"a\":\nb\n\n}\n".into(),
        ];
        for input in &inputs {
            let want = split(input.as_bytes());
            for target in [1, 2, 5, 16, 100, 400, 1 << 20] {
                assert_eq!(
                    mapped(input.as_bytes(), target, MAX_RECORD_BYTES),
                    want,
                    "target {target}: {input:?}"
                );
            }
        }
    }

    #[test]
    fn lines_over_the_limit_are_rejected_and_the_rest_kept() {
        let long = "y".repeat(100);
        let input = format!("{{\"a\":1}}\n{long}\n{{\"b\":2}}\n{long}{long}\n{{\"c\":3}}\n{long}");
        let rejected = |line| (line, long_line_reason(50));
        for target in [1, 7, 64, 1000] {
            let (items, got) = mapped(input.as_bytes(), target, 50);
            assert_eq!(
                items,
                vec![
                    (1, r#"{"a":1}"#.to_string()),
                    (3, r#"{"b":2}"#.to_string()),
                    (5, r#"{"c":3}"#.to_string()),
                ],
                "target {target}"
            );
            assert_eq!(
                got,
                vec![rejected(2), rejected(4), rejected(6)],
                "target {target}"
            );
        }
    }

    #[test]
    fn a_file_that_grows_while_read_is_read_to_its_new_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{\"a\":1}\n").unwrap();
        let mut lines = MappedLines::new(File::open(&path).unwrap()).unwrap();
        let mut base = LineBase::default();
        let first = lines.next_chunk(1 << 20).unwrap();
        let mut records = first.records();
        assert_eq!(records.by_ref().count(), 1);
        assert_eq!(base.next(records.numbers()), 0);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"b\":2}\n").unwrap();
        let second = lines.next_chunk(1 << 20).unwrap();
        let mut records = second.records();
        assert_eq!(records.next(), Some((1, Ok(&br#"{"b":2}"#[..]))));
        assert_eq!(records.next(), None);
        assert_eq!(
            base.next(records.numbers()),
            1,
            "the second chunk starts at line 2"
        );
        assert!(lines.next_chunk(1 << 20).is_none());
    }
}
