//! Hand-rolled JSON writing into `Vec<u8>`: objects/arrays with automatic commas, string
//! escaping, GUIDs, timestamps in the several shapes Entra emits, and base64url token ids.
//!
//! Building `serde_json::Value` trees per record would cost several times the whole budget of
//! a record, so records are written field by field straight into the output buffer.

/// Time in 100-nanosecond ticks since the Unix epoch (the .NET precision Entra uses).
pub(crate) type Ticks = i64;

/// Ticks per second.
pub(crate) const TICKS_PER_SEC: i64 = 10_000_000;
/// Ticks per minute.
pub(crate) const TICKS_PER_MIN: i64 = 60 * TICKS_PER_SEC;
/// Ticks per hour.
pub(crate) const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MIN;
/// Ticks per day.
pub(crate) const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True when `bytes` contains a control character, a quote or a backslash (8 bytes at a
/// time; the common case is a clean string).
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let v = u64::from_le_bytes(a);
        let lt = v.wrapping_sub(LO * 0x20) & !v & HI;
        let q = v ^ (LO * 0x22);
        let hq = q.wrapping_sub(LO) & !q & HI;
        let bs = v ^ (LO * 0x5C);
        let hb = bs.wrapping_sub(LO) & !bs & HI;
        if (lt | hq | hb) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// Appends `s` as JSON string content (no surrounding quotes), escaping as needed.
#[inline]
pub(crate) fn esc(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        b.extend_from_slice(bytes);
        return;
    }
    for &c in bytes {
        match c {
            b'"' => b.extend_from_slice(b"\\\""),
            b'\\' => b.extend_from_slice(b"\\\\"),
            b'\n' => b.extend_from_slice(b"\\n"),
            b'\r' => b.extend_from_slice(b"\\r"),
            b'\t' => b.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                b.extend_from_slice(b"\\u00");
                b.push(HEX[(c >> 4) as usize]);
                b.push(HEX[(c & 15) as usize]);
            }
            c => b.push(c),
        }
    }
}

/// Appends a quoted JSON string.
#[inline]
pub(crate) fn qstr(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    esc(b, s);
    b.push(b'"');
}

/// Returns `s` encoded as a JSON string literal (with quotes), e.g. for modifiedProperties values.
pub(crate) fn json_string_literal(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 2);
    qstr(&mut v, s);
    String::from_utf8(v).unwrap_or_default()
}

/// Appends a decimal integer.
#[inline]
pub(crate) fn int(b: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        b.push(b'-');
    }
    b.extend_from_slice(&buf[i..]);
}

/// Appends a GUID in lowercase 8-4-4-4-12 form (no quotes).
#[inline]
pub(crate) fn guid(b: &mut Vec<u8>, g: u128) {
    let bytes = g.to_be_bytes();
    let mut out = [0u8; 36];
    let mut o = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if i == 4 || i == 6 || i == 8 || i == 10 {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[(byte >> 4) as usize];
        out[o + 1] = HEX[(byte & 15) as usize];
        o += 2;
    }
    b.extend_from_slice(&out);
}

/// A GUID as an owned string.
pub(crate) fn guid_string(g: u128) -> String {
    let mut v = Vec::with_capacity(36);
    guid(&mut v, g);
    String::from_utf8(v).unwrap_or_default()
}

/// Parses a GUID string (8-4-4-4-12 hex) into its 128-bit value.
pub(crate) fn parse_guid(s: &str) -> Option<u128> {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 5
        || parts[0].len() != 8
        || parts[1].len() != 4
        || parts[2].len() != 4
        || parts[3].len() != 4
        || parts[4].len() != 12
    {
        return None;
    }
    let hex: String = parts.concat();
    u128::from_str_radix(&hex, 16).ok()
}

/// Appends lowercase hex of `bytes`.
pub(crate) fn hex_lower(b: &mut Vec<u8>, bytes: &[u8]) {
    for byte in bytes {
        b.push(HEX[(byte >> 4) as usize]);
        b.push(HEX[(byte & 15) as usize]);
    }
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends the Entra `uniqueTokenIdentifier` for a request id: base64url (unpadded) of the
/// GUID's .NET byte layout (first three fields little-endian), 22 characters.
pub(crate) fn token_id(b: &mut Vec<u8>, g: u128) {
    let be = g.to_be_bytes();
    let le = [
        be[3], be[2], be[1], be[0], be[5], be[4], be[7], be[6], be[8], be[9], be[10], be[11],
        be[12], be[13], be[14], be[15],
    ];
    base64url(b, &le);
}

/// Appends unpadded base64url of `data`.
pub(crate) fn base64url(b: &mut Vec<u8>, data: &[u8]) {
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        b.push(B64URL[(n >> 18) as usize & 63]);
        b.push(B64URL[(n >> 12) as usize & 63]);
        b.push(B64URL[(n >> 6) as usize & 63]);
        b.push(B64URL[n as usize & 63]);
    }
    let rem = chunks.remainder();
    match rem.len() {
        1 => {
            let n = (rem[0] as u32) << 16;
            b.push(B64URL[(n >> 18) as usize & 63]);
            b.push(B64URL[(n >> 12) as usize & 63]);
        }
        2 => {
            let n = (rem[0] as u32) << 16 | (rem[1] as u32) << 8;
            b.push(B64URL[(n >> 18) as usize & 63]);
            b.push(B64URL[(n >> 12) as usize & 63]);
            b.push(B64URL[(n >> 6) as usize & 63]);
        }
        _ => {}
    }
}

/// Appends a dotted IPv4 address.
pub(crate) fn ipv4(b: &mut Vec<u8>, ip: u32) {
    let o = ip.to_be_bytes();
    for (i, x) in o.iter().enumerate() {
        if i > 0 {
            b.push(b'.');
        }
        int(b, *x as i64);
    }
}

/// An address as sign-in logs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ip {
    V4(u32),
    V6(u128),
}

/// Appends an address (IPv6 in RFC 5952 canonical form).
pub(crate) fn ip(b: &mut Vec<u8>, ip: Ip) {
    match ip {
        Ip::V4(x) => ipv4(b, x),
        Ip::V6(x) => {
            use std::io::Write;
            let _ = write!(b, "{}", std::net::Ipv6Addr::from(x));
        }
    }
}

/// An IPv4 address as a string.
pub(crate) fn ipv4_string(ip: u32) -> String {
    let o = ip.to_be_bytes();
    format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
}

/// Civil date (year, month, day) from days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
fn two(b: &mut Vec<u8>, v: u32) {
    b.push(b'0' + (v / 10) as u8);
    b.push(b'0' + (v % 10) as u8);
}

/// Broken-down time.
struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    frac: u32,
}

#[inline]
fn parts(t: Ticks) -> Parts {
    let days = t.div_euclid(TICKS_PER_DAY);
    let rem = t.rem_euclid(TICKS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = (rem / TICKS_PER_SEC) as u32;
    Parts {
        y,
        mo,
        d,
        h: secs / 3600,
        mi: (secs / 60) % 60,
        s: secs % 60,
        frac: (rem % TICKS_PER_SEC) as u32,
    }
}

#[inline]
fn date_time(b: &mut Vec<u8>, p: &Parts) {
    int(b, p.y);
    b.push(b'-');
    two(b, p.mo);
    b.push(b'-');
    two(b, p.d);
    b.push(b'T');
    two(b, p.h);
    b.push(b':');
    two(b, p.mi);
    b.push(b':');
    two(b, p.s);
}

#[inline]
fn frac7(b: &mut Vec<u8>, frac: u32, trim: bool) {
    let mut digits = [0u8; 7];
    let mut f = frac;
    for i in (0..7).rev() {
        digits[i] = b'0' + (f % 10) as u8;
        f /= 10;
    }
    let mut n = 7;
    if trim {
        while n > 0 && digits[n - 1] == b'0' {
            n -= 1;
        }
        if n == 0 {
            return;
        }
    }
    b.push(b'.');
    b.extend_from_slice(&digits[..n]);
}

/// Timestamp shapes used by the different record kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeFmt {
    /// `2024-07-23T15:37:27Z` (Graph signIn / provisioning).
    SecZ,
    /// `2024-12-27T10:01:19.5796748Z` (diag envelope `time`, Graph directoryAudit).
    Frac7Z,
    /// `2022-02-08T06:22:13.161064+00:00` (diag properties, trailing zeros trimmed).
    TrimOffset,
    /// `2022-08-23T13:36:52.869547Z` (diag provisioning properties, trimmed).
    TrimZ,
    /// `12/12/2025 3:03:58 PM` (US format seen in AD FS diag records).
    Us,
}

/// Appends a timestamp in the given shape (no quotes).
pub(crate) fn time(b: &mut Vec<u8>, t: Ticks, fmt: TimeFmt) {
    let p = parts(t);
    match fmt {
        TimeFmt::SecZ => {
            date_time(b, &p);
            b.push(b'Z');
        }
        TimeFmt::Frac7Z => {
            date_time(b, &p);
            frac7(b, p.frac, false);
            b.push(b'Z');
        }
        TimeFmt::TrimOffset => {
            date_time(b, &p);
            frac7(b, p.frac, true);
            b.extend_from_slice(b"+00:00");
        }
        TimeFmt::TrimZ => {
            date_time(b, &p);
            frac7(b, p.frac, true);
            b.push(b'Z');
        }
        TimeFmt::Us => {
            int(b, p.mo as i64);
            b.push(b'/');
            int(b, p.d as i64);
            b.push(b'/');
            int(b, p.y);
            b.push(b' ');
            let h12 = match p.h % 12 {
                0 => 12,
                h => h,
            };
            int(b, h12 as i64);
            b.push(b':');
            two(b, p.mi);
            b.push(b':');
            two(b, p.s);
            b.extend_from_slice(if p.h < 12 { b" AM" } else { b" PM" });
        }
    }
}

/// A timestamp as an owned string.
pub(crate) fn time_string(t: Ticks, fmt: TimeFmt) -> String {
    let mut v = Vec::with_capacity(40);
    time(&mut v, t, fmt);
    String::from_utf8(v).unwrap_or_default()
}

/// JSON object writer that inserts commas automatically.
pub(crate) struct Obj<'a> {
    pub(crate) b: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    #[inline]
    pub(crate) fn new(b: &'a mut Vec<u8>) -> Obj<'a> {
        b.push(b'{');
        Obj { b, first: true }
    }

    /// Writes `"key":` (with a leading comma when needed).
    #[inline]
    pub(crate) fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if self.first {
            self.first = false;
        } else {
            self.b.push(b',');
        }
        self.b.push(b'"');
        self.b.extend_from_slice(k.as_bytes());
        self.b.extend_from_slice(b"\":");
        self.b
    }

    /// String field.
    #[inline]
    pub(crate) fn str(&mut self, k: &str, v: &str) {
        let b = self.key(k);
        qstr(b, v);
    }

    /// Optional string field (`null` when absent).
    #[inline]
    pub(crate) fn opt(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(s) => self.str(k, s),
            None => self.null(k),
        }
    }

    /// `null` field.
    #[inline]
    pub(crate) fn null(&mut self, k: &str) {
        self.key(k).extend_from_slice(b"null");
    }

    /// Boolean field.
    #[inline]
    pub(crate) fn bool(&mut self, k: &str, v: bool) {
        self.key(k)
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// Integer field.
    #[inline]
    pub(crate) fn int(&mut self, k: &str, v: i64) {
        let b = self.key(k);
        int(b, v);
    }

    /// Raw JSON value field (already valid JSON).
    #[inline]
    pub(crate) fn raw(&mut self, k: &str, v: &[u8]) {
        self.key(k).extend_from_slice(v);
    }

    /// Quoted GUID field.
    #[inline]
    pub(crate) fn guid(&mut self, k: &str, g: u128) {
        let b = self.key(k);
        b.push(b'"');
        guid(b, g);
        b.push(b'"');
    }

    /// Quoted timestamp field.
    #[inline]
    pub(crate) fn time(&mut self, k: &str, t: Ticks, fmt: TimeFmt) {
        let b = self.key(k);
        b.push(b'"');
        time(b, t, fmt);
        b.push(b'"');
    }

    /// Nested object field.
    #[inline]
    pub(crate) fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj)) {
        let b = self.key(k);
        let mut o = Obj::new(b);
        f(&mut o);
        o.end();
    }

    /// Nested array field.
    #[inline]
    pub(crate) fn arr(&mut self, k: &str, f: impl FnOnce(&mut Arr)) {
        let b = self.key(k);
        let mut a = Arr::new(b);
        f(&mut a);
        a.end();
    }

    /// Array of strings field.
    #[inline]
    pub(crate) fn strs(&mut self, k: &str, v: &[&str]) {
        self.arr(k, |a| {
            for s in v {
                a.str(s);
            }
        });
    }

    /// Closes the object.
    #[inline]
    pub(crate) fn end(self) {
        self.b.push(b'}');
    }
}

/// JSON array writer that inserts commas automatically.
pub(crate) struct Arr<'a> {
    b: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Arr<'a> {
    /// Opens an array.
    #[inline]
    pub(crate) fn new(b: &'a mut Vec<u8>) -> Arr<'a> {
        b.push(b'[');
        Arr { b, first: true }
    }

    #[inline]
    fn sep(&mut self) -> &mut Vec<u8> {
        if self.first {
            self.first = false;
        } else {
            self.b.push(b',');
        }
        self.b
    }

    /// String element.
    #[inline]
    pub(crate) fn str(&mut self, v: &str) {
        let b = self.sep();
        qstr(b, v);
    }

    /// Raw JSON element.
    #[inline]
    pub(crate) fn raw(&mut self, v: &[u8]) {
        self.sep().extend_from_slice(v);
    }

    /// Object element.
    #[inline]
    pub(crate) fn obj(&mut self, f: impl FnOnce(&mut Obj)) {
        let b = self.sep();
        let mut o = Obj::new(b);
        f(&mut o);
        o.end();
    }

    /// Closes the array.
    #[inline]
    pub(crate) fn end(self) {
        self.b.push(b']');
    }
}

/// Renders a small object into an owned byte fragment (used for precomputed pieces).
pub(crate) fn fragment(f: impl FnOnce(&mut Obj)) -> Vec<u8> {
    let mut v = Vec::new();
    let mut o = Obj::new(&mut v);
    f(&mut o);
    o.end();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ids() {
        // 2022-02-08T06:22:13.1610640Z
        let days = days_from_civil(2022, 2, 8);
        let t = days * TICKS_PER_DAY + (6 * 3600 + 22 * 60 + 13) * TICKS_PER_SEC + 1_610_640;
        assert_eq!(
            time_string(t, TimeFmt::Frac7Z),
            "2022-02-08T06:22:13.1610640Z"
        );
        assert_eq!(
            time_string(t, TimeFmt::TrimOffset),
            "2022-02-08T06:22:13.161064+00:00"
        );
        assert_eq!(time_string(t, TimeFmt::SecZ), "2022-02-08T06:22:13Z");
        assert_eq!(time_string(t, TimeFmt::Us), "2/8/2022 6:22:13 AM");
        assert_eq!(civil_from_days(days), (2022, 2, 8));
        let g = parse_guid("a3bdc22e-6587-4ea7-b90a-28279cae8c00").unwrap();
        assert_eq!(guid_string(g), "a3bdc22e-6587-4ea7-b90a-28279cae8c00");
        let mut v = Vec::new();
        token_id(&mut v, g);
        assert_eq!(v, b"LsK9o4dlp065CignnK6MAA");
        for probe in [
            "plain ascii text here",
            "caf\u{e9} \u{a0}x",
            "12345678\"",
            "1234567890abcdef\\",
        ] {
            let mut v = Vec::new();
            esc(&mut v, probe);
            let quoted = format!("\"{}\"", String::from_utf8(v).unwrap_or_default());
            assert_eq!(quoted, serde_json::to_string(probe).unwrap_or_default());
        }
        let mut e = Vec::new();
        esc(&mut e, "a\"b\\c\n\u{1}");
        assert_eq!(e, b"a\\\"b\\\\c\\n\\u0001");
    }
}
