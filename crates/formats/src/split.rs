//! Cutting a byte stream into raw JSON records without parsing them.
//!
//! Parsing is the expensive part of ingest, so it runs on worker threads; this module only finds
//! where each record starts and ends, remembering its line number for error messages. It handles
//! three layouts:
//! - **lines**: NDJSON, the diagnostic blob format (one JSON value per line, detected when the first
//!   line is a complete value). A malformed line costs that line only.
//! - **array**: a top-level `[...]` (portal downloads, Graph arrays) is streamed element by element,
//!   so an array of millions of records needs memory for one element at a time.
//! - **values**: pretty-printed objects, one or several, one after another.
//!
//! A container object (`{"value": [...]}` list response, `{"records": [...]}` Event Hub message) is
//! one raw item; [`crate::shape`] expands it after parsing.

use std::io::{BufRead, ErrorKind, Read};
use std::ops::Range;

/// How much the lines layout reads at a time (more than the input's buffer, so reads bypass it).
const READ_BLOCK: usize = 4 << 20;

/// Records larger than this are rejected (the rest of the input goes on where it can).
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// What the first bytes of an input look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// No bytes at all, or only whitespace.
    Empty,
    /// Starts with `{` or `[` (after an optional UTF-8 BOM and whitespace).
    Json,
    /// Text that is not JSON: treated as CSV.
    Text,
    /// NUL bytes, or more than a few invalid UTF-8 sequences, in the first block: not an export
    /// of any kind.
    Binary,
}

/// Looks at the start of a stream without consuming it.
pub fn sniff(reader: &mut dyn BufRead) -> std::io::Result<Sniffed> {
    let head = reader.fill_buf()?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(Sniffed::Empty);
    };
    let sample = &head[..head.len().min(4096)];
    if sample.contains(&0) {
        return Ok(Sniffed::Binary);
    }
    // A stray non-UTF-8 byte (a Latin-1 name, say) makes one record bad, which its reader rejects
    // alone; binary data is full of them.
    let invalid = invalid_utf8_sequences(sample);
    if invalid > 2 && invalid * 100 > sample.len() {
        return Ok(Sniffed::Binary);
    }
    Ok(match head[first] {
        b'{' | b'[' => Sniffed::Json,
        _ => Sniffed::Text,
    })
}

/// How many invalid UTF-8 sequences `bytes` holds (a character cut at the end is not one).
fn invalid_utf8_sequences(mut bytes: &[u8]) -> usize {
    let mut invalid = 0;
    while let Err(e) = std::str::from_utf8(bytes) {
        let Some(len) = e.error_len() else {
            break;
        };
        invalid += 1;
        bytes = &bytes[e.valid_up_to() + len..];
    }
    invalid
}

/// One raw record inside a [`Chunk`].
#[derive(Debug, Clone)]
pub struct Item {
    /// 1-based line where the record starts.
    pub line: u64,
    /// Its bytes within [`Chunk::buf`].
    pub range: Range<usize>,
}

/// A batch of raw records, plus records that could not even be cut out.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The records' bytes, back to back (empty when `mapped` holds them).
    pub buf: Vec<u8>,
    /// A window of a memory-mapped file (or of an input in memory) holding the records in place,
    /// when they were not read into `buf` (see [`crate::mapped`]). Item ranges then index into
    /// it.
    pub mapped: Option<crate::mapped::Window>,
    /// The records.
    pub items: Vec<Item>,
    /// Set when the lines of `mapped` are not cut into `items` yet: [`Chunk::records`] cuts them.
    pub uncut: Option<Uncut>,
    /// How the line numbers of the items, rejections and `fatal` count.
    pub numbers: LineNumbers,
    /// Records rejected while splitting: (line, reason).
    pub rejected: Vec<(u64, String)>,
    /// Set on the last chunk when reading stopped early (I/O error, truncated input): (line, reason).
    pub fatal: Option<(u64, String)>,
}

impl Chunk {
    /// The bytes of one item.
    pub fn bytes(&self, item: &Item) -> &[u8] {
        match &self.mapped {
            Some(map) => &map[item.range.clone()],
            None => &self.buf[item.range.clone()],
        }
    }

    /// The chunk's records in order, each with its line: its items, or the lines of an uncut
    /// window, cut one at a time as they are asked for (blank lines skipped, lines over the
    /// limit refused).
    pub fn records(&self) -> Records<'_> {
        Records {
            chunk: self,
            next_item: 0,
            at: 0,
            newlines: 0,
        }
    }
}

/// A mapped window whose lines are cut by the worker that parses them ([`Chunk::records`]), each
/// just before it is parsed: its bytes then come from memory once and are in cache for the
/// parser. (Cutting a whole window ahead, on the reading thread, read every byte from memory
/// twice: on the 1M-sign-in benchmark, cutting in the workers took 10% less time.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uncut {
    /// The window's lines end here: after a newline, or at the end of the input.
    pub len: usize,
    /// Lines longer than this are refused.
    pub max_line: usize,
}

/// How a chunk numbers its lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineNumbers {
    /// As in the input: the splitter counts lines as it cuts them.
    #[default]
    Absolute,
    /// From the end of the input's previous chunk (line 1 is the chunk's first line): the
    /// mapped reader leaves lines uncut, so it cannot count them. Whoever takes the chunks in
    /// order adds the lines before ([`LineBase`]).
    Relative {
        /// The chunk starts its input (a UTF-8 byte order mark may open its first line).
        starts_input: bool,
        /// Lines the chunk spans besides those [`Chunk::records`] cuts (a line too long to map
        /// counts 1).
        lines: u64,
    },
}

/// A record of a chunk, or why its line was refused: (line, bytes or reason).
pub type ChunkRecord<'a> = (u64, Result<&'a [u8], String>);

/// The records of a [`Chunk`], in order ([`Chunk::records`]).
pub struct Records<'a> {
    chunk: &'a Chunk,
    next_item: usize,
    /// Where the next uncut line starts.
    at: usize,
    /// Newlines passed in the uncut window.
    newlines: u64,
}

impl<'a> Records<'a> {
    /// The rest of an uncut window, from its next line on, with that line's number and whether
    /// the text may end its line (a reader that takes the line whole, finding its end itself,
    /// then moves past it with [`Records::move_past`]). At most one byte over the line limit is
    /// given: a line that does not end within it is too long.
    pub fn rest(&self) -> Option<(u64, &'a [u8], bool)> {
        let (Some(uncut), Some(map)) = (self.chunk.uncut, self.chunk.mapped.as_deref()) else {
            return None;
        };
        let rest = map.get(self.at..uncut.len).filter(|r| !r.is_empty())?;
        prefetch(rest.get(PREFETCH_FROM..PREFETCH_TO).unwrap_or(&[]));
        let end_ok = rest.len() <= uncut.max_line;
        let rest = &rest[..rest.len().min(uncut.max_line + 1)];
        Some((self.newlines + 1, rest, end_ok))
    }

    /// Moves past the first `len` bytes of [`Records::rest`]: a line, with its newline.
    pub fn move_past(&mut self, len: usize) {
        if let (Some(map), Some(last)) = (self.chunk.mapped.as_deref(), len.checked_sub(1)) {
            if map.get(self.at + last) == Some(&b'\n') {
                self.newlines += 1;
            }
        }
        self.at += len;
    }

    /// The chunk's line numbering once its lines are all cut: a relative chunk's line count
    /// includes those cut.
    pub fn numbers(&self) -> LineNumbers {
        match self.chunk.numbers {
            LineNumbers::Relative {
                starts_input,
                lines,
            } => LineNumbers::Relative {
                starts_input,
                lines: lines + self.newlines,
            },
            absolute => absolute,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = ChunkRecord<'a>;

    fn next(&mut self) -> Option<ChunkRecord<'a>> {
        let chunk = self.chunk;
        let (Some(uncut), Some(map)) = (chunk.uncut, chunk.mapped.as_deref()) else {
            let item = chunk.items.get(self.next_item)?;
            self.next_item += 1;
            return Some((item.line, Ok(chunk.bytes(item))));
        };
        let starts_input = matches!(
            chunk.numbers,
            LineNumbers::Relative {
                starts_input: true,
                ..
            }
        );
        while self.at < uncut.len {
            let start = self.at;
            let end =
                memchr::memchr(b'\n', &map[start..uncut.len]).map_or(uncut.len, |i| start + i);
            let number = self.newlines + 1;
            self.at = end + 1;
            if end < uncut.len {
                self.newlines += 1;
            }
            if end - start > uncut.max_line {
                return Some((number, Err(long_line_reason(uncut.max_line))));
            }
            if let Some(r) = trim_line(starts_input && number == 1, map, start..end) {
                return Some((number, Ok(&map[r])));
            }
        }
        None
    }
}

/// Where, ahead of the line being read, [`Records::rest`] asks for bytes to be brought into cache.
const PREFETCH_FROM: usize = 4 << 10;
const PREFETCH_TO: usize = 12 << 10;

/// Asks the processor to bring `bytes` into cache (one hint per 64-byte line; no effect on
/// other processors).
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for at in (0..bytes.len()).step_by(64) {
        #[allow(unused_unsafe)]
        // SAFETY: a prefetch hint never faults and reads nothing; the address is inside `bytes`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                bytes.as_ptr().add(at).cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Turns the relative line numbers of an input's chunks ([`LineNumbers::Relative`]) into the
/// input's own, given the chunks in order.
#[derive(Debug, Default)]
pub struct LineBase {
    /// Lines of the current input's chunks so far.
    before: u64,
}

impl LineBase {
    /// What to add to the line numbers of the next chunk, numbered `numbers` (as
    /// [`Records::numbers`] says once its lines are cut).
    pub fn next(&mut self, numbers: LineNumbers) -> u64 {
        match numbers {
            LineNumbers::Absolute => 0,
            LineNumbers::Relative {
                starts_input,
                lines,
            } => {
                if starts_input {
                    self.before = 0;
                }
                let base = self.before;
                self.before += lines;
                base
            }
        }
    }
}

/// Why a line over the limit was refused.
pub(crate) fn long_line_reason(max_line: usize) -> String {
    if max_line >= 1 << 20 {
        format!("line longer than {} MiB; skipped", max_line >> 20)
    } else {
        format!("line longer than {max_line} bytes; skipped")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Undecided,
    Lines,
    Stream,
}

/// Splits a JSON input into chunks of raw records.
pub struct Splitter<R: BufRead> {
    reader: R,
    layout: Layout,
    /// Next line number to be read (1-based).
    line: u64,
    done: bool,
    scan: Scan,
    lines: Lines,
}

/// Lines-mode state carried from chunk to chunk.
#[derive(Default)]
struct Lines {
    /// The start of a line that did not fit in the previous chunk.
    carry: Vec<u8>,
    /// Skipping the rest of a line longer than [`MAX_RECORD_BYTES`].
    skipping: bool,
}

/// Stream-mode scanning state, kept apart from the reader so both can be borrowed at once.
#[derive(Default)]
struct Scan {
    in_array: bool,
    cur: Vec<u8>,
    cur_line: u64,
    depth: u32,
    in_string: bool,
    escaped: bool,
    in_item: bool,
    oversized: bool,
}

impl<R: BufRead> Splitter<R> {
    /// A splitter over a (decompressed) stream.
    pub fn new(reader: R) -> Self {
        Splitter {
            reader,
            layout: Layout::Undecided,
            line: 1,
            done: false,
            scan: Scan::default(),
            lines: Lines::default(),
        }
    }

    /// Reads records until about `target_bytes` are gathered. `None` at the end of the input.
    pub fn next_chunk(&mut self, target_bytes: usize) -> Option<Chunk> {
        self.next_chunk_into(target_bytes, Vec::new())
    }

    /// [`Splitter::next_chunk`], reusing `buf` (emptied first) for the chunk's bytes: a buffer
    /// that held an earlier chunk has its pages in memory already, so reading into it costs no
    /// page faults.
    pub fn next_chunk_into(&mut self, target_bytes: usize, mut buf: Vec<u8>) -> Option<Chunk> {
        if self.done {
            return None;
        }
        if self.layout == Layout::Undecided {
            self.layout = match self.decide_layout() {
                Ok(layout) => layout,
                Err(e) => {
                    self.done = true;
                    return Some(Chunk {
                        fatal: Some((self.line, io_reason(&e))),
                        ..Chunk::default()
                    });
                }
            };
        }
        buf.clear();
        let mut chunk = Chunk {
            buf,
            ..Chunk::default()
        };
        match self.layout {
            Layout::Lines => self.fill_lines(&mut chunk, target_bytes),
            _ => self.fill_stream(&mut chunk, target_bytes),
        }
        if chunk.items.is_empty() && chunk.rejected.is_empty() && chunk.fatal.is_none() {
            return None;
        }
        Some(chunk)
    }

    /// The layout of the input, from its first block (see [`layout_of`]).
    fn decide_layout(&mut self) -> std::io::Result<Layout> {
        Ok(layout_of(self.reader.fill_buf()?))
    }

    /// Lines layout: copies whole blocks of the input into the chunk and finds line ends with
    /// `memchr`, so each byte is copied once and looked at once. A line cut by the end of the
    /// chunk is carried over to the next one.
    fn fill_lines(&mut self, chunk: &mut Chunk, target: usize) {
        chunk.buf.reserve(target.min(64 << 20) + READ_BLOCK);
        chunk.buf.append(&mut self.lines.carry);
        // Where the line being read starts in `chunk.buf`.
        let mut line_start = 0;
        loop {
            if chunk.buf.len() >= target && line_start > 0 {
                if !chunk.items.is_empty() || !chunk.rejected.is_empty() {
                    break;
                }
                // Only blank lines so far: drop them rather than hold them.
                chunk.buf.drain(..line_start);
                line_start = 0;
            }
            if self.lines.skipping {
                // The rest of an over-long line: drop bytes up to its newline.
                let buf = match self.reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        chunk.fatal = Some((self.line, io_reason(&e)));
                        self.done = true;
                        return;
                    }
                };
                if buf.is_empty() {
                    self.reject_long_line(chunk);
                    self.done = true;
                    return;
                }
                let len = buf.len();
                match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        self.reader.consume(i + 1);
                        self.reject_long_line(chunk);
                    }
                    None => self.reader.consume(len),
                }
                continue;
            }
            // A block straight into the chunk: a large read bypasses the reader's own buffer.
            let from = chunk.buf.len();
            let read = (&mut self.reader)
                .take(READ_BLOCK as u64)
                .read_to_end(&mut chunk.buf);
            let failed = match read {
                Ok(0) => {
                    // The end: a last line without a newline is still a line.
                    let end = chunk.buf.len();
                    if end > line_start {
                        self.finish_line(chunk, line_start, end);
                    }
                    self.done = true;
                    return;
                }
                Ok(_) => None,
                // The bytes read before the error are in the chunk: keep their whole lines.
                Err(e) => Some(e),
            };
            let mut search = from;
            while let Some(i) = memchr::memchr(b'\n', &chunk.buf[search..]) {
                let newline = search + i;
                self.finish_line(chunk, line_start, newline);
                self.line += 1;
                line_start = newline + 1;
                search = line_start;
            }
            if let Some(e) = failed {
                chunk.buf.truncate(line_start);
                chunk.fatal = Some((self.line, io_reason(&e)));
                self.done = true;
                return;
            }
            if chunk.buf.len() - line_start > MAX_RECORD_BYTES {
                chunk.buf.truncate(line_start);
                self.lines.skipping = true;
            }
        }
        // Carry the unfinished line over to the next chunk.
        self.lines.carry.extend_from_slice(&chunk.buf[line_start..]);
        chunk.buf.truncate(line_start);
    }

    /// Records the line `chunk.buf[start..end]` (without its newline) as an item unless blank.
    fn finish_line(&mut self, chunk: &mut Chunk, start: usize, end: usize) {
        push_line(&mut chunk.items, self.line, &chunk.buf, start..end);
    }

    /// Rejects the over-long line just skipped.
    fn reject_long_line(&mut self, chunk: &mut Chunk) {
        self.lines.skipping = false;
        chunk.rejected.push((
            self.line,
            format!("line longer than {} MiB; skipped", MAX_RECORD_BYTES >> 20),
        ));
        self.line += 1;
    }

    fn fill_stream(&mut self, chunk: &mut Chunk, target: usize) {
        let Splitter {
            reader,
            line,
            done,
            scan,
            ..
        } = self;
        loop {
            if chunk.buf.len() >= target {
                return;
            }
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    chunk.fatal = Some((*line, io_reason(&e)));
                    *done = true;
                    return;
                }
            };
            if buf.is_empty() {
                *done = true;
                if scan.in_item {
                    if scan.depth == 0 && !scan.in_string {
                        // A bare scalar at the very end.
                        scan.finish_item(chunk);
                    } else {
                        chunk.fatal = Some((
                            scan.cur_line,
                            format!(
                                "input ends inside a JSON value that starts at line {} (truncated file?)",
                                scan.cur_line
                            ),
                        ));
                    }
                } else if scan.in_array {
                    chunk.fatal = Some((
                        *line,
                        "input ends inside a JSON array: `]` missing (truncated file?)".into(),
                    ));
                }
                return;
            }
            let n = buf.len();
            let mut consumed = 0;
            let mut stop = false;
            for (i, &c) in buf.iter().enumerate() {
                consumed = i + 1;
                if scan.in_item {
                    if !scan.oversized {
                        scan.cur.push(c);
                        if scan.cur.len() > MAX_RECORD_BYTES {
                            scan.oversized = true;
                            scan.cur = Vec::new();
                        }
                    }
                    if c == b'\n' {
                        *line += 1;
                    }
                    if scan.in_string {
                        if scan.escaped {
                            scan.escaped = false;
                        } else if c == b'\\' {
                            scan.escaped = true;
                        } else if c == b'"' {
                            scan.in_string = false;
                        }
                        continue;
                    }
                    match c {
                        b'"' => scan.in_string = true,
                        b'{' | b'[' => scan.depth += 1,
                        b'}' | b']' => {
                            if scan.depth == 0 {
                                // A scalar ended by the closing bracket of the array.
                                if !scan.oversized {
                                    scan.cur.pop();
                                }
                                scan.finish_item(chunk);
                                scan.in_array = false;
                            } else {
                                scan.depth -= 1;
                                if scan.depth == 0 {
                                    scan.finish_item(chunk);
                                }
                            }
                        }
                        b',' if scan.depth == 0 => {
                            if !scan.oversized {
                                scan.cur.pop();
                            }
                            scan.finish_item(chunk);
                        }
                        _ => {}
                    }
                    if !scan.in_item && chunk.buf.len() >= target {
                        stop = true;
                        break;
                    }
                    continue;
                }
                // Between items.
                match c {
                    b'\n' => *line += 1,
                    b' ' | b'\t' | b'\r' | b',' => {}
                    b'\xEF' | b'\xBB' | b'\xBF' if *line == 1 => {}
                    b'[' if !scan.in_array => scan.in_array = true,
                    b']' if scan.in_array => scan.in_array = false,
                    _ => {
                        scan.in_item = true;
                        scan.cur.clear();
                        scan.cur.push(c);
                        scan.cur_line = *line;
                        scan.in_string = c == b'"';
                        scan.escaped = false;
                        scan.oversized = false;
                        scan.depth = u32::from(c == b'{' || c == b'[');
                    }
                }
            }
            reader.consume(consumed.min(n));
            if stop {
                return;
            }
        }
    }
}

impl Scan {
    fn finish_item(&mut self, chunk: &mut Chunk) {
        self.in_item = false;
        self.depth = 0;
        if self.oversized {
            chunk.rejected.push((
                self.cur_line,
                format!("record larger than {} MiB; skipped", MAX_RECORD_BYTES >> 20),
            ));
            self.oversized = false;
            return;
        }
        let mut end = self.cur.len();
        while end > 0 && self.cur[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        let start = chunk.buf.len();
        chunk.buf.extend_from_slice(&self.cur[..end]);
        chunk.items.push(Item {
            line: self.cur_line,
            range: start..chunk.buf.len(),
        });
        self.cur.clear();
    }
}

/// Records the line `buf[line]` (without its newline), whose number is `number`, as an item unless
/// it is blank: surrounding whitespace (and a UTF-8 byte order mark on line 1) is left out.
pub(crate) fn push_line(items: &mut Vec<Item>, number: u64, buf: &[u8], line: Range<usize>) {
    if let Some(range) = trim_line(number == 1, buf, line) {
        items.push(Item {
            line: number,
            range,
        });
    }
}

/// The record in the line `buf[line]` (without its newline): the line without surrounding
/// whitespace (and without a UTF-8 byte order mark if it is the input's `first` line); `None`
/// when blank.
#[inline]
fn trim_line(first: bool, buf: &[u8], line: Range<usize>) -> Option<Range<usize>> {
    let start = line.start;
    let line = &buf[line];
    let mut s = 0;
    if first && line.starts_with(b"\xEF\xBB\xBF") {
        s = 3;
    }
    let mut e = line.len();
    while e > s && line[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    while s < e && line[s].is_ascii_whitespace() {
        s += 1;
    }
    (s < e).then_some(start + s..start + e)
}

/// Whether an input whose first block is `head` is read as lines (one JSON value per line) rather
/// than streamed value by value.
pub fn is_lines_layout(head: &[u8]) -> bool {
    layout_of(head) == Layout::Lines
}

/// Lines layout when the first non-blank line is, by itself, one complete JSON value.
fn layout_of(buf: &[u8]) -> Layout {
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let rest = &buf[start..];
    let line_end = rest.iter().position(|b| *b == b'\n');
    let line = match line_end {
        Some(end) => &rest[..end],
        // No newline in the first block: a single huge line is still a line.
        None => {
            return if rest.first() == Some(&b'[') {
                Layout::Stream
            } else {
                Layout::Lines
            }
        }
    };
    if line.first() == Some(&b'[') {
        // A top-level array is streamed even when it is on one line.
        return Layout::Stream;
    }
    if is_complete_value(line) {
        Layout::Lines
    } else {
        Layout::Stream
    }
}

/// Does this line hold exactly one complete JSON object or array (structurally)?
fn is_complete_value(line: &[u8]) -> bool {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let trimmed: &[u8] = {
        let s = line
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(line.len());
        let e = line
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(s, |e| e + 1);
        &line[s..e]
    };
    if !matches!(trimmed.first(), Some(b'{') | Some(b'[')) {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0i64, false, false);
    for (i, &c) in trimmed.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i == trimmed.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::UnexpectedEof => {
            "compressed stream ends early (truncated gzip file?); records after this point are lost"
                .into()
        }
        ErrorKind::InvalidData | ErrorKind::InvalidInput => {
            format!("corrupt input: {e}; records after this point could not be read")
        }
        _ => format!("read error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lines = Vec<(u64, String)>;

    #[test]
    fn a_reused_buffer_starts_empty() {
        for (text, want) in [
            ("{\"a\":1}\n{\"b\":2}\n", [r#"{"a":1}"#, r#"{"b":2}"#]),
            ("[{\"a\":1},\n {\"b\":2}]", [r#"{"a":1}"#, r#"{"b":2}"#]),
        ] {
            let mut s = Splitter::new(text.as_bytes());
            let chunk = s
                .next_chunk_into(1 << 20, b"left from an earlier chunk".to_vec())
                .unwrap();
            let items: Vec<&[u8]> = chunk.items.iter().map(|i| chunk.bytes(i)).collect();
            assert_eq!(items, want.map(str::as_bytes), "{text}");
        }
    }

    fn split(input: &str) -> (Lines, Lines, Option<(u64, String)>) {
        let mut s = Splitter::new(input.as_bytes());
        let mut items = Vec::new();
        let mut rejected = Vec::new();
        let mut fatal = None;
        while let Some(c) = s.next_chunk(16) {
            for it in &c.items {
                items.push((it.line, String::from_utf8_lossy(c.bytes(it)).into_owned()));
            }
            rejected.extend(c.rejected.clone());
            if c.fatal.is_some() {
                fatal = c.fatal.clone();
            }
        }
        (items, rejected, fatal)
    }

    #[test]
    fn lines_are_the_same_whatever_the_chunk_and_block_sizes() {
        let input = "\u{feff}{\"a\":1}\r\n\n  {\"b\":\"x y\"}  \n{\"c\":[1,2,3]}\n\n{\"d\":{}}";
        let want: Lines = vec![
            (1, r#"{"a":1}"#.into()),
            (3, r#"{"b":"x y"}"#.into()),
            (4, r#"{"c":[1,2,3]}"#.into()),
            (6, r#"{"d":{}}"#.into()),
        ];
        for block in [1, 2, 3, 7, 64, 4096] {
            for target in [1, 5, 16, 1000, usize::MAX] {
                let reader = std::io::BufReader::with_capacity(block, input.as_bytes());
                let mut s = Splitter::new(reader);
                let mut got = Vec::new();
                while let Some(c) = s.next_chunk(target) {
                    assert!(c.rejected.is_empty() && c.fatal.is_none());
                    for it in &c.items {
                        got.push((it.line, String::from_utf8_lossy(c.bytes(it)).into_owned()));
                    }
                }
                assert_eq!(got, want, "block {block}, target {target}");
            }
        }
    }

    #[test]
    fn ndjson_lines_keep_line_numbers() {
        let (items, _, fatal) = split("{\"a\":1}\n\n{\"b\":\n{\"c\":3}\n");
        assert_eq!(
            items,
            vec![
                (1, "{\"a\":1}".to_string()),
                (3, "{\"b\":".to_string()),
                (4, "{\"c\":3}".to_string())
            ]
        );
        assert!(fatal.is_none());
    }

    #[test]
    fn array_is_streamed_by_element() {
        let (items, _, fatal) = split("[\n {\"a\":\"x,]}\"},\n {\"b\":[1,2]}\n]\n");
        assert_eq!(
            items,
            vec![
                (2, "{\"a\":\"x,]}\"}".to_string()),
                (3, "{\"b\":[1,2]}".to_string())
            ]
        );
        assert!(fatal.is_none());
    }

    #[test]
    fn pretty_objects_one_after_another() {
        let (items, _, _) = split("{\n \"a\": 1\n}\n{\n \"b\": {\"c\": 2}\n}");
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].0, 4);
    }

    #[test]
    fn truncated_value_is_fatal_with_its_line() {
        let (items, _, fatal) = split("[\n{\"a\":1},\n{\"b\":\n");
        assert_eq!(items.len(), 1);
        let (line, reason) = fatal.unwrap();
        assert_eq!(line, 3);
        assert!(reason.contains("truncated"), "{reason}");
    }

    #[test]
    fn sniffs() {
        let s = |b: &[u8]| sniff(&mut std::io::BufReader::new(b)).unwrap();
        assert_eq!(s(b""), Sniffed::Empty);
        assert_eq!(s(b"  \n"), Sniffed::Empty);
        assert_eq!(s(b"\xEF\xBB\xBF[{}]"), Sniffed::Json);
        assert_eq!(s(b"Id,Name\n"), Sniffed::Text);
        assert_eq!(s(b"\x00\x01\x02"), Sniffed::Binary);
        assert_eq!(s(b"\xff\xfe\xfd abc"), Sniffed::Binary);
        // One stray Latin-1 byte in a text is a bad record, not a binary file.
        let mut latin1 = b"{\"userDisplayName\":\"Zo\xEB\"}\n".to_vec();
        latin1.extend_from_slice(&b"{\"a\":1}\n".repeat(20));
        assert_eq!(s(&latin1), Sniffed::Json);
        assert_eq!(
            s(b"Id,Name\n1,Zo\xEB\n2,Ann\n3,Bob\n4,Eve\n5,Kim\n"),
            Sniffed::Text
        );
        // A character cut by the end of the sample is not counted.
        assert_eq!(invalid_utf8_sequences("é".as_bytes().split_at(1).0), 0);
        assert_eq!(invalid_utf8_sequences(b"a\xffb\xfe"), 2);
    }
}
