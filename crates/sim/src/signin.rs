//! Sign-in events: the compact planned form ([`Ev`]) and its rendering to Graph beta `signIn`
//! JSON or to Azure Monitor diagnostic envelopes (SignInLogs, NonInteractiveUserSignInLogs,
//! ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, ADFSSignInLogs).
//!
//! Planning decides *what* happens (who, when, which app, which outcome); rendering derives the
//! remaining detail (CA evaluation, authentication details, token ids) deterministically from
//! the event and the tenant, so rendering order never affects the bytes.

use crate::catalog::{self, failure_reason, CITIES, ISPS};
use crate::json::{self, Arr, Ip, Obj, Ticks, TimeFmt};
use crate::rng::mix;
use crate::tenant::{CaOutcome, CaRule, Device, Tenant, Ui};

/// Sign-in log kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Kind {
    Interactive = 0,
    NonInteractive = 1,
    ServicePrincipal = 2,
    ManagedIdentity = 3,
    Adfs = 4,
}

impl Kind {
    /// Diagnostic-settings category.
    pub(crate) fn category(self) -> &'static str {
        match self {
            Kind::Interactive => "SignInLogs",
            Kind::NonInteractive => "NonInteractiveUserSignInLogs",
            Kind::ServicePrincipal => "ServicePrincipalSignInLogs",
            Kind::ManagedIdentity => "ManagedIdentitySignInLogs",
            Kind::Adfs => "ADFSSignInLogs",
        }
    }

    fn event_type(self) -> &'static [u8] {
        match self {
            Kind::Interactive | Kind::Adfs => b"[\"interactiveUser\"]",
            Kind::NonInteractive => b"[\"nonInteractiveUser\"]",
            Kind::ServicePrincipal => b"[\"servicePrincipal\"]",
            Kind::ManagedIdentity => b"[\"managedIdentity\"]",
        }
    }
}

/// Where a user sign-in comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    /// Office egress (office index).
    Office(u8),
    /// The user's home broadband.
    Home,
    /// The user's mobile carrier.
    Mobile,
    /// Address given by the event's override.
    Custom,
    /// An internal (RFC 1918) address seen by AD FS.
    Internal,
}

/// Which `authenticationDetails` a sign-in carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Empty list (typical for non-interactive refreshes).
    None,
    /// SSO: "Previously satisfied".
    Sso,
    /// Password only (single factor).
    Password,
    /// Password + MFA completed.
    PasswordMfa,
    /// Password correct, MFA now required (50074 / 50076).
    MfaPending,
    /// Wrong password (50126) or other first-factor failure.
    BadPassword,
    /// MFA push denied by the user (500121).
    MfaDenied,
    /// MFA push not answered (500121).
    MfaTimeout,
    /// Windows Hello for Business (Windows Sign In).
    WinHello,
    /// AD FS forms authentication.
    AdfsForms,
    /// AD FS Windows integrated authentication.
    AdfsWia,
}

/// Event flag: the session token carries an MFA claim.
pub(crate) const F_MFA_CLAIM: u16 = 1;
/// Event flag: a legacy-authentication client.
pub(crate) const F_LEGACY: u16 = 2;
/// Event flag: the sign-in went through the PRT (Windows broker).
pub(crate) const F_PRT: u16 = 4;
/// Event flag: part of a labelled attack.
pub(crate) const F_ATTACK: u16 = 8;

/// Per-event overrides used by scenarios.
#[derive(Debug, Default, Clone)]
pub(crate) struct Custom {
    pub ip: Option<u32>,
    pub isp: usize,
    /// City index; `None` means an empty location.
    pub city: Option<usize>,
    pub device: Option<Device>,
    pub user_agent: Option<String>,
    pub client_app_used: Option<&'static str>,
    pub protocol: Option<&'static str>,
    pub risk_during: Option<&'static str>,
    pub risk_aggregated: Option<&'static str>,
    pub risk_state: Option<&'static str>,
    pub risk_events: &'static [&'static str],
    pub session: Option<u128>,
    pub key_id: Option<String>,
    pub upn: Option<String>,
    pub incoming: Option<&'static str>,
}

/// A planned sign-in.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub t: Ticks,
    pub seq: u32,
    pub kind: Kind,
    /// User / service principal / managed identity index (`u32::MAX`: unknown user, see override).
    pub subject: u32,
    /// Client application index (AD FS: relying party index).
    pub app: u16,
    /// Resource application index.
    pub resource: u16,
    /// Usage index (users), or `u16::MAX`.
    pub usage: u16,
    /// User device slot, or SP credential index.
    pub device: u8,
    pub net: Net,
    pub code: u32,
    pub auth: Auth,
    pub flags: u16,
    pub id: u128,
    pub corr: u128,
    /// Index into the day's overrides (0 = none).
    pub ov: u32,
}

/// Conditional Access evaluation inputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaCtx {
    pub admin: bool,
    pub guest: bool,
    pub legacy: bool,
    pub trusted: bool,
    pub mobile: bool,
    pub compliant: bool,
    pub office365: bool,
    pub blocked_country: bool,
    pub mfa: bool,
}

/// Evaluates the tenant's policies. Returns outcomes and the error code a block implies.
pub(crate) fn ca_eval(t: &Tenant, c: &CaCtx) -> ([CaOutcome; 8], Option<u32>) {
    let mut out = [CaOutcome::NotApplied; 8];
    let mut block = None;
    for (i, p) in t.conditional_access_policies.iter().enumerate().take(8) {
        let enforced = p.state == "enabled";
        let o = match p.rule {
            CaRule::MfaAdmins => match (c.admin, c.mfa) {
                (false, _) => CaOutcome::NotApplied,
                (true, true) => CaOutcome::Success,
                (true, false) => CaOutcome::Failure,
            },
            CaRule::BlockLegacy => {
                if c.legacy {
                    CaOutcome::Failure
                } else {
                    CaOutcome::NotApplied
                }
            }
            CaRule::MfaUntrusted => match (c.trusted, c.mfa) {
                (true, _) => CaOutcome::NotApplied,
                (false, true) => CaOutcome::Success,
                (false, false) => CaOutcome::Failure,
            },
            CaRule::CompliantDesktop => {
                if !c.office365 || c.mobile || c.guest {
                    CaOutcome::NotApplied
                } else if c.compliant {
                    CaOutcome::Success
                } else {
                    CaOutcome::Failure
                }
            }
            CaRule::BlockCountries => {
                if c.blocked_country {
                    CaOutcome::Failure
                } else {
                    CaOutcome::NotApplied
                }
            }
        };
        if enforced && o == CaOutcome::Failure && block.is_none() {
            block = match p.rule {
                CaRule::BlockLegacy | CaRule::BlockCountries => Some(53003),
                CaRule::CompliantDesktop => Some(53000),
                _ => None,
            };
        }
        out[i] = o;
    }
    (out, block)
}

/// True when the error code means first-factor authentication did not complete
/// (Conditional Access is not evaluated for those).
pub(crate) fn pre_ca_failure(code: u32) -> bool {
    matches!(
        code,
        50126 | 50053 | 50057 | 50034 | 50055 | 700016 | 50105 | 50089 | 50058 | 16000 | 81010
    )
}

/// Office 365 resources (the `office365` app group of Conditional Access).
pub(crate) fn is_office365(res: usize) -> bool {
    use catalog::*;
    matches!(res, r if r == EXO || r == SPO || r == TEAMS_SVC || r == SHELL_SERVER || r == OFFICE_HOME)
}

/// Everything resolved for rendering one sign-in.
struct Resolved<'a> {
    display: &'a str,
    upn: &'a str,
    user_id: Option<u128>,
    user_type_graph: &'a str,
    user_type_diag: &'a str,
    home_tenant: u128,
    home_tenant_name: &'a str,
    cross_tenant: &'a str,
    app_id: &'a str,
    app_name: &'a str,
    res_id: &'a str,
    res_name: &'a str,
    res_sp: Option<u128>,
    ip: Option<Ip>,
    asn: u32,
    loc: usize,
    device: Option<&'a Device>,
    ui: Ui,
    client_app_used: &'a str,
    user_agent: &'a str,
    protocol: &'a str,
    incoming: &'a str,
    scopes: &'a str,
    network_name: Option<&'a str>,
    risk_during: &'a str,
    risk_agg: &'a str,
    risk_state: &'a str,
    risk_events: &'a [&'a str],
    session: Option<u128>,
    ca: Option<[CaOutcome; 8]>,
    mfa_required: bool,
    sp_name: Option<&'a str>,
    sp_id: Option<u128>,
    cred_type: &'a str,
    key_id: Option<&'a str>,
    thumbprint: &'a str,
    fic: Option<u128>,
    msi: Option<(&'a str, &'a str, &'a str)>,
    library: &'a str,
}

fn internal_ip(user: u32, office: u8) -> u32 {
    u32::from_be_bytes([10, 20 + office, (user >> 8) as u8, (user & 0xFF) as u8 | 1])
}

fn resolve<'a>(t: &'a Tenant, ev: &'a Ev, ov: Option<&'a Custom>, day: u32) -> Resolved<'a> {
    let apps = &t.applications;
    let mut r = Resolved {
        display: "",
        upn: "",
        user_id: None,
        user_type_graph: "member",
        user_type_diag: "Member",
        home_tenant: t.gid,
        home_tenant_name: "",
        cross_tenant: "none",
        app_id: "",
        app_name: "",
        res_id: "",
        res_name: "",
        res_sp: None,
        ip: None,
        asn: 0,
        loc: crate::tenant::empty_loc(t),
        device: None,
        ui: Ui::Native,
        client_app_used: "Mobile Apps and Desktop clients",
        user_agent: "",
        protocol: "none",
        incoming: "none",
        scopes: "",
        network_name: None,
        risk_during: "none",
        risk_agg: "none",
        risk_state: "none",
        risk_events: &[],
        session: None,
        ca: None,
        mfa_required: false,
        sp_name: None,
        sp_id: None,
        cred_type: "none",
        key_id: None,
        thumbprint: "",
        fic: None,
        msi: None,
        library: "",
    };
    match ev.kind {
        Kind::Interactive | Kind::NonInteractive | Kind::Adfs => {
            if let Some(u) = t.users.get(ev.subject as usize) {
                r.display = &u.display_name;
                r.upn = &u.user_principal_name;
                r.user_id = Some(u.gid);
                if u.guest {
                    r.user_type_graph = "guest";
                    r.user_type_diag = "Guest";
                    r.home_tenant = u.home_tenant;
                    r.home_tenant_name = &u.home_tenant_name;
                    r.cross_tenant = "b2bCollaboration";
                }
                r.device = u.devices.get(ev.device as usize);
                r.session = r.device.map(|_| {
                    mix(&[t.seed, u.gid as u64, ev.device as u64, (day / 3) as u64]) as u128
                        | (u.gid << 64)
                });
                match ev.net {
                    Net::Office(o) => {
                        let off = &t.offices[(o as usize).min(t.offices.len() - 1)];
                        let ip = off.ips[(ev.subject as usize + day as usize) % off.ips.len()];
                        r.ip = Some(Ip::V4(ip));
                        r.asn = ISPS[off.isp].asn;
                        r.loc = off.city_idx;
                        r.network_name = Some(&off.named_location);
                    }
                    Net::Home => {
                        // Dual-stack homes use IPv6 for most connections; the
                        // interface id rotates daily (privacy extensions).
                        r.ip = Some(match u.home_ip6 {
                            Some(p) if ev.id % 10 < 7 => {
                                Ip::V6(p | mix(&[u.gid as u64, day as u64, 6]) as u128)
                            }
                            _ => Ip::V4(u.home_ip),
                        });
                        r.asn = ISPS[u.home_isp].asn;
                        r.loc = u.home_city;
                    }
                    Net::Mobile => {
                        let isp = &ISPS[u.mobile_isp];
                        let h = mix(&[
                            u.gid as u64,
                            day as u64,
                            (ev.t / json::TICKS_PER_HOUR / 3) as u64,
                        ]);
                        r.ip = Some(match u.mobile_v6 {
                            Some(b) => Ip::V6(catalog::v6_subnet(b, h) | mix(&[h, 64]) as u128),
                            None => Ip::V4(catalog::ip_in(isp, h)),
                        });
                        r.asn = isp.asn;
                        r.loc = u.home_city;
                    }
                    Net::Internal => {
                        let o = u.office_idx.unwrap_or(0) as u8;
                        r.ip = Some(Ip::V4(internal_ip(ev.subject, o)));
                    }
                    Net::Custom => {}
                }
            }
            if ev.kind == Kind::Adfs {
                let rp = &t.adfs_relying_parties[ev.app as usize % t.adfs_relying_parties.len()];
                r.app_id = &rp.app_id;
                r.app_name = &rp.app_display_name;
                r.res_id = &rp.identifier;
                r.res_name = &rp.display_name;
                r.sp_name = Some(&rp.app_display_name);
                r.loc = crate::tenant::empty_loc(t);
                r.device = None;
                r.session = None;
                r.client_app_used = "Unknown";
                r.risk_during = "hidden";
                r.risk_agg = "hidden";
            } else {
                let a = &apps[ev.app as usize];
                let res = &apps[ev.resource as usize];
                r.app_id = &a.app_id;
                r.app_name = &a.display_name;
                r.res_id = &res.app_id;
                r.res_name = &res.display_name;
                r.res_sp = Some(res.sp_gid);
                if let Some(us) = t.usages.get(ev.usage as usize) {
                    r.ui = us.ui;
                    r.client_app_used = us.client_app_used;
                    r.protocol = us.protocol;
                    r.scopes = us.scopes;
                }
                if let Some(d) = r.device {
                    r.user_agent = d.user_agent(r.ui);
                }
                r.incoming = if ev.kind == Kind::NonInteractive {
                    if ev.flags & F_PRT != 0 {
                        "primaryRefreshToken"
                    } else {
                        "refreshToken"
                    }
                } else if ev.flags & F_PRT != 0 && ev.auth == Auth::Sso {
                    "primaryRefreshToken"
                } else {
                    "none"
                };
            }
        }
        Kind::ServicePrincipal => {
            let sp = &t.service_principals[ev.subject as usize];
            let res = &apps[ev.resource as usize];
            r.app_id = &sp.app_id;
            r.app_name = &sp.display_name;
            r.res_id = &res.app_id;
            r.res_name = &res.display_name;
            r.res_sp = Some(res.sp_gid);
            r.sp_name = Some(&sp.display_name);
            r.sp_id = Some(sp.gid);
            r.user_type_graph = "";
            let cred = &sp.credentials[(ev.device as usize).min(sp.credentials.len() - 1)];
            r.cred_type = &cred.credential_type;
            r.key_id = Some(&cred.key_id);
            r.thumbprint = &cred.thumbprint;
            if cred.credential_type == "federatedIdentityCredential" {
                r.fic = Some(mix(&[sp.gid as u64, 7]) as u128 | ((sp.app_gid >> 64) << 64));
                r.key_id = None;
            }
            r.ip = Some(Ip::V4(sp.ips[(ev.id as usize) % sp.ips.len()]));
            r.asn = ISPS[sp.isp].asn;
            r.loc = sp.city;
            r.library = sp.library;
        }
        Kind::ManagedIdentity => {
            let mi = &t.managed_identities[ev.subject as usize];
            let res = &apps[ev.resource as usize];
            r.app_id = &mi.app_id;
            r.app_name = &mi.display_name;
            r.res_id = &res.app_id;
            r.res_name = &res.display_name;
            r.res_sp = Some(res.sp_gid);
            r.sp_name = Some(&mi.display_name);
            r.sp_id = Some(mi.gid);
            r.user_type_graph = "";
            r.cred_type = "managedIdentity";
            r.msi = Some((
                &mi.msi_type,
                &mi.associated_resource_id,
                &mi.azure_resource_id,
            ));
        }
    }
    if let Some(c) = ov {
        if let Some(ip) = c.ip {
            r.ip = Some(Ip::V4(ip));
            r.asn = ISPS[c.isp].asn;
            r.loc = c.city.unwrap_or(crate::tenant::empty_loc(t));
            r.network_name = None;
        }
        if let Some(d) = &c.device {
            r.device = Some(d);
            r.user_agent = d.user_agent(r.ui);
            // A different device means a different session.
            let k = [ev.subject as u64, c.ip.unwrap_or(0) as u64, 0x5E55];
            r.session = Some(((mix(&k) as u128) << 64) | mix(&[k[0], k[1], 0x5E56]) as u128);
        }
        if let Some(ua) = &c.user_agent {
            r.user_agent = ua;
        }
        if let Some(x) = c.client_app_used {
            r.client_app_used = x;
        }
        if let Some(x) = c.protocol {
            r.protocol = x;
        }
        if let Some(x) = c.risk_during {
            r.risk_during = x;
        }
        if let Some(x) = c.risk_aggregated {
            r.risk_agg = x;
        }
        if let Some(x) = c.risk_state {
            r.risk_state = x;
        }
        if !c.risk_events.is_empty() {
            r.risk_events = c.risk_events;
        }
        if c.session.is_some() {
            r.session = c.session;
        }
        if let Some(k) = &c.key_id {
            r.key_id = Some(k);
            r.cred_type = "clientSecret";
            r.thumbprint = "";
            r.fic = None;
        }
        if let Some(u) = &c.upn {
            r.upn = u;
            r.display = "";
            r.user_id = None;
        }
        if let Some(x) = c.incoming {
            r.incoming = x;
        }
    }
    // Conditional Access.
    if matches!(ev.kind, Kind::Interactive | Kind::NonInteractive) && !pre_ca_failure(ev.code) {
        let ctx = ca_ctx(t, ev, &r);
        let (out, _) = ca_eval(t, &ctx);
        r.mfa_required = t
            .conditional_access_policies
            .iter()
            .zip(out.iter())
            .any(|(p, o)| {
                p.state == "enabled"
                    && *o != CaOutcome::NotApplied
                    && p.grant_controls.iter().any(|g| g == "Mfa")
            });
        r.ca = Some(out);
    }
    if matches!(ev.code, 50074 | 50076) {
        r.mfa_required = true;
    }
    r
}

/// Builds the CA context of an event (also used by planners to pick consistent outcomes).
fn ca_ctx(t: &Tenant, ev: &Ev, r: &Resolved) -> CaCtx {
    let user = t.users.get(ev.subject as usize);
    let country = if r.loc < CITIES.len() {
        CITIES[r.loc].country
    } else {
        ""
    };
    CaCtx {
        admin: user.map(|u| u.admin).unwrap_or(false),
        guest: user.map(|u| u.guest).unwrap_or(false),
        legacy: ev.flags & F_LEGACY != 0,
        trusted: r.network_name.is_some(),
        mobile: r.device.map(|d| d.kind.is_mobile()).unwrap_or(false),
        compliant: r
            .device
            .map(|d| d.is_compliant || d.trust_type == "Hybrid Azure AD joined")
            .unwrap_or(false),
        office365: is_office365(ev.resource as usize),
        blocked_country: !country.is_empty() && !t.allowed_countries.contains(&country),
        mfa: ev.flags & F_MFA_CLAIM != 0 || matches!(ev.auth, Auth::PasswordMfa),
    }
}

/// CA evaluation for a planned event (planners use it to choose a consistent error code).
pub(crate) fn plan_ca(t: &Tenant, ev: &Ev, ov: Option<&Custom>, day: u32) -> Option<u32> {
    let r = resolve(t, ev, ov, day);
    let ctx = ca_ctx(t, ev, &r);
    ca_eval(t, &ctx).1
}

fn additional_details(code: u32, r: &Resolved, ev: &Ev) -> Option<&'static str> {
    match code {
        0 => {
            if ev.auth == Auth::PasswordMfa {
                Some("MFA completed in Azure AD")
            } else if r.mfa_required {
                Some("MFA requirement satisfied by claim in the token")
            } else {
                None
            }
        }
        50126 => Some("The user didn't enter the right credentials. \u{a0}It's expected to see some number of these errors in your logs due to users making mistakes."),
        50074 | 50076 => Some("MFA required in Azure AD"),
        500121 => Some(if ev.auth == Auth::MfaDenied {
            "MFA denied; user declined the authentication"
        } else {
            "MFA denied; user did not respond to mobile app notification"
        }),
        50140 => Some("MFA requirement satisfied by claim in the token"),
        53003 | 53000 => Some("The Conditional Access policy blocked the sign-in."),
        50053 => Some("The account is locked because the user tried to sign in too many times with an incorrect user ID or password. The user is blocked from attempting to sign in for a period of time. Smart Lockout may be the cause of this error."),
        _ => None,
    }
}

fn processing_ms(ev: &Ev) -> i64 {
    let h = mix(&[ev.id as u64, 3]);
    match ev.kind {
        Kind::Interactive => {
            40 + (h % 380) as i64
                + if h.is_multiple_of(11) {
                    (h >> 20) as i64 % 3000
                } else {
                    0
                }
        }
        Kind::NonInteractive => 18 + (h % 240) as i64,
        Kind::Adfs | Kind::ServicePrincipal | Kind::ManagedIdentity => 0,
    }
}

fn mfa_method(t: &Tenant, ev: &Ev) -> &'static str {
    match t
        .users
        .get(ev.subject as usize)
        .map(|u| u.mfa_method.as_str())
    {
        Some("OATH verification code") => "OATH verification code",
        Some("Text message") => "Text message",
        _ => "Mobile app notification",
    }
}

fn write_auth_details(a: &mut Arr, t: &Tenant, ev: &Ev, r: &Resolved, graph: bool) {
    let fmt = if graph {
        TimeFmt::SecZ
    } else {
        TimeFmt::TrimOffset
    };
    let step = |a: &mut Arr,
                at: Ticks,
                method: &str,
                detail: Option<&str>,
                ok: bool,
                result: &str,
                req: &str,
                seq: i64| {
        a.obj(|o| {
            o.time("authenticationStepDateTime", at, fmt);
            o.str("authenticationMethod", method);
            if graph {
                o.opt("authenticationMethodDetail", detail);
            } else if let Some(d) = detail {
                o.str("authenticationMethodDetail", d);
            }
            o.bool("succeeded", ok);
            o.str("authenticationStepResultDetail", result);
            o.str("authenticationStepRequirement", req);
            if !graph {
                o.int("StatusSequence", if ok { 0 } else { seq });
                o.int("RequestSequence", seq.min(1));
            }
        });
    };
    let primary = "Primary authentication";
    let mfa = "Multi-factor authentication";
    let pw_detail = Some("Password Hash Sync");
    let t0 = ev.t - (ev.id % 40_000_000) as i64;
    match ev.auth {
        Auth::None => {}
        Auth::Sso => {
            step(
                a,
                ev.t,
                "Previously satisfied",
                None,
                true,
                "First factor requirement satisfied by claim in the token",
                primary,
                0,
            );
            if r.mfa_required {
                step(
                    a,
                    ev.t,
                    "Previously satisfied",
                    None,
                    true,
                    "MFA requirement satisfied by claim in the token",
                    mfa,
                    0,
                );
            }
        }
        Auth::Password => {
            step(
                a,
                ev.t,
                "Password",
                pw_detail,
                true,
                "Correct password",
                primary,
                0,
            );
        }
        Auth::PasswordMfa => {
            step(
                a,
                t0,
                "Password",
                pw_detail,
                true,
                "Correct password",
                primary,
                0,
            );
            let m = mfa_method(t, ev);
            step(a, ev.t, m, None, true, "MFA successfully completed", mfa, 1);
        }
        Auth::MfaPending => {
            if ev.code == 50076 {
                step(
                    a,
                    ev.t,
                    "Previously satisfied",
                    None,
                    true,
                    "First factor requirement satisfied by claim in the token",
                    primary,
                    0,
                );
            } else {
                step(
                    a,
                    ev.t,
                    "Password",
                    pw_detail,
                    true,
                    "Correct password",
                    primary,
                    0,
                );
            }
        }
        Auth::BadPassword => {
            let res = match ev.code {
                50053 => "Account is locked",
                50057 => "User account is disabled",
                50034 => "User account not found",
                _ => "Invalid username or password or Invalid on-premise username or password.",
            };
            step(a, ev.t, "Password", pw_detail, false, res, primary, 1);
        }
        Auth::MfaDenied | Auth::MfaTimeout => {
            step(
                a,
                t0,
                "Password",
                pw_detail,
                true,
                "Correct password",
                primary,
                0,
            );
            let res = if ev.auth == Auth::MfaDenied {
                "MFA denied; user declined the authentication"
            } else {
                "MFA denied; user did not respond to mobile app notification"
            };
            step(a, ev.t, "Mobile app notification", None, false, res, mfa, 1);
        }
        Auth::WinHello => {
            step(
                a,
                ev.t,
                "Windows Hello for Business",
                Some("Windows Hello for Business"),
                true,
                "Signed in with Windows Hello for Business",
                primary,
                0,
            );
        }
        Auth::AdfsForms => {
            step(
                a,
                ev.t,
                "Password",
                Some("Forms Authentication"),
                ev.code == 0,
                if ev.code == 0 {
                    ""
                } else {
                    "Invalid username or password"
                },
                "",
                1,
            );
        }
        Auth::AdfsWia => {
            step(
                a,
                ev.t,
                "Windows",
                Some("Windows Integrated Authentication"),
                true,
                "",
                "",
                1,
            );
        }
    }
}

fn methods_used(ev: &Ev, t: &Tenant) -> (&'static str, Option<&'static str>) {
    match ev.auth {
        Auth::Password | Auth::BadPassword | Auth::MfaPending => ("Password", None),
        Auth::PasswordMfa => ("Password", Some(mfa_method(t, ev))),
        Auth::WinHello => ("Windows Hello for Business", None),
        _ => ("", None),
    }
}

fn write_processing_details(a: &mut Arr, ev: &Ev, r: &Resolved, t: &Tenant) {
    let kv = |a: &mut Arr, k: &str, v: &str| {
        a.obj(|o| {
            o.str("key", k);
            o.str("value", v);
        })
    };
    match ev.kind {
        Kind::ServicePrincipal => {
            let lib = match r.library {
                "MSAL.Python" => "Family: MSAL Library: MSAL.Python 1.31.1 Platform: Python",
                "MSAL4J" => "Family: MSAL Library: MSAL4J 1.17.2 Platform: Java",
                "azure-identity" => "Family: MSAL Library: MSAL.Python 1.31.0 Platform: Python",
                "MSAL.PS" => "Family: MSAL Library: MSAL.NET 4.61.3.0 Platform: .NET",
                _ => "Family: MSAL Library: MSAL.NET 4.66.2.0 Platform: .NET",
            };
            kv(a, "Azure AD App Authentication Library", lib);
        }
        Kind::ManagedIdentity => {}
        Kind::Adfs => {
            let off = t.offices.first().map(|o| o.city.as_str()).unwrap_or("");
            let server = if off.len() >= 3 {
                format!("{}ADFS0{}", off[..3].to_uppercase(), 1 + (ev.id % 2) as u8)
            } else {
                "ADFS01".to_string()
            };
            kv(a, "Server name", &server);
            let mut ipb = Vec::with_capacity(16);
            if let Some(ip) = r.ip {
                json::ip(&mut ipb, ip);
            }
            kv(
                a,
                "IP Addresses Involved in Auth Flow",
                std::str::from_utf8(&ipb).unwrap_or(""),
            );
            kv(a, "Legacy TLS (TLS 1.0, 1.1, 3DES)", "False");
            kv(a, "Is Legacy Store Used", "False");
            kv(a, "Is CAE Token", "False");
        }
        Kind::Interactive => {
            if r.ui == Ui::WinLogon {
                kv(a, "Root Key Type", "TPM");
            } else if ev.auth != Auth::Sso {
                kv(a, "Login Hint Present", "True");
            }
            kv(a, "Legacy TLS (TLS 1.0, 1.1, 3DES)", "False");
            kv(a, "Is CAE Token", "False");
        }
        Kind::NonInteractive => {
            kv(a, "Legacy TLS (TLS 1.0, 1.1, 3DES)", "False");
            if !r.scopes.is_empty() {
                kv(a, "Oauth Scope Info", r.scopes);
            }
            kv(
                a,
                "Is CAE Token",
                if ev.id.is_multiple_of(3) {
                    "True"
                } else {
                    "False"
                },
            );
        }
    }
}

fn write_ca(o: &mut Obj, t: &Tenant, r: &Resolved, graph: bool) {
    let b = o.key("appliedConditionalAccessPolicies");
    b.push(b'[');
    if let Some(out) = r.ca {
        for (i, p) in t.conditional_access_policies.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(&p.frags[if graph { 0 } else { 1 }][out[i] as usize]);
        }
    }
    b.push(b']');
}

fn ca_status(t: &Tenant, r: &Resolved) -> &'static str {
    let Some(out) = r.ca else { return "notApplied" };
    let mut st = "notApplied";
    for (p, o) in t.conditional_access_policies.iter().zip(out.iter()) {
        if p.state != "enabled" {
            continue;
        }
        match o {
            CaOutcome::Failure => return "failure",
            CaOutcome::Success => st = "success",
            CaOutcome::NotApplied => {}
        }
    }
    st
}

fn ip_str(b: &mut Vec<u8>, ip: Option<Ip>) {
    b.push(b'"');
    if let Some(ip) = ip {
        json::ip(b, ip);
    }
    b.push(b'"');
}

fn opt_guid(o: &mut Obj, k: &str, g: Option<u128>) {
    match g {
        Some(g) => o.guid(k, g),
        None => o.null(k),
    }
}

fn loc_frag<'a>(t: &'a Tenant, r: &Resolved, graph: bool) -> &'a [u8] {
    let l = &t.loc_frags[r.loc.min(t.loc_frags.len() - 1)];
    if graph {
        &l.graph
    } else {
        &l.diag
    }
}

fn network_details(o: &mut Obj, r: &Resolved) {
    o.arr("networkLocationDetails", |a| {
        if let Some(n) = r.network_name {
            a.obj(|o| {
                o.str("networkType", "trustedNamedLocation");
                o.strs("networkNames", &[n]);
            });
        }
    });
}

fn empty_device(graph: bool) -> &'static [u8] {
    if graph {
        b"{\"deviceId\":\"\",\"displayName\":\"\",\"operatingSystem\":\"\",\"browser\":\"\",\"isCompliant\":false,\"isManaged\":false,\"trustType\":\"\"}"
    } else {
        b"{\"deviceId\":\"\",\"operatingSystem\":\"\",\"browser\":\"\"}"
    }
}

fn device_frag<'a>(r: &'a Resolved, graph: bool) -> &'a [u8] {
    match r.device {
        Some(d) => d.frag(graph, r.ui),
        None => empty_device(graph),
    }
}

/// Renders a sign-in as a bare Graph beta `signIn` record (no trailing newline).
pub(crate) fn render_graph(b: &mut Vec<u8>, t: &Tenant, ev: &Ev, ov: Option<&Custom>, day: u32) {
    let r = resolve(t, ev, ov, day);
    let user_kind = matches!(
        ev.kind,
        Kind::Interactive | Kind::NonInteractive | Kind::Adfs
    );
    let mut o = Obj::new(b);
    o.guid("id", ev.id);
    o.time("createdDateTime", ev.t, TimeFmt::SecZ);
    if user_kind {
        o.str("userDisplayName", r.display);
        o.str("userPrincipalName", r.upn);
        match r.user_id {
            Some(g) => o.guid("userId", g),
            None => o.str("userId", "00000000-0000-0000-0000-000000000000"),
        }
    } else {
        o.null("userDisplayName");
        o.null("userPrincipalName");
        o.str("userId", "");
    }
    o.str("appId", r.app_id);
    o.str("appDisplayName", r.app_name);
    ip_str(o.key("ipAddress"), r.ip);
    o.null("ipAddressFromResourceProvider");
    if user_kind {
        o.str("clientAppUsed", r.client_app_used);
        o.str("userAgent", r.user_agent);
    } else {
        o.null("clientAppUsed");
        o.null("userAgent");
    }
    o.guid("correlationId", ev.corr);
    o.str("conditionalAccessStatus", ca_status(t, &r));
    o.str("originalRequestId", "");
    o.bool(
        "isInteractive",
        matches!(ev.kind, Kind::Interactive | Kind::Adfs),
    );
    if ev.kind == Kind::Adfs {
        o.str("tokenIssuerName", &t.adfs_host);
        o.str("tokenIssuerType", "ADFederationServices");
    } else {
        o.str("tokenIssuerName", "");
        o.str("tokenIssuerType", "AzureAD");
    }
    o.str("clientCredentialType", r.cred_type);
    o.int("processingTimeInMilliseconds", processing_ms(ev));
    o.str("riskDetail", r.risk_during_detail());
    o.str("riskLevelAggregated", r.risk_agg);
    o.str("riskLevelDuringSignIn", r.risk_during);
    o.str("riskState", r.risk_state);
    o.strs("riskEventTypes_v2", r.risk_events);
    o.str("resourceDisplayName", r.res_name);
    o.str("resourceId", r.res_id);
    o.str("resourceTenantId", &t.tenant_id);
    o.guid("homeTenantId", r.home_tenant);
    o.str("homeTenantName", r.home_tenant_name);
    let (m1, m2) = methods_used(ev, t);
    o.arr("authenticationMethodsUsed", |a| {
        if !m1.is_empty() && ev.kind == Kind::Interactive {
            a.str(m1);
            if let Some(m) = m2 {
                a.str(m);
            }
        }
    });
    o.str(
        "authenticationRequirement",
        if r.mfa_required || ev.auth == Auth::PasswordMfa {
            "multiFactorAuthentication"
        } else {
            "singleFactorAuthentication"
        },
    );
    let interactive_pw =
        ev.kind == Kind::Interactive && ev.auth != Auth::Sso && r.ui != Ui::WinLogon;
    o.str(
        "signInIdentifier",
        if interactive_pw || ev.kind == Kind::Adfs {
            r.upn
        } else {
            ""
        },
    );
    if interactive_pw {
        o.str("signInIdentifierType", "userPrincipalName");
    } else {
        o.null("signInIdentifierType");
    }
    o.opt("servicePrincipalName", r.sp_name);
    o.raw("signInEventTypes", ev.kind.event_type());
    match r.sp_id {
        Some(g) => o.guid("servicePrincipalId", g),
        None => o.str("servicePrincipalId", ""),
    }
    opt_guid(&mut o, "federatedCredentialId", r.fic);
    if r.user_type_graph.is_empty() {
        o.null("userType");
    } else {
        o.str("userType", r.user_type_graph);
    }
    o.bool("flaggedForReview", false);
    o.bool("isTenantRestricted", false);
    o.int("autonomousSystemNumber", r.asn as i64);
    o.str("crossTenantAccessType", r.cross_tenant);
    o.opt("servicePrincipalCredentialKeyId", r.key_id);
    o.str("servicePrincipalCredentialThumbprint", r.thumbprint);
    {
        let b = o.key("uniqueTokenIdentifier");
        b.push(b'"');
        json::token_id(b, ev.id);
        b.push(b'"');
    }
    o.str("incomingTokenType", r.incoming);
    o.str("authenticationProtocol", r.protocol);
    opt_guid(&mut o, "resourceServicePrincipalId", r.res_sp);
    o.str(
        "appOwnerTenantId",
        if r.sp_id.is_some() || ev.app as usize >= catalog::APPS.len() {
            &t.tenant_id
        } else {
            "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
        },
    );
    o.str(
        "resourceOwnerTenantId",
        if ev.resource as usize >= catalog::APPS.len() {
            &t.tenant_id
        } else {
            "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
        },
    );
    match r.session {
        Some(s) => o.guid("sessionId", s),
        None => o.str("sessionId", ""),
    }
    o.str(
        "signInTokenProtectionStatus",
        if ev.flags & F_PRT != 0 {
            "bound"
        } else {
            "none"
        },
    );
    o.str("originalTransferMethod", "none");
    o.bool("isThroughGlobalSecureAccess", false);
    o.str("globalSecureAccessIpAddress", "");
    o.null("mfaDetail");
    o.null("authenticationAppDeviceDetails");
    let code = ev.code;
    o.obj("status", |s| {
        s.int("errorCode", code as i64);
        s.str("failureReason", failure_reason(code));
        s.opt("additionalDetails", additional_details(code, &r, ev));
    });
    o.raw("deviceDetail", device_frag(&r, true));
    o.raw("location", loc_frag(t, &r, true));
    write_ca(&mut o, t, &r, true);
    o.strs("authenticationContextClassReferences", &[]);
    o.arr("authenticationProcessingDetails", |a| {
        write_processing_details(a, ev, &r, t)
    });
    network_details(&mut o, &r);
    o.arr("authenticationDetails", |a| {
        write_auth_details(a, t, ev, &r, true)
    });
    o.arr("authenticationRequirementPolicies", |a| {
        if r.mfa_required {
            a.raw(b"{\"requirementProvider\":\"multiConditionalAccess\",\"detail\":\"Conditional Access\"}");
        }
    });
    o.strs("sessionLifetimePolicies", &[]);
    o.raw(
        "privateLinkDetails",
        b"{\"policyId\":\"\",\"policyName\":\"\",\"resourceId\":\"\",\"policyTenantId\":\"\"}",
    );
    o.strs("appliedEventListeners", &[]);
    o.strs("authenticationAppPolicyEvaluationDetails", &[]);
    match r.msi {
        Some((ty, assoc, arm)) => {
            o.obj("managedServiceIdentity", |m| {
                m.str("msiType", ty);
                m.str("associatedResourceId", assoc);
                m.null("federatedTokenId");
                m.null("federatedTokenIssuer");
            });
            o.str("azureResourceId", arm);
        }
        None => {
            o.raw("managedServiceIdentity", b"{\"msiType\":\"none\",\"associatedResourceId\":null,\"federatedTokenId\":null,\"federatedTokenIssuer\":null}");
            o.null("azureResourceId");
        }
    }
    o.arr("conditionalAccessAudiences", |a| {
        if r.ca.is_some() {
            a.str(r.res_id);
        }
    });
    o.end();
}

impl Resolved<'_> {
    fn risk_during_detail(&self) -> &'static str {
        if self.risk_during == "hidden" {
            "hidden"
        } else {
            "none"
        }
    }
}

fn envelope_head(b: &mut Vec<u8>, t: &Tenant, ev: &Ev, r: &Resolved) {
    let mut o = Obj::new(b);
    o.time("time", ev.t, TimeFmt::Frac7Z);
    o.raw("resourceId", b"\"/tenants/");
    o.b.extend_from_slice(t.tenant_id.as_bytes());
    o.b.extend_from_slice(b"/providers/Microsoft.aadiam\"");
    o.str("operationName", "Sign-in activity");
    o.str("operationVersion", "1.0");
    o.str("category", ev.kind.category());
    o.str("tenantId", &t.tenant_id);
    {
        let b = o.key("resultType");
        b.push(b'"');
        json::int(b, ev.code as i64);
        b.push(b'"');
    }
    o.str("resultSignature", "None");
    if ev.code != 0 {
        o.str("resultDescription", failure_reason(ev.code));
    }
    o.int("durationMs", 0);
    if ev.kind != Kind::ManagedIdentity {
        ip_str(o.key("callerIpAddress"), r.ip);
    }
    o.guid("correlationId", ev.corr);
    if matches!(ev.kind, Kind::Interactive | Kind::NonInteractive) {
        o.str("identity", r.display);
    }
    o.int("Level", 4);
    if ev.kind != Kind::ManagedIdentity {
        let cc = if r.loc < CITIES.len() {
            CITIES[r.loc].country
        } else {
            ""
        };
        o.str("location", cc);
    }
    // The caller writes the properties object and closes the envelope.
    o.key("properties");
}

/// Renders a sign-in as an Azure Monitor diagnostic-settings record (no trailing newline).
pub(crate) fn render_diag(b: &mut Vec<u8>, t: &Tenant, ev: &Ev, ov: Option<&Custom>, day: u32) {
    let r = resolve(t, ev, ov, day);
    match ev.kind {
        Kind::Adfs => return render_diag_adfs(b, t, ev, &r),
        Kind::ServicePrincipal | Kind::ManagedIdentity => {
            envelope_head(b, t, ev, &r);
            render_diag_workload(b, t, ev, &r);
            b.push(b'}');
            return;
        }
        _ => {}
    }
    envelope_head(b, t, ev, &r);
    let mut o = Obj::new(b);
    o.guid("id", ev.id);
    o.time("createdDateTime", ev.t, TimeFmt::TrimOffset);
    o.str("userDisplayName", r.display);
    o.str("userPrincipalName", r.upn);
    match r.user_id {
        Some(g) => o.guid("userId", g),
        None => o.str("userId", "00000000-0000-0000-0000-000000000000"),
    }
    o.str("appId", r.app_id);
    o.str("appDisplayName", r.app_name);
    ip_str(o.key("ipAddress"), r.ip);
    let code = ev.code;
    o.obj("status", |s| {
        s.int("errorCode", code as i64);
        if code != 0 {
            s.str("failureReason", failure_reason(code));
        }
        if let Some(d) = additional_details(code, &r, ev) {
            s.str("additionalDetails", d);
        }
    });
    o.str("clientAppUsed", r.client_app_used);
    o.str("userAgent", r.user_agent);
    o.raw("deviceDetail", device_frag(&r, false));
    o.raw("location", loc_frag(t, &r, false));
    o.raw("mfaDetail", b"{}");
    o.guid("correlationId", ev.corr);
    o.str("conditionalAccessStatus", ca_status(t, &r));
    write_ca(&mut o, t, &r, false);
    o.strs("authenticationContextClassReferences", &[]);
    o.guid("originalRequestId", ev.id);
    o.bool("isInteractive", ev.kind == Kind::Interactive);
    o.str("tokenIssuerName", "");
    o.str("tokenIssuerType", "AzureAD");
    o.arr("authenticationProcessingDetails", |a| {
        write_processing_details(a, ev, &r, t)
    });
    network_details(&mut o, &r);
    o.str("clientCredentialType", "none");
    o.int("processingTimeInMilliseconds", processing_ms(ev));
    o.str("riskDetail", "none");
    o.str("riskLevelAggregated", r.risk_agg);
    o.str("riskLevelDuringSignIn", r.risk_during);
    o.str("riskState", r.risk_state);
    o.strs("riskEventTypes", r.risk_events);
    o.strs("riskEventTypes_v2", r.risk_events);
    o.str("resourceDisplayName", r.res_name);
    o.str("resourceId", r.res_id);
    o.str("resourceTenantId", &t.tenant_id);
    o.guid("homeTenantId", r.home_tenant);
    o.str("tenantId", &t.tenant_id);
    o.arr("authenticationDetails", |a| {
        write_auth_details(a, t, ev, &r, false)
    });
    o.arr("authenticationRequirementPolicies", |a| {
        if r.mfa_required {
            a.raw(b"{\"requirementProvider\":\"multiConditionalAccess\",\"detail\":\"Conditional Access\"}");
        }
    });
    o.strs("sessionLifetimePolicies", &[]);
    o.str(
        "authenticationRequirement",
        if r.mfa_required || ev.auth == Auth::PasswordMfa {
            "multiFactorAuthentication"
        } else {
            "singleFactorAuthentication"
        },
    );
    if ev.kind == Kind::Interactive && ev.auth != Auth::Sso && r.ui != Ui::WinLogon {
        o.str("alternateSignInName", r.upn);
        o.str("signInIdentifier", r.upn);
    }
    o.str("servicePrincipalId", "");
    o.str("userType", r.user_type_diag);
    o.bool("flaggedForReview", false);
    o.bool("isTenantRestricted", false);
    o.int("autonomousSystemNumber", r.asn as i64);
    o.str("crossTenantAccessType", r.cross_tenant);
    o.raw("privateLinkDetails", b"{}");
    o.str("ssoExtensionVersion", "");
    {
        let b = o.key("uniqueTokenIdentifier");
        b.push(b'"');
        json::token_id(b, ev.id);
        b.push(b'"');
    }
    o.raw("authenticationStrengths", b"[]");
    o.str("incomingTokenType", r.incoming);
    o.str("authenticationProtocol", r.protocol);
    o.null("appServicePrincipalId");
    opt_guid(&mut o, "resourceServicePrincipalId", r.res_sp);
    o.int("rngcStatus", 0);
    o.str(
        "signInTokenProtectionStatus",
        if ev.flags & F_PRT != 0 {
            "bound"
        } else {
            "none"
        },
    );
    o.raw(
        "tokenProtectionStatusDetails",
        if ev.flags & F_PRT != 0 {
            b"{\"signInSessionStatus\":\"bound\",\"signInSessionStatusCode\":0}"
        } else {
            b"{\"signInSessionStatus\":\"unbound\",\"signInSessionStatusCode\":1004}"
        },
    );
    o.str("originalTransferMethod", "none");
    o.bool("isThroughGlobalSecureAccess", false);
    o.arr("conditionalAccessAudiences", |a| {
        if r.ca.is_some() {
            a.obj(|o| {
                o.str("applicationId", r.res_id);
                o.str("audienceReasons", "none");
            });
        }
    });
    match r.session {
        Some(s) => o.guid("sessionId", s),
        None => o.str("sessionId", ""),
    }
    o.str(
        "resourceOwnerTenantId",
        if ev.resource as usize >= catalog::APPS.len() {
            &t.tenant_id
        } else {
            "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
        },
    );
    o.raw("signInEventTypes", ev.kind.event_type());
    o.end();
    b.push(b'}');
}

fn render_diag_workload(b: &mut Vec<u8>, t: &Tenant, ev: &Ev, r: &Resolved) {
    let mi = ev.kind == Kind::ManagedIdentity;
    let mut o = Obj::new(b);
    o.guid("id", ev.id);
    o.time("createdDateTime", ev.t, TimeFmt::TrimOffset);
    o.null("userId");
    o.str("appId", r.app_id);
    ip_str(o.key("ipAddress"), r.ip);
    let code = ev.code;
    o.obj("status", |s| {
        s.int("errorCode", code as i64);
        if code != 0 {
            s.str("failureReason", failure_reason(code));
        }
    });
    o.raw("location", loc_frag(t, r, false));
    o.guid("correlationId", ev.corr);
    o.str("conditionalAccessStatus", "notApplied");
    o.raw("appliedConditionalAccessPolicies", b"[]");
    o.bool("isInteractive", false);
    o.str("tokenIssuerType", "AzureAD");
    if !mi {
        o.arr("authenticationProcessingDetails", |a| {
            write_processing_details(a, ev, r, t)
        });
    }
    o.int("processingTimeInMilliseconds", 0);
    o.str("riskDetail", "none");
    o.str("riskLevelAggregated", r.risk_agg);
    o.str("riskLevelDuringSignIn", r.risk_during);
    o.str("riskState", r.risk_state);
    o.str("resourceDisplayName", r.res_name);
    o.str("resourceId", r.res_id);
    opt_guid(&mut o, "resourceServicePrincipalId", r.res_sp);
    o.opt("servicePrincipalName", r.sp_name);
    match r.sp_id {
        Some(g) => o.guid("servicePrincipalId", g),
        None => o.str("servicePrincipalId", ""),
    }
    o.bool("flaggedForReview", false);
    o.bool("isTenantRestricted", false);
    o.str("crossTenantAccessType", "none");
    o.str("clientCredentialType", r.cred_type);
    if !mi {
        o.str("servicePrincipalCredentialKeyId", r.key_id.unwrap_or(""));
        o.str("servicePrincipalCredentialThumbprint", r.thumbprint);
        match r.fic {
            Some(g) => o.guid("federatedCredentialId", g),
            None => o.str("federatedCredentialId", ""),
        }
    }
    {
        let b = o.key("uniqueTokenIdentifier");
        b.push(b'"');
        json::token_id(b, ev.id);
        b.push(b'"');
    }
    o.str("incomingTokenType", "none");
    o.str("authenticationProtocol", "none");
    if let Some((ty, assoc, arm)) = r.msi {
        o.obj("managedServiceIdentity", |m| {
            m.str("msiType", ty);
            m.str("associatedResourceId", assoc);
            m.null("federatedTokenId");
            m.null("federatedTokenIssuer");
        });
        o.str("azureResourceId", arm);
    }
    o.str("resourceTenantId", &t.tenant_id);
    o.str("homeTenantId", &t.tenant_id);
    o.raw("signInEventTypes", ev.kind.event_type());
    o.end();
}

/// AD FS records are emitted by Connect Health: keys sorted, US-style `time`, string
/// `durationMs`, lowercase `level`.
fn render_diag_adfs(b: &mut Vec<u8>, t: &Tenant, ev: &Ev, r: &Resolved) {
    let mut o = Obj::new(b);
    ip_str(o.key("callerIpAddress"), r.ip);
    o.str("category", "ADFSSignInLogs");
    o.guid("correlationId", ev.corr);
    o.str("durationMs", "0");
    o.str("identity", r.display);
    o.str("level", "4");
    o.str("operationName", "Sign-in activity");
    o.str("operationVersion", "1.0");
    o.obj("properties", |p| {
        p.raw("agent", b"{\"agentSubjectType\":\"notAgentic\",\"agentType\":\"notAgentic\"}");
        p.str("alternateSignInName", r.upn);
        p.str("appDisplayName", r.app_name);
        p.str("appId", r.app_id);
        p.str("appOwnerTenantId", "");
        p.null("appServicePrincipalId");
        p.raw("appliedConditionalAccessPolicies", b"[]");
        p.raw("authenticationContextClassReferences", b"[]");
        p.arr("authenticationDetails", |a| {
            let ok = ev.code == 0;
            a.obj(|s| {
                s.int("RequestSequence", 1);
                s.int("StatusSequence", if ok { 0 } else { 1 });
                if ev.auth == Auth::AdfsWia {
                    s.str("authenticationMethod", "Windows");
                    s.str("authenticationMethodDetail", "Windows Integrated Authentication");
                } else {
                    s.str("authenticationMethod", "Password");
                    s.str("authenticationMethodDetail", "Forms Authentication");
                }
                s.time("authenticationStepDateTime", ev.t - ev.t % json::TICKS_PER_SEC, TimeFmt::TrimOffset);
                s.str("authenticationStepRequirement", "");
                s.bool("succeeded", ok);
            });
        });
        p.arr("authenticationProcessingDetails", |a| write_processing_details(a, ev, r, t));
        p.str("authenticationProtocol", "none");
        p.str("authenticationRequirement", "");
        p.raw("authenticationRequirementPolicies", b"[]");
        p.str("clientAppUsed", "Unknown");
        p.str("clientCredentialType", "none");
        p.raw("conditionalAccessAudiences", b"[]");
        p.str("conditionalAccessStatus", "notApplied");
        p.guid("correlationId", ev.corr);
        p.time("createdDateTime", ev.t - ev.t % json::TICKS_PER_SEC, TimeFmt::TrimOffset);
        p.str("crossTenantAccessType", "none");
        p.raw("deviceDetail", b"{\"browser\":\"\",\"deviceId\":\"\",\"operatingSystem\":\"\"}");
        p.bool("flaggedForReview", false);
        p.str("globalSecureAccessIpAddress", "");
        p.str("homeTenantId", &t.tenant_id);
        p.str("homeTenantName", "");
        p.guid("id", ev.id);
        p.str("incomingTokenType", "none");
        ip_str(p.key("ipAddress"), r.ip);
        p.str("ipAddressFromResourceProvider", "");
        p.bool("isInteractive", true);
        p.bool("isTenantRestricted", false);
        p.bool("isThroughGlobalSecureAccess", false);
        p.raw("location", b"{\"city\":\"\",\"countryOrRegion\":\"\",\"geoCoordinates\":{\"latitude\":0,\"longitude\":0},\"state\":\"\"}");
        p.guid("originalRequestId", ev.id);
        p.str("originalTransferMethod", "none");
        p.raw("privateLinkDetails", b"{}");
        p.int("processingTimeInMilliseconds", 0);
        p.str("redirectUrl", "");
        p.str("resourceDisplayName", r.res_name);
        p.str("resourceId", r.res_id);
        p.str("resourceOwnerTenantId", "");
        p.str("resourceServicePrincipalId", "");
        p.str("resourceTenantId", &t.tenant_id);
        p.str("riskDetail", "hidden");
        p.raw("riskEventTypes", b"[]");
        p.raw("riskEventTypes_v2", b"[]");
        p.str("riskLevelAggregated", "hidden");
        p.str("riskLevelDuringSignIn", "hidden");
        p.str("riskState", "none");
        p.str("servicePrincipalCredentialKeyId", "");
        p.str("servicePrincipalCredentialThumbprint", "");
        p.str("servicePrincipalId", "");
        p.str("servicePrincipalName", r.app_name);
        p.str("sessionId", "");
        p.raw("sessionLifetimePolicies", b"[]");
        p.raw("signInEventTypes", b"[\"interactiveUser\"]");
        p.str("signInIdentifier", r.upn);
        p.str("signInTokenProtectionStatus", "none");
        p.str("sourceAppClientId", "");
        let code = ev.code;
        p.obj("status", |s| {
            s.int("errorCode", code as i64);
            if code != 0 {
                s.str("failureReason", failure_reason(code));
            }
        });
        p.str("tenantId", &t.tenant_id);
        p.str("tokenIssuerName", &t.adfs_host);
        p.str("tokenIssuerType", "ADFederationServices");
        p.raw("tokenProtectionStatusDetails", b"{\"signInSessionStatus\":\"none\"}");
        p.str("uniqueTokenIdentifier", "");
        p.str("userAgent", "");
        p.str("userDisplayName", r.display);
        match r.user_id {
            Some(g) => p.guid("userId", g),
            None => p.str("userId", ""),
        }
        p.str("userPrincipalName", r.upn);
        p.str("userType", r.user_type_diag);
    });
    {
        let b = o.key("resourceId");
        b.extend_from_slice(b"\"/tenants/");
        b.extend_from_slice(t.tenant_id.as_bytes());
        b.extend_from_slice(b"/providers/Microsoft.aadiam\"");
    }
    o.str(
        "resultSignature",
        if ev.code == 0 { "SUCCESS" } else { "FAILURE" },
    );
    {
        let b = o.key("resultType");
        b.push(b'"');
        json::int(b, ev.code as i64);
        b.push(b'"');
    }
    o.str("tenantId", &t.tenant_id);
    {
        let b = o.key("time");
        b.push(b'"');
        json::time(b, ev.t, TimeFmt::Us);
        b.push(b'"');
    }
    o.end();
}
