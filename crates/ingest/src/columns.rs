//! Column buffers for [`crate::convert`]: plain vectors that grow by one value per row, can be cut
//! back to an earlier length (so a record given up half-way leaves no trace), and become Arrow
//! arrays without copying.
//!
//! Arrow's own builders cannot be cut back, which forced the fast path to check a whole record
//! before appending any of it: two walks over every value. With these buffers it appends in one
//! walk and, on the rare record it gives up, truncates every column to the previous row count.
//! After `finish` each buffer starts again with the capacity the last batch
//! needed, so a builder reused from batch to batch stops reallocating.

use arrow::array::{BooleanArray, PrimitiveArray, StringArray, TimestampMicrosecondArray};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowNativeType, ArrowPrimitiveType, TimestampMicrosecondType};

/// The most a buffer reserves for its next batch (a huge batch should not pin its size).
const MAX_RESERVED_BYTES: usize = 8 << 20;

/// Takes the contents of `v`, leaving an empty vector with room for a quarter more elements
/// than it held (up to [`MAX_RESERVED_BYTES`]): batches vary in size, and a batch a little
/// larger than the last would otherwise double the buffer, copying it into fresh pages.
fn take_sized<T>(v: &mut Vec<T>) -> Vec<T> {
    let room = (v.len() + v.len() / 4).min(MAX_RESERVED_BYTES / std::mem::size_of::<T>().max(1));
    std::mem::replace(v, Vec::with_capacity(room))
}

/// Which values are present: one flag per value, `false` for null.
#[derive(Debug, Default)]
pub struct Validity {
    flags: Vec<bool>,
    nulls: usize,
}

impl Validity {
    /// Records one value, present or null.
    #[inline(always)]
    pub fn push(&mut self, present: bool) {
        self.flags.push(present);
        self.nulls += usize::from(!present);
    }

    /// Records `n` nulls.
    pub fn push_nulls(&mut self, n: usize) {
        self.flags.resize(self.flags.len() + n, false);
        self.nulls += n;
    }

    /// Values recorded.
    #[inline]
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether no values are recorded.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Keeps the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        if n < self.flags.len() {
            self.nulls -= self.flags[n..].iter().filter(|f| !**f).count();
            self.flags.truncate(n);
        }
    }

    /// The null buffer of the values so far (none when all are present); starts again empty.
    pub fn finish(&mut self) -> Option<NullBuffer> {
        let flags = take_sized(&mut self.flags);
        let nulls = std::mem::take(&mut self.nulls);
        (nulls > 0).then(|| NullBuffer::from(flags))
    }
}

/// Values up to this long are copied inline by [`append_bytes`].
const SHORT_COPY: usize = 64;

/// Appends `src` to `data`. Most values are short (names, enums, identifiers), and for them a
/// call of `memcpy` (through the dynamic linker's table, then its dispatch on the size) costs
/// more than the copy: short ones are copied inline, in at most four 16-byte moves (or two
/// overlapping smaller ones), never reading or writing outside `src` and `data`'s capacity.
#[inline(always)]
fn append_bytes(data: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    if n > SHORT_COPY {
        data.extend_from_slice(src);
        return;
    }
    data.reserve(n);
    let len = data.len();
    // SAFETY: `reserve` made room for `n` more bytes after `len`; every move below reads within
    // `src` (offsets below `n`, each move ending at or before `n`) and writes the same offsets
    // after `len`; `u8` has no invalid values and no alignment, and the areas cannot overlap
    // (`src` is borrowed while `data` is borrowed mutably).
    unsafe {
        let (s, d) = (src.as_ptr(), data.as_mut_ptr().add(len));
        #[inline(always)]
        unsafe fn mv<const W: usize>(s: *const u8, d: *mut u8, at: usize) {
            // SAFETY: the caller keeps `at..at + W` within both areas.
            unsafe {
                d.add(at)
                    .cast::<[u8; W]>()
                    .write_unaligned(s.add(at).cast::<[u8; W]>().read_unaligned())
            }
        }
        if n >= 16 {
            let mut at = 0;
            while at + 16 < n {
                mv::<16>(s, d, at);
                at += 16;
            }
            mv::<16>(s, d, n - 16);
        } else if n >= 8 {
            mv::<8>(s, d, 0);
            mv::<8>(s, d, n - 8);
        } else if n >= 4 {
            mv::<4>(s, d, 0);
            mv::<4>(s, d, n - 4);
        } else if n > 0 {
            mv::<1>(s, d, 0);
            mv::<1>(s, d, n / 2);
            mv::<1>(s, d, n - 1);
        }
        data.set_len(len + n);
    }
}

/// A UTF-8 string column.
#[derive(Debug)]
pub struct Strings {
    offsets: Vec<i32>,
    data: Vec<u8>,
    valid: Validity,
}

impl Default for Strings {
    fn default() -> Self {
        Strings {
            offsets: vec![0],
            data: Vec::new(),
            valid: Validity::default(),
        }
    }
}

impl Strings {
    /// Ends the value whose bytes were just added to `data`.
    #[inline(always)]
    fn end_value(&mut self, present: bool) {
        let end = i32::try_from(self.data.len()).expect("string column over 2 GiB in one batch");
        self.offsets.push(end);
        self.valid.push(present);
    }

    /// Appends a string.
    #[inline(always)]
    pub fn push(&mut self, s: &str) {
        append_bytes(&mut self.data, s.as_bytes());
        self.end_value(true);
    }

    /// Appends a string written by `write` into a scratch `String` the buffer lends it.
    pub fn push_with(&mut self, scratch: &mut String, write: impl FnOnce(&mut String)) {
        scratch.clear();
        write(scratch);
        self.push(scratch);
    }

    /// Appends a null.
    #[inline(always)]
    pub fn push_null(&mut self) {
        self.end_value(false);
    }

    /// Appends `n` nulls.
    pub fn push_nulls(&mut self, n: usize) {
        let end = *self.offsets.last().unwrap_or(&0);
        self.offsets.resize(self.offsets.len() + n, end);
        self.valid.push_nulls(n);
    }

    /// Appends `s` or a null.
    #[inline]
    pub fn push_option(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push(s),
            None => self.push_null(),
        }
    }

    /// Values appended.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether no values are appended.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    /// Keeps the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.offsets.truncate(n + 1);
            self.data.truncate(self.offsets[n] as usize);
            self.valid.truncate(n);
        }
    }

    /// The values so far as an array; starts again empty.
    pub fn finish(&mut self) -> StringArray {
        let offsets = take_sized(&mut self.offsets);
        self.offsets.push(0);
        let data = take_sized(&mut self.data);
        let nulls = self.valid.finish();
        let offsets = OffsetBuffer::new(offsets.into());
        debug_assert!(std::str::from_utf8(&data)
            .is_ok_and(|s| offsets.iter().all(|o| s.is_char_boundary(*o as usize))));
        // SAFETY: every value was appended whole as a `&str` (`push`, `push_with`), and every
        // offset marks where one ended; `truncate` keeps a prefix of whole values. So `data` is
        // UTF-8 and each offset is a character boundary within it, which is what `try_new` would
        // check. Checking it again cost a tenth of the fast path's column building.
        unsafe { StringArray::new_unchecked(offsets, data.into(), nulls) }
    }
}

/// A column of fixed-width values: integers, floats, timestamps (ns) and booleans.
#[derive(Debug)]
pub struct Fixed<V> {
    values: Vec<V>,
    valid: Validity,
}

impl<V> Default for Fixed<V> {
    fn default() -> Self {
        Fixed {
            values: Vec::new(),
            valid: Validity::default(),
        }
    }
}

impl<V: Copy + Default> Fixed<V> {
    /// Appends a value.
    #[inline(always)]
    pub fn push(&mut self, v: V) {
        self.values.push(v);
        self.valid.push(true);
    }

    /// Appends a null.
    #[inline(always)]
    pub fn push_null(&mut self) {
        self.values.push(V::default());
        self.valid.push(false);
    }

    /// Appends `n` nulls.
    pub fn push_nulls(&mut self, n: usize) {
        self.values.resize(self.values.len() + n, V::default());
        self.valid.push_nulls(n);
    }

    /// Appends `v` or a null.
    #[inline]
    pub fn push_option(&mut self, v: Option<V>) {
        match v {
            Some(v) => self.push(v),
            None => self.push_null(),
        }
    }

    /// Values appended.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no values are appended.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Keeps the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        self.values.truncate(n);
        self.valid.truncate(n);
    }
}

impl<V: ArrowNativeType> Fixed<V> {
    /// The values so far as an array of `T`; starts again empty.
    pub fn finish_primitive<T: ArrowPrimitiveType<Native = V>>(&mut self) -> PrimitiveArray<T> {
        let values = ScalarBuffer::from(take_sized(&mut self.values));
        PrimitiveArray::new(values, self.valid.finish())
    }
}

impl Fixed<i64> {
    /// The values so far, nanoseconds since the epoch, as a UTC timestamp array of the stored
    /// precision ([`gatehouse_model::schema::timestamp_type`]: each value rounded down to its
    /// microsecond); starts again empty.
    pub fn finish_timestamps(&mut self) -> TimestampMicrosecondArray {
        for v in &mut self.values {
            *v = v.div_euclid(1000);
        }
        self.finish_primitive::<TimestampMicrosecondType>()
            .with_timezone("UTC")
    }
}

impl Fixed<bool> {
    /// The values so far as a boolean array; starts again empty.
    pub fn finish_boolean(&mut self) -> BooleanArray {
        let values = BooleanBuffer::from(take_sized(&mut self.values));
        BooleanArray::new(values, self.valid.finish())
    }
}

/// The offsets and validity of a list or map column (its items live in a child column).
#[derive(Debug)]
pub struct Offsets {
    offsets: Vec<i32>,
    valid: Validity,
}

impl Default for Offsets {
    fn default() -> Self {
        Offsets {
            offsets: vec![0],
            valid: Validity::default(),
        }
    }
}

impl Offsets {
    /// The number of child items so far.
    #[inline]
    pub fn items(&self) -> usize {
        *self.offsets.last().unwrap_or(&0) as usize
    }

    /// Ends a present list whose items the child column now holds (`items` in all).
    #[inline(always)]
    pub fn push(&mut self, items: usize) {
        self.offsets
            .push(i32::try_from(items).expect("list column over 2^31 items in one batch"));
        self.valid.push(true);
    }

    /// Appends a null list.
    #[inline(always)]
    pub fn push_null(&mut self) {
        self.offsets.push(*self.offsets.last().unwrap_or(&0));
        self.valid.push(false);
    }

    /// Appends `n` null lists.
    pub fn push_nulls(&mut self, n: usize) {
        let end = *self.offsets.last().unwrap_or(&0);
        self.offsets.resize(self.offsets.len() + n, end);
        self.valid.push_nulls(n);
    }

    /// Lists appended.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether no lists are appended.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    /// Keeps the first `n` lists; returns how many child items they hold (the child column is
    /// cut to that).
    pub fn truncate(&mut self, n: usize) -> usize {
        if n < self.len() {
            self.offsets.truncate(n + 1);
            self.valid.truncate(n);
        }
        self.offsets[n.min(self.offsets.len() - 1)] as usize
    }

    /// The offsets and nulls so far; starts again empty.
    pub fn finish(&mut self) -> (OffsetBuffer<i32>, Option<NullBuffer>) {
        let offsets = take_sized(&mut self.offsets);
        self.offsets.push(0);
        (OffsetBuffer::new(offsets.into()), self.valid.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Int64Type;

    /// Every length the inline copy handles, and past it, after buffers of every fill (so the
    /// moves land at every offset and capacity edge): the bytes are exactly the values'.
    #[test]
    fn strings_hold_every_length_exactly() {
        let text: String = (0..200u32)
            .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
            .collect();
        for before in 0..20 {
            let mut s = Strings::default();
            let mut want = Vec::new();
            for n in (0..=SHORT_COPY + 20).chain([0, 1, 200]) {
                let value = &text[before..before + n.min(text.len() - before)];
                s.push(value);
                want.push(Some(value.to_string()));
            }
            let got = s.finish();
            let got: Vec<Option<String>> = got.iter().map(|v| v.map(str::to_string)).collect();
            assert_eq!(got, want, "after {before}");
        }
    }

    #[test]
    fn strings_truncate_to_an_earlier_row() {
        let mut s = Strings::default();
        s.push("a");
        s.push_null();
        s.push("bcd");
        s.push("e");
        s.truncate(2);
        s.push("f");
        let a = s.finish();
        assert_eq!(a.len(), 3);
        assert_eq!(a.value(0), "a");
        assert!(a.is_null(1));
        assert_eq!(a.value(2), "f");
        // Starts again empty and usable.
        s.push("g");
        assert_eq!(s.finish().value(0), "g");
    }

    #[test]
    fn nulls_are_counted_through_truncation() {
        let mut p = Fixed::<i64>::default();
        p.push(1);
        p.push_null();
        p.truncate(1);
        let a = p.finish_primitive::<Int64Type>();
        assert_eq!(a.null_count(), 0);
        assert!(a.nulls().is_none());
        let mut b = Fixed::<bool>::default();
        b.push_option(Some(true));
        b.push_option(None);
        let a = b.finish_boolean();
        assert_eq!(a.null_count(), 1);
        assert!(a.value(0));
    }

    #[test]
    fn nulls_in_bulk_equal_nulls_one_by_one() {
        let (mut a, mut b) = (Strings::default(), Strings::default());
        let (mut c, mut d) = (Fixed::<i32>::default(), Fixed::<i32>::default());
        let (mut e, mut f) = (Offsets::default(), Offsets::default());
        for n in [0, 1, 3, 70] {
            a.push("x");
            b.push("x");
            c.push(7);
            d.push(7);
            e.push(e.items() + 2);
            f.push(f.items() + 2);
            a.push_nulls(n);
            c.push_nulls(n);
            f.push_nulls(n);
            for _ in 0..n {
                b.push_null();
                d.push_null();
                e.push_null();
            }
        }
        assert_eq!(a.finish(), b.finish());
        assert_eq!(
            c.finish_primitive::<arrow::datatypes::Int32Type>(),
            d.finish_primitive()
        );
        let ((eo, en), (fo, fnn)) = (e.finish(), f.finish());
        assert_eq!((eo, en), (fo, fnn));
    }

    #[test]
    fn offsets_say_how_many_items_to_keep() {
        let mut o = Offsets::default();
        o.push(2);
        o.push_null();
        o.push(5);
        assert_eq!(o.truncate(2), 2);
        assert_eq!(o.truncate(5), 2);
        assert_eq!(o.truncate(0), 0);
        assert!(o.is_empty());
    }
}
