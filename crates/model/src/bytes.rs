//! Byte helpers shared by the readers and the store's writers.

/// Byte equality for short strings (keys) without a call into `memcmp`: eight bytes at a time,
/// the last eight overlapping the ones before.
#[inline(always)]
pub fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        if n >= 4 {
            // Two four-byte words, overlapping when `n` is under 8.
            let half =
                |s: &[u8], at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
            return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
        }
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let word = |s: &[u8]| u64::from_le_bytes(s[..8].try_into().expect("8 bytes"));
    let (mut x, mut y) = (a, b);
    while x.len() > 8 {
        if word(x) != word(y) {
            return false;
        }
        (x, y) = (&x[8..], &y[8..]);
    }
    word(&a[n - 8..]) == word(&b[n - 8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_eq_is_byte_equality() {
        // Every length up to five words, so each way of comparing (bytes, two overlapping
        // halves, whole words and an overlapping last one) is met.
        let text = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let words: Vec<&str> = (0..=40).map(|n| &text[..n]).collect();
        for &a in &words {
            for &b in &words {
                assert_eq!(short_eq(a.as_bytes(), b.as_bytes()), a == b, "{a} {b}");
            }
            // A difference in any one byte is seen.
            for i in 0..a.len() {
                let mut c = a.as_bytes().to_vec();
                c[i] ^= 1;
                assert!(!short_eq(a.as_bytes(), &c), "{a} at {i}");
            }
        }
    }
}
