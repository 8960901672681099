//! Webhook deliveries: one signed JSON POST per batch.
//!
//! The body is `{"stream", "feed", "tenant", "deliveryId", "value": [records…]}`. The header
//! [`SIGNATURE_HEADER`] is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
//! stream's secret>`: a receiver recomputes it, compares in constant time, and refuses old
//! timestamps (replays). `X-Gatehouse-Delivery` repeats the `deliveryId`, the same when a batch
//! is sent again. Any 2xx answer is an acknowledgement; anything else (or no answer) is retried,
//! `Retry-After` respected; a 413 halves the batch.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::stream::{Delivery, Failure, Target};

/// The header carrying a delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-Gatehouse-Signature";

/// The signature of `body` sent at `timestamp` (unix seconds): hex HMAC-SHA256 of
/// `"<timestamp>.<body>"` keyed with `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A webhook receiver.
pub struct WebhookTarget {
    url: String,
    secret: Vec<u8>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookTarget {
    /// Deliveries to `url`, signed with `secret`, each attempt given `timeout`.
    pub fn new(url: &str, secret: &[u8], timeout: Duration) -> WebhookTarget {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        WebhookTarget {
            url: url.to_string(),
            secret: secret.to_vec(),
            agent,
        }
    }

    /// The body of a delivery.
    fn body(d: &Delivery) -> Vec<u8> {
        let head = serde_json::json!({
            "stream": d.stream,
            "feed": d.feed,
            "tenant": d.tenant,
            "deliveryId": d.id,
        })
        .to_string();
        let size: usize = d.records.iter().map(|r| r.len() + 1).sum();
        let mut body = Vec::with_capacity(head.len() + size + 16);
        body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
        body.extend_from_slice(b",\"value\":[");
        for (i, r) in d.records.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(r.as_bytes());
        }
        body.extend_from_slice(b"]}");
        body
    }
}

impl Target for WebhookTarget {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&self, d: &Delivery) -> Result<(), Failure> {
        let body = Self::body(d);
        let now = chrono::Utc::now().timestamp();
        let signature = format!("t={now},v1={}", sign(&self.secret, now, &body));
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, &signature)
            .header("X-Gatehouse-Delivery", &d.id)
            .send(&body[..]);
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Err(Failure {
                    message: format!("POST {}: {e}", self.url),
                    retry_after: None,
                    too_large: false,
                })
            }
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(Failure {
            message: format!("POST {} answered {status}", self.url),
            retry_after,
            too_large: status == 413,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        let hex = |key: &[u8], message: &[u8]| -> String {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(message);
            mac.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        // RFC 4231 test case 2 pins the HMAC itself.
        assert_eq!(
            hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign(b"Jefe", 1_796_400_000, b"{}"),
            hex(b"Jefe", b"1796400000.{}")
        );
        assert_ne!(sign(b"Jefe", 1, b"{}"), sign(b"Jefe", 2, b"{}"));
        assert_ne!(sign(b"Jefe", 1, b"{}"), sign(b"Jeff", 1, b"{}"));
    }

    #[test]
    fn the_body_is_json_with_the_records_as_they_are() {
        let d = Delivery {
            id: "d1".into(),
            stream: "s".into(),
            feed: "signIns",
            tenant: "contoso".into(),
            records: vec![r#"{"id":"a"}"#.into(), r#"{"id":"b","x":[1]}"#.into()],
            ids: vec!["a".into(), "b".into()],
        };
        let v: serde_json::Value = serde_json::from_slice(&WebhookTarget::body(&d)).unwrap();
        assert_eq!(v["deliveryId"], "d1");
        assert_eq!(v["tenant"], "contoso");
        assert_eq!(v["value"][1]["x"][0], 1);
        assert_eq!(v["value"].as_array().unwrap().len(), 2);
    }
}
