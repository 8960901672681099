//! Recognising, on a [`Tape`], the records that need no reshaping: bare Graph sign-ins and
//! directory audits that are already in the Graph shape, the bulk of every large export.
//!
//! [`recognize`] answers "store this object as it is" only when the general path ([`crate::shape`]
//! then [`crate::normalize`]) would classify the object the same way and leave it unchanged.
//! Anything else (list responses, Event Hub messages, wrappers, diagnostic and Log Analytics
//! records, provisioning and risk records, records needing a normalisation, duplicate keys,
//! escaped keys) gets `None`, and the caller takes the general path, which also writes every
//! error message. So both paths store exactly the same rows; only the speed differs. (Diagnostic
//! records and Event Hub messages have a direct path of their own in the ingest crate, which
//! also stores exactly what the general path would.)

use gatehouse_model::{is_valid_tenant_id, LogKind, SignInKind};

use crate::tape::{NodeKind, Tape};
use crate::{loganalytics, InputFormat};

/// A record the fast path can store as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastRecord {
    /// Its log (sign-ins or audits).
    pub log: LogKind,
    /// The record's object node on the tape.
    pub object: usize,
    /// The tenant the record names (`tenantId`, `resourceTenantId` or `homeTenantId`).
    pub tenant_id: Option<String>,
    /// For sign-ins, the first of `signInEventTypes`.
    pub signin_kind: Option<SignInKind>,
    /// The node of the event time (`createdDateTime` or `activityDateTime`).
    pub time: usize,
}

/// Presence flags of the keys that classify a Graph object (see `normalize::classify_graph`).
mod has {
    pub const CREATED: u32 = 1 << 0;
    pub const SIGNIN_HINT: u32 = 1 << 1;
    pub const RISK_LAST_UPDATED: u32 = 1 << 2;
    pub const RISK_EVENT_TYPE: u32 = 1 << 3;
    pub const DETECTED: u32 = 1 << 4;
    pub const ACTIVITY: u32 = 1 << 5;
    pub const PROVISIONING_HINT: u32 = 1 << 6;
    pub const AUDIT_HINT: u32 = 1 << 7;
    pub const ID: u32 = 1 << 8;
    pub const CATEGORY: u32 = 1 << 9;
    pub const TIME: u32 = 1 << 10;
}

/// Says whether the top-level value of `tape` is an object that can be stored as it is, and
/// what it is.
pub fn recognize(tape: &Tape, text: &str, forced: Option<InputFormat>) -> Option<FastRecord> {
    if tape.nodes().is_empty() {
        return None;
    }
    recognize_at(tape, text, forced, 0)
}

/// A Graph list response page (`{"@odata.context": …, "value": […]}`) whose elements are all
/// objects: the elements, and the log the context names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The element object nodes, in order.
    pub elements: Vec<usize>,
    /// The log named by `@odata.context` (used by the general path for unclassifiable elements).
    pub hint: Option<LogKind>,
}

/// Recognises a list response page the way the general path does (a Graph error envelope, a
/// report response or a non-object element gets `None`, so the general path words it).
pub fn list_page(tape: &Tape, text: &str, forced: Option<InputFormat>) -> Option<ListPage> {
    if !matches!(forced, None | Some(InputFormat::Graph)) {
        return None;
    }
    if tape.nodes().first()?.kind != NodeKind::Object {
        return None;
    }
    if tape
        .get(text, 0, "error")
        .is_some_and(|e| tape.node(e).kind == NodeKind::Object)
    {
        return None;
    }
    let value = tape.get(text, 0, "value")?;
    if tape.node(value).kind != NodeKind::Array {
        return None;
    }
    let context = match tape.get(text, 0, "@odata.context") {
        Some(c) if tape.node(c).kind == NodeKind::String => tape.str(text, c).into_owned(),
        _ => String::new(),
    };
    if crate::shape::non_record_context(&context).is_some() {
        return None;
    }
    let elements: Vec<usize> = tape.items(value).collect();
    if elements
        .iter()
        .any(|e| tape.node(*e).kind != NodeKind::Object)
    {
        return None;
    }
    Some(ListPage {
        elements,
        hint: crate::shape::hint_from_context(&context),
    })
}

/// Says whether object node `obj` can be stored as it is, and what it is.
pub fn recognize_at(
    tape: &Tape,
    text: &str,
    forced: Option<InputFormat>,
    obj: usize,
) -> Option<FastRecord> {
    if !matches!(forced, None | Some(InputFormat::Graph)) {
        return None;
    }
    if tape.node(obj).kind != NodeKind::Object {
        return None;
    }
    let bytes = text.as_bytes();
    let mut flags = 0u32;
    let mut tenants: [Option<usize>; 3] = [None; 3];
    let (mut user_type, mut policies, mut event_types, mut targets) = (None, None, None, None);
    let mut message = None;
    let (mut created, mut activity) = (None, None);
    for (k, v) in tape.members(obj) {
        let key = tape.node(k);
        if key.escaped {
            return None;
        }
        let name = &bytes[key.start as usize..key.end as usize];
        let kind = tape.node(v).kind;
        flags |= key_flag(name);
        match name {
            b"error" | b"input" | b"properties" if kind == NodeKind::Object => return None,
            b"value" | b"records" if kind == NodeKind::Array => return None,
            b"message" if kind == NodeKind::String => message = Some(v),
            b"createdDateTime" => created = Some(v),
            b"signInEventTypes" => event_types = Some(v),
            b"activityDateTime" => activity = Some(v),
            b"targetResources" => targets = Some(v),
            b"tenantId" => tenants[0] = Some(v),
            b"resourceTenantId" => tenants[1] = Some(v),
            b"homeTenantId" => tenants[2] = Some(v),
            b"userType" => user_type = Some(v),
            b"appliedConditionalAccessPolicies" => policies = Some(v),
            _ if may_be_marker(name) && loganalytics::is_marker_column(&tape.str(text, k)) => {
                return None
            }
            _ => {}
        }
    }
    let is = |f: u32| flags & f != 0;
    // Wrapped messages and diagnostic envelopes take the general path.
    if let Some(m) = message {
        if !is(has::ID) && tape.str(text, m).trim_start().starts_with('{') {
            return None;
        }
    }
    let log = classify(flags)?;
    let mut signin_kind = None;
    let time = match log {
        LogKind::SignIns => created?,
        _ => activity?,
    };
    match log {
        LogKind::SignIns => {
            if let Some(u) = user_type {
                if tape.node(u).kind == NodeKind::String
                    && tape
                        .str(text, u)
                        .starts_with(|c: char| c.is_ascii_uppercase())
                {
                    return None;
                }
            }
            if let Some(p) = policies {
                if policies_need_rewrite(tape, text, p) {
                    return None;
                }
            }
            // A record that does not say its sign-in type gets one inferred by the general path.
            let types = event_types?;
            signin_kind = tape
                .items(types)
                .next()
                .filter(|first| tape.node(*first).kind == NodeKind::String)
                .and_then(|first| SignInKind::from_graph_name(&tape.str(text, first)));
        }
        LogKind::Audits => {
            if let Some(t) = targets {
                for item in tape.items(t) {
                    if tape.get(text, item, "Type").is_some() {
                        return None;
                    }
                }
            }
        }
        _ => return None,
    }
    let tenant_id = tenants
        .iter()
        .flatten()
        .filter(|v| tape.node(**v).kind == NodeKind::String)
        .map(|v| tape.str(text, *v))
        .find(|s| is_valid_tenant_id(s))
        .map(|s| s.into_owned());
    Some(FastRecord {
        log,
        object: obj,
        tenant_id,
        signin_kind,
        time,
    })
}

/// The presence flag a top-level key sets (0 for keys that do not classify).
fn key_flag(name: &[u8]) -> u32 {
    match name {
        b"id" => has::ID,
        b"category" => has::CATEGORY,
        b"time" => has::TIME,
        b"createdDateTime" => has::CREATED,
        b"userPrincipalName" | b"appId" | b"status" | b"isInteractive" | b"ipAddress"
        | b"signInEventTypes" => has::SIGNIN_HINT,
        b"riskLastUpdatedDateTime" => has::RISK_LAST_UPDATED,
        b"riskEventType" => has::RISK_EVENT_TYPE,
        b"detectedDateTime" => has::DETECTED,
        b"activityDateTime" => has::ACTIVITY,
        b"provisioningAction"
        | b"jobId"
        | b"cycleId"
        | b"provisioningSteps"
        | b"provisioningStatusInfo" => has::PROVISIONING_HINT,
        b"activityDisplayName" | b"loggedByService" | b"operationType" | b"targetResources" => {
            has::AUDIT_HINT
        }
        _ => 0,
    }
}

/// Whether a key could name a Log Analytics column: those are PascalCase or start with `_`, and
/// the general path trims names first, so a leading (possibly non-ASCII) space counts too.
fn may_be_marker(name: &[u8]) -> bool {
    name.first().is_some_and(|first| {
        first.is_ascii_uppercase()
            || *first == b'_'
            || first.is_ascii_whitespace()
            || !first.is_ascii()
    })
}

/// The log a bare Graph object with these key flags is stored in as it is, if any.
fn classify(flags: u32) -> Option<LogKind> {
    let is = |f: u32| flags & f != 0;
    if is(has::CATEGORY) && is(has::TIME) {
        // A diagnostic record.
        return None;
    }
    if is(has::CREATED) && is(has::SIGNIN_HINT) {
        Some(LogKind::SignIns)
    } else if is(has::RISK_LAST_UPDATED)
        || (is(has::RISK_EVENT_TYPE) && (is(has::DETECTED) || is(has::ACTIVITY)))
        || (is(has::ACTIVITY) && is(has::PROVISIONING_HINT))
    {
        // Risk and provisioning records are reshaped by the general path.
        None
    } else if is(has::ACTIVITY) && is(has::AUDIT_HINT) {
        Some(LogKind::Audits)
    } else {
        None
    }
}

/// What a top-level key of a bare Graph record means to a single-pass reader that only sees
/// keys naming columns of the table it fills (see [`classify_keys`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRole {
    flags: u32,
    /// The key (whatever its value) may make the general path reshape the record.
    pub gives_up: bool,
}

/// The role of top-level key `name`, for a reader that gives a record up at any key whose
/// role says so (and at any key it does not know, escaped keys included).
pub fn key_role(name: &str) -> KeyRole {
    let b = name.as_bytes();
    KeyRole {
        flags: key_flag(b),
        gives_up: matches!(
            b,
            b"error" | b"input" | b"properties" | b"value" | b"records" | b"message" | b"time"
        ) || (may_be_marker(b) && loganalytics::is_marker_column(name)),
    }
}

/// The log of a record whose keys had these roles (none giving up), as [`recognize_at`] would
/// decide it; the caller still makes the per-log checks `recognize_at` makes (sign-in types
/// present, `userType` and Conditional Access policies as Graph writes them, no `Type` in
/// target resources).
pub fn classify_keys(roles: impl IntoIterator<Item = KeyRole>) -> Option<LogKind> {
    let mut all = KeyRoles::default();
    for role in roles {
        all.add(role);
    }
    all.classify()
}

/// The roles of a record's top-level keys gathered one key at a time, by a reader that
/// classifies the record once it has read them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRoles {
    flags: u32,
    gives_up: bool,
}

impl KeyRoles {
    /// Adds one key's role.
    #[inline]
    pub fn add(&mut self, role: KeyRole) {
        self.flags |= role.flags;
        self.gives_up |= role.gives_up;
    }

    /// The log, as [`classify_keys`] decides it for the roles added.
    pub fn classify(self) -> Option<LogKind> {
        if self.gives_up {
            None
        } else {
            classify(self.flags)
        }
    }
}

/// Whether a `conditionsSatisfied` or `conditionsNotSatisfied` value is a bitmask written as
/// digits, which the general path rewrites.
pub fn is_condition_bitmask(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether any Conditional Access policy carries a condition bitmask or rules sent as JSON text,
/// which the general path rewrites.
fn policies_need_rewrite(tape: &Tape, text: &str, policies: usize) -> bool {
    let bytes = text.as_bytes();
    for p in tape.items(policies) {
        for (k, v) in tape.members(p) {
            let key = tape.node(k);
            let name = &bytes[key.start as usize..key.end as usize];
            let node = tape.node(v);
            match name {
                b"conditionsSatisfied" | b"conditionsNotSatisfied" => match node.kind {
                    NodeKind::Number => return true,
                    NodeKind::String if is_condition_bitmask(&tape.str(text, v)) => return true,
                    _ => {}
                },
                b"includeRulesSatisfied" | b"excludeRulesSatisfied"
                    if tape.items(v).any(|r| tape.node(r).kind == NodeKind::String) =>
                {
                    return true
                }
                // An escaped key might spell one of the above.
                _ if key.escaped => return true,
                _ => {}
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(text: &str) -> Option<FastRecord> {
        let mut tape = Tape::new();
        tape.parse(text).unwrap();
        recognize(&tape, text, None)
    }

    #[test]
    fn graph_signin_and_audit_are_fast() {
        let r = fast(r#"{"id":"a","createdDateTime":"2024-01-01T00:00:00Z","userPrincipalName":"u","signInEventTypes":["servicePrincipal"],"homeTenantId":"not valid","resourceTenantId":"8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60"}"#).unwrap();
        assert_eq!(r.log, LogKind::SignIns);
        assert_eq!(r.signin_kind, Some(SignInKind::ServicePrincipal));
        assert_eq!(
            r.tenant_id.as_deref(),
            Some("8d2a6b4c-0b1d-4a5e-9f3a-1c2b3d4e5f60")
        );
        let r = fast(r#"{"id":"b","activityDateTime":"2024-01-01T00:00:00Z","activityDisplayName":"Add user","targetResources":[{"type":"User"}]}"#).unwrap();
        assert_eq!(r.log, LogKind::Audits);
    }

    #[test]
    fn anything_needing_reshaping_takes_the_general_path() {
        for text in [
            // no signInEventTypes: inferred
            r#"{"id":"a","createdDateTime":"2024-01-01T00:00:00Z","userPrincipalName":"u"}"#,
            // userType to lower-case
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[],"userType":"Member"}"#,
            // bitmasks
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[],"appliedConditionalAccessPolicies":[{"conditionsSatisfied":3}]}"#,
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[],"appliedConditionalAccessPolicies":[{"conditionsNotSatisfied":"12"}]}"#,
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[],"appliedConditionalAccessPolicies":[{"includeRulesSatisfied":["{}"]}]}"#,
            // PascalCase target type
            r#"{"id":"b","activityDateTime":"x","activityDisplayName":"A","targetResources":[{"Type":"User"}]}"#,
            // shapes
            r#"{"value":[]}"#,
            r#"{"records":[]}"#,
            r#"{"error":{"code":"x"}}"#,
            r#"{"time":"x","category":"SignInLogs","properties":{}}"#,
            r#"{"TimeGenerated":"x","Id":"a"}"#,
            // Log Analytics column names, however spaced
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[]," TimeGenerated":"x"}"#,
            "{\"id\":\"a\",\"createdDateTime\":\"x\",\"appId\":\"a\",\"signInEventTypes\":[],\"\u{a0}TimeGenerated\":\"x\"}",
            r#"{"id":"a","createdDateTime":"x","appId":"a","signInEventTypes":[],"TimeGenerated [UTC]":"x"}"#,
            r#"{"message":"{\"id\":1}"}"#,
            r#"{"id":"p","activityDateTime":"x","jobId":"j"}"#,
            r#"{"id":"r","riskLastUpdatedDateTime":"x"}"#,
            r#"{"\u0069d":"a","createdDateTime":"x","appId":"a","signInEventTypes":[]}"#,
            r#"[1]"#,
        ] {
            assert_eq!(fast(text), None, "{text}");
        }
    }
}
