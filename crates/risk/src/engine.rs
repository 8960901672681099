//! The detection engine: per-user and per-service-principal baselines (what each identity has
//! been seen with, and since when), recent windows per address and per account, and the rules
//! that compare a new sign-in with them.
//!
//! Baselines remember when each value (address, network, country, device, browser, credential)
//! was first seen, so "new for the user" is decided by time, not by arrival order: a record that
//! arrives late is judged against what was known at its own time. Windowed rules (password
//! spray, brute force, malicious addresses, MFA fatigue, travel) keep the last hours of events
//! by event time and look at the window around each new event. A finding is emitted once: its
//! id is derived from what it is about, and ids already emitted (or already stored) are skipped.

use std::collections::HashSet;

use gatehouse_model::SignInKind;
use serde_json::{json, Value};

use crate::detection::{detection_id, Detection, RiskEventType, RiskLevel, Subject};
use crate::event::{EventId, IdTexts, Interner, Map, Reader, SignInEvent, Sym, Who};
use crate::lists::{is_hosting_asn, IpList};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Thresholds of the rules.
#[derive(Debug, Clone, Copy)]
pub struct RiskConfig {
    /// How long an identity must have been seen before "new for it" means anything.
    pub learning_days: i64,
    /// Successful sign-ins an identity needs before its baseline counts.
    pub learning_sign_ins: u32,
    /// Password spray: distinct accounts failing from one address within the window.
    pub spray_accounts: usize,
    /// Password spray and malicious address window.
    pub address_window: i64,
    /// Password spray: bad-password attempts per account at most (more is brute force).
    pub spray_attempts_per_account: f64,
    /// Password spray: share of the address's sign-ins that failed, at least.
    pub spray_failure_ratio: f64,
    /// Malicious address: failed sign-ins within the window, at least.
    pub malicious_failures: usize,
    /// Malicious address: share of the address's sign-ins that failed, at least.
    pub malicious_failure_ratio: f64,
    /// Brute force: bad passwords against one account within the window.
    pub brute_failures: usize,
    /// Brute force window.
    pub brute_window: i64,
    /// MFA fatigue: denied or unanswered prompts before an approval within the window.
    pub fatigue_denials: usize,
    /// MFA fatigue: denied prompts without an approval that are already a finding.
    pub fatigue_denials_unapproved: usize,
    /// MFA fatigue window.
    pub fatigue_window: i64,
    /// Travel: the fastest plausible speed, km/h.
    pub travel_speed_kmh: f64,
    /// Travel: time a journey takes besides flying (to and from airports), hours.
    pub travel_overhead_hours: f64,
    /// Travel: shorter distances are never unlikely, km.
    pub travel_min_km: f64,
    /// An address used by at least this many accounts is shared egress (an office, a VPN).
    pub shared_egress_accounts: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            learning_days: 3,
            learning_sign_ins: 10,
            spray_accounts: 5,
            address_window: HOUR,
            spray_attempts_per_account: 3.0,
            spray_failure_ratio: 0.8,
            malicious_failures: 10,
            malicious_failure_ratio: 0.9,
            brute_failures: 10,
            brute_window: 30 * MINUTE,
            fatigue_denials: 3,
            fatigue_denials_unapproved: 6,
            fatigue_window: HOUR,
            travel_speed_kmh: 800.0,
            travel_overhead_hours: 1.0,
            travel_min_km: 500.0,
            shared_egress_accounts: 5,
        }
    }
}

/// What a status code says about the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Succeeded.
    Success,
    /// The password was right; something else (MFA, Conditional Access) stopped it.
    PasswordRight,
    /// A bad password or a locked account.
    BadPassword,
    /// Another first-factor failure (no such account, disabled account).
    OtherFirstFactor,
    /// MFA denied or not answered.
    MfaDenied,
    /// Anything else.
    Other,
}

fn outcome(code: i32) -> Outcome {
    match code {
        0 => Outcome::Success,
        50126 | 50053 => Outcome::BadPassword,
        50034 | 50057 | 50056 | 50064 => Outcome::OtherFirstFactor,
        500121 => Outcome::MfaDenied,
        50074 | 50076 | 50079 | 50072 | 53003 | 53000 | 53001 | 50055 | 50158 | 50097 => {
            Outcome::PasswordRight
        }
        _ => Outcome::Other,
    }
}

fn password_right(o: Outcome) -> bool {
    matches!(o, Outcome::Success | Outcome::PasswordRight)
}

fn failed_first_factor(o: Outcome) -> bool {
    matches!(o, Outcome::BadPassword | Outcome::OtherFirstFactor)
}

/// Whether a `clientAppUsed` value is a basic-authentication client.
pub(crate) fn is_legacy_client(client: &str) -> bool {
    LEGACY_CLIENTS.contains(&client)
}

/// Clients that speak basic authentication.
const LEGACY_CLIENTS: &[&str] = &[
    "IMAP4",
    "POP3",
    "Authenticated SMTP",
    "Exchange ActiveSync",
    "Other clients",
    "Exchange Web Services",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Outlook Anywhere (RPC over HTTP)",
    "Exchange Online PowerShell",
    "AutoDiscover",
    "Reporting Web Services",
    "Universal Outlook",
];

/// First-seen times of values.
#[derive(Debug, Default)]
struct Seen<K: std::hash::Hash + Eq> {
    first: Map<K, i64>,
}

impl<K: std::hash::Hash + Eq + Copy> Seen<K> {
    /// Whether `k` was seen before `t`.
    fn known_at(&self, k: K, t: i64) -> bool {
        self.first.get(&k).is_some_and(|&f| f < t)
    }
    fn note(&mut self, k: K, t: i64) {
        let e = self.first.entry(k).or_insert(t);
        *e = (*e).min(t);
    }
    fn count(&self) -> usize {
        self.first.len()
    }
}

/// A located sign-in kept for travel checks.
#[derive(Debug, Clone)]
struct Place {
    time: i64,
    lat: f64,
    lon: f64,
    country: Sym,
    city: Sym,
    ip: Sym,
    id: EventId,
    device_known: bool,
}

/// What is known about one identity.
#[derive(Debug, Default)]
struct Profile {
    /// Earliest successful sign-in.
    first_success: Option<i64>,
    successes: u32,
    ips: Seen<Sym>,
    asns: Seen<i32>,
    countries: Seen<Sym>,
    devices: Seen<Sym>,
    browsers: Seen<Sym>,
    keys: Seen<Sym>,
    /// Session → (first time, country, address) of its first use.
    sessions: Map<Sym, (i64, Sym, Sym)>,
    /// Recent located interactive sign-ins, by time.
    places: Vec<Place>,
    /// Recent bad passwords: (time, address, id).
    bad_passwords: Vec<(i64, Sym, EventId)>,
    /// Recent denied MFA prompts: (time, address, id).
    denials: Vec<(i64, Sym, EventId)>,
    /// Recent successes from non-shared addresses: (time, country, address).
    recent: Vec<(i64, Sym, Sym)>,
    /// Brute force found: until when, and from which addresses.
    brute: Option<(i64, Vec<Sym>)>,
}

impl Profile {
    fn learned_at(&self, t: i64, cfg: &RiskConfig) -> bool {
        self.first_success
            .is_some_and(|f| t - f >= cfg.learning_days * DAY)
            && self.successes >= cfg.learning_sign_ins
    }
}

/// One sign-in in an address's window.
#[derive(Debug, Clone)]
struct AddressEvent {
    time: i64,
    subject: Sym,
    outcome: Outcome,
    id: EventId,
}

/// What is known about one address.
#[derive(Debug, Default)]
struct Address {
    events: Vec<AddressEvent>,
    /// Accounts that succeeded from it (up to the shared-egress threshold).
    accounts: Vec<Sym>,
    spray_until: i64,
    malicious_until: i64,
}

/// The risk engine of one tenant.
#[derive(Debug)]
pub struct RiskEngine {
    config: RiskConfig,
    tenant: String,
    strings: Interner,
    ids: IdTexts,
    anonymizers: IpList,
    /// Addresses already looked up on the anonymiser list.
    listed: Map<Box<str>, bool>,
    profiles: Map<Sym, Profile>,
    addresses: Map<Sym, Address>,
    /// Countries any identity of the tenant succeeded from, first seen.
    tenant_countries: Seen<Sym>,
    who: Map<Sym, Who>,
    /// Ids of detections already emitted or stored.
    emitted: HashSet<String, foldhash::fast::RandomState>,
    /// Latest event time seen.
    horizon: i64,
    /// The horizon at the last prune.
    pruned_at: i64,
    /// Sign-ins looked at.
    events_seen: u64,
}

impl RiskEngine {
    /// An engine for `tenant` with no history.
    pub fn new(tenant: &str, config: RiskConfig, anonymizers: IpList) -> RiskEngine {
        RiskEngine {
            config,
            tenant: tenant.to_string(),
            strings: Interner::new(),
            ids: IdTexts::default(),
            anonymizers,
            listed: Map::default(),
            profiles: Map::default(),
            addresses: Map::default(),
            tenant_countries: Seen::default(),
            who: Map::default(),
            emitted: HashSet::default(),
            horizon: i64::MIN,
            pruned_at: i64::MIN / 2,
            events_seen: 0,
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Reads sign-ins from flat batches of stored sign-ins.
    pub fn read_events(
        &mut self,
        batches: &[arrow::array::RecordBatch],
    ) -> crate::Result<Vec<SignInEvent>> {
        let list = &self.anonymizers;
        let cache = &mut self.listed;
        let mut listed = |ip: &str| -> bool {
            if list.is_empty() || ip.is_empty() {
                return false;
            }
            if let Some(&v) = cache.get(ip) {
                return v;
            }
            let v = list.contains(ip);
            cache.insert(ip.into(), v);
            v
        };
        Reader {
            strings: &mut self.strings,
            ids: &mut self.ids,
            who: &mut self.who,
            listed: &mut listed,
        }
        .events(batches)
    }

    /// The text of a sign-in id.
    pub fn id_text(&self, id: EventId) -> String {
        self.ids.text(id)
    }

    /// Replaces the anonymiser list.
    pub fn set_anonymizers(&mut self, list: IpList) {
        self.anonymizers = list;
        self.listed.clear();
    }

    /// Marks detection ids as already emitted (those in the store).
    pub fn mark_emitted(&mut self, ids: impl IntoIterator<Item = String>) {
        self.emitted.extend(ids);
    }

    /// Sign-ins looked at so far.
    pub fn events_seen(&self) -> u64 {
        self.events_seen
    }

    /// Identities with a baseline.
    pub fn identities(&self) -> usize {
        self.profiles.len()
    }

    /// Looks at a batch of sign-ins (any order; they are taken in time order) and returns the
    /// new findings.
    pub fn process(&mut self, mut events: Vec<SignInEvent>) -> Vec<Detection> {
        events.sort_by_key(|e| e.time);
        let mut out = Vec::new();
        for e in &events {
            self.events_seen += 1;
            if self.events_seen.is_multiple_of(65_536) {
                self.prune();
            }
            self.horizon = self.horizon.max(e.time);
            match e.kind {
                SignInKind::ServicePrincipal => self.workload(e, &mut out),
                SignInKind::ManagedIdentity => {}
                _ => self.user(e, &mut out),
            }
        }
        self.prune();
        out
    }

    /// Drops window state far behind the newest event.
    /// Drops window state far behind the newest event, at most once per hour of event time
    /// (each pass walks every address and identity). Addresses with no recent sign-in that only
    /// one account ever used successfully (a home line, a phone's address of the day) go
    /// altogether: what the rules keep of an address beyond its window is who shares it.
    fn prune(&mut self) {
        if self.horizon < self.pruned_at + HOUR {
            return;
        }
        self.pruned_at = self.horizon;
        let keep = self.horizon - 2 * DAY;
        let keep_addresses = self.horizon - 3 * HOUR;
        self.addresses.retain(|_, a| {
            a.events.retain(|ev| ev.time >= keep_addresses);
            if a.events.is_empty() {
                a.events = Vec::new();
            }
            !a.events.is_empty()
                || a.accounts.len() > 1
                || a.spray_until > keep_addresses
                || a.malicious_until > keep_addresses
        });
        for p in self.profiles.values_mut() {
            p.places.retain(|x| x.time >= keep);
            p.bad_passwords.retain(|x| x.0 >= keep);
            p.denials.retain(|x| x.0 >= keep);
            p.recent.retain(|x| x.0 >= keep);
        }
    }

    fn s(&self, sym: Sym) -> String {
        self.strings.get(sym).to_string()
    }

    fn subject_of(&self, subject: Sym) -> Subject {
        let who = self.who.get(&subject).cloned().unwrap_or(Who {
            user_id: 0,
            upn: subject,
            display: 0,
            app_id: 0,
            workload: false,
        });
        if who.workload {
            Subject::ServicePrincipal {
                id: self.s(subject),
                name: self.s(who.display),
                app_id: self.s(who.app_id),
            }
        } else {
            Subject::User {
                id: self.s(who.user_id),
                upn: self.s(who.upn),
                display: self.s(who.display),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        out: &mut Vec<Detection>,
        kind: RiskEventType,
        level: RiskLevel,
        key: &[&str],
        e: &SignInEvent,
        related: Vec<String>,
        reason: String,
        observed: Value,
        baseline: Value,
    ) {
        let mut parts = vec![self.tenant.as_str(), kind.name()];
        parts.extend_from_slice(key);
        let id = detection_id(&parts);
        if !self.emitted.insert(id.clone()) {
            return;
        }
        out.push(Detection {
            id,
            event_type: kind,
            level,
            subject: self.subject_of(e.subject),
            activity_time: e.time,
            request_id: self.ids.text(e.id),
            related,
            ip: self.s(e.ip),
            country: self.s(e.country),
            city: self.s(e.city),
            coords: e.coords,
            reason,
            observed,
            baseline,
        });
    }

    fn day_of(t: i64) -> String {
        t.div_euclid(DAY).to_string()
    }

    /// The device a sign-in came from: its registered id, or else its operating system family
    /// (marked by the top bit, so the two never meet).
    fn device_key(&mut self, e: &SignInEvent) -> Sym {
        if e.device_id != 0 {
            e.device_id
        } else {
            e.os | 1 << 31
        }
    }

    fn shared_egress(&self, ip: Sym) -> bool {
        self.addresses
            .get(&ip)
            .is_some_and(|a| a.accounts.len() >= self.config.shared_egress_accounts)
    }

    /// A user sign-in.
    fn user(&mut self, e: &SignInEvent, out: &mut Vec<Detection>) {
        let o = outcome(e.code);
        let device = self.device_key(e);
        self.address_rules(e, o, out);
        self.account_rules(e, o, out);
        self.list_rules(e, o, out);
        if password_right(o) {
            self.familiarity_rules(e, o, device, out);
        }
        if o == Outcome::Success {
            let shared = e.trusted || self.shared_egress(e.ip);
            let p = self.profiles.entry(e.subject).or_default();
            p.first_success = Some(p.first_success.map_or(e.time, |f| f.min(e.time)));
            p.successes += 1;
            p.ips.note(e.ip, e.time);
            p.asns.note(e.asn, e.time);
            p.countries.note(e.country, e.time);
            p.devices.note(device, e.time);
            p.browsers.note(e.browser, e.time);
            if e.session != 0 {
                let s = p
                    .sessions
                    .entry(e.session)
                    .or_insert((e.time, e.country, e.ip));
                if e.time < s.0 {
                    *s = (e.time, e.country, e.ip);
                }
            }
            if !shared {
                p.recent.push((e.time, e.country, e.ip));
            }
            self.tenant_countries.note(e.country, e.time);
            let cap = self.config.shared_egress_accounts;
            let a = self.addresses.entry(e.ip).or_default();
            if a.accounts.len() < cap && !a.accounts.contains(&e.subject) {
                a.accounts.push(e.subject);
            }
        }
    }

    /// Password spray and malicious addresses: the window of sign-ins from one address.
    fn address_rules(&mut self, e: &SignInEvent, o: Outcome, out: &mut Vec<Detection>) {
        let cfg = self.config;
        let t = e.time;
        let a = self.addresses.entry(e.ip).or_default();
        let pos = a.events.partition_point(|x| x.time <= t);
        a.events.insert(
            pos,
            AddressEvent {
                time: t,
                subject: e.subject,
                outcome: o,
                id: e.id,
            },
        );
        let flagged = |until: i64| until > t && until - DAY <= t;
        if !failed_first_factor(o) && !flagged(a.spray_until) && !flagged(a.malicious_until) {
            return;
        }
        let lo = a
            .events
            .partition_point(|x| x.time <= t - cfg.address_window);
        let hi = a.events.partition_point(|x| x.time <= t);
        let window = &a.events[lo..hi];
        let total = window.len();
        let failures = window
            .iter()
            .filter(|x| failed_first_factor(x.outcome))
            .count();
        let mut accounts: Vec<Sym> = window
            .iter()
            .filter(|x| failed_first_factor(x.outcome))
            .map(|x| x.subject)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let ratio = failures as f64 / total.max(1) as f64;
        let spray_now = accounts.len() >= cfg.spray_accounts
            && ratio >= cfg.spray_failure_ratio
            && (failures as f64 / accounts.len().max(1) as f64) <= cfg.spray_attempts_per_account;
        let malicious_now =
            failures >= cfg.malicious_failures && ratio >= cfg.malicious_failure_ratio;
        let newly_spray = spray_now && !flagged(a.spray_until);
        let newly_malicious = malicious_now && !flagged(a.malicious_until);
        if spray_now {
            a.spray_until = a.spray_until.max(t + DAY);
        }
        if malicious_now {
            a.malicious_until = a.malicious_until.max(t + DAY);
        }
        let spray_on = flagged(a.spray_until);
        let malicious_on = flagged(a.malicious_until);
        if !spray_on && !malicious_on {
            return;
        }
        // When the address just crossed a threshold, every account of the window; else this one.
        let targets: Vec<AddressEvent> = if newly_spray || newly_malicious {
            window.to_vec()
        } else {
            window.iter().filter(|x| x.id == e.id).cloned().collect()
        };
        let related: Vec<String> = window
            .iter()
            .take(50)
            .map(|x| self.ids.text(x.id))
            .collect();
        let ip = self.s(e.ip);
        let observed = json!({
            "ipAddress": ip,
            "accounts": accounts.len(),
            "failedSignIns": failures,
            "signIns": total,
            "failureRatio": (ratio * 1000.0).round() / 1000.0,
            "windowMinutes": cfg.address_window / MINUTE,
        });
        for x in targets {
            let mut ev = e.clone();
            ev.id = x.id;
            ev.subject = x.subject;
            ev.time = x.time;
            let day = Self::day_of(x.time);
            let subject = self.s(x.subject);
            if spray_on && (failed_first_factor(x.outcome) || password_right(x.outcome)) {
                let guessed = password_right(x.outcome);
                let (level, tag, reason) = if guessed {
                    (
                        RiskLevel::High,
                        "guessed",
                        format!("The password of this account was right in a password spray from {ip}: {} accounts failed from this address within {} minutes", accounts.len(), cfg.address_window / MINUTE),
                    )
                } else {
                    (
                        RiskLevel::Low,
                        "targeted",
                        format!("Targeted by a password spray from {ip}: {} accounts failed with bad passwords from this address within {} minutes, {:.0}% of its sign-ins failed", accounts.len(), cfg.address_window / MINUTE, ratio * 100.0),
                    )
                };
                self.emit(
                    out,
                    RiskEventType::PasswordSpray,
                    level,
                    &[&subject, &ip, &day, tag],
                    &ev,
                    related.clone(),
                    reason,
                    observed.clone(),
                    json!({"sprayAccountsThreshold": cfg.spray_accounts, "failureRatioThreshold": cfg.spray_failure_ratio, "maxAttemptsPerAccount": cfg.spray_attempts_per_account}),
                );
            }
            if malicious_on {
                let level = if password_right(x.outcome) {
                    RiskLevel::Medium
                } else {
                    RiskLevel::Low
                };
                self.emit(
                    out,
                    RiskEventType::MaliciousIpAddress,
                    level,
                    &[&subject, &ip, &day],
                    &ev,
                    Vec::new(),
                    format!("A sign-in from {ip}, an address where {failures} of {total} sign-ins across the tenant failed within {} minutes", cfg.address_window / MINUTE),
                    observed.clone(),
                    json!({"failuresThreshold": cfg.malicious_failures, "failureRatioThreshold": cfg.malicious_failure_ratio}),
                );
            }
        }
    }

    /// Brute force, MFA fatigue, legacy clients and disabled accounts: one account's events.
    fn account_rules(&mut self, e: &SignInEvent, o: Outcome, out: &mut Vec<Detection>) {
        let cfg = self.config;
        let day = Self::day_of(e.time);
        let subject = self.s(e.subject);
        let ip = self.s(e.ip);
        let client = self.s(e.client_app);
        if LEGACY_CLIENTS.contains(&client.as_str()) {
            let level = if password_right(o) {
                RiskLevel::Medium
            } else {
                RiskLevel::Low
            };
            self.emit(
                out,
                RiskEventType::LegacyAuthentication,
                level,
                &[&subject, &day],
                e,
                Vec::new(),
                format!("A {client} sign-in attempt from {ip}: legacy clients send passwords without MFA and are what password attacks use (error code {})", e.code),
                json!({"clientAppUsed": client, "ipAddress": ip, "errorCode": e.code, "userAgent": self.s(e.user_agent)}),
                json!({"modernAuthenticationOnly": true}),
            );
        }
        if e.code == 50057 {
            self.emit(
                out,
                RiskEventType::DisabledAccount,
                RiskLevel::Medium,
                &[&subject, &day],
                e,
                Vec::new(),
                format!("A sign-in attempt on a disabled account from {ip} (error 50057): someone holds its password"),
                json!({"ipAddress": ip, "errorCode": e.code, "userAgent": self.s(e.user_agent)}),
                json!({"accountEnabled": false}),
            );
        }
        let p = self.profiles.entry(e.subject).or_default();
        if o == Outcome::BadPassword {
            let pos = p.bad_passwords.partition_point(|x| x.0 <= e.time);
            p.bad_passwords.insert(pos, (e.time, e.ip, e.id));
            let from = e.time - cfg.brute_window;
            let window: Vec<&(i64, Sym, EventId)> = p
                .bad_passwords
                .iter()
                .filter(|x| x.0 > from && x.0 <= e.time)
                .collect();
            if window.len() >= cfg.brute_failures {
                let mut ips: Vec<Sym> = window.iter().map(|x| x.1).collect();
                ips.sort_unstable();
                ips.dedup();
                let ids = &self.ids;
                let related: Vec<String> = window.iter().take(50).map(|x| ids.text(x.2)).collect();
                let lockouts = e.code == 50053;
                let n = window.len();
                p.brute = Some((e.time + HOUR, ips.clone()));
                let ip_list: Vec<String> = ips.iter().map(|&i| self.s(i)).collect();
                self.emit(
                    out,
                    RiskEventType::BruteForce,
                    RiskLevel::Medium,
                    &[&subject, &day],
                    e,
                    related,
                    format!("{n} bad passwords against this account within {} minutes from {}{}", cfg.brute_window / MINUTE, ip_list.join(", "), if lockouts { "; smart lockout engaged" } else { "" }),
                    json!({"badPasswords": n, "ipAddresses": ip_list, "windowMinutes": cfg.brute_window / MINUTE}),
                    json!({"badPasswordsThreshold": cfg.brute_failures}),
                );
            }
        }
        let p = self.profiles.entry(e.subject).or_default();
        if password_right(o) {
            if let Some((until, ips)) = &p.brute {
                if e.time <= *until && ips.contains(&e.ip) {
                    self.emit(
                        out,
                        RiskEventType::BruteForce,
                        RiskLevel::High,
                        &[&subject, &day, "succeeded"],
                        e,
                        Vec::new(),
                        format!("The right password from {ip} after a brute-force run against this account"),
                        json!({"ipAddress": ip, "errorCode": e.code}),
                        json!({"bruteForceAddress": true}),
                    );
                }
            }
        }
        let p = self.profiles.entry(e.subject).or_default();
        if o == Outcome::MfaDenied {
            let pos = p.denials.partition_point(|x| x.0 <= e.time);
            p.denials.insert(pos, (e.time, e.ip, e.id));
            let from = e.time - cfg.fatigue_window;
            let n = p
                .denials
                .iter()
                .filter(|x| x.0 > from && x.0 <= e.time)
                .count();
            if n >= cfg.fatigue_denials_unapproved {
                let related = p
                    .denials
                    .iter()
                    .filter(|x| x.0 > from && x.0 <= e.time)
                    .map(|x| self.ids.text(x.2))
                    .collect();
                self.emit(
                    out,
                    RiskEventType::MfaFatigue,
                    RiskLevel::Medium,
                    &[&subject, &day, "prompts"],
                    e,
                    related,
                    format!("{n} MFA prompts denied or unanswered within {} minutes: someone with the password is pushing prompts", cfg.fatigue_window / MINUTE),
                    json!({"deniedPrompts": n, "ipAddress": ip}),
                    json!({"deniedPromptsThreshold": cfg.fatigue_denials_unapproved}),
                );
            }
        } else if o == Outcome::Success && e.kind == SignInKind::InteractiveUser {
            // The approval completes a sign-in from where the prompts came from.
            let from = e.time - cfg.fatigue_window;
            let denied: Vec<&(i64, Sym, EventId)> = p
                .denials
                .iter()
                .filter(|x| x.0 > from && x.0 < e.time)
                .collect();
            let denied = if denied.iter().any(|x| x.1 == e.ip) {
                denied
            } else {
                Vec::new()
            };
            if denied.len() >= cfg.fatigue_denials {
                let n = denied.len();
                let related = denied.iter().map(|x| self.ids.text(x.2)).collect();
                let mut ips: Vec<Sym> = denied.iter().map(|x| x.1).collect();
                ips.sort_unstable();
                ips.dedup();
                let ip_list: Vec<String> = ips.iter().map(|&i| self.s(i)).collect();
                self.emit(
                    out,
                    RiskEventType::MfaFatigue,
                    RiskLevel::High,
                    &[&subject, &day, "approved"],
                    e,
                    related,
                    format!("An MFA prompt approved from {ip} after {n} denied or unanswered prompts within {} minutes (from {})", cfg.fatigue_window / MINUTE, ip_list.join(", ")),
                    json!({"deniedPrompts": n, "approvedFrom": ip, "promptedFrom": ip_list}),
                    json!({"deniedPromptsThreshold": cfg.fatigue_denials}),
                );
            }
        }
    }

    /// Addresses on the admin's lists.
    fn list_rules(&mut self, e: &SignInEvent, o: Outcome, out: &mut Vec<Detection>) {
        if self.anonymizers.is_empty() {
            return;
        }
        let ip = self.s(e.ip);
        if ip.is_empty() || !self.anonymizers.contains(&ip) {
            return;
        }
        let subject = self.s(e.subject);
        let level = if o == Outcome::Success {
            RiskLevel::High
        } else {
            RiskLevel::Medium
        };
        self.emit(
            out,
            RiskEventType::AnonymizedIpAddress,
            level,
            &[&subject, &ip, &Self::day_of(e.time)],
            e,
            Vec::new(),
            format!("A sign-in from {ip}, on the anonymiser list (Tor exit or anonymising VPN) loaded into this store"),
            json!({"ipAddress": ip, "errorCode": e.code, "userAgent": self.s(e.user_agent)}),
            json!({"anonymizerListEntries": self.anonymizers.len()}),
        );
    }

    /// Unfamiliar features, new country, unlikely travel and token replay: the sign-in against
    /// what the account was seen with before.
    fn familiarity_rules(
        &mut self,
        e: &SignInEvent,
        o: Outcome,
        device: Sym,
        out: &mut Vec<Detection>,
    ) {
        let cfg = self.config;
        let shared = e.trusted || self.shared_egress(e.ip);
        let Some(p) = self.profiles.get(&e.subject) else {
            return;
        };
        if !p.learned_at(e.time, &cfg) {
            return;
        }
        let t = e.time;
        let ip_new = !p.ips.known_at(e.ip, t);
        let asn_new = !p.asns.known_at(e.asn, t);
        let country_new = e.country != 0 && !p.countries.known_at(e.country, t);
        let device_new = !p.devices.known_at(device, t);
        let browser_new = !p.browsers.known_at(e.browser, t);
        let device_known_id = e.device_id != 0 && !device_new;
        let session = p.sessions.get(&e.session).copied();
        let concurrent = p
            .recent
            .iter()
            .any(|&(rt, rc, _)| (t - rt).abs() <= HOUR && rc != e.country && rc != 0);
        let interactive = e.kind == SignInKind::InteractiveUser;
        let unfamiliar =
            interactive && !shared && ip_new && asn_new && country_new && device_new && browser_new;
        let tenant_new = e.country != 0 && !self.tenant_countries.known_at(e.country, t);
        let new_country = interactive && !shared && country_new && tenant_new && !device_known_id;
        let hosting = is_hosting_asn(e.asn);
        let replayed = e.kind == SignInKind::NonInteractiveUser
            && o == Outcome::Success
            && ip_new
            && asn_new
            && country_new
            && !shared
            && session.is_some_and(|(st, sc, sip)| st < t && sc != e.country && sip != e.ip)
            && (hosting || concurrent);
        // The evidence is written only for a sign-in that a rule flags (most pass them all).
        if !(unfamiliar || new_country || replayed) {
            if interactive && !shared {
                self.travel(e, device_new, out);
            }
            return;
        }
        let subject = self.s(e.subject);
        let baseline = json!({
            "ipAddresses": p.ips.count(),
            "networks": p.asns.first.keys().take(10).collect::<Vec<_>>(),
            "countries": p.countries.first.keys().map(|&c| self.strings.get(c)).take(10).collect::<Vec<_>>(),
            "devices": p.devices.count(),
            "browsers": p.browsers.first.keys().map(|&c| self.strings.get(c)).take(10).collect::<Vec<_>>(),
            "successfulSignIns": p.successes,
            "firstSeen": crate::detection::graph_time(p.first_success.unwrap_or(t)),
        });
        let ip = self.s(e.ip);
        let country = self.s(e.country);
        let observed = json!({
            "ipAddress": ip,
            "autonomousSystemNumber": e.asn,
            "countryOrRegion": country,
            "city": self.s(e.city),
            "operatingSystem": self.s(e.os),
            "browser": self.s(e.browser),
            "deviceId": self.s(e.device_id),
            "newIpAddress": ip_new,
            "newNetwork": asn_new,
            "newCountry": country_new,
            "newDevice": device_new,
            "newBrowser": browser_new,
        });
        if unfamiliar {
            let level = if o == Outcome::Success {
                RiskLevel::High
            } else {
                RiskLevel::Medium
            };
            self.emit(
                out,
                RiskEventType::UnfamiliarFeatures,
                level,
                &[&subject, &self.ids.text(e.id)],
                e,
                Vec::new(),
                format!("Address {ip}, network AS{}, country {country}, device and browser all new for this account", e.asn),
                observed.clone(),
                baseline.clone(),
            );
        }
        if new_country {
            self.emit(
                out,
                RiskEventType::NewCountry,
                RiskLevel::Medium,
                &[&subject, &country],
                e,
                Vec::new(),
                format!("The first sign-in from {country} for this account and for the tenant, from a device the account never used"),
                observed.clone(),
                baseline.clone(),
            );
        }
        if replayed {
            let (st, sc, sip) = session.unwrap_or((t, 0, 0));
            let why = if hosting {
                format!("from a hosting provider's network (AS{})", e.asn)
            } else {
                "while the account was active elsewhere within the hour".to_string()
            };
            let mut observed = observed.clone();
            observed["sessionId"] = json!(self.s(e.session));
            observed["hostingNetwork"] = json!(hosting);
            let mut baseline = baseline.clone();
            baseline["sessionStarted"] = json!(crate::detection::graph_time(st));
            baseline["sessionCountry"] = json!(self.s(sc));
            baseline["sessionIpAddress"] = json!(self.s(sip));
            self.emit(
                out,
                RiskEventType::AnomalousToken,
                RiskLevel::High,
                &[&subject, &ip, &Self::day_of(t)],
                e,
                Vec::new(),
                format!("A token of a session begun in {} redeemed from {ip} ({country}), an address, network and country never seen for this account, {why}", self.s(sc)),
                observed,
                baseline,
            );
        }
        if interactive && !shared {
            self.travel(e, device_new, out);
        }
    }

    /// Unlikely travel: the located sign-ins just before and after this one.
    fn travel(&mut self, e: &SignInEvent, device_new: bool, out: &mut Vec<Detection>) {
        let Some((lat, lon)) = e.coords else { return };
        let cfg = self.config;
        let place = Place {
            time: e.time,
            lat,
            lon,
            country: e.country,
            city: e.city,
            ip: e.ip,
            id: e.id,
            device_known: e.device_id != 0 && !device_new,
        };
        let Some(p) = self.profiles.get_mut(&e.subject) else {
            return;
        };
        let pos = p.places.partition_point(|x| x.time <= e.time);
        p.places.insert(pos, place.clone());
        let before = p.places[..pos]
            .iter()
            .rev()
            .find(|x| x.city != place.city)
            .cloned();
        let after = p.places[pos + 1..]
            .iter()
            .find(|x| x.city != place.city)
            .cloned();
        let countries_known = |c: Sym, t: i64| p.countries.known_at(c, t);
        let mut found = None;
        for other in [before, after].into_iter().flatten() {
            let (a, b) = if other.time <= place.time {
                (other.clone(), place.clone())
            } else {
                (place.clone(), other.clone())
            };
            let km = haversine_km(a.lat, a.lon, b.lat, b.lon);
            let hours = (b.time - a.time) as f64 / HOUR as f64;
            let needed = km / cfg.travel_speed_kmh + cfg.travel_overhead_hours;
            if km < cfg.travel_min_km || hours >= needed || hours > 24.0 {
                continue;
            }
            let a_atypical = !countries_known(a.country, a.time);
            let b_atypical = !countries_known(b.country, b.time);
            if !a_atypical && !b_atypical {
                continue;
            }
            // A registered device of the account at the far end travelled with the user.
            let far = if b_atypical { &b } else { &a };
            if far.device_known {
                continue;
            }
            found = Some((a, b, km, hours, needed));
            break;
        }
        let Some((a, b, km, hours, needed)) = found else {
            return;
        };
        let subject = self.s(e.subject);
        let mut ev = e.clone();
        ev.id = b.id;
        ev.time = b.time;
        ev.ip = b.ip;
        ev.country = b.country;
        ev.city = b.city;
        ev.coords = Some((b.lat, b.lon));
        let (ca, cb) = (self.s(a.city), self.s(b.city));
        let (ida, idb) = (self.ids.text(a.id), self.ids.text(b.id));
        self.emit(
            out,
            RiskEventType::UnlikelyTravel,
            RiskLevel::Medium,
            &[&subject, &ida, &idb],
            &ev,
            vec![ida.clone(), idb.clone()],
            format!("{ca} ({}) to {cb} ({}) is {km:.0} km, {hours:.1} h apart; the journey takes at least {needed:.1} h, and one of the places is new for this account", self.s(a.country), self.s(b.country)),
            json!({
                "from": {"signInId": ida, "time": crate::detection::graph_time(a.time), "city": ca, "countryOrRegion": self.s(a.country), "ipAddress": self.s(a.ip)},
                "to": {"signInId": idb, "time": crate::detection::graph_time(b.time), "city": cb, "countryOrRegion": self.s(b.country), "ipAddress": self.s(b.ip)},
                "distanceKm": km.round(),
                "hoursApart": (hours * 100.0).round() / 100.0,
            }),
            json!({"speedKmh": cfg.travel_speed_kmh, "overheadHours": cfg.travel_overhead_hours, "minimumKm": cfg.travel_min_km}),
        );
    }

    /// A service principal sign-in: new credential, network or country after learning.
    fn workload(&mut self, e: &SignInEvent, out: &mut Vec<Detection>) {
        let cfg = self.config;
        let o = outcome(e.code);
        let p = self.profiles.entry(e.subject).or_default();
        let t = e.time;
        if o == Outcome::Success && p.learned_at(t, &cfg) {
            let key_new = e.key_id != 0 && !p.keys.known_at(e.key_id, t);
            let asn_new = !p.asns.known_at(e.asn, t);
            let country_new = e.country != 0 && !p.countries.known_at(e.country, t);
            let ip_new = !p.ips.known_at(e.ip, t);
            if key_new || asn_new || country_new {
                let mut what = Vec::new();
                if key_new {
                    what.push("a credential (key id) never used before");
                }
                if asn_new {
                    what.push("a network never used before");
                }
                if country_new {
                    what.push("a country never used before");
                }
                let level = if key_new && (asn_new || country_new || ip_new) {
                    RiskLevel::High
                } else {
                    RiskLevel::Medium
                };
                let baseline = json!({
                    "keyIds": p.keys.first.keys().map(|&k| self.strings.get(k)).collect::<Vec<_>>(),
                    "networks": p.asns.first.keys().collect::<Vec<_>>(),
                    "countries": p.countries.first.keys().map(|&c| self.strings.get(c)).collect::<Vec<_>>(),
                    "ipAddresses": p.ips.first.keys().map(|&c| self.strings.get(c)).take(20).collect::<Vec<_>>(),
                    "successfulSignIns": p.successes,
                });
                let subject = self.s(e.subject);
                let ip = self.s(e.ip);
                let key = self.s(e.key_id);
                let tag = format!("{}{}{}", key_new as u8, asn_new as u8, country_new as u8);
                self.emit(
                    out,
                    RiskEventType::SuspiciousWorkloadSignIn,
                    level,
                    &[&subject, &key, &e.asn.to_string(), &self.s(e.country), &tag],
                    e,
                    Vec::new(),
                    format!("The service principal signed in from {ip} (AS{}) with {}", e.asn, what.join(" and ")),
                    json!({"ipAddress": ip, "autonomousSystemNumber": e.asn, "countryOrRegion": self.s(e.country), "keyId": key, "newKeyId": key_new, "newNetwork": asn_new, "newCountry": country_new, "newIpAddress": ip_new}),
                    baseline,
                );
            }
        }
        let p = self.profiles.entry(e.subject).or_default();
        if o == Outcome::Success {
            p.first_success = Some(p.first_success.map_or(t, |f| f.min(t)));
            p.successes += 1;
            p.ips.note(e.ip, t);
            p.asns.note(e.asn, t);
            p.countries.note(e.country, t);
            if e.key_id != 0 {
                p.keys.note(e.key_id, t);
            }
        }
    }
}

/// Great-circle distance.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let r = 6371.0;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        // London to Amsterdam is about 358 km.
        let d = haversine_km(51.5072, -0.1276, 52.3676, 4.9041);
        assert!((d - 358.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km(1.0, 2.0, 1.0, 2.0), 0.0);
    }

    #[test]
    fn outcomes() {
        assert_eq!(outcome(0), Outcome::Success);
        assert_eq!(outcome(50126), Outcome::BadPassword);
        assert_eq!(outcome(50076), Outcome::PasswordRight);
        assert_eq!(outcome(500121), Outcome::MfaDenied);
        assert_eq!(outcome(50057), Outcome::OtherFirstFactor);
        assert_eq!(outcome(700016), Outcome::Other);
    }
}
