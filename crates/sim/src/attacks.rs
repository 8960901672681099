//! Labelled scenarios: attacks (password spray, brute force, credential theft with atypical
//! travel, MFA fatigue, legacy-protocol attempts, token replay, a service principal used with a
//! newly added credential, attempts on disabled accounts) and benign look-alikes (a traveller on
//! the corporate VPN, a user with a new phone).
//!
//! Scenarios are planned once per tenant (day, targets, start time) and generated inside the
//! day they belong to, so days stay independent. Every generated record id goes into a
//! [`Label`].

use crate::audit::{self, audit_id, prop_raw, AuditRec, Initiator, Target};
use crate::catalog::{self, IspKind, CITIES, ISPS};
use crate::day::{weekday, Day};
use crate::json::{self, guid_string, Ticks, TICKS_PER_HOUR, TICKS_PER_MIN, TICKS_PER_SEC};
use crate::rng::{mix, Rng};
use crate::signin::{self, Auth, Custom, Ev, Kind, Net, F_ATTACK, F_LEGACY, F_MFA_CLAIM};
use crate::tenant::{Device, DeviceKind, Tenant, Ui};
use crate::{AttackSelection, Label, SimOptions};

/// A labelled scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// Few IPs trying one or two passwords against many accounts.
    PasswordSpray,
    /// Many passwords against one account from one IP.
    BruteForce,
    /// Stolen credentials used from a new country and a new device (atypical travel).
    CredentialTheft,
    /// Repeated MFA push denials, then an approval.
    MfaFatigue,
    /// IMAP4 / POP3 / Authenticated SMTP basic-auth attempts.
    LegacyProtocol,
    /// A stolen refresh token replayed from an unfamiliar IP (non-interactive).
    TokenReplay,
    /// A credential added to a service principal, then used from an unusual IP.
    SpNewCredential,
    /// Sign-in attempts on disabled accounts (50057).
    DisabledAccount,
    /// Benign: a traveller alternating hotel Wi-Fi and the corporate VPN.
    VpnTravel,
    /// Benign: a user setting up a new phone.
    NewPhone,
}

impl Scenario {
    /// All scenarios, in canonical order.
    pub const ALL: [Scenario; 10] = [
        Scenario::PasswordSpray,
        Scenario::BruteForce,
        Scenario::CredentialTheft,
        Scenario::MfaFatigue,
        Scenario::LegacyProtocol,
        Scenario::TokenReplay,
        Scenario::SpNewCredential,
        Scenario::DisabledAccount,
        Scenario::VpnTravel,
        Scenario::NewPhone,
    ];

    /// Snake-case name used on the command line and in labels.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PasswordSpray => "password_spray",
            Scenario::BruteForce => "brute_force",
            Scenario::CredentialTheft => "credential_theft",
            Scenario::MfaFatigue => "mfa_fatigue",
            Scenario::LegacyProtocol => "legacy_protocol",
            Scenario::TokenReplay => "token_replay",
            Scenario::SpNewCredential => "sp_new_credential",
            Scenario::DisabledAccount => "disabled_account",
            Scenario::VpnTravel => "vpn_travel",
            Scenario::NewPhone => "new_phone",
        }
    }

    /// Parses a scenario name (a few aliases accepted).
    pub fn from_name(s: &str) -> Option<Scenario> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Some(match s.as_str() {
            "password_spray" | "spray" => Scenario::PasswordSpray,
            "brute_force" | "bruteforce" => Scenario::BruteForce,
            "credential_theft" | "atypical_travel" | "impossible_travel" => {
                Scenario::CredentialTheft
            }
            "mfa_fatigue" | "mfa_bombing" => Scenario::MfaFatigue,
            "legacy_protocol" | "legacy_auth" => Scenario::LegacyProtocol,
            "token_replay" => Scenario::TokenReplay,
            "sp_new_credential" | "sp_credential" | "service_principal_credential" => {
                Scenario::SpNewCredential
            }
            "disabled_account" | "disabled_accounts" => Scenario::DisabledAccount,
            "vpn_travel" | "benign_vpn_travel" => Scenario::VpnTravel,
            "new_phone" | "benign_new_phone" => Scenario::NewPhone,
            _ => return None,
        })
    }

    /// False for benign look-alikes.
    pub fn malicious(self) -> bool {
        !matches!(self, Scenario::VpnTravel | Scenario::NewPhone)
    }
}

/// A scenario scheduled on a day with its targets.
#[derive(Debug, Clone)]
pub(crate) struct PlannedAttack {
    pub scenario: Scenario,
    pub day: u32,
    pub start: Ticks,
    pub targets: Vec<usize>,
    pub seed: u64,
    /// Normal traffic of (user, from, to) is replaced by the scenario's.
    pub suppress: Option<(u32, Ticks, Ticks)>,
    /// New phone device appended to the user (slot index).
    pub new_slot: Option<u8>,
}

fn eligible(t: &Tenant, i: usize) -> bool {
    let u = &t.users[i];
    u.account_enabled && !u.guest && !u.devices.is_empty()
}

/// Plans the selected scenarios for the tenant. May append devices (new phone).
pub(crate) fn plan(t: &Tenant, opts: &SimOptions) -> Vec<PlannedAttack> {
    let scenarios: Vec<Scenario> = match &opts.attacks {
        AttackSelection::Default => Scenario::ALL.to_vec(),
        AttackSelection::None => Vec::new(),
        AttackSelection::List(v) => {
            let mut v = v.clone();
            v.sort();
            v.dedup();
            v
        }
    };
    let days = opts.days.max(1);
    let mut used: Vec<usize> = Vec::new();
    let members: Vec<usize> = (0..t.users.len())
        .filter(|&i| eligible(t, i) && !t.users[i].admin)
        .collect();
    let mut out = Vec::new();
    for (k, sc) in scenarios.iter().enumerate() {
        let mut rng = Rng::from_parts(&[opts.seed, 0xA77A, *sc as u64]);
        // Spread scenarios over the window, preferring weekdays.
        let mut day =
            ((k as u64 * days as u64) / scenarios.len().max(1) as u64 + rng.below(2)) as u32 % days;
        for _ in 0..7 {
            if weekday(t.start_day + day as i64) < 5 {
                break;
            }
            day = (day + 1) % days;
        }
        let mut pick_user = |rng: &mut Rng, need_phone: bool, need_office: bool| -> Option<usize> {
            let cands: Vec<usize> = members
                .iter()
                .copied()
                .filter(|i| !used.contains(i))
                .filter(|&i| !need_phone || t.users[i].devices.iter().any(|d| d.kind.is_mobile()))
                .filter(|&i| !need_office || t.users[i].office_idx.is_some())
                .collect();
            if cands.is_empty() {
                return None;
            }
            let u = cands[rng.index(cands.len())];
            used.push(u);
            Some(u)
        };
        let day_start = t.day_start(day);
        let mut pa = PlannedAttack {
            scenario: *sc,
            day,
            start: day_start + rng.range(60, 17 * 60) * TICKS_PER_MIN,
            targets: Vec::new(),
            seed: mix(&[opts.seed, *sc as u64, 0x5EED]),
            suppress: None,
            new_slot: None,
        };
        match sc {
            Scenario::PasswordSpray => {
                let mut all: Vec<usize> = (0..t.users.len()).filter(|&i| eligible(t, i)).collect();
                let n = ((all.len() as f64 * 0.6) as usize).clamp(all.len().min(3), 400);
                let mut chosen = Vec::new();
                while chosen.len() < n && !all.is_empty() {
                    chosen.push(all.swap_remove(rng.index(all.len())));
                }
                chosen.sort();
                pa.targets = chosen;
                pa.start = day_start + rng.range(60, 14 * 60) * TICKS_PER_MIN;
            }
            Scenario::BruteForce | Scenario::MfaFatigue => {
                pa.targets = pick_user(&mut rng, false, false).into_iter().collect();
            }
            Scenario::CredentialTheft | Scenario::TokenReplay => {
                if let Some(u) = pick_user(&mut rng, false, false) {
                    pa.targets = vec![u];
                    // During the victim's afternoon.
                    let tz = t.users[u].tz_min() as i64 * TICKS_PER_MIN;
                    let local = (t.users[u].work_start_min as i64 + 240 + rng.range(0, 120))
                        * TICKS_PER_MIN;
                    pa.start = clamp_day(day_start + local - tz, day_start, 5 * TICKS_PER_HOUR);
                }
            }
            Scenario::LegacyProtocol => {
                let n = 5 + rng.below(8) as usize;
                let mut v = Vec::new();
                for _ in 0..n {
                    if let Some(u) = pick_user(&mut rng, false, false) {
                        v.push(u);
                    }
                }
                v.sort();
                pa.targets = v;
            }
            Scenario::SpNewCredential => {
                let sp = t
                    .service_principals
                    .iter()
                    .position(|s| {
                        s.credentials[0].credential_type == "clientSecret" && !s.stale_secret
                    })
                    .unwrap_or(0);
                let admin = t.admin_users.first().copied().unwrap_or(0);
                pa.targets = vec![sp, admin];
                pa.start = day_start + rng.range(60, 18 * 60) * TICKS_PER_MIN;
            }
            Scenario::DisabledAccount => {
                let dis: Vec<usize> = (0..t.users.len())
                    .filter(|&i| !t.users[i].account_enabled)
                    .take(3)
                    .collect();
                pa.targets = dis;
            }
            Scenario::VpnTravel => {
                if let Some(u) = pick_user(&mut rng, false, true) {
                    pa.targets = vec![u];
                    pa.suppress = Some((u as u32, day_start, day_start + json::TICKS_PER_DAY));
                }
            }
            Scenario::NewPhone => {
                if let Some(u) = pick_user(&mut rng, true, false) {
                    pa.targets = vec![u];
                    let tz = t.users[u].tz_min() as i64 * TICKS_PER_MIN;
                    let local =
                        (t.users[u].work_start_min as i64 + 60 + rng.range(0, 90)) * TICKS_PER_MIN;
                    pa.start = clamp_day(day_start + local - tz, day_start, 2 * TICKS_PER_HOUR);
                    pa.new_slot = Some(t.users[u].devices.len() as u8);
                }
            }
        }
        if !pa.targets.is_empty() {
            // Nobody starts on the exact minute.
            pa.start += rng.below(TICKS_PER_MIN as u64) as i64;
            out.push(pa);
        }
    }
    out
}

fn clamp_day(at: Ticks, day_start: Ticks, room: Ticks) -> Ticks {
    at.clamp(
        day_start + 10 * TICKS_PER_MIN,
        day_start + json::TICKS_PER_DAY - room,
    )
}

/// Applies tenant-level effects of planned scenarios (new phones).
pub(crate) fn apply(t: &mut Tenant) {
    let plans: Vec<PlannedAttack> = t.attacks.clone();
    for pa in plans {
        if let (Scenario::NewPhone, Some(slot)) = (pa.scenario, pa.new_slot) {
            let u = pa.targets[0];
            let mut rng = Rng::new(pa.seed);
            let old = t.users[u]
                .devices
                .iter()
                .position(|d| d.kind.is_mobile())
                .unwrap_or(0) as u8;
            let iphone = t.users[u].devices[old as usize].kind == DeviceKind::Iphone;
            let mut v = t.versions.clone();
            v.ios_minor = v.ios_minor.max(1);
            let phone = crate::tenant::make_phone(&mut rng, &v, iphone);
            t.users[u].devices.push(phone);
            t.users[u].phone_swap = Some((pa.start, old, slot));
        }
    }
}

/// Collects record ids and the time window of a label.
struct Lb {
    label: Label,
    first: Option<Ticks>,
    last: Ticks,
}

impl Lb {
    fn new(sc: Scenario, identity: &str, description: String) -> Lb {
        Lb {
            label: Label {
                scenario: sc.name().to_string(),
                description,
                identity: identity.to_string(),
                record_ids: Vec::new(),
                start: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                end: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                malicious: sc.malicious(),
            },
            first: None,
            last: 0,
        }
    }

    fn note(&mut self, id: String, at: Ticks) {
        self.label.record_ids.push(id);
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = self.last.max(at);
    }

    fn ev(&mut self, d: &mut Day, mut ev: Ev) {
        ev.flags |= F_ATTACK;
        let at = ev.t;
        if let Some(id) = d.push(ev) {
            self.note(guid_string(id), at);
        }
    }

    fn audit(&mut self, d: &mut Day, rec: AuditRec) {
        if d.inside(rec.t) {
            self.note(rec.id.clone(), rec.t);
            d.audits.push(rec);
        }
    }

    fn finish(mut self, d: &mut Day) {
        let Some(first) = self.first else { return };
        self.label.start = to_dt(first);
        self.label.end = to_dt(self.last);
        d.labels.push(self.label);
    }
}

/// Converts ticks to a chrono timestamp.
pub(crate) fn to_dt(t: Ticks) -> chrono::DateTime<chrono::Utc> {
    let secs = t.div_euclid(TICKS_PER_SEC);
    let nanos = (t.rem_euclid(TICKS_PER_SEC) * 100) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
}

fn attacker_device(kind: DeviceKind, os: &str, browser: &str, ua: &str) -> Device {
    let mut d = Device {
        device_id: String::new(),
        display_name: String::new(),
        kind,
        operating_system: os.to_string(),
        browser: browser.to_string(),
        is_compliant: false,
        is_managed: false,
        trust_type: String::new(),
        ua_browser: ua.to_string(),
        ua_native: ua.to_string(),
        rich_client: String::new(),
        frags: Default::default(),
    };
    d.finish();
    d
}

/// An attacker network: (ISP name, city, country).
fn attacker_net(rng: &mut Rng, isp: &str, city: &str, cc: &str) -> (u32, usize, usize) {
    let i = catalog::isp_index(isp);
    (
        catalog::ip_in(&ISPS[i], rng.next_u64()),
        i,
        catalog::city_index(city, cc),
    )
}

fn custom_net(rng: &mut Rng, isp: &str, city: &str, cc: &str) -> Custom {
    let (ip, isp, city) = attacker_net(rng, isp, city, cc);
    Custom {
        ip: Some(ip),
        isp,
        city: Some(city),
        ..Default::default()
    }
}

/// Hosting networks in allowed countries other than `avoid`.
fn foreign_hosting(rng: &mut Rng, avoid: &str) -> (&'static str, &'static str, &'static str) {
    let opts: [(&str, &str, &str); 4] = [
        ("DigitalOcean, LLC", "Amsterdam", "NL"),
        ("OVH SAS", "Roubaix", "FR"),
        ("The Constant Company (Vultr)", "Dallas", "US"),
        ("DigitalOcean, LLC", "Singapore", "SG"),
    ];
    let c: Vec<_> = opts.iter().filter(|o| o.2 != avoid).collect();
    *c[rng.index(c.len())]
}

fn find_usage(t: &Tenant, client: usize, mobile: bool) -> u16 {
    t.usages
        .iter()
        .position(|u| u.client == client && u.mobile == mobile)
        .or_else(|| t.usages.iter().position(|u| u.client == client))
        .unwrap_or(0) as u16
}

#[allow(clippy::too_many_arguments)]
fn raw_ev(
    kind: Kind,
    at: Ticks,
    subject: u32,
    app: usize,
    res: usize,
    usage: u16,
    slot: u8,
    net: Net,
    code: u32,
    auth: Auth,
    flags: u16,
    id: u128,
    corr: u128,
    ov: u32,
) -> Ev {
    Ev {
        t: at,
        seq: 0,
        kind,
        subject,
        app: app as u16,
        resource: res as u16,
        usage,
        device: slot,
        net,
        code,
        auth,
        flags,
        id,
        corr,
        ov,
    }
}

fn first_desktop(t: &Tenant, u: usize) -> u8 {
    t.users[u]
        .devices
        .iter()
        .position(|d| !d.kind.is_mobile())
        .unwrap_or(0) as u8
}

/// Generates the scenarios scheduled for this day.
pub(crate) fn generate(d: &mut Day) {
    let t = d.t;
    let today = d.day;
    for pa in t.attacks.iter().filter(|a| a.day == today) {
        let mut rng = Rng::new(pa.seed);
        match pa.scenario {
            Scenario::PasswordSpray => spray(d, &mut rng, pa),
            Scenario::BruteForce => brute(d, &mut rng, pa),
            Scenario::CredentialTheft => theft(d, &mut rng, pa),
            Scenario::MfaFatigue => fatigue(d, &mut rng, pa),
            Scenario::LegacyProtocol => legacy(d, &mut rng, pa),
            Scenario::TokenReplay => replay(d, &mut rng, pa),
            Scenario::SpNewCredential => sp_cred(d, &mut rng, pa),
            Scenario::DisabledAccount => disabled(d, &mut rng, pa),
            Scenario::VpnTravel => travel(d, &mut rng, pa),
            Scenario::NewPhone => new_phone(d, &mut rng, pa),
        }
    }
}

fn spray(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let nets = [
        ("DigitalOcean, LLC", "North Bergen", "US", "python-requests/2.32.3"),
        ("The Constant Company (Vultr)", "Dallas", "US", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
        ("M247 Europe", "Bucharest", "RO", "Go-http-client/1.1"),
        ("OVH SAS", "Roubaix", "FR", "python-requests/2.32.3"),
    ];
    let empty = attacker_device(DeviceKind::Windows, "", "", "");
    let customs: Vec<(u32, String)> = nets
        .iter()
        .map(|(isp, city, cc, ua)| {
            let mut c = custom_net(rng, isp, city, cc);
            c.device = Some(empty.clone());
            c.user_agent = Some(ua.to_string());
            c.protocol = Some("ropc");
            c.client_app_used = Some("Mobile Apps and Desktop clients");
            let ip = json::ipv4_string(c.ip.unwrap_or(0));
            (d.custom(c), ip)
        })
        .collect();
    let span = rng.range(60, 120) * TICKS_PER_MIN;
    let ips: Vec<String> = customs.iter().map(|c| c.1.clone()).collect();
    let desc = format!(
        "Password spray from {} using the Azure AD PowerShell client (ROPC) against {} accounts",
        ips.join(", "),
        pa.targets.len()
    );
    let winners: Vec<usize> = pa
        .targets
        .iter()
        .copied()
        .filter(|_| rng.chance(0.01))
        .take(2)
        .collect();
    let winner = winners
        .first()
        .copied()
        .or_else(|| pa.targets.get(pa.targets.len() / 2).copied());
    for &u in &pa.targets {
        let mut lb = Lb::new(
            Scenario::PasswordSpray,
            &t.users[u].user_principal_name,
            desc.clone(),
        );
        let rounds = if rng.chance(0.5) { 2 } else { 1 };
        for r in 0..rounds {
            let at = pa.start + r * (span + 40 * TICKS_PER_MIN) + rng.below(span as u64) as i64;
            let (ov, _) = &customs[rng.index(customs.len())];
            let mut code = if rng.chance(0.05) { 50053 } else { 50126 };
            let mut auth = Auth::BadPassword;
            if Some(u) == winner && r == 0 {
                auth = Auth::MfaPending;
                let probe = raw_ev(
                    Kind::Interactive,
                    at,
                    u as u32,
                    catalog::AAD_POWERSHELL,
                    catalog::AAD,
                    u16::MAX,
                    0,
                    Net::Custom,
                    0,
                    Auth::Password,
                    0,
                    0,
                    0,
                    *ov,
                );
                code =
                    signin::plan_ca(t, &probe, d.customs.get(*ov as usize), d.day).unwrap_or(50076);
                if code != 53003 {
                    code = 50076;
                }
            }
            let ev = raw_ev(
                Kind::Interactive,
                at,
                u as u32,
                catalog::AAD_POWERSHELL,
                catalog::AAD,
                u16::MAX,
                0,
                Net::Custom,
                code,
                auth,
                0,
                rng.request_guid(),
                rng.guid(),
                *ov,
            );
            lb.ev(d, ev);
        }
        lb.finish(d);
    }
    // Accounts that do not exist.
    for name in ["admin", "administrator", "test", "it.support"] {
        let upn = format!("{name}@{}", t.domain);
        let (base, _) = customs[rng.index(customs.len())];
        let mut c = d.customs[base as usize].clone();
        c.upn = Some(upn.clone());
        let ov = d.custom(c);
        let mut lb = Lb::new(Scenario::PasswordSpray, &upn, desc.clone());
        let at = pa.start + rng.below(span as u64) as i64;
        let ev = raw_ev(
            Kind::Interactive,
            at,
            u32::MAX,
            catalog::AAD_POWERSHELL,
            catalog::AAD,
            u16::MAX,
            0,
            Net::Custom,
            50034,
            Auth::BadPassword,
            0,
            rng.request_guid(),
            rng.guid(),
            ov,
        );
        lb.ev(d, ev);
        lb.finish(d);
    }
}

fn brute(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36";
    let mut c = custom_net(rng, "Hetzner Online GmbH", "Helsinki", "FI");
    c.device = Some(attacker_device(
        DeviceKind::Linux,
        "Linux",
        "Chrome 118.0.0",
        ua,
    ));
    c.client_app_used = Some("Browser");
    let ip = json::ipv4_string(c.ip.unwrap_or(0));
    let ov = d.custom(c);
    let n = rng.range(80, 200);
    let usage = find_usage(t, catalog::OFFICE_HOME, false);
    let mut lb = Lb::new(
        Scenario::BruteForce,
        &t.users[u].user_principal_name,
        format!("Brute force: {n} password attempts against one account from {ip}; smart lockout engages"),
    );
    let mut at = pa.start;
    for k in 0..n {
        at += rng.range(5, 30) * TICKS_PER_SEC;
        let code = if k < 10 || rng.chance(0.15) {
            50126
        } else {
            50053
        };
        let ev = raw_ev(
            Kind::Interactive,
            at,
            u as u32,
            catalog::OFFICE_HOME,
            catalog::OFFICE_HOME,
            usage,
            0,
            Net::Custom,
            code,
            Auth::BadPassword,
            0,
            rng.request_guid(),
            rng.guid(),
            ov,
        );
        lb.ev(d, ev);
    }
    lb.finish(d);
}

fn theft(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let user = &t.users[u];
    let home_cc = CITIES[user.home_city].country;
    let oh = find_usage(t, catalog::OFFICE_HOME, false);
    let owa = find_usage(t, catalog::OWA, false);
    let a0 = pa.start;
    // The victim's own sign-in shortly before (not labelled).
    let slot = first_desktop(t, u);
    let legit = raw_ev(
        Kind::Interactive,
        a0 - rng.range(45, 90) * TICKS_PER_MIN,
        u as u32,
        catalog::OFFICE_HOME,
        catalog::OFFICE_HOME,
        oh,
        slot,
        Net::Home,
        0,
        Auth::Sso,
        F_MFA_CLAIM | signin::F_PRT,
        rng.request_guid(),
        rng.guid(),
        0,
    );
    d.push(legit);
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    let dev = attacker_device(DeviceKind::Iphone, "Ios 17.5.1", "Mobile Safari 17.5", ua);
    // First try from a blocked country.
    let mut blocked = custom_net(rng, "MTN Nigeria", "Lagos", "NG");
    blocked.device = Some(dev.clone());
    let blocked_ip = json::ipv4_string(blocked.ip.unwrap_or(0));
    let ov_b = d.custom(blocked);
    let (isp, city, cc) = foreign_hosting(rng, home_cc);
    let mut c = custom_net(rng, isp, city, cc);
    c.device = Some(dev);
    c.risk_during = Some("medium");
    c.risk_aggregated = Some("high");
    c.risk_state = Some("atRisk");
    c.risk_events = &["unfamiliarFeatures", "unlikelyTravel"];
    let ip = json::ipv4_string(c.ip.unwrap_or(0));
    let attacker_ip = c.ip;
    let ov = d.custom(c);
    let mut lb = Lb::new(
        Scenario::CredentialTheft,
        &user.user_principal_name,
        format!(
            "Stolen credentials: blocked attempt from {blocked_ip} (NG), then MFA-completed sign-in from {ip} ({city}, {cc}) on a new unregistered iPhone, mailbox access and a new authenticator registered (atypical travel from {})",
            CITIES[user.home_city].name
        ),
    );
    let corr0 = rng.guid();
    for k in 0..2 {
        let ev = raw_ev(
            Kind::Interactive,
            a0 - (12 - k * 3) * TICKS_PER_MIN,
            u as u32,
            catalog::OFFICE_HOME,
            catalog::OFFICE_HOME,
            oh,
            0,
            Net::Custom,
            53003,
            Auth::Password,
            0,
            rng.request_guid(),
            corr0,
            ov_b,
        );
        lb.ev(d, ev);
    }
    let corr = rng.guid();
    lb.ev(
        d,
        raw_ev(
            Kind::Interactive,
            a0,
            u as u32,
            catalog::OFFICE_HOME,
            catalog::OFFICE_HOME,
            oh,
            0,
            Net::Custom,
            50074,
            Auth::MfaPending,
            0,
            rng.request_guid(),
            corr,
            ov,
        ),
    );
    lb.ev(
        d,
        raw_ev(
            Kind::Interactive,
            a0 + rng.range(15, 35) * TICKS_PER_SEC,
            u as u32,
            catalog::OFFICE_HOME,
            catalog::OFFICE_HOME,
            oh,
            0,
            Net::Custom,
            0,
            Auth::PasswordMfa,
            F_MFA_CLAIM,
            rng.request_guid(),
            corr,
            ov,
        ),
    );
    lb.ev(
        d,
        raw_ev(
            Kind::Interactive,
            a0 + 2 * TICKS_PER_MIN,
            u as u32,
            catalog::OWA,
            catalog::EXO,
            owa,
            0,
            Net::Custom,
            0,
            Auth::Sso,
            F_MFA_CLAIM,
            rng.request_guid(),
            rng.guid(),
            ov,
        ),
    );
    let n = rng.range(15, 30);
    for _ in 0..n {
        let at = a0 + 3 * TICKS_PER_MIN + rng.below((100 * TICKS_PER_MIN) as u64) as i64;
        let res = *rng.pick(&[catalog::EXO, catalog::GRAPH, catalog::EXO, catalog::SPO]);
        let app = if res == catalog::SPO {
            catalog::OFFICE_HOME
        } else {
            catalog::OWA
        };
        let us = if app == catalog::OWA { owa } else { oh };
        lb.ev(
            d,
            raw_ev(
                Kind::NonInteractive,
                at,
                u as u32,
                app,
                res,
                us,
                0,
                Net::Custom,
                0,
                Auth::None,
                F_MFA_CLAIM,
                rng.request_guid(),
                rng.guid(),
                ov,
            ),
        );
    }
    let reg_at = a0 + rng.range(15, 25) * TICKS_PER_MIN;
    let mut rec = audit::security_info(
        d,
        rng,
        u,
        reg_at,
        attacker_ip,
        "Authenticator App with Notification and Code",
    );
    rec.seq = d.next_seq();
    lb.audit(d, rec);
    lb.finish(d);
}

fn fatigue(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let home_cc = CITIES[t.users[u].home_city].country;
    let (isp, city, cc) = foreign_hosting(rng, home_cc);
    let ua = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    let mut c = custom_net(rng, isp, city, cc);
    c.device = Some(attacker_device(
        DeviceKind::Android,
        "Android 10",
        "Chrome Mobile 124.0.0",
        ua,
    ));
    let ip = json::ipv4_string(c.ip.unwrap_or(0));
    let attacker_ip = c.ip;
    let ov = d.custom(c);
    let oh = find_usage(t, catalog::OFFICE_HOME, false);
    let n = rng.range(10, 20);
    let mut lb = Lb::new(
        Scenario::MfaFatigue,
        &t.users[u].user_principal_name,
        format!("MFA fatigue: {n} push prompts from {ip} ({city}, {cc}) denied or ignored (500121), then approved; a new authenticator is registered"),
    );
    let mut at = pa.start;
    for k in 0..=n {
        let corr = rng.guid();
        lb.ev(
            d,
            raw_ev(
                Kind::Interactive,
                at,
                u as u32,
                catalog::OFFICE_HOME,
                catalog::OFFICE_HOME,
                oh,
                0,
                Net::Custom,
                50074,
                Auth::MfaPending,
                0,
                rng.request_guid(),
                corr,
                ov,
            ),
        );
        let wait = rng.range(20, 60) * TICKS_PER_SEC;
        if k < n {
            let auth = if rng.chance(0.6) {
                Auth::MfaDenied
            } else {
                Auth::MfaTimeout
            };
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at + wait,
                    u as u32,
                    catalog::OFFICE_HOME,
                    catalog::OFFICE_HOME,
                    oh,
                    0,
                    Net::Custom,
                    500121,
                    auth,
                    0,
                    rng.request_guid(),
                    corr,
                    ov,
                ),
            );
        } else {
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at + wait,
                    u as u32,
                    catalog::OFFICE_HOME,
                    catalog::OFFICE_HOME,
                    oh,
                    0,
                    Net::Custom,
                    0,
                    Auth::PasswordMfa,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    corr,
                    ov,
                ),
            );
            let my = find_usage(t, catalog::MY_SIGNINS, false);
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at + wait + 90 * TICKS_PER_SEC,
                    u as u32,
                    catalog::MY_SIGNINS,
                    catalog::MY_SIGNINS,
                    my,
                    0,
                    Net::Custom,
                    0,
                    Auth::Sso,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    rng.guid(),
                    ov,
                ),
            );
            let mut rec = audit::security_info(
                d,
                rng,
                u,
                at + wait + 4 * TICKS_PER_MIN,
                attacker_ip,
                "Authenticator App with Notification and Code",
            );
            rec.seq = d.next_seq();
            lb.audit(d, rec);
        }
        at += wait + rng.range(40, 200) * TICKS_PER_SEC;
    }
    lb.finish(d);
}

fn legacy(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let empty = attacker_device(DeviceKind::Windows, "", "", "BAV2ROPC");
    let mut customs = Vec::new();
    for (isp, city, cc) in [
        ("M247 Europe", "Bucharest", "RO"),
        ("DigitalOcean, LLC", "North Bergen", "US"),
    ] {
        let base = custom_net(rng, isp, city, cc);
        for proto in ["IMAP4", "POP3", "Authenticated SMTP"] {
            let mut c = base.clone();
            c.device = Some(empty.clone());
            c.user_agent = Some("BAV2ROPC".into());
            c.client_app_used = Some(proto);
            c.protocol = Some("ropc");
            customs.push(d.custom(c));
        }
    }
    let ips: Vec<String> = [customs[0], customs[3]]
        .iter()
        .map(|&i| json::ipv4_string(d.customs[i as usize].ip.unwrap_or(0)))
        .collect();
    let desc = format!(
        "Legacy-protocol (IMAP4/POP3/Authenticated SMTP basic auth) password attempts from {}",
        ips.join(", ")
    );
    for &u in &pa.targets {
        let mut lb = Lb::new(
            Scenario::LegacyProtocol,
            &t.users[u].user_principal_name,
            desc.clone(),
        );
        let n = rng.range(2, 6);
        for _ in 0..n {
            let at = pa.start + rng.below((3 * TICKS_PER_HOUR) as u64) as i64;
            let ov = customs[rng.index(customs.len())];
            let correct = rng.chance(0.1);
            let (code, auth) = if correct {
                (53003, Auth::Password)
            } else {
                (50126, Auth::BadPassword)
            };
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at,
                    u as u32,
                    catalog::EXO,
                    catalog::EXO,
                    u16::MAX,
                    0,
                    Net::Custom,
                    code,
                    auth,
                    F_LEGACY,
                    rng.request_guid(),
                    rng.guid(),
                    ov,
                ),
            );
        }
        lb.finish(d);
    }
}

/// Session id the renderer derives for (user, slot, day).
fn session_of(t: &Tenant, u: usize, slot: u8, day: u32) -> u128 {
    let g = t.users[u].gid;
    mix(&[t.seed, g as u64, slot as u64, (day / 3) as u64]) as u128 | (g << 64)
}

fn replay(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let home_cc = CITIES[t.users[u].home_city].country;
    let (isp, city, cc) = foreign_hosting(rng, home_cc);
    let slot = first_desktop(t, u);
    let mut c = custom_net(rng, isp, city, cc);
    c.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36".into());
    c.session = Some(session_of(t, u, slot, d.day));
    c.incoming = Some("refreshToken");
    c.risk_aggregated = Some("medium");
    c.risk_state = Some("atRisk");
    c.risk_events = &["anomalousToken"];
    let ip = json::ipv4_string(c.ip.unwrap_or(0));
    let ov = d.custom(c);
    let office = find_usage(t, catalog::OFFICE, false);
    let teams = find_usage(t, catalog::TEAMS, false);
    let mut lb = Lb::new(
        Scenario::TokenReplay,
        &t.users[u].user_principal_name,
        format!("Token replay: the user's refresh token (same session id) redeemed from {ip} ({city}, {cc}) while the user is active at home/office"),
    );
    let n = rng.range(10, 25);
    for _ in 0..n {
        let at = pa.start + rng.below((150 * TICKS_PER_MIN) as u64) as i64;
        let (app, us, res) = if rng.chance(0.6) {
            (
                catalog::OFFICE,
                office,
                *rng.pick(&[catalog::EXO, catalog::GRAPH, catalog::SPO]),
            )
        } else {
            (
                catalog::TEAMS,
                teams,
                *rng.pick(&[catalog::TEAMS_SVC, catalog::GRAPH]),
            )
        };
        lb.ev(
            d,
            raw_ev(
                Kind::NonInteractive,
                at,
                u as u32,
                app,
                res,
                us,
                slot,
                Net::Custom,
                0,
                Auth::None,
                F_MFA_CLAIM,
                rng.request_guid(),
                rng.guid(),
                ov,
            ),
        );
    }
    lb.finish(d);
}

fn sp_cred(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let sp_i = pa.targets[0];
    let admin = pa.targets[1];
    let sp = &t.service_principals[sp_i];
    let (aip, _, _) = attacker_net(rng, "DigitalOcean, LLC", "Amsterdam", "NL");
    let new_key = guid_string(rng.guid());
    let key_desc = |id: &str, name: &str| {
        format!("[KeyIdentifier={id},KeyType=Password,KeyUsage=Verify,DisplayName={name}]")
    };
    let old: Vec<String> = sp
        .credentials
        .iter()
        .map(|c| key_desc(&c.key_id, &c.display_name))
        .collect();
    let mut new = old.clone();
    new.push(key_desc(&new_key, "backup"));
    let enc = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
    let app_object = sp.application_object_id();
    let corr = rng.guid();
    let a0 = pa.start;
    let mut lb = Lb::new(
        Scenario::SpNewCredential,
        &sp.display_name,
        format!(
            "Client secret {new_key} added to '{}' by {} from {}, then used from an unusual IP",
            sp.display_name,
            t.users[admin].user_principal_name,
            json::ipv4_string(aip)
        ),
    );
    let target = |props| Target {
        id: app_object.clone(),
        display: Some(sp.display_name.clone()),
        ty: "Application",
        upn: None,
        group_type: None,
        props,
    };
    let initiator = Initiator::User {
        id: t.users[admin].gid,
        display: t.users[admin].display_name.clone(),
        upn: t.users[admin].user_principal_name.clone(),
        ip: Some(aip),
    };
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36".to_string();
    let rec1 = AuditRec {
        t: a0,
        seq: d.next_seq(),
        id: audit_id(rng, "Directory", corr),
        category: "ApplicationManagement",
        corr,
        result: "success",
        result_reason: String::new(),
        activity: "Update application – Certificates and secrets management ",
        service: "Core Directory",
        op_type: "Update",
        initiator: initiator.clone(),
        user_agent: Some(ua.clone()),
        targets: vec![target(vec![
            prop_raw("KeyDescription", Some(enc(&old)), Some(enc(&new))),
            prop_raw(
                "Included Updated Properties",
                None,
                Some("\"KeyDescription\"".into()),
            ),
        ])],
        additional: vec![
            ("User-Agent".into(), ua.clone()),
            ("AppId".into(), sp.app_id.clone()),
        ],
    };
    lb.audit(d, rec1);
    let rec2 = AuditRec {
        t: a0 + 2_150_000,
        seq: d.next_seq(),
        id: audit_id(rng, "Directory", corr),
        category: "ApplicationManagement",
        corr,
        result: "success",
        result_reason: String::new(),
        activity: "Update application",
        service: "Core Directory",
        op_type: "Update",
        initiator,
        user_agent: Some(ua.clone()),
        targets: vec![target(vec![prop_raw(
            "Included Updated Properties",
            None,
            Some("\"\"".into()),
        )])],
        additional: vec![
            ("User-Agent".into(), ua),
            ("AppId".into(), sp.app_id.clone()),
        ],
    };
    lb.audit(d, rec2);
    let mut c = custom_net(rng, "Akamai (Linode)", "Dallas", "US");
    c.key_id = Some(new_key);
    let ov = d.custom(c);
    let mut at = a0 + rng.range(20, 50) * TICKS_PER_MIN;
    let stop = at + rng.range(90, 150) * TICKS_PER_MIN;
    while at < stop {
        lb.ev(
            d,
            raw_ev(
                Kind::ServicePrincipal,
                at,
                sp_i as u32,
                0,
                catalog::GRAPH,
                u16::MAX,
                0,
                Net::Custom,
                0,
                Auth::None,
                0,
                rng.request_guid(),
                rng.guid(),
                ov,
            ),
        );
        at += rng.range(3, 8) * TICKS_PER_MIN + rng.below(TICKS_PER_MIN as u64) as i64;
    }
    lb.finish(d);
}

fn disabled(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let mut c = custom_net(rng, "DigitalOcean, LLC", "North Bergen", "US");
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36";
    c.device = Some(attacker_device(
        DeviceKind::Windows,
        "Windows10",
        "Chrome 122.0.0",
        ua,
    ));
    c.client_app_used = Some("Browser");
    let ip = json::ipv4_string(c.ip.unwrap_or(0));
    let ov = d.custom(c);
    let oh = find_usage(t, catalog::OFFICE_HOME, false);
    for &u in &pa.targets {
        let mut lb = Lb::new(
            Scenario::DisabledAccount,
            &t.users[u].user_principal_name,
            format!("Sign-in attempts on a disabled account (50057) from {ip}"),
        );
        let n = rng.range(3, 8);
        let mut at = pa.start + rng.below((30 * TICKS_PER_MIN) as u64) as i64;
        for _ in 0..n {
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at,
                    u as u32,
                    catalog::OFFICE_HOME,
                    catalog::OFFICE_HOME,
                    oh,
                    0,
                    Net::Custom,
                    50057,
                    Auth::BadPassword,
                    0,
                    rng.request_guid(),
                    rng.guid(),
                    ov,
                ),
            );
            at += rng.range(1, 12) * TICKS_PER_MIN;
        }
        lb.finish(d);
    }
}

fn travel(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let user = &t.users[u];
    let home_cc = CITIES[user.home_city].country;
    let dests: [(&str, &str); 5] = [
        ("Tokyo", "JP"),
        ("Singapore", "SG"),
        ("New York", "US"),
        ("London", "GB"),
        ("Sydney", "AU"),
    ];
    let cands: Vec<_> = dests.iter().filter(|x| x.1 != home_cc).collect();
    let (dcity, dcc) = *cands[rng.index(cands.len())];
    let city = catalog::city_index(dcity, dcc);
    let res = catalog::isps_of(dcc, IspKind::Residential);
    let isp = res.first().copied().unwrap_or(0);
    let hotel = Custom {
        ip: Some(catalog::ip_in(&ISPS[isp], rng.next_u64())),
        isp,
        city: Some(city),
        ..Default::default()
    };
    let hotel_ip = json::ipv4_string(hotel.ip.unwrap_or(0));
    let ov = d.custom(hotel);
    let hq = user.office_idx.unwrap_or(0) as u8;
    let mut lb = Lb::new(
        Scenario::VpnTravel,
        &user.user_principal_name,
        format!(
            "Benign: travelling to {dcity} ({dcc}), alternating hotel Wi-Fi {hotel_ip} and the corporate VPN egressing at {}",
            t.offices[hq as usize].name
        ),
    );
    let tz = CITIES[city].tz_min as i64 * TICKS_PER_MIN;
    let local0 = d.start + 8 * TICKS_PER_HOUR - tz;
    let n_ia = rng.range(15, 25);
    let n_ni = n_ia * 6;
    let slot = first_desktop(t, u);
    let ia: Vec<(u16, u8)> = user
        .ia_choices
        .iter()
        .copied()
        .filter(|c| t.usages[c.0 as usize].ui != Ui::WinLogon && c.1 == slot)
        .collect();
    let ni: Vec<(u16, u8)> = user
        .ni_choices
        .iter()
        .copied()
        .filter(|c| c.1 == slot)
        .collect();
    if ia.is_empty() || ni.is_empty() {
        return;
    }
    let (dstart, dend) = (d.start, d.end);
    let w0 = local0.max(dstart + 10 * TICKS_PER_MIN);
    let w1 = (local0 + 10 * TICKS_PER_HOUR)
        .min(dend - 10 * TICKS_PER_MIN)
        .max(w0 + TICKS_PER_HOUR);
    let when = |rng: &mut Rng| -> Ticks { w0 + rng.below((w1 - w0) as u64) as i64 };
    // Half-hour blocks alternate between hotel and VPN.
    let net_at = |at: Ticks| -> (Net, u32) {
        if ((at - local0).div_euclid(45 * TICKS_PER_MIN)) % 2 == 0 {
            (Net::Custom, ov)
        } else {
            (Net::Office(hq), 0)
        }
    };
    let mut first = true;
    let mut times: Vec<Ticks> = (0..n_ia).map(|_| when(rng)).collect();
    times.sort();
    for at in times {
        let (us, sl) = ia[rng.index(ia.len())];
        let usage = &t.usages[us as usize];
        let (net, o) = net_at(at);
        if first {
            first = false;
            // Arrival at the hotel: a fresh sign-in with MFA from the new country.
            let (net, o) = (Net::Custom, ov);
            let corr = rng.guid();
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at,
                    u as u32,
                    usage.client,
                    usage.ia_resource,
                    us,
                    sl,
                    net,
                    50074,
                    Auth::MfaPending,
                    0,
                    rng.request_guid(),
                    corr,
                    o,
                ),
            );
            lb.ev(
                d,
                raw_ev(
                    Kind::Interactive,
                    at + 20 * TICKS_PER_SEC,
                    u as u32,
                    usage.client,
                    usage.ia_resource,
                    us,
                    sl,
                    net,
                    0,
                    Auth::PasswordMfa,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    corr,
                    o,
                ),
            );
            continue;
        }
        lb.ev(
            d,
            raw_ev(
                Kind::Interactive,
                at,
                u as u32,
                usage.client,
                usage.ia_resource,
                us,
                sl,
                net,
                0,
                Auth::Sso,
                F_MFA_CLAIM,
                rng.request_guid(),
                rng.guid(),
                o,
            ),
        );
    }
    for _ in 0..n_ni {
        let at = when(rng);
        let (us, sl) = ni[rng.index(ni.len())];
        let usage = &t.usages[us as usize];
        let res = if usage.ni_resources.is_empty() {
            usage.ia_resource
        } else {
            usage.ni_resources[rng.index(usage.ni_resources.len())]
        };
        let (net, o) = net_at(at);
        lb.ev(
            d,
            raw_ev(
                Kind::NonInteractive,
                at,
                u as u32,
                usage.client,
                res,
                us,
                sl,
                net,
                0,
                Auth::None,
                F_MFA_CLAIM,
                rng.request_guid(),
                rng.guid(),
                o,
            ),
        );
    }
    lb.finish(d);
}

fn new_phone(d: &mut Day, rng: &mut Rng, pa: &PlannedAttack) {
    let t = d.t;
    let u = pa.targets[0];
    let user = &t.users[u];
    let Some(slot) = pa.new_slot else { return };
    let Some(dev) = user.devices.get(slot as usize) else {
        return;
    };
    let a0 = pa.start;
    let mut lb = Lb::new(
        Scenario::NewPhone,
        &user.user_principal_name,
        format!(
            "Benign: new {} ({}) registered and set up from home",
            dev.display_name, dev.operating_system
        ),
    );
    // Device registration and security info.
    let corr = rng.guid();
    let drs = Initiator::App {
        app_id: Some(catalog::APPS[catalog::DRS].id.to_string()),
        display: "Device Registration Service".into(),
        sp_id: Some(t.applications[catalog::DRS].sp_gid),
        sp_name: None,
    };
    let dev_target = Target {
        id: guid_string(mix(&[pa.seed, 0xDE]) as u128 | ((pa.seed as u128) << 64)),
        display: Some(dev.display_name.clone()),
        ty: "Device",
        upn: None,
        group_type: None,
        props: vec![
            prop_raw(
                "DeviceId",
                None,
                Some(json::json_string_literal(&dev.device_id)),
            ),
            prop_raw(
                "DeviceOSType",
                None,
                Some(json::json_string_literal(
                    if dev.kind == DeviceKind::Iphone {
                        "IphoneOS"
                    } else {
                        "AndroidForWork"
                    },
                )),
            ),
            prop_raw(
                "DeviceTrustType",
                None,
                Some(json::json_string_literal("Workplace")),
            ),
        ],
    };
    let add = vec![
        ("Device Id".to_string(), dev.device_id.clone()),
        ("Device OS".to_string(), dev.operating_system.clone()),
    ];
    let r1 = AuditRec {
        t: a0,
        seq: d.next_seq(),
        id: audit_id(rng, "Directory", corr),
        category: "Device",
        corr,
        result: "success",
        result_reason: String::new(),
        activity: "Register device",
        service: "Core Directory",
        op_type: "Add",
        initiator: drs.clone(),
        user_agent: None,
        targets: vec![dev_target.clone()],
        additional: add.clone(),
    };
    // The registration itself names only the device; it is part of the story but not of
    // this identity's records.
    d.audits.push(r1);
    let r2 = AuditRec {
        t: a0 + 4_000_000,
        seq: d.next_seq(),
        id: audit_id(rng, "Directory", corr),
        category: "Device",
        corr,
        result: "success",
        result_reason: String::new(),
        activity: "Add registered owner to device",
        service: "Core Directory",
        op_type: "Assign",
        initiator: drs,
        user_agent: None,
        targets: vec![
            Target {
                props: Vec::new(),
                ..dev_target
            },
            audit::user_target(d, u, Vec::new()),
        ],
        additional: add,
    };
    lb.audit(d, r2);
    let mut rec = audit::security_info(
        d,
        rng,
        u,
        a0 + 6 * TICKS_PER_MIN,
        Some(user.home_ip),
        "Authenticator App with Notification and Code",
    );
    rec.seq = d.next_seq();
    lb.audit(d, rec);
    // First sign-ins from the new phone.
    let steps: [(usize, usize, Kind); 4] = [
        (
            catalog::AUTHENTICATOR,
            catalog::ACCOUNT_CONTROLS,
            Kind::Interactive,
        ),
        (catalog::COMPANY_PORTAL, catalog::INTUNE, Kind::Interactive),
        (catalog::OUTLOOK_MOBILE, catalog::EXO, Kind::Interactive),
        (catalog::TEAMS, catalog::TEAMS_SVC, Kind::Interactive),
    ];
    let mut at = a0 - 2 * TICKS_PER_MIN;
    for (k, (app, res, kind)) in steps.iter().enumerate() {
        let us = find_usage(t, *app, true);
        let corr = rng.guid();
        if k < 3 {
            lb.ev(
                d,
                raw_ev(
                    *kind,
                    at,
                    u as u32,
                    *app,
                    *res,
                    us,
                    slot,
                    Net::Home,
                    50074,
                    Auth::MfaPending,
                    0,
                    rng.request_guid(),
                    corr,
                    0,
                ),
            );
            at += rng.range(15, 40) * TICKS_PER_SEC;
            lb.ev(
                d,
                raw_ev(
                    *kind,
                    at,
                    u as u32,
                    *app,
                    *res,
                    us,
                    slot,
                    Net::Home,
                    0,
                    Auth::PasswordMfa,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    corr,
                    0,
                ),
            );
        } else {
            lb.ev(
                d,
                raw_ev(
                    *kind,
                    at,
                    u as u32,
                    *app,
                    *res,
                    us,
                    slot,
                    Net::Home,
                    0,
                    Auth::Sso,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    corr,
                    0,
                ),
            );
        }
        at += rng.range(2, 6) * TICKS_PER_MIN;
        for _ in 0..rng.range(2, 5) {
            let t2 = at + rng.below((10 * TICKS_PER_MIN) as u64) as i64;
            lb.ev(
                d,
                raw_ev(
                    Kind::NonInteractive,
                    t2,
                    u as u32,
                    *app,
                    *res,
                    us,
                    slot,
                    Net::Home,
                    0,
                    Auth::None,
                    F_MFA_CLAIM,
                    rng.request_guid(),
                    rng.guid(),
                    0,
                ),
            );
        }
    }
    lb.finish(d);
}
