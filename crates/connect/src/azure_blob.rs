//! A small client of Azure Blob Storage's REST API: what reading a diagnostic export needs
//! (list containers, list blobs, read a byte range), with the three ways a storage account
//! authenticates a reader: a SAS token, the account key (Shared Key signing), or a connection
//! string holding either.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ConnectError;

/// The REST API version requested.
const API_VERSION: &str = "2021-08-06";

/// How requests are authenticated.
#[derive(Clone)]
pub enum Credential {
    /// A shared access signature (the query string, with or without its leading `?`).
    Sas(String),
    /// The account's key (base64), signing each request (Shared Key).
    SharedKey {
        /// The key's bytes.
        key: Vec<u8>,
    },
    /// No authentication (a public container).
    Anonymous,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.write_str(match self {
            Credential::Sas(_) => "Sas(…)",
            Credential::SharedKey { .. } => "SharedKey(…)",
            Credential::Anonymous => "Anonymous",
        })
    }
}

/// A storage account's Blob service.
#[derive(Debug, Clone)]
pub struct BlobService {
    /// The service's base URL, without a trailing slash: `https://ACCOUNT.blob.core.windows.net`,
    /// or a path-style emulator URL such as `http://127.0.0.1:10000/devstoreaccount1`.
    endpoint: String,
    /// The account name (for Shared Key signing).
    account: String,
    credential: Credential,
    agent: ureq::Agent,
}

/// A blob as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    /// Its name (the path within the container).
    pub name: String,
    /// Its length in bytes.
    pub length: u64,
    /// When it last changed (RFC 1123, as the service writes it).
    pub last_modified: String,
}

impl BlobService {
    /// A service at `endpoint` (the account name is taken from the host, or from the first path
    /// segment of a path-style URL).
    pub fn new(endpoint: &str, credential: Credential) -> Result<BlobService, ConnectError> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .ok_or_else(|| ConnectError::Config(format!("{endpoint}: not an http(s) URL")))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let account = if path.is_empty() {
            host.split('.').next().unwrap_or_default().to_string()
        } else {
            path.split('/').next().unwrap_or_default().to_string()
        };
        if account.is_empty() {
            return Err(ConnectError::Config(format!(
                "{endpoint}: no account name in the URL"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(BlobService {
            endpoint,
            account,
            credential,
            agent,
        })
    }

    /// A service from a storage connection string (`DefaultEndpointsProtocol=…;AccountName=…;
    /// AccountKey=…;BlobEndpoint=…` or `…;SharedAccessSignature=…`; `UseDevelopmentStorage=true`
    /// for the local emulator).
    pub fn from_connection_string(text: &str) -> Result<BlobService, ConnectError> {
        let mut fields = std::collections::BTreeMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                ConnectError::Config(format!("connection string: {part:?} is not KEY=VALUE"))
            })?;
            fields.insert(k.to_ascii_lowercase(), v.to_string());
        }
        if fields.get("usedevelopmentstorage").map(String::as_str) == Some("true") {
            // The emulator's documented well-known account and key.
            fields.insert("accountname".into(), "devstoreaccount1".into());
            fields.insert(
                "accountkey".into(),
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==".into(),
            );
            fields
                .entry("blobendpoint".into())
                .or_insert_with(|| "http://127.0.0.1:10000/devstoreaccount1".into());
        }
        let endpoint = match fields.get("blobendpoint") {
            Some(e) => e.clone(),
            None => {
                let account = fields.get("accountname").ok_or_else(|| {
                    ConnectError::Config("connection string: no AccountName or BlobEndpoint".into())
                })?;
                let protocol = fields
                    .get("defaultendpointsprotocol")
                    .map_or("https", String::as_str);
                let suffix = fields
                    .get("endpointsuffix")
                    .map_or("core.windows.net", String::as_str);
                format!("{protocol}://{account}.blob.{suffix}")
            }
        };
        let credential = if let Some(sas) = fields.get("sharedaccesssignature") {
            Credential::Sas(sas.clone())
        } else if let Some(key) = fields.get("accountkey") {
            Credential::SharedKey {
                key: decode_key(key)?,
            }
        } else {
            Credential::Anonymous
        };
        let mut service = BlobService::new(&endpoint, credential)?;
        if let Some(name) = fields.get("accountname") {
            service.account = name.clone();
        }
        Ok(service)
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The names of the containers starting with `prefix`.
    pub fn list_containers(&self, prefix: &str) -> Result<Vec<String>, ConnectError> {
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("comp", "list".to_string()), ("prefix", prefix.to_string())];
            if !marker.is_empty() {
                query.push(("marker", marker.clone()));
            }
            let body = self.get_text("", &query)?;
            for c in elements(&body, "Container") {
                if let Some(name) = element(c, "Name") {
                    names.push(unescape(name));
                }
            }
            marker = element(&body, "NextMarker")
                .map(unescape)
                .unwrap_or_default();
            if marker.is_empty() {
                return Ok(names);
            }
        }
    }

    /// Every blob of a container (the listing's pages followed), with its length.
    pub fn list_blobs(&self, container: &str) -> Result<Vec<BlobItem>, ConnectError> {
        let mut blobs = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![
                ("restype", "container".to_string()),
                ("comp", "list".to_string()),
            ];
            if !marker.is_empty() {
                query.push(("marker", marker.clone()));
            }
            let body = self.get_text(container, &query)?;
            for b in elements(&body, "Blob") {
                let (Some(name), Some(length)) = (element(b, "Name"), element(b, "Content-Length"))
                else {
                    continue;
                };
                blobs.push(BlobItem {
                    name: unescape(name),
                    length: length.trim().parse().map_err(|_| {
                        ConnectError::Source(format!("{container}: a blob length {length:?}"))
                    })?,
                    last_modified: element(b, "Last-Modified")
                        .map(unescape)
                        .unwrap_or_default(),
                });
            }
            marker = element(&body, "NextMarker")
                .map(unescape)
                .unwrap_or_default();
            if marker.is_empty() {
                return Ok(blobs);
            }
        }
    }

    /// The bytes `[from, to)` of a blob.
    pub fn read_range(
        &self,
        container: &str,
        blob: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<u8>, ConnectError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let path = format!("{container}/{}", encode_path(blob));
        let range = format!("bytes={from}-{}", to - 1);
        let mut response = self.request("GET", &path, &[], &[("x-ms-range", range.as_str())])?;
        let status = response.status().as_u16();
        if status != 200 && status != 206 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            return Err(http_error("GET", &path, status, &text));
        }
        let mut bytes = Vec::with_capacity((to - from) as usize);
        use std::io::Read;
        response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .read_to_end(&mut bytes)
            .map_err(|e| ConnectError::Source(format!("reading {path}: {e}")))?;
        Ok(bytes)
    }

    fn get_text(&self, path: &str, query: &[(&str, String)]) -> Result<String, ConnectError> {
        let mut response = self.request("GET", path, query, &[])?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| ConnectError::Source(format!("reading a listing of {path:?}: {e}")))?;
        if status != 200 {
            return Err(http_error("GET", path, status, &text));
        }
        Ok(text)
    }

    /// One signed request; `path` is below the endpoint (`container` or `container/blob`, encoded).
    fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Result<ureq::http::Response<ureq::Body>, ConnectError> {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut url = format!("{}/{path}", self.endpoint);
        let mut pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query(v)))
            .collect();
        if let Credential::Sas(sas) = &self.credential {
            pairs.push(sas.trim_start_matches('?').to_string());
        }
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        let mut ms_headers: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date.clone()),
            ("x-ms-version".into(), API_VERSION.into()),
        ];
        ms_headers.extend(
            headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())),
        );
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in &ms_headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Credential::SharedKey { key } = &self.credential {
            let signature = self.sign(key, method, path, query, &mut ms_headers);
            builder = builder.header(
                "Authorization",
                format!("SharedKey {}:{signature}", self.account),
            );
        }
        let request = builder
            .body(())
            .map_err(|e| ConnectError::Config(format!("{url}: {e}")))?;
        self.agent
            .run(request)
            .map_err(|e| ConnectError::Unreachable(format!("{method} {}: {e}", redact(&url))))
    }

    /// The Shared Key signature of a request (a body-less GET: no content headers).
    fn sign(
        &self,
        key: &[u8],
        method: &str,
        path: &str,
        query: &[(&str, String)],
        headers: &mut [(String, String)],
    ) -> String {
        headers.sort();
        let canonical_headers: String = headers
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        // The resource: the account, then the URL's path (which, path-style, names the account
        // again), then each query parameter on a line of its own, sorted.
        let url_path = match self.endpoint.split_once("://").map(|(_, r)| r) {
            Some(rest) => match rest.split_once('/') {
                Some((_, base)) => format!("/{base}/{path}"),
                None => format!("/{path}"),
            },
            None => format!("/{path}"),
        };
        let mut resource = format!("/{}{}", self.account, url_path.trim_end_matches('/'));
        if path.is_empty() {
            resource.push('/');
        }
        let mut params: Vec<(String, &str)> = query
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        params.sort();
        for (k, v) in params {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        // VERB, then eleven standard headers (all empty for these requests), then ours.
        let string_to_sign =
            format!("{method}\n\n\n\n\n\n\n\n\n\n\n\n{canonical_headers}{resource}");
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// An account key from its base64 text.
pub fn decode_key(text: &str) -> Result<Vec<u8>, ConnectError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| ConnectError::Config(format!("the account key is not base64: {e}")))
}

fn http_error(method: &str, path: &str, status: u16, body: &str) -> ConnectError {
    let code = element(body, "Code").unwrap_or("");
    let message = element(body, "Message")
        .map(|m| m.lines().next().unwrap_or(m))
        .unwrap_or("");
    let text = format!("{method} /{path}: {status} {code} {message}");
    match status {
        401 | 403 => ConnectError::Denied(text),
        404 => ConnectError::NotFound(text),
        _ => ConnectError::Source(text),
    }
}

/// A URL without its query (which may hold a SAS).
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The contents of each `<tag>…</tag>` in `xml`.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// The contents of the first `<tag>…</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    elements(xml, tag).into_iter().next()
}

/// XML's five entities and numeric references.
fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Percent-encodes a blob name for a URL path (keeping `/`).
fn encode_path(name: &str) -> String {
    crate::percent_encode(name, b"-_.~/=")
}

fn encode_query(value: &str) -> String {
    crate::percent_encode(value, b"-_.~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_read_with_their_entities() {
        let xml = "<EnumerationResults><Blobs><Blob><Name>a&amp;b/PT1H.json</Name><Properties>\
                   <Last-Modified>Mon, 01 Dec 2026 10:00:00 GMT</Last-Modified><Content-Length>42</Content-Length>\
                   </Properties></Blob><Blob><Name>c</Name><Properties><Content-Length>7</Content-Length></Properties></Blob>\
                   </Blobs><NextMarker /></EnumerationResults>";
        let blobs: Vec<_> = elements(xml, "Blob")
            .into_iter()
            .map(|b| {
                (
                    unescape(element(b, "Name").unwrap()),
                    element(b, "Content-Length").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            blobs,
            vec![("a&b/PT1H.json".to_string(), "42"), ("c".into(), "7")]
        );
        assert_eq!(element(xml, "NextMarker"), None);
        assert_eq!(unescape("&#x41;&#66;&bogus;&"), "AB&bogus;&");
    }

    #[test]
    fn connection_strings_name_the_endpoint_and_credential() {
        let s = BlobService::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(s.account, "devstoreaccount1");
        assert!(matches!(s.credential, Credential::SharedKey { .. }));
        let s = BlobService::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=contosologs;SharedAccessSignature=sv=2022&sig=abc;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(s.endpoint, "https://contosologs.blob.core.windows.net");
        assert!(matches!(s.credential, Credential::Sas(_)));
        assert!(
            format!("{:?}", s).contains("Sas(…)"),
            "no secret in debug output"
        );
        assert!(BlobService::from_connection_string("AccountKey=abc").is_err());
        assert!(BlobService::new("ftp://x", Credential::Anonymous).is_err());
    }
}
