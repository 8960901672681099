//! Dictionary-encoded string column chunks, written without arrow-rs's per-value interning.
//!
//! arrow-rs's Parquet writer hashes every string it dictionary-encodes with a general-purpose
//! hasher and compares it with a call to `memcmp`, value by value, even when the value is the one
//! the row before held: on the 1M sign-in benchmark that interning was an eighth of all of
//! ingest's CPU. Gatehouse's string columns are mostly low-cardinality text (names, enums,
//! identifiers of a few thousand users and apps), so this module encodes them itself:
//!
//! - a value equal to the one this column held a row before costs one comparison;
//! - any other is looked up in an open-addressing table keyed by a foldhash hash with a
//!   per-process random seed (crafted input cannot aim for colliding lookups), compared inline;
//! - definition and repetition levels come straight from the Arrow arrays along the column's
//!   path of structs and lists ([`LeafPath`]);
//! - pages are laid out as arrow-rs lays them out: one PLAIN dictionary page, then data pages of
//!   at most [`WriterProperties::data_page_row_count_limit`] rows or about
//!   [`WriterProperties::data_page_size_limit`] bytes (levels and indices RLE/bit-packed), each
//!   compressed (LZ4 or zstd, as the properties say), with an offset index; when the dictionary outgrows
//!   [`WriterProperties::dictionary_page_size_limit`] the rest of the chunk falls back to PLAIN
//!   pages, as arrow-rs does.
//!
//! The chunk is handed to the row group with `SerializedRowGroupWriter::append_column`, so the
//! file is an ordinary Parquet file; `writer.rs` tests that every engine reads back what
//! arrow-rs's own writer stores.

use std::sync::OnceLock;

use arrow::array::{Array, AsArray, ListArray, StringArray, StructArray};
use arrow::datatypes::{DataType, Field};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, ColumnPath};

use gatehouse_model::bytes::short_eq;

/// Rows between checks of a page's limits (arrow-rs's default write batch size).
const MINI_BATCH_ROWS: usize = 1024;

/// One step from a top-level column down to a string leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Into member `child` of a struct.
    Struct { child: usize, nullable: bool },
    /// Into the elements of a list; `rep` is the repetition level of its elements.
    List { nullable: bool, rep: i16 },
    /// The string itself.
    Leaf { nullable: bool },
}

/// The path from a top-level column to one of its string leaves, through structs and lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafPath {
    steps: Vec<Step>,
    max_def: i16,
    max_rep: i16,
}

impl LeafPath {
    /// The string leaves of `field` in Parquet leaf order, each with its path; `None` for a leaf
    /// of another type or one reached through a type other than struct and list.
    pub fn leaves_of(field: &Field) -> Vec<Option<LeafPath>> {
        let mut out = Vec::new();
        walk_field(field, &mut Vec::new(), 0, true, &mut out);
        out
    }

    /// The highest definition level of the leaf.
    pub fn max_def(&self) -> i16 {
        self.max_def
    }

    /// The highest repetition level of the leaf.
    pub fn max_rep(&self) -> i16 {
        self.max_rep
    }
}

/// Collects the leaves under `field` (reached through `steps`); `simple` is false once the path
/// went through a type this module does not follow.
fn walk_field(
    field: &Field,
    steps: &mut Vec<Step>,
    rep: i16,
    simple: bool,
    out: &mut Vec<Option<LeafPath>>,
) {
    let nullable = field.is_nullable();
    match field.data_type() {
        DataType::Struct(children) => {
            for (i, child) in children.iter().enumerate() {
                steps.push(Step::Struct { child: i, nullable });
                walk_field(child, steps, rep, simple, out);
                steps.pop();
            }
        }
        DataType::List(item) => {
            steps.push(Step::List {
                nullable,
                rep: rep + 1,
            });
            walk_field(item, steps, rep + 1, simple, out);
            steps.pop();
        }
        DataType::Utf8 if simple => {
            let mut all = steps.clone();
            all.push(Step::Leaf { nullable });
            let max_def = all
                .iter()
                .map(|s| match s {
                    Step::Struct { nullable, .. } | Step::Leaf { nullable } => i16::from(*nullable),
                    Step::List { nullable, .. } => i16::from(*nullable) + 1,
                })
                .sum();
            out.push(Some(LeafPath {
                steps: all,
                max_def,
                max_rep: rep,
            }));
        }
        // Maps, large lists and the like: every leaf below goes to arrow-rs.
        DataType::Map(entries, _) => walk_field(entries, steps, rep + 1, false, out),
        DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            walk_field(item, steps, rep + 1, false, out)
        }
        DataType::Dictionary(..) | DataType::RunEndEncoded(..) | DataType::Union(..) => {
            // Not used by Gatehouse's schemas; arrow-rs knows how many leaves they have.
            out.push(None)
        }
        _ => out.push(None),
    }
}

/// The arrays along a leaf path for one batch, resolved once instead of per value.
enum Resolved<'a> {
    Struct(&'a StructArray),
    List(&'a ListArray),
    Leaf(&'a StringArray),
}

fn resolve<'a>(path: &LeafPath, top: &'a dyn Array) -> Result<Vec<Resolved<'a>>> {
    let wrong = || ParquetError::General("a column does not have the type its schema names".into());
    let mut out = Vec::with_capacity(path.steps.len());
    let mut array = top;
    for step in &path.steps {
        match step {
            Step::Struct { child, .. } => {
                let s = array.as_struct_opt().ok_or_else(wrong)?;
                out.push(Resolved::Struct(s));
                array = s.columns().get(*child).ok_or_else(wrong)?.as_ref();
            }
            Step::List { .. } => {
                let l = array.as_list_opt::<i32>().ok_or_else(wrong)?;
                out.push(Resolved::List(l));
                array = l.values().as_ref();
            }
            Step::Leaf { .. } => out.push(Resolved::Leaf(array.as_string_opt().ok_or_else(wrong)?)),
        }
    }
    Ok(out)
}

/// Walks element `i` through struct steps (`steps` and their `arrays`, no list or leaf among
/// them): adds one to `def` for each nullable struct present, and returns `false` at the first
/// null one (the element's levels then end at `def`).
#[inline(always)]
fn structs_present(steps: &[Step], arrays: &[Resolved<'_>], i: usize, def: &mut i16) -> bool {
    for (step, array) in steps.iter().zip(arrays) {
        if let (Step::Struct { nullable: true, .. }, Resolved::Struct(s)) = (step, array) {
            if s.is_null(i) {
                return false;
            }
            *def += 1;
        }
    }
    true
}

/// The distinct values of one column chunk, in first-seen order (the dictionary page's order).
#[derive(Debug)]
struct Dictionary {
    /// Slots of an open-addressing table: the high half of the entry's hash (a tag that rules out
    /// most mismatches without touching the entry) and its index + 1 (0 when the slot is empty).
    slots: Vec<(u32, u32)>,
    /// Each entry's hash, so growing the table needs no rehashing.
    hashes: Vec<u64>,
    /// Entry `i` is `bytes[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    bytes: Vec<u8>,
    hasher: foldhash::fast::FixedState,
}

impl Dictionary {
    fn new() -> Self {
        Dictionary {
            slots: vec![(0, 0); 1024],
            hashes: Vec::new(),
            offsets: vec![0],
            bytes: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(hash_seed()),
        }
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    #[inline]
    fn get(&self, index: u32) -> &[u8] {
        let i = index as usize;
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The size of the dictionary page's values (PLAIN: a 4-byte length before each).
    fn page_bytes(&self) -> usize {
        self.bytes.len() + 4 * self.len()
    }

    /// The index of `value`, added when new.
    #[inline]
    fn intern(&mut self, value: &[u8]) -> u32 {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(value);
        let tag = (hash >> 32) as u32;
        let mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & mask;
        loop {
            match self.slots[slot] {
                (_, 0) => break,
                (t, entry) => {
                    if t == tag && short_eq(self.get(entry - 1), value) {
                        return entry - 1;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        let index = self.len() as u32;
        self.bytes.extend_from_slice(value);
        self.offsets.push(self.bytes.len() as u32);
        self.hashes.push(hash);
        self.slots[slot] = (tag, index + 1);
        if self.len() * 2 > self.slots.len() {
            self.grow();
        }
        index
    }

    fn grow(&mut self) {
        let mut slots = vec![(0u32, 0u32); self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (index, hash) in self.hashes.iter().enumerate() {
            let mut slot = (*hash as usize) & mask;
            while slots[slot].1 != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = ((*hash >> 32) as u32, index as u32 + 1);
        }
        self.slots = slots;
    }

    /// The dictionary page's body: each value PLAIN-encoded.
    fn plain_page(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.page_bytes());
        for i in 0..self.len() as u32 {
            let v = self.get(i);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }
}

/// The secret the dictionary's hashes are keyed with, chosen once per process.
fn hash_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0x0073_7472_696e_6773_u64)
    })
}

/// The values of the page being built: dictionary indices, or PLAIN bytes after the fallback.
#[derive(Debug)]
enum Values {
    Indices(Vec<u32>),
    Plain(Vec<u8>),
}

/// A data page, compressed, waiting for the chunk to close (the dictionary page goes first).
struct DataPage {
    page: CompressedPage,
    rows: usize,
}

/// Builds one column chunk of a string leaf.
pub struct StringChunkWriter {
    descr: ColumnDescPtr,
    path: LeafPath,
    compression: Compression,
    /// How pages are compressed.
    codec: PageCodec,
    page_rows_limit: usize,
    page_bytes_limit: usize,
    dictionary_bytes_limit: usize,
    dictionary: Dictionary,
    /// Whether the chunk fell back to PLAIN pages (the dictionary is then frozen).
    plain: bool,
    /// The index the column's previous value got (the commonest next value).
    last: Option<u32>,
    /// For a leaf below one list: the indices of the previous row's elements, by position, and
    /// those of the row being written.
    by_position: Vec<u32>,
    by_position_next: Vec<u32>,
    // The page being built.
    defs: Vec<i16>,
    reps: Vec<i16>,
    values: Values,
    page_rows: usize,
    /// Level entries (values and nulls) in the page.
    page_entries: usize,
    pages: Vec<DataPage>,
    /// Level entries (values and nulls) in the chunk so far.
    num_values: u64,
    rows: u64,
    unencoded_bytes: i64,
    scratch: Vec<u8>,
}

impl StringChunkWriter {
    /// A writer for the leaf `descr`, reached from its top-level column through `path`.
    pub fn new(
        descr: ColumnDescPtr,
        path: LeafPath,
        props: &WriterProperties,
    ) -> Result<StringChunkWriter> {
        if descr.max_def_level() != path.max_def || descr.max_rep_level() != path.max_rep {
            return Err(ParquetError::General(format!(
                "column {} has levels {}/{} in the Parquet schema but {}/{} along its Arrow path",
                descr.path(),
                descr.max_def_level(),
                descr.max_rep_level(),
                path.max_def,
                path.max_rep
            )));
        }
        let compression = props.compression(descr.path());
        let codec = match compression {
            Compression::ZSTD(level) => PageCodec::Zstd(level.compression_level()),
            Compression::LZ4_RAW => PageCodec::Lz4Raw,
            other => {
                return Err(ParquetError::General(format!(
                    "string chunks are written zstd- or LZ4-compressed, not {other}"
                )))
            }
        };
        Ok(StringChunkWriter {
            codec,
            descr,
            path,
            compression,
            page_rows_limit: props.data_page_row_count_limit().max(1),
            page_bytes_limit: props.data_page_size_limit().max(1),
            dictionary_bytes_limit: props.dictionary_page_size_limit().max(1),
            dictionary: Dictionary::new(),
            plain: false,
            last: None,
            by_position: Vec::new(),
            by_position_next: Vec::new(),
            defs: Vec::new(),
            reps: Vec::new(),
            values: Values::Indices(Vec::new()),
            page_rows: 0,
            page_entries: 0,
            pages: Vec::new(),
            num_values: 0,
            rows: 0,
            unencoded_bytes: 0,
            scratch: Vec::new(),
        })
    }

    /// Memory held: the dictionary, the page being built and the pages kept for the chunk.
    pub fn memory_size(&self) -> usize {
        let d = &self.dictionary;
        let values = match &self.values {
            Values::Indices(v) => v.capacity() * 4,
            Values::Plain(v) => v.capacity(),
        };
        d.bytes.capacity()
            + d.slots.capacity() * 8
            + d.hashes.capacity() * 8
            + d.offsets.capacity() * 4
            + (self.defs.capacity() + self.reps.capacity()) * 2
            + values
            + self
                .pages
                .iter()
                .map(|p| p.page.data().len())
                .sum::<usize>()
    }

    /// Whether a column may be written by this module under these properties: dictionary
    /// encoding on, zstd or LZ4 (raw) compression, version 1 data pages, and neither statistics nor a bloom
    /// filter (which this module does not write: a column asking for them goes to arrow-rs).
    pub fn suits(props: &WriterProperties, column: &ColumnPath) -> bool {
        props.dictionary_enabled(column)
            && matches!(
                props.compression(column),
                Compression::ZSTD(_) | Compression::LZ4_RAW
            )
            && props.writer_version() == WriterVersion::PARQUET_1_0
            && props.statistics_enabled(column) == EnabledStatistics::None
            && props.bloom_filter_properties(column).is_none()
    }

    /// Appends every row of `top`, the top-level column the leaf belongs to, checking the page's
    /// limits every [`MINI_BATCH_ROWS`] rows (as arrow-rs checks them every write batch).
    pub fn write(&mut self, top: &dyn Array) -> Result<()> {
        let resolved = resolve(&self.path, top)?;
        let steps = self.path.steps.clone();
        let mut row = 0;
        while row < top.len() {
            let take = MINI_BATCH_ROWS
                .min(top.len() - row)
                .min(self.page_rows_limit - self.page_rows);
            let rows = row..row + take;
            match (steps.as_slice(), resolved.as_slice()) {
                ([Step::Leaf { nullable }], [Resolved::Leaf(strings)]) => {
                    self.flat(strings, *nullable, rows)
                }
                _ if self.path.max_rep == 0 => self.in_structs(&steps, &resolved, rows),
                _ if self.path.max_rep == 1 => self.in_one_list(&steps, &resolved, rows),
                _ if self.path.max_rep == 2 => self.in_two_lists(&steps, &resolved, rows),
                _ => {
                    for i in rows {
                        self.nested(&steps, &resolved, 0, i, 0, 0);
                    }
                }
            }
            row += take;
            self.page_rows += take;
            self.rows += take as u64;
            let dictionary_full =
                !self.plain && self.dictionary.page_bytes() > self.dictionary_bytes_limit;
            if self.page_rows >= self.page_rows_limit
                || self.page_estimate() >= self.page_bytes_limit
                || dictionary_full
            {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    /// A top-level string column: one level entry per row.
    fn flat(&mut self, strings: &StringArray, nullable: bool, rows: std::ops::Range<usize>) {
        let offsets = strings.value_offsets();
        let data = strings.value_data();
        let nulls = strings.nulls().filter(|n| nullable && n.null_count() > 0);
        self.num_values += rows.len() as u64;
        self.page_entries += rows.len();
        for i in rows {
            if nullable {
                let valid = nulls.is_none_or(|n| n.is_valid(i));
                self.defs.push(i16::from(valid));
                if !valid {
                    continue;
                }
            }
            let value = &data[offsets[i] as usize..offsets[i + 1] as usize];
            self.put(value);
        }
    }

    /// A string inside structs only: its definition level is how many of the nullable structs
    /// above it (and itself) are present.
    fn in_structs(
        &mut self,
        steps: &[Step],
        arrays: &[Resolved<'_>],
        rows: std::ops::Range<usize>,
    ) {
        self.num_values += rows.len() as u64;
        self.page_entries += rows.len();
        'rows: for i in rows {
            let mut def = 0;
            for (step, array) in steps.iter().zip(arrays) {
                match (step, array) {
                    (Step::Struct { nullable, .. }, Resolved::Struct(s)) => {
                        if *nullable {
                            if s.is_null(i) {
                                self.defs.push(def);
                                continue 'rows;
                            }
                            def += 1;
                        }
                    }
                    (Step::Leaf { nullable }, Resolved::Leaf(strings)) => {
                        if *nullable {
                            if strings.is_null(i) {
                                self.defs.push(def);
                                continue 'rows;
                            }
                            def += 1;
                        }
                        if self.path.max_def > 0 {
                            self.defs.push(def);
                        }
                        self.put(strings.value(i).as_bytes());
                    }
                    // `in_structs` is only called for paths without lists.
                    _ => unreachable!("a path without lists"),
                }
            }
        }
    }

    /// A string below one list (and any structs around it): the walk of [`Self::nested`] without
    /// its recursion, for the commonest nested shape (a list of structs of strings).
    fn in_one_list(
        &mut self,
        steps: &[Step],
        arrays: &[Resolved<'_>],
        rows: std::ops::Range<usize>,
    ) {
        let Some(at) = steps.iter().position(|s| matches!(s, Step::List { .. })) else {
            return;
        };
        let (
            Step::List {
                nullable: list_nullable,
                ..
            },
            Resolved::List(list),
        ) = (&steps[at], &arrays[at])
        else {
            return;
        };
        let leaf = steps.len() - 1;
        let (Step::Leaf { nullable }, Resolved::Leaf(strings)) = (&steps[leaf], &arrays[leaf])
        else {
            return;
        };
        let offsets = list.value_offsets();
        for i in rows {
            std::mem::swap(&mut self.by_position, &mut self.by_position_next);
            self.by_position_next.clear();
            let mut def = 0;
            if !structs_present(&steps[..at], &arrays[..at], i, &mut def) {
                self.push_levels(def, 0);
                continue;
            }
            if *list_nullable {
                if list.is_null(i) {
                    self.push_levels(def, 0);
                    continue;
                }
                def += 1;
            }
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            if start == end {
                self.push_levels(def, 0);
                continue;
            }
            let def = def + 1;
            for j in start..end {
                let rep = i16::from(j != start);
                let mut d = def;
                if !structs_present(&steps[at + 1..leaf], &arrays[at + 1..leaf], j, &mut d)
                    || (*nullable && strings.is_null(j))
                {
                    self.push_levels(d, rep);
                    continue;
                }
                self.push_levels(d + i16::from(*nullable), rep);
                self.put_at(strings.value(j).as_bytes(), j - start);
            }
        }
    }

    /// A string below two lists (a list in the elements of another, with any structs around
    /// them: a Conditional Access policy's grant controls or rules): the walk of
    /// [`Self::nested`] without its recursion.
    fn in_two_lists(
        &mut self,
        steps: &[Step],
        arrays: &[Resolved<'_>],
        rows: std::ops::Range<usize>,
    ) {
        let mut at = steps
            .iter()
            .enumerate()
            .filter_map(|(k, s)| match (s, &arrays[k]) {
                (Step::List { nullable, rep }, Resolved::List(l)) => Some((k, *nullable, *rep, *l)),
                _ => None,
            });
        let (
            Some((a, outer_nullable, outer_rep, outer)),
            Some((b, inner_nullable, inner_rep, inner)),
        ) = (at.next(), at.next())
        else {
            return;
        };
        let (outer_offsets, inner_offsets) = (outer.value_offsets(), inner.value_offsets());
        let structs = |from: usize, to: usize, i: usize, def: &mut i16| {
            structs_present(&steps[from..to], &arrays[from..to], i, def)
        };
        let leaf = steps.len() - 1;
        let (Step::Leaf { nullable }, Resolved::Leaf(strings)) = (&steps[leaf], &arrays[leaf])
        else {
            return;
        };
        for i in rows {
            let mut def = 0;
            if !structs(0, a, i, &mut def) || (outer_nullable && outer.is_null(i)) {
                self.push_levels(def, 0);
                continue;
            }
            def += i16::from(outer_nullable);
            let (start, end) = (outer_offsets[i] as usize, outer_offsets[i + 1] as usize);
            if start == end {
                self.push_levels(def, 0);
                continue;
            }
            for j in start..end {
                let rep = if j == start { 0 } else { outer_rep };
                let mut d = def + 1;
                if !structs(a + 1, b, j, &mut d) || (inner_nullable && inner.is_null(j)) {
                    self.push_levels(d, rep);
                    continue;
                }
                d += i16::from(inner_nullable);
                let (first, last) = (inner_offsets[j] as usize, inner_offsets[j + 1] as usize);
                if first == last {
                    self.push_levels(d, rep);
                    continue;
                }
                for m in first..last {
                    let r = if m == first { rep } else { inner_rep };
                    let mut dd = d + 1;
                    if !structs(b + 1, leaf, m, &mut dd) || (*nullable && strings.is_null(m)) {
                        self.push_levels(dd, r);
                        continue;
                    }
                    self.push_levels(dd + i16::from(*nullable), r);
                    self.put(strings.value(m).as_bytes());
                }
            }
        }
    }

    /// Emits the levels (and value) of element `i` of the array at `steps[k]`, for paths through
    /// lists (the Dremel walk: a null or empty list is one entry at its own level; a list's
    /// elements after the first repeat at the list's level).
    fn nested(
        &mut self,
        steps: &[Step],
        arrays: &[Resolved<'_>],
        mut k: usize,
        i: usize,
        mut def: i16,
        rep: i16,
    ) {
        // Structs in a loop: only lists need another call.
        while let (Step::Struct { nullable, .. }, Resolved::Struct(s)) = (&steps[k], &arrays[k]) {
            if *nullable {
                if s.is_null(i) {
                    self.push_levels(def, rep);
                    return;
                }
                def += 1;
            }
            k += 1;
        }
        match (&steps[k], &arrays[k]) {
            (Step::Leaf { nullable }, Resolved::Leaf(strings)) => {
                if *nullable && strings.is_null(i) {
                    self.push_levels(def, rep);
                } else {
                    self.push_levels(def + i16::from(*nullable), rep);
                    self.put(strings.value(i).as_bytes());
                }
            }
            (
                Step::List {
                    nullable,
                    rep: inner,
                },
                Resolved::List(l),
            ) => {
                if *nullable && l.is_null(i) {
                    self.push_levels(def, rep);
                    return;
                }
                let def = def + i16::from(*nullable);
                let offsets = l.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if start == end {
                    self.push_levels(def, rep);
                    return;
                }
                for j in start..end {
                    let r = if j == start { rep } else { *inner };
                    self.nested(steps, arrays, k + 1, j, def + 1, r);
                }
            }
            // `resolve` builds one array per step, of the step's kind.
            _ => unreachable!("resolved arrays follow the path's steps"),
        }
    }

    /// One level entry (a value's or a null's).
    #[inline(always)]
    fn push_levels(&mut self, def: i16, rep: i16) {
        if self.path.max_def > 0 {
            self.defs.push(def);
        }
        if self.path.max_rep > 0 {
            self.reps.push(rep);
        }
        self.num_values += 1;
        self.page_entries += 1;
    }

    /// [`Self::put`] for the element at `position` of a list: the element at the same position
    /// of the previous row's list is the likeliest value (sign-ins of one app list the same
    /// Conditional Access policies in the same order), then the column's previous value.
    #[inline(always)]
    fn put_at(&mut self, value: &[u8], position: usize) {
        if let (Values::Indices(indices), Some(&before)) =
            (&mut self.values, self.by_position.get(position))
        {
            if short_eq(self.dictionary.get(before), value) {
                self.unencoded_bytes += value.len() as i64;
                indices.push(before);
                self.last = Some(before);
                self.by_position_next.push(before);
                return;
            }
        }
        self.put(value);
        if let Some(index) = self.last {
            if self.by_position_next.len() == position {
                self.by_position_next.push(index);
            }
        }
    }

    /// One value (its levels already pushed): its dictionary index, or its PLAIN bytes after the
    /// fallback. A value equal to the column's previous one costs one comparison.
    #[inline(always)]
    fn put(&mut self, value: &[u8]) {
        self.unencoded_bytes += value.len() as i64;
        match &mut self.values {
            Values::Indices(indices) => {
                let index = match self.last {
                    Some(last) if short_eq(self.dictionary.get(last), value) => last,
                    _ => self.dictionary.intern(value),
                };
                self.last = Some(index);
                indices.push(index);
            }
            Values::Plain(bytes) => {
                bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
                bytes.extend_from_slice(value);
            }
        }
    }

    /// The page's size as encoded, roughly (levels are mostly runs and cost little).
    fn page_estimate(&self) -> usize {
        match &self.values {
            Values::Indices(indices) => {
                let bits = bit_width(self.dictionary.len().saturating_sub(1) as u64) as usize;
                indices.len() * bits / 8 + (self.defs.len() + self.reps.len()) / 8
            }
            Values::Plain(bytes) => bytes.len() + (self.defs.len() + self.reps.len()) / 8,
        }
    }

    /// Encodes, compresses and keeps the page being built; switches to PLAIN pages when the
    /// dictionary has outgrown its limit.
    fn flush_page(&mut self) -> Result<()> {
        if self.page_rows == 0 {
            return Ok(());
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        if self.path.max_rep > 0 {
            encode_levels(&self.reps, self.path.max_rep, &mut body);
        }
        if self.path.max_def > 0 {
            encode_levels(&self.defs, self.path.max_def, &mut body);
        }
        let encoding = match &mut self.values {
            Values::Indices(indices) => {
                let bits = bit_width(self.dictionary.len().saturating_sub(1) as u64);
                body.push(bits);
                encode_hybrid(indices, bits, &mut body);
                indices.clear();
                Encoding::RLE_DICTIONARY
            }
            Values::Plain(bytes) => {
                body.extend_from_slice(bytes);
                bytes.clear();
                Encoding::PLAIN
            }
        };
        let compressed = compress(self.codec, &body)?;
        let num_values = u32::try_from(self.page_entries)
            .map_err(|_| ParquetError::General("a page of over 4G values".into()))?;
        let page = Page::DataPage {
            buf: Bytes::from(compressed),
            num_values,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        self.pages.push(DataPage {
            page: CompressedPage::new(page, body.len()),
            rows: self.page_rows,
        });
        self.scratch = body;
        self.defs.clear();
        self.reps.clear();
        self.page_rows = 0;
        self.page_entries = 0;
        if !self.plain && self.dictionary.page_bytes() > self.dictionary_bytes_limit {
            self.plain = true;
            self.values = Values::Plain(Vec::new());
        }
        Ok(())
    }

    /// Finishes the chunk: its bytes (dictionary page first) and what the row group needs.
    pub fn close(mut self) -> Result<(Bytes, ColumnCloseResult)> {
        self.flush_page()?;
        let mut sink = TrackedWrite::new(Vec::new());
        let mut offset_index = OffsetIndexBuilder::new();
        let (mut compressed, mut uncompressed) = (0i64, 0i64);
        let mut encodings = vec![Encoding::RLE];
        let mut stats = Vec::new();
        // The first page is always dictionary-encoded, so there is always a dictionary page.
        let data_page_offset;
        {
            let mut pages = SerializedPageWriter::new(&mut sink);
            {
                let body = self.dictionary.plain_page();
                let packed = compress(self.codec, &body)?;
                let page = Page::DictionaryPage {
                    buf: Bytes::from(packed),
                    num_values: self.dictionary.len() as u32,
                    encoding: Encoding::PLAIN,
                    is_sorted: false,
                };
                let spec = pages.write_page(CompressedPage::new(page, body.len()))?;
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
                data_page_offset = spec.offset + spec.bytes_written;
                encodings.push(Encoding::PLAIN);
                stats.push(PageEncodingStats {
                    page_type: PageType::DICTIONARY_PAGE,
                    encoding: Encoding::PLAIN,
                    count: 1,
                });
            }
            for data in std::mem::take(&mut self.pages) {
                let encoding = data.page.encoding();
                let spec = pages.write_page(data.page)?;
                compressed += spec.compressed_size as i64;
                uncompressed += spec.uncompressed_size as i64;
                offset_index
                    .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
                offset_index.append_row_count(data.rows as i64);
                if !encodings.contains(&encoding) {
                    encodings.push(encoding);
                }
                match stats.iter_mut().find(|s: &&mut PageEncodingStats| {
                    s.page_type == PageType::DATA_PAGE && s.encoding == encoding
                }) {
                    Some(s) => s.count += 1,
                    None => stats.push(PageEncodingStats {
                        page_type: PageType::DATA_PAGE,
                        encoding,
                        count: 1,
                    }),
                }
            }
            pages.close()?;
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings(encodings)
            .set_page_encoding_stats(stats)
            .set_num_values(self.num_values as i64)
            .set_total_compressed_size(compressed)
            .set_total_uncompressed_size(uncompressed)
            .set_data_page_offset(data_page_offset as i64)
            .set_dictionary_page_offset(Some(0))
            .set_unencoded_byte_array_data_bytes(Some(self.unencoded_bytes))
            .build()?;
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: self.rows,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(offset_index.build()),
        };
        Ok((bytes, close))
    }
}

/// How a chunk's pages are compressed.
#[derive(Debug, Clone, Copy)]
enum PageCodec {
    /// zstd at this level.
    Zstd(i32),
    /// LZ4 blocks without a frame (Parquet's `LZ4_RAW`).
    Lz4Raw,
}

/// Compresses a page body: LZ4 as one raw block; zstd with the calling thread's context (made
/// once per thread and level: a context is about a megabyte, too much to keep one per column).
fn compress(codec: PageCodec, body: &[u8]) -> Result<Vec<u8>> {
    use std::cell::RefCell;
    let level = match codec {
        PageCodec::Lz4Raw => return Ok(lz4_flex::block::compress(body)),
        PageCodec::Zstd(level) => level,
    };
    thread_local! {
        static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    let external = |e: std::io::Error| ParquetError::External(Box::new(e));
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        if !matches!(&*cell, Some((l, _)) if *l == level) {
            *cell = Some((level, zstd::bulk::Compressor::new(level).map_err(external)?));
        }
        let (_, compressor) = cell.as_mut().expect("set above");
        compressor.compress(body).map_err(external)
    })
}

/// Bits needed for values up to `max`.
fn bit_width(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// Levels as a data page v1 holds them: a 4-byte length, then the RLE/bit-packed values.
fn encode_levels(levels: &[i16], max: i16, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode_hybrid(levels, bit_width(max as u64), out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A value the hybrid encoding stores: a level or a dictionary index.
trait Packable: Copy + PartialEq {
    fn bits(self) -> u64;
}

impl Packable for i16 {
    #[inline(always)]
    fn bits(self) -> u64 {
        self as u16 as u64
    }
}

impl Packable for u32 {
    #[inline(always)]
    fn bits(self) -> u64 {
        self as u64
    }
}

/// The RLE / bit-packing hybrid encoding: runs of eight or more equal values as RLE runs, the
/// rest bit-packed in groups of eight (the last group padded with zeros).
fn encode_hybrid<T: Packable>(values: &[T], bits: u8, out: &mut Vec<u8>) {
    let n = values.len();
    // Whether a run of at least eight equal values starts at `i`.
    let run_starts = |i: usize| i + 8 <= n && values[i + 1..i + 8].iter().all(|x| *x == values[i]);
    let mut i = 0;
    while i < n {
        if run_starts(i) {
            let v = values[i];
            let run = 8 + values[i + 8..].iter().take_while(|x| **x == v).count();
            put_varint((run as u64) << 1, out);
            let bytes = (bits as usize).div_ceil(8);
            out.extend_from_slice(&v.bits().to_le_bytes()[..bytes]);
            i += run;
            continue;
        }
        // Bit-packed groups until a run of eight starts at a group boundary (or 63 groups, the
        // most a one-byte header counts).
        let start = i;
        let mut groups = 0;
        loop {
            i += 8;
            groups += 1;
            if i >= n || groups == 63 || run_starts(i) {
                break;
            }
        }
        put_varint(((groups as u64) << 1) | 1, out);
        let end = i.min(n);
        pack_bits(&values[start..end], groups, bits, out);
        i = end;
    }
}

/// Packs `groups` groups of eight values (`values`, padded with zeros) LSB first, `bits` each.
fn pack_bits<T: Packable>(values: &[T], groups: usize, bits: u8, out: &mut Vec<u8>) {
    if bits == 0 {
        return;
    }
    let width = u32::from(bits);
    for g in 0..groups {
        let group = &values[(g * 8).min(values.len())..((g + 1) * 8).min(values.len())];
        if width <= 8 {
            // Eight values of up to 8 bits fit one 64-bit word: `bits` bytes.
            let mut word = 0u64;
            for (k, v) in group.iter().enumerate() {
                word |= v.bits() << (k as u32 * width);
            }
            out.extend_from_slice(&word.to_le_bytes()[..bits as usize]);
        } else if width <= 16 {
            let mut word = 0u128;
            for (k, v) in group.iter().enumerate() {
                word |= u128::from(v.bits()) << (k as u32 * width);
            }
            out.extend_from_slice(&word.to_le_bytes()[..bits as usize]);
        } else {
            let (mut acc, mut filled) = (0u64, 0u32);
            for k in 0..8 {
                let v = group.get(k).map_or(0, |v| v.bits());
                acc |= v << filled;
                filled += width;
                while filled >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    filled -= 8;
                }
            }
        }
    }
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn suits_only_what_it_writes() {
        let path = ColumnPath::from("userPrincipalName");
        let zstd = || {
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(Default::default()))
                .set_statistics_enabled(EnabledStatistics::None)
        };
        assert!(StringChunkWriter::suits(&zstd().build(), &path));
        assert!(StringChunkWriter::suits(
            &crate::writer::writer_properties(),
            &path
        ));
        let refused = [
            zstd().set_compression(Compression::SNAPPY).build(),
            zstd().set_dictionary_enabled(false).build(),
            zstd()
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
            zstd()
                .set_column_statistics_enabled(path.clone(), EnabledStatistics::Page)
                .build(),
            zstd()
                .set_column_bloom_filter_enabled(path.clone(), true)
                .build(),
        ];
        for props in &refused {
            assert!(!StringChunkWriter::suits(props, &path));
        }
    }

    /// Decodes the RLE / bit-packing hybrid (a reader's view), for checking the encoder.
    fn decode_hybrid(mut data: &[u8], bits: u8, count: usize) -> Vec<u64> {
        let varint = |data: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = data[0];
                *data = &data[1..];
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        };
        let mut out = Vec::new();
        while out.len() < count {
            let header = varint(&mut data);
            if header & 1 == 0 {
                let bytes = (bits as usize).div_ceil(8);
                let mut v = [0u8; 8];
                v[..bytes].copy_from_slice(&data[..bytes]);
                data = &data[bytes..];
                out.extend(std::iter::repeat_n(
                    u64::from_le_bytes(v),
                    (header >> 1) as usize,
                ));
            } else {
                let values = (header >> 1) as usize * 8;
                let bytes = values * bits as usize / 8;
                let (packed, rest) = data.split_at(bytes);
                data = rest;
                for k in 0..values {
                    let mut v = 0u64;
                    for b in 0..bits as usize {
                        let at = k * bits as usize + b;
                        v |= u64::from((packed[at / 8] >> (at % 8)) & 1) << b;
                    }
                    out.push(v);
                }
            }
        }
        assert!(data.is_empty(), "{} bytes left over", data.len());
        out.truncate(count);
        out
    }

    #[test]
    fn the_hybrid_encoding_decodes_to_its_values() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for bits in [0u8, 1, 2, 3, 5, 8, 9, 12, 16, 17, 20, 31] {
            let max = if bits == 0 { 0 } else { (1u64 << bits) - 1 };
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 600, 5000] {
                // Runs of random length mixed with noise, so both kinds of run appear.
                let mut values: Vec<u32> = Vec::with_capacity(len);
                while values.len() < len {
                    let v = (next() & max) as u32;
                    let run = match next() % 4 {
                        0 => 1,
                        1 => (next() % 8) as usize + 1,
                        2 => (next() % 40) as usize + 8,
                        _ => (next() % 600) as usize,
                    };
                    for _ in 0..run.min(len - values.len()).max(1) {
                        if values.len() < len {
                            values.push(if next() % 9 == 0 {
                                (next() & max) as u32
                            } else {
                                v
                            });
                        }
                    }
                }
                let mut out = Vec::new();
                encode_hybrid(&values, bits, &mut out);
                let back = decode_hybrid(&out, bits, len);
                let want: Vec<u64> = values.iter().map(|v| u64::from(*v)).collect();
                assert_eq!(back, want, "bits {bits}, len {len}");
                // Levels take the same encoding.
                let levels: Vec<i16> = values.iter().map(|v| (*v & 0x7fff) as i16).collect();
                if bits <= 15 {
                    let mut out = Vec::new();
                    encode_hybrid(&levels, bits, &mut out);
                    assert_eq!(decode_hybrid(&out, bits, len), want, "levels, bits {bits}");
                }
            }
        }
    }

    #[test]
    fn the_dictionary_gives_each_value_one_index_in_first_seen_order() {
        let mut d = Dictionary::new();
        let values: Vec<String> = (0..20_000)
            .map(|i| format!("value-{}", i % 7_000))
            .collect();
        let indices: Vec<u32> = values.iter().map(|v| d.intern(v.as_bytes())).collect();
        assert_eq!(d.len(), 7_000);
        for (v, i) in values.iter().zip(&indices) {
            assert_eq!(d.get(*i), v.as_bytes());
        }
        assert_eq!(indices[..3], [0, 1, 2]);
        assert_eq!(d.intern(b""), 7_000);
        assert_eq!(d.intern(b""), 7_000);
        // The page: each value with its length, in index order.
        let page = d.plain_page();
        assert_eq!(&page[..4], &7u32.to_le_bytes());
        assert_eq!(&page[4..11], b"value-0");
        assert_eq!(page.len(), d.page_bytes());
    }

    #[test]
    fn leaf_paths_count_levels_as_parquet_does() {
        use arrow::datatypes::Fields;
        let s = |n: &str| Field::new(n, DataType::Utf8, true);
        let field = Field::new(
            "p",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(Fields::from(vec![
                    s("id"),
                    Field::new("n", DataType::Int32, true),
                    Field::new(
                        "grants",
                        DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
                        true,
                    ),
                ])),
                true,
            ))),
            true,
        );
        let leaves = LeafPath::leaves_of(&field);
        assert_eq!(leaves.len(), 3);
        let id = leaves[0].as_ref().unwrap();
        assert_eq!((id.max_def(), id.max_rep()), (4, 1));
        assert!(leaves[1].is_none());
        let grants = leaves[2].as_ref().unwrap();
        assert_eq!((grants.max_def(), grants.max_rep()), (5, 2));
        // The same counts as the Parquet schema arrow-rs derives.
        let schema = arrow::datatypes::Schema::new(vec![field]);
        let parquet = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema)
            .unwrap();
        for (n, leaf) in [(0, id), (2, grants)] {
            let c = parquet.column(n);
            assert_eq!(
                (c.max_def_level(), c.max_rep_level()),
                (leaf.max_def(), leaf.max_rep())
            );
        }
    }
}
