//! Planning one simulated UTC day: every user's working rhythm (local working hours, office
//! and home days, weekends, time off), the interactive flows with their interrupts and
//! failures, the ~10x non-interactive token refreshes, scheduled service-principal and
//! managed-identity traffic, AD FS sign-ins, background audit and provisioning activity, and
//! the scenarios scheduled for the day. The result is sorted and rendered by `lib.rs`.

use crate::audit::{self, AuditRec};
use crate::catalog::{self};
use crate::json::{Ticks, TICKS_PER_DAY, TICKS_PER_MIN, TICKS_PER_SEC};
use crate::provisioning::{self, ProvRec};
use crate::rng::Rng;
use crate::signin::{self, Auth, Custom, Ev, Kind, Net, F_MFA_CLAIM, F_PRT};
use crate::tenant::{DeviceKind, Tenant, Ui};
use crate::Label;

/// Everything planned for one UTC day, before sorting and rendering.
pub(crate) struct Day<'a> {
    pub t: &'a Tenant,
    pub day: u32,
    pub start: Ticks,
    pub end: Ticks,
    pub evs: Vec<Ev>,
    /// Index 0 is a placeholder (= no override).
    pub customs: Vec<Custom>,
    pub audits: Vec<AuditRec>,
    pub provs: Vec<ProvRec>,
    pub labels: Vec<Label>,
    seq: u32,
}

impl<'a> Day<'a> {
    pub(crate) fn new(t: &'a Tenant, day: u32) -> Day<'a> {
        let start = t.day_start(day);
        Day {
            t,
            day,
            start,
            end: start + TICKS_PER_DAY,
            evs: Vec::new(),
            customs: vec![Custom::default()],
            audits: Vec::new(),
            provs: Vec::new(),
            labels: Vec::new(),
            seq: 0,
        }
    }

    /// True when `t` falls inside this UTC day.
    pub(crate) fn inside(&self, t: Ticks) -> bool {
        t >= self.start && t < self.end
    }

    /// Adds an event if it falls inside the day; returns its id when kept.
    pub(crate) fn push(&mut self, mut ev: Ev) -> Option<u128> {
        if !self.inside(ev.t) {
            return None;
        }
        if let Some((user, from, to)) = self.suppressed(ev.subject, ev.kind) {
            if ev.subject == user && ev.t >= from && ev.t < to && ev.flags & signin::F_ATTACK == 0 {
                return None;
            }
        }
        ev.seq = self.seq;
        self.seq += 1;
        let id = ev.id;
        self.evs.push(ev);
        Some(id)
    }

    fn suppressed(&self, subject: u32, kind: Kind) -> Option<(u32, Ticks, Ticks)> {
        if !matches!(kind, Kind::Interactive | Kind::NonInteractive | Kind::Adfs) {
            return None;
        }
        self.t
            .attacks
            .iter()
            .filter_map(|a| a.suppress)
            .find(|(u, _, _)| *u == subject)
    }

    /// Registers an override and returns its index.
    pub(crate) fn custom(&mut self, c: Custom) -> u32 {
        self.customs.push(c);
        (self.customs.len() - 1) as u32
    }

    /// Next audit sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }
}

/// Builds a user sign-in event.
#[allow(clippy::too_many_arguments)]
pub(crate) fn user_ev(
    t: &Tenant,
    kind: Kind,
    at: Ticks,
    user: usize,
    usage: u16,
    slot: u8,
    resource: usize,
    net: Net,
    code: u32,
    auth: Auth,
    flags: u16,
    id: u128,
    corr: u128,
) -> Ev {
    let us = &t.usages[usage as usize];
    Ev {
        t: at,
        seq: 0,
        kind,
        subject: user as u32,
        app: us.client as u16,
        resource: resource as u16,
        usage,
        device: slot,
        net,
        code,
        auth,
        flags,
        id,
        corr,
        ov: 0,
    }
}

/// Weekday of a day number since the epoch (0 = Monday).
pub(crate) fn weekday(days_since_epoch: i64) -> u32 {
    (days_since_epoch + 3).rem_euclid(7) as u32
}

/// Plans the whole day.
pub(crate) fn plan_day(t: &Tenant, day: u32) -> Day<'_> {
    let mut d = Day::new(t, day);
    for ui in 0..t.users.len() {
        // A user's local day L maps to UTC [L*24h - tz, (L+1)*24h - tz); look at the local
        // days overlapping this UTC day and keep only events inside it.
        let tz = t.users[ui].tz_min() as i64 * TICKS_PER_MIN;
        for ld in [day as i64 - 1, day as i64, day as i64 + 1] {
            let local_start = t.day_start(0) + ld * TICKS_PER_DAY - tz;
            let local_end = local_start + TICKS_PER_DAY;
            if local_end <= d.start || local_start >= d.end {
                continue;
            }
            plan_user_local_day(&mut d, ui, ld, local_start);
        }
    }
    plan_workloads(&mut d);
    audit::plan_background(&mut d);
    provisioning::plan(&mut d);
    crate::attacks::generate(&mut d);
    d
}

/// Picks an instant inside [from, to) local minutes with a lunch dip.
fn work_time(rng: &mut Rng, local_start: Ticks, from_min: i32, to_min: i32) -> Ticks {
    loop {
        let m = rng.uniform(from_min as f64, to_min as f64);
        let lunch = (12.0 * 60.0..13.0 * 60.0).contains(&m);
        if !lunch || rng.chance(0.45) {
            return local_start
                + (m * TICKS_PER_MIN as f64) as Ticks
                + rng.below(TICKS_PER_SEC as u64) as i64;
        }
    }
}

fn plan_user_local_day(d: &mut Day, ui: usize, ld: i64, local_start: Ticks) {
    let t = d.t;
    let u = &t.users[ui];
    if !u.account_enabled {
        return;
    }
    let mut rng = Rng::from_parts(&[t.seed, 0x05E4, u.gid as u64, ld as u64]);
    let wd = weekday(t.start_day + ld);
    let weekend = wd >= 5;
    let pto = !weekend && rng.chance(0.04);
    let working = !weekend && !pto;
    let active_weekend = weekend && rng.chance(if u.guest { 0.03 } else { 0.18 });
    let at_office = working && u.office_idx.is_some() && (u.office_days >> wd) & 1 == 1;
    let laptop_net = if at_office {
        Net::Office(u.office_idx.unwrap_or(0) as u8)
    } else {
        Net::Home
    };
    let start = (u.work_start_min as f64 + rng.normal(0.0, 18.0)) as i32;
    let len = (u.work_len_min as f64 + rng.normal(0.0, 30.0)) as i32;
    let (from, to, n_ia) = if working {
        let base = if u.guest {
            rng.uniform(1.0, 6.0)
        } else {
            rng.uniform(20.0, 40.0) * u.activity
        };
        (start, start + len, base.round() as usize)
    } else if active_weekend {
        (10 * 60, 17 * 60, rng.range(1, 6) as usize)
    } else {
        (8 * 60, 21 * 60, 0)
    };
    let ni_ratio = rng.uniform(8.5, 11.0);
    let mut n_ni = (n_ia as f64 * ni_ratio) as usize;
    // Phones keep syncing in the evening and on days off.
    let has_phone = u.devices.iter().any(|x| x.kind.is_mobile());
    let n_phone_bg = if has_phone {
        if working {
            rng.range(6, 18) as usize
        } else {
            rng.range(8, 30) as usize
        }
    } else {
        0
    };
    if !working && !active_weekend {
        n_ni = 0;
    }
    let swap = u.phone_swap;
    let map_slot = |slot: u8, at: Ticks| -> u8 {
        match swap {
            Some((from_t, old, new)) if slot == old && at >= from_t => new,
            Some((from_t, _, new)) if slot == new && at < from_t => slot.saturating_sub(1),
            _ => slot,
        }
    };
    let net_for = |rng: &mut Rng, kind: DeviceKind| -> Net {
        if kind.is_mobile() {
            if at_office && rng.chance(0.6) {
                laptop_net
            } else if !at_office && rng.chance(0.7) {
                Net::Home
            } else {
                Net::Mobile
            }
        } else {
            laptop_net
        }
    };

    // Interactive flows.
    let mut made = 0usize;
    let mut first_logon = true;
    let dev_kind = |slot: u8| {
        u.devices
            .get(slot as usize)
            .map(|x| x.kind)
            .unwrap_or(DeviceKind::Windows)
    };
    while made < n_ia && !u.ia_choices.is_empty() {
        let at = if first_logon && working {
            local_start
                + (start as i64) * TICKS_PER_MIN
                + rng.below(5 * TICKS_PER_MIN as u64) as i64
        } else {
            work_time(&mut rng, local_start, from, to)
        };
        let (usage, slot0, logon) = if first_logon {
            first_logon = false;
            let win = u
                .ia_choices
                .iter()
                .position(|&(us, _)| t.usages[us as usize].ui == Ui::WinLogon);
            match win {
                Some(i) if working => (u.ia_choices[i].0, u.ia_choices[i].1, true),
                _ => {
                    let i = rng.weighted(&u.ia_weights);
                    (u.ia_choices[i].0, u.ia_choices[i].1, false)
                }
            }
        } else {
            let i = rng.weighted(&u.ia_weights);
            let (us, sl) = u.ia_choices[i];
            (us, sl, t.usages[us as usize].ui == Ui::WinLogon)
        };
        let slot = map_slot(slot0, at);
        let kind = dev_kind(slot);
        let net = net_for(&mut rng, kind);
        made += plan_interactive(d, &mut rng, ui, usage, slot, net, at, logon);
    }

    // Non-interactive refreshes during the working window.
    if !u.ni_choices.is_empty() {
        for k in 0..(n_ni + n_phone_bg) {
            let bg = k >= n_ni;
            let (at, phone_only) = if bg {
                let m = if rng.chance(0.5) {
                    rng.uniform(18.0 * 60.0, 23.5 * 60.0)
                } else {
                    rng.uniform(0.0, 24.0 * 60.0)
                };
                (
                    local_start
                        + (m * TICKS_PER_MIN as f64) as Ticks
                        + rng.below(TICKS_PER_SEC as u64) as i64,
                    true,
                )
            } else {
                (work_time(&mut rng, local_start, from - 10, to + 20), false)
            };
            let mut i = rng.weighted(&u.ni_weights);
            if phone_only {
                // Pick a phone usage.
                let mut tries = 0;
                while !dev_kind(u.ni_choices[i].1).is_mobile() && tries < 8 {
                    i = rng.weighted(&u.ni_weights);
                    tries += 1;
                }
                if !dev_kind(u.ni_choices[i].1).is_mobile() {
                    continue;
                }
            }
            let (usage, slot0) = u.ni_choices[i];
            let slot = map_slot(slot0, at);
            let kind = dev_kind(slot);
            let net = if bg {
                if rng.chance(0.75) {
                    Net::Home
                } else {
                    Net::Mobile
                }
            } else {
                net_for(&mut rng, kind)
            };
            plan_ni(d, &mut rng, ui, usage, slot, net, at);
        }
    }

    // AD FS relying parties (on-premises apps).
    if working && !u.adfs_rps.is_empty() {
        for _ in 0..rng.range(1, 3) {
            let rp = u.adfs_rps[rng.index(u.adfs_rps.len())];
            let at = work_time(&mut rng, local_start, from, to);
            let code = if rng.chance(0.03) { 50126 } else { 0 };
            let (net, auth) = if at_office {
                (
                    Net::Internal,
                    if code == 0 {
                        Auth::AdfsWia
                    } else {
                        Auth::AdfsForms
                    },
                )
            } else {
                (Net::Home, Auth::AdfsForms)
            };
            d.push(Ev {
                t: at,
                seq: 0,
                kind: Kind::Adfs,
                subject: ui as u32,
                app: rp as u16,
                resource: rp as u16,
                usage: u16::MAX,
                device: 0,
                net,
                code,
                auth,
                flags: 0,
                id: rng.guid(),
                corr: rng.guid(),
                ov: 0,
            });
        }
    }
}

/// Plans one interactive flow (one or more records sharing a correlation id).
/// Returns the number of records produced.
#[allow(clippy::too_many_arguments)]
fn plan_interactive(
    d: &mut Day,
    rng: &mut Rng,
    ui: usize,
    usage: u16,
    slot: u8,
    net: Net,
    at: Ticks,
    logon: bool,
) -> usize {
    let t = d.t;
    let u = &t.users[ui];
    let us = &t.usages[usage as usize];
    let dev = &u.devices[(slot as usize).min(u.devices.len() - 1)];
    let corr = rng.guid();
    let resource = us.ia_resource;
    let joined_windows = dev.kind == DeviceKind::Windows && !dev.device_id.is_empty();
    let prt = if joined_windows { F_PRT } else { 0 };
    let trusted = matches!(net, Net::Office(_));
    let mfa_needed = !trusted || u.admin || u.guest;
    let mk = |at: Ticks, code: u32, auth: Auth, flags: u16, rng: &mut Rng| {
        user_ev(
            t,
            Kind::Interactive,
            at,
            ui,
            usage,
            slot,
            resource,
            net,
            code,
            auth,
            flags,
            rng.request_guid(),
            corr,
        )
    };
    if logon {
        d.push(mk(at, 0, Auth::WinHello, F_PRT | F_MFA_CLAIM, rng));
        return 1;
    }
    let roll = rng.f64();
    let fresh_p = if dev.kind.is_mobile() || !joined_windows {
        0.12
    } else {
        0.05
    };
    if roll < 0.022 {
        // Assorted failures.
        let code = match rng.below(9) {
            0 if us.protocol == "saml20" => 50105,
            1 => 700016,
            2 => 50089,
            3 => 65001,
            4 => 50058,
            5 if dev.kind.is_mobile() => 50097,
            6 => 50199,
            7 if rng.chance(0.1) => 50055,
            _ => 50058,
        };
        let auth = if code == 50055 || code == 50089 {
            Auth::Password
        } else {
            Auth::None
        };
        let mut ev = mk(at, code, auth, prt | F_MFA_CLAIM, rng);
        if code == 700016 {
            // An old bookmark to an application that no longer exists in the tenant.
            ev.app = catalog::MY_APPS as u16;
        }
        d.push(ev);
        if code == 50058 || code == 50199 {
            // The silent attempt is followed by an interactive one that succeeds.
            let e2 = mk(
                at + rng.range(2, 9) * TICKS_PER_SEC,
                0,
                Auth::Sso,
                prt | F_MFA_CLAIM,
                rng,
            );
            d.push(e2);
            return 2;
        }
        return 1;
    }
    if roll < 0.022 + fresh_p {
        // Fresh sign-in: [wrong password] -> [MFA interrupt] -> [KMSI] -> success.
        let mut n = 0;
        let mut tt = at;
        if rng.chance(0.12) {
            d.push(mk(tt, 50126, Auth::BadPassword, 0, rng));
            tt += rng.range(6, 25) * TICKS_PER_SEC;
            n += 1;
        }
        if mfa_needed {
            d.push(mk(tt, 50074, Auth::MfaPending, 0, rng));
            tt += rng.range(7, 40) * TICKS_PER_SEC;
            n += 1;
            if rng.chance(0.02) {
                // The user ignores the prompt this time.
                d.push(mk(
                    tt + 60 * TICKS_PER_SEC,
                    500121,
                    Auth::MfaTimeout,
                    0,
                    rng,
                ));
                return n + 1;
            }
        }
        let final_auth = if mfa_needed {
            Auth::PasswordMfa
        } else {
            Auth::Password
        };
        if us.ui == Ui::Browser && rng.chance(0.35) {
            d.push(mk(
                tt,
                50140,
                final_auth,
                if mfa_needed { F_MFA_CLAIM } else { 0 },
                rng,
            ));
            tt += rng.range(2, 8) * TICKS_PER_SEC;
            n += 1;
        }
        let ev = mk(
            tt,
            0,
            final_auth,
            if mfa_needed { F_MFA_CLAIM } else { 0 },
            rng,
        );
        let code = signin::plan_ca(t, &ev, None, d.day).unwrap_or(0);
        let mut ev = ev;
        ev.code = code;
        d.push(ev);
        return n + 1;
    }
    if u.admin && resource == catalog::ARM && rng.chance(0.3) {
        // Step-up for Azure management without an MFA claim in the session.
        d.push(mk(at, 50076, Auth::MfaPending, prt, rng));
        let ev = mk(
            at + rng.range(8, 30) * TICKS_PER_SEC,
            0,
            Auth::PasswordMfa,
            prt | F_MFA_CLAIM,
            rng,
        );
        d.push(ev);
        return 2;
    }
    let ev = mk(at, 0, Auth::Sso, prt | F_MFA_CLAIM, rng);
    let code = signin::plan_ca(t, &ev, None, d.day).unwrap_or(0);
    let mut ev = ev;
    ev.code = code;
    d.push(ev);
    1
}

fn plan_ni(d: &mut Day, rng: &mut Rng, ui: usize, usage: u16, slot: u8, net: Net, at: Ticks) {
    let t = d.t;
    let u = &t.users[ui];
    let us = &t.usages[usage as usize];
    let dev = &u.devices[(slot as usize).min(u.devices.len() - 1)];
    let resource = if us.ni_resources.is_empty() {
        us.ia_resource
    } else {
        us.ni_resources[rng.index(us.ni_resources.len())]
    };
    let prt =
        if dev.kind == DeviceKind::Windows && !dev.device_id.is_empty() && us.ui != Ui::Browser {
            F_PRT
        } else {
            0
        };
    let trusted = matches!(net, Net::Office(_));
    let r = rng.f64();
    let (code, flags) = if r < 0.955 {
        (0, F_MFA_CLAIM | prt)
    } else {
        let code = match rng.below(12) {
            0 | 1 => 50173,
            2 | 3 => 70043,
            4 => 700082,
            5 if !trusted => 50076,
            6 => 65001,
            7 | 8 => 50058,
            9 => 16000,
            10 if dev.kind.is_mobile() => 50097,
            11 if dev.trust_type == "Hybrid Azure AD joined" => 81010,
            _ => 50173,
        };
        (
            code,
            if code == 50076 {
                prt
            } else {
                F_MFA_CLAIM | prt
            },
        )
    };
    let ev = user_ev(
        t,
        Kind::NonInteractive,
        at,
        ui,
        usage,
        slot,
        resource,
        net,
        code,
        Auth::None,
        flags,
        rng.request_guid(),
        rng.guid(),
    );
    let ev = if code == 0 {
        match signin::plan_ca(t, &ev, None, d.day) {
            Some(c) => Ev { code: c, ..ev },
            None => ev,
        }
    } else {
        ev
    };
    d.push(ev);
}

/// Service principal and managed identity schedules.
fn plan_workloads(d: &mut Day) {
    let t = d.t;
    let wd = weekday(t.start_day + d.day as i64);
    let hq_tz = t
        .offices
        .first()
        .map(|o| catalog::CITIES[o.city_idx].tz_min)
        .unwrap_or(0) as i64;
    for (si, sp) in t.service_principals.iter().enumerate() {
        let mut rng = Rng::from_parts(&[t.seed, 0x5B, sp.gid as u64, d.day as u64]);
        for job in &sp.jobs {
            let every = job.every_min as i64 * TICKS_PER_MIN;
            let phase = (sp.gid as i64).rem_euclid(every);
            let mut at = d.start + phase;
            while at < d.end {
                let local_h = ((at - d.start) / TICKS_PER_MIN + hq_tz).rem_euclid(24 * 60) / 60;
                let run = !job.business_hours || (wd < 5 && (7..19).contains(&local_h));
                if run && !rng.chance(0.03) {
                    let jitter = rng.below(90 * TICKS_PER_SEC as u64) as i64;
                    let mut code = 0;
                    let mut cred = 0u8;
                    if sp.stale_secret && rng.chance(0.35) {
                        // A script still configured with a rotated secret.
                        code = 7000215;
                        cred = (sp.credentials.len() - 1) as u8;
                    } else if rng.chance(0.002) {
                        code = if sp.credentials[0].credential_type == "certificate" {
                            700027
                        } else {
                            7000222
                        };
                    }
                    d.push(Ev {
                        t: at + jitter,
                        seq: 0,
                        kind: Kind::ServicePrincipal,
                        subject: si as u32,
                        app: 0,
                        resource: job.resource as u16,
                        usage: u16::MAX,
                        device: cred,
                        net: Net::Custom,
                        code,
                        auth: Auth::None,
                        flags: 0,
                        id: rng.request_guid(),
                        corr: rng.guid(),
                        ov: 0,
                    });
                }
                at += every;
            }
        }
    }
    for (mi_i, mi) in t.managed_identities.iter().enumerate() {
        let mut rng = Rng::from_parts(&[t.seed, 0x3A, mi.gid as u64, d.day as u64]);
        for h in 0..24 {
            let n = mi.per_hour as i64 + rng.range(-1, 1);
            for _ in 0..n.max(0) {
                let at =
                    d.start + h * 60 * TICKS_PER_MIN + rng.below(60 * TICKS_PER_MIN as u64) as i64;
                let res = mi.res_idx[rng.index(mi.res_idx.len())];
                let code = if rng.chance(0.001) { 500011 } else { 0 };
                d.push(Ev {
                    t: at,
                    seq: 0,
                    kind: Kind::ManagedIdentity,
                    subject: mi_i as u32,
                    app: 0,
                    resource: res as u16,
                    usage: u16::MAX,
                    device: 0,
                    net: Net::Custom,
                    code,
                    auth: Auth::None,
                    flags: 0,
                    id: rng.request_guid(),
                    corr: rng.guid(),
                    ov: 0,
                });
            }
        }
    }
}
