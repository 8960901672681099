//! The web console: a single-page application of plain HTML, CSS and JavaScript (no build step,
//! no framework), compiled into the binary so that `gatehouse serve` needs nothing installed.
//!
//! The page talks only to the server's public APIs (Graph's log endpoints, the Usage & insights
//! reports, `/gatehouse/insights`, the explainer, exports) with the signed-in token, so
//! everything the console shows can be had with `curl` too. [`asset`] gives a file by its name;
//! the server decides the URLs (`/` and `/console/{name}`).

/// A file of the console.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// A hash of its content, for the HTTP `ETag`.
    pub hash: u64,
}

macro_rules! asset {
    ($file:literal, $type:literal) => {{
        const BODY: &[u8] = include_bytes!(concat!("../assets/", $file));
        const HASH: u64 = fnv1a(BODY);
        Asset {
            content_type: $type,
            body: BODY,
            hash: HASH,
        }
    }};
}

/// The console's files by name: `index.html`, `console.js`, `console.css`, `favicon.svg`.
pub fn asset(name: &str) -> Option<Asset> {
    Some(match name {
        "index.html" => asset!("index.html", "text/html; charset=utf-8"),
        "console.js" => asset!("console.js", "text/javascript; charset=utf-8"),
        "console.css" => asset!("console.css", "text/css; charset=utf-8"),
        "favicon.svg" => asset!("favicon.svg", "image/svg+xml"),
        _ => return None,
    })
}

impl Asset {
    /// The quoted `ETag` of the content.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// The names [`asset`] knows.
pub const ASSETS: [&str; 4] = ["index.html", "console.js", "console.css", "favicon.svg"];

/// The `Content-Security-Policy` the console's page is served with: its own scripts and styles
/// only, no inline script, requests to its own origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

/// FNV-1a of the bytes, computed at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x100000001b3);
        i += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_there_with_its_type() {
        for name in ASSETS {
            let a = asset(name).unwrap();
            assert!(!a.body.is_empty(), "{name}");
            assert_ne!(a.hash, fnv1a(b""), "{name}");
        }
        assert!(asset("../Cargo.toml").is_none());
        let index = std::str::from_utf8(asset("index.html").unwrap().body).unwrap();
        assert!(index.contains("/console/console.js"));
        assert!(
            !index.contains("<script>"),
            "no inline script (the CSP forbids it)"
        );
    }
}
