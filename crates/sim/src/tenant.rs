//! The simulated tenant: offices, users (members, guests, disabled accounts) and their devices,
//! applications (Microsoft first-party and line-of-business), workload service principals with
//! their credentials, managed identities, AD FS relying parties, groups and Conditional Access
//! policies. Everything is derived deterministically from the options.

use serde::Serialize;

use crate::attacks::{self, PlannedAttack};
use crate::catalog::{self, IspKind, APPS, CITIES, ISPS};
use crate::json::{self, fragment, guid_string, Obj, Ticks, TICKS_PER_DAY};
use crate::rng::Rng;
use crate::SimOptions;

/// The simulated directory. Build it with [`Tenant::generate`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Tenant id (GUID).
    pub tenant_id: String,
    /// Organisation display name.
    pub display_name: String,
    /// Primary verified domain (UPN suffix).
    pub domain: String,
    /// The initial `*.onmicrosoft.com` domain.
    pub initial_domain: String,
    /// Host name of the on-premises AD FS farm.
    pub adfs_host: String,
    /// Offices with their egress addresses.
    pub offices: Vec<Office>,
    /// Users (members and guests, enabled and disabled).
    pub users: Vec<User>,
    /// Applications: Microsoft first-party and line-of-business.
    pub applications: Vec<App>,
    /// Workload service principals (automation) with their credentials.
    pub service_principals: Vec<ServicePrincipal>,
    /// Managed identities.
    pub managed_identities: Vec<ManagedIdentity>,
    /// AD FS relying party trusts.
    pub adfs_relying_parties: Vec<RelyingParty>,
    /// Security and Microsoft 365 groups.
    pub groups: Vec<Group>,
    /// Conditional Access policies.
    pub conditional_access_policies: Vec<CaPolicy>,
    /// Provisioning jobs (inbound HR, outbound SaaS).
    pub provisioning_jobs: Vec<ProvisioningJob>,
    #[serde(skip)]
    pub(crate) gid: u128,
    #[serde(skip)]
    pub(crate) start_day: i64,
    #[serde(skip)]
    pub(crate) seed: u64,
    #[serde(skip)]
    pub(crate) versions: Versions,
    #[serde(skip)]
    pub(crate) loc_frags: Vec<LocFrag>,
    #[serde(skip)]
    pub(crate) usages: Vec<Usage>,
    #[serde(skip)]
    pub(crate) attacks: Vec<PlannedAttack>,
    #[serde(skip)]
    pub(crate) sync_account: SyncAccount,
    #[serde(skip)]
    pub(crate) admin_users: Vec<usize>,
    #[serde(skip)]
    pub(crate) allowed_countries: Vec<&'static str>,
}

/// The AD Connect sync account that shows up as initiator of directory sync audits.
#[derive(Debug, Clone)]
pub(crate) struct SyncAccount {
    pub id: u128,
    pub upn: String,
}

/// An office location.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Office {
    /// Display name, e.g. "Seattle HQ".
    pub name: String,
    /// City.
    pub city: String,
    /// Country (ISO 3166 alpha-2).
    pub country: String,
    /// Public egress addresses (a trusted named location in Conditional Access).
    pub egress_ips: Vec<String>,
    #[serde(skip)]
    pub(crate) city_idx: usize,
    #[serde(skip)]
    pub(crate) isp: usize,
    #[serde(skip)]
    pub(crate) ips: Vec<u32>,
    #[serde(skip)]
    pub(crate) named_location: String,
}

/// A user account.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Given name.
    pub given_name: String,
    /// Surname.
    pub surname: String,
    /// UPN (for guests: their home UPN, as sign-in logs show it).
    pub user_principal_name: String,
    /// "Member" or "Guest".
    pub user_type: String,
    /// False for disabled accounts.
    pub account_enabled: bool,
    /// Department.
    pub department: String,
    /// Job title.
    pub job_title: String,
    /// Office name, or "Remote".
    pub office: String,
    /// Home city.
    pub city: String,
    /// Home country (ISO alpha-2).
    pub country: String,
    /// Home tenant id (differs from the tenant for guests).
    pub home_tenant_id: String,
    /// Directory roles held.
    pub roles: Vec<String>,
    /// Default MFA method.
    pub mfa_method: String,
    /// Registered devices.
    pub devices: Vec<Device>,
    #[serde(skip)]
    pub(crate) gid: u128,
    #[serde(skip)]
    pub(crate) guest: bool,
    #[serde(skip)]
    pub(crate) home_city: usize,
    #[serde(skip)]
    pub(crate) home_isp: usize,
    #[serde(skip)]
    pub(crate) home_ip: u32,
    #[serde(skip)]
    pub(crate) mobile_isp: usize,
    /// Home IPv6 /64 for dual-stack broadband.
    #[serde(skip)]
    pub(crate) home_ip6: Option<u128>,
    /// IPv6 block of the mobile carrier.
    #[serde(skip)]
    pub(crate) mobile_v6: Option<(u128, u8)>,
    #[serde(skip)]
    pub(crate) office_idx: Option<usize>,
    /// Bit `d` set: works from the office on weekday `d` (0 = Monday).
    #[serde(skip)]
    pub(crate) office_days: u8,
    #[serde(skip)]
    pub(crate) work_start_min: i32,
    #[serde(skip)]
    pub(crate) work_len_min: i32,
    #[serde(skip)]
    pub(crate) activity: f64,
    #[serde(skip)]
    pub(crate) admin: bool,
    #[serde(skip)]
    pub(crate) dept_idx: usize,
    #[serde(skip)]
    pub(crate) lob_apps: Vec<usize>,
    #[serde(skip)]
    pub(crate) adfs_rps: Vec<usize>,
    #[serde(skip)]
    pub(crate) home_tenant: u128,
    #[serde(skip)]
    pub(crate) home_tenant_name: String,
    /// Weighted (usage, device slot) choices for interactive sign-ins.
    #[serde(skip)]
    pub(crate) ia_choices: Vec<(u16, u8)>,
    #[serde(skip)]
    pub(crate) ia_weights: Vec<u32>,
    /// Weighted (usage, device slot) choices for non-interactive sign-ins.
    #[serde(skip)]
    pub(crate) ni_choices: Vec<(u16, u8)>,
    #[serde(skip)]
    pub(crate) ni_weights: Vec<u32>,
    /// From this instant on, device slot `.1` is replaced by slot `.2` (new phone).
    #[serde(skip)]
    pub(crate) phone_swap: Option<(Ticks, u8, u8)>,
}

impl ServicePrincipal {
    /// Object id of the application registration behind the service principal.
    pub(crate) fn application_object_id(&self) -> String {
        let lo = crate::rng::mix(&[self.app_gid as u64, 0x0B]) as u128;
        guid_string(lo | (self.app_gid & (!0u128 << 64)))
    }
}

impl User {
    /// The user's time-zone offset in minutes.
    pub(crate) fn tz_min(&self) -> i32 {
        CITIES[self.home_city].tz_min
    }
}

/// Device form factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceKind {
    /// Windows laptop or desktop.
    Windows,
    /// Mac.
    Mac,
    /// iPhone.
    Iphone,
    /// Android phone.
    Android,
    /// Linux workstation.
    Linux,
}

impl DeviceKind {
    /// True for phones.
    pub fn is_mobile(self) -> bool {
        matches!(self, DeviceKind::Iphone | DeviceKind::Android)
    }
}

/// A device as `deviceDetail` reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Device object id ("" for unregistered devices).
    pub device_id: String,
    /// Display name ("" for unregistered devices).
    pub display_name: String,
    /// Form factor.
    pub kind: DeviceKind,
    /// `operatingSystem` string.
    pub operating_system: String,
    /// `browser` string for browser sign-ins.
    pub browser: String,
    /// Intune compliant.
    pub is_compliant: bool,
    /// Managed.
    pub is_managed: bool,
    /// "Azure AD joined", "Hybrid Azure AD joined", "Azure AD registered" or "".
    pub trust_type: String,
    #[serde(skip)]
    pub(crate) ua_browser: String,
    #[serde(skip)]
    pub(crate) ua_native: String,
    #[serde(skip)]
    pub(crate) rich_client: String,
    /// deviceDetail fragments: [graph, diag] x [browser, native, none].
    #[serde(skip)]
    pub(crate) frags: [[Vec<u8>; 3]; 2],
}

/// Which `browser` value a sign-in shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ui {
    /// A web browser.
    Browser,
    /// A native app using MSAL / WAM.
    Native,
    /// Windows logon (PRT).
    WinLogon,
    /// Developer CLI.
    Cli,
}

impl Device {
    pub(crate) fn finish(&mut self) {
        let browser_native = match self.kind {
            DeviceKind::Windows => self.rich_client.clone(),
            _ => String::new(),
        };
        let variants = [self.browser.clone(), browser_native, String::new()];
        for (fi, graph) in [true, false].into_iter().enumerate() {
            for (vi, browser) in variants.iter().enumerate() {
                self.frags[fi][vi] = fragment(|o| {
                    if graph {
                        o.str("deviceId", &self.device_id);
                        o.str("displayName", &self.display_name);
                        o.str("operatingSystem", &self.operating_system);
                        o.str("browser", browser);
                        o.bool("isCompliant", self.is_compliant);
                        o.bool("isManaged", self.is_managed);
                        o.str("trustType", &self.trust_type);
                    } else {
                        o.str("deviceId", &self.device_id);
                        if !self.display_name.is_empty() {
                            o.str("displayName", &self.display_name);
                        }
                        o.str("operatingSystem", &self.operating_system);
                        if !browser.is_empty() {
                            o.str("browser", browser);
                        }
                        if self.is_compliant {
                            o.bool("isCompliant", true);
                        }
                        if self.is_managed {
                            o.bool("isManaged", true);
                        }
                        if !self.trust_type.is_empty() {
                            o.str("trustType", &self.trust_type);
                        }
                    }
                });
            }
        }
    }

    /// Fragment for a sign-in made through `ui`.
    pub(crate) fn frag(&self, graph: bool, ui: Ui) -> &[u8] {
        let v = match ui {
            Ui::Browser => 0,
            Ui::Native => 1,
            Ui::WinLogon | Ui::Cli => 2,
        };
        &self.frags[if graph { 0 } else { 1 }][v]
    }

    /// User agent for a sign-in made through `ui` with `client` app.
    pub(crate) fn user_agent(&self, ui: Ui) -> &str {
        match ui {
            Ui::Browser => &self.ua_browser,
            Ui::Native => &self.ua_native,
            Ui::WinLogon => "Windows-AzureAD-Authentication-Provider/1.0",
            Ui::Cli => "",
        }
    }
}

/// Application kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AppKind {
    /// Microsoft first-party application.
    FirstParty,
    /// Line-of-business / gallery SAML app.
    Saml,
    /// Line-of-business OpenID Connect app.
    Oidc,
}

/// An application (client and/or resource).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// Application (client) id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub kind: AppKind,
    /// Object id of the app's service principal in this tenant.
    pub service_principal_id: String,
    /// Departments the app is assigned to (empty = everyone).
    pub assigned_departments: Vec<String>,
    #[serde(skip)]
    pub(crate) sp_gid: u128,
}

/// A credential of a workload service principal.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// Key id.
    pub key_id: String,
    /// "clientSecret", "certificate" or "federatedIdentityCredential".
    pub credential_type: String,
    /// Certificate thumbprint (uppercase hex), "" for secrets.
    pub thumbprint: String,
    /// Credential display name.
    pub display_name: String,
}

/// Where a workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host {
    Azure,
    Aws,
    Office,
}

/// A scheduled token request of a workload.
#[derive(Debug, Clone)]
pub(crate) struct SpJob {
    pub resource: usize,
    pub every_min: u32,
    pub business_hours: bool,
}

/// A workload service principal.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Service principal object id.
    pub id: String,
    /// Application id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Credentials.
    pub credentials: Vec<Credential>,
    /// Resources it requests tokens for.
    pub resources: Vec<String>,
    #[serde(skip)]
    pub(crate) gid: u128,
    #[serde(skip)]
    pub(crate) app_gid: u128,
    #[serde(skip)]
    pub(crate) jobs: Vec<SpJob>,
    #[serde(skip)]
    pub(crate) ips: Vec<u32>,
    #[serde(skip)]
    pub(crate) isp: usize,
    #[serde(skip)]
    pub(crate) city: usize,
    /// Daily probability of a burst of failures with an old secret (benign misconfiguration).
    #[serde(skip)]
    pub(crate) stale_secret: bool,
    #[serde(skip)]
    pub(crate) library: &'static str,
}

/// A managed identity.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentity {
    /// Service principal object id.
    pub id: String,
    /// Client (app) id.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// "systemAssigned" or "userAssigned".
    pub msi_type: String,
    /// `associatedResourceId`.
    pub associated_resource_id: String,
    /// `azureResourceId` of the resource using the identity.
    pub azure_resource_id: String,
    /// Resources it requests tokens for.
    pub resources: Vec<String>,
    #[serde(skip)]
    pub(crate) gid: u128,
    #[serde(skip)]
    pub(crate) res_idx: Vec<usize>,
    #[serde(skip)]
    pub(crate) per_hour: u32,
}

/// An AD FS relying party trust.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelyingParty {
    /// Client application id registered in AD FS.
    pub app_id: String,
    /// Client application display name.
    pub app_display_name: String,
    /// Relying party identifier (resourceId in logs).
    pub identifier: String,
    /// Relying party display name.
    pub display_name: String,
}

/// A group.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// "unifiedGroups" or "azureAD".
    pub group_type: String,
}

/// A Conditional Access policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaPolicy {
    /// Policy id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// "enabled", "enabledForReportingButNotEnforced" or "disabled".
    pub state: String,
    /// Grant controls.
    pub grant_controls: Vec<String>,
    /// Session controls.
    pub session_controls: Vec<String>,
    #[serde(skip)]
    pub(crate) rule: CaRule,
    /// Fragments per outcome: [graph, diag][outcome].
    #[serde(skip)]
    pub(crate) frags: [Vec<Vec<u8>>; 2],
}

/// A provisioning job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningJob {
    /// Job id.
    pub job_id: String,
    /// Service principal display name.
    pub service_principal_name: String,
    /// Service principal id.
    pub service_principal_id: String,
    /// Source system.
    pub source_system: String,
    /// Target system.
    pub target_system: String,
    /// True for HR-driven inbound provisioning.
    pub inbound: bool,
    #[serde(skip)]
    pub(crate) app_id: String,
    #[serde(skip)]
    pub(crate) source_id: u128,
    #[serde(skip)]
    pub(crate) target_id: u128,
}

/// What a Conditional Access policy targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaRule {
    MfaAdmins,
    BlockLegacy,
    MfaUntrusted,
    CompliantDesktop,
    BlockCountries,
}

/// Outcome variants of a policy for one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CaOutcome {
    /// Conditions not met (policy not applied).
    NotApplied = 0,
    /// Applied and satisfied.
    Success = 1,
    /// Applied and not satisfied (block or control missing).
    Failure = 2,
}

/// Conditional Access condition bits (diag integer form).
pub(crate) mod cond {
    pub const APPLICATION: u32 = 1;
    pub const USERS: u32 = 2;
    pub const DEVICE_PLATFORM: u32 = 4;
    pub const LOCATION: u32 = 8;
    pub const CLIENT_TYPE: u32 = 16;
    pub const IP_SEEN_BY_AAD: u32 = 1024;
    pub const NAMES: &[(u32, &str)] = &[
        (1, "application"),
        (2, "users"),
        (4, "devicePlatform"),
        (8, "location"),
        (16, "clientType"),
        (32, "signInRisk"),
        (64, "userRisk"),
        (128, "time"),
        (256, "deviceState"),
        (512, "client"),
        (1024, "ipAddressSeenByAzureAD"),
    ];
}

fn cond_string(bits: u32) -> String {
    if bits == 0 {
        return "none".into();
    }
    cond::NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

impl CaPolicy {
    fn build_frags(&mut self) {
        use cond::*;
        // (satisfied, not satisfied, include rules, exclude rules) for each outcome.
        type Rules = &'static [(&'static str, &'static str)];
        type Variant = (u32, u32, Rules, Rules);
        let (na, ok): (Variant, Variant) = match self.rule {
            CaRule::MfaAdmins => (
                (APPLICATION, USERS, &[("application", "allApps")], &[]),
                (
                    APPLICATION | USERS,
                    0,
                    &[("application", "allApps"), ("users", "roleId")],
                    &[],
                ),
            ),
            CaRule::BlockLegacy => (
                (
                    APPLICATION | USERS,
                    CLIENT_TYPE,
                    &[("application", "allApps"), ("users", "allUsers")],
                    &[],
                ),
                (
                    APPLICATION | USERS | CLIENT_TYPE,
                    0,
                    &[("application", "allApps"), ("users", "allUsers")],
                    &[],
                ),
            ),
            CaRule::MfaUntrusted => (
                (
                    APPLICATION | USERS,
                    LOCATION | IP_SEEN_BY_AAD,
                    &[
                        ("application", "allApps"),
                        ("users", "allUsers"),
                        ("location", "allLocations"),
                    ],
                    &[("location", "allTrustedLocations")],
                ),
                (
                    APPLICATION | USERS | LOCATION | IP_SEEN_BY_AAD,
                    0,
                    &[
                        ("application", "allApps"),
                        ("users", "allUsers"),
                        ("location", "allLocations"),
                    ],
                    &[],
                ),
            ),
            CaRule::CompliantDesktop => (
                (
                    APPLICATION | USERS,
                    DEVICE_PLATFORM,
                    &[("application", "office365"), ("users", "allUsers")],
                    &[],
                ),
                (
                    APPLICATION | USERS | DEVICE_PLATFORM,
                    0,
                    &[
                        ("application", "office365"),
                        ("users", "allUsers"),
                        ("devicePlatform", "devicePlatform"),
                    ],
                    &[],
                ),
            ),
            CaRule::BlockCountries => (
                (
                    APPLICATION | USERS,
                    LOCATION | IP_SEEN_BY_AAD,
                    &[("application", "allApps"), ("users", "allUsers")],
                    &[],
                ),
                (
                    APPLICATION | USERS | LOCATION | IP_SEEN_BY_AAD,
                    0,
                    &[
                        ("application", "allApps"),
                        ("users", "allUsers"),
                        ("location", "locationId"),
                    ],
                    &[],
                ),
            ),
        };
        let outcomes = [(na, "notApplied"), (ok, "success"), (ok, "failure")];
        for (fi, graph) in [true, false].into_iter().enumerate() {
            self.frags[fi] = outcomes
                .iter()
                .map(|((sat, nsat, inc, exc), result)| {
                    let result = if self.state == "enabledForReportingButNotEnforced" {
                        match *result {
                            "notApplied" => "reportOnlyNotApplied",
                            "success" => "reportOnlySuccess",
                            _ => "reportOnlyFailure",
                        }
                    } else if self.state == "disabled" {
                        "notEnabled"
                    } else {
                        result
                    };
                    let (sat, nsat) = if result == "notEnabled" {
                        (0, 0)
                    } else {
                        (*sat, *nsat)
                    };
                    fragment(|o| {
                        o.str("id", &self.id);
                        o.str("displayName", &self.display_name);
                        o.arr("enforcedGrantControls", |a| {
                            for g in &self.grant_controls {
                                a.str(g);
                            }
                        });
                        o.arr("enforcedSessionControls", |a| {
                            for g in &self.session_controls {
                                a.str(g);
                            }
                        });
                        if graph {
                            o.strs("sessionControlsNotSatisfied", &[]);
                        }
                        o.str("result", result);
                        if graph {
                            o.str("conditionsSatisfied", &cond_string(sat));
                            o.str("conditionsNotSatisfied", &cond_string(nsat));
                            o.null("authenticationStrength");
                            let rules = |o: &mut Obj, k: &str, rs: &[(&str, &str)]| {
                                o.arr(k, |a| {
                                    if !result.ends_with("otApplied") && result != "notEnabled" {
                                        for (c, r) in rs {
                                            a.obj(|o| {
                                                o.str("conditionalAccessCondition", c);
                                                o.str("ruleSatisfied", r);
                                            });
                                        }
                                    }
                                });
                            };
                            rules(o, "includeRulesSatisfied", inc);
                            rules(o, "excludeRulesSatisfied", exc);
                        } else {
                            o.int("conditionsSatisfied", sat as i64);
                            o.int("conditionsNotSatisfied", nsat as i64);
                        }
                    })
                })
                .collect();
        }
    }
}

/// Browser/OS versions current at the simulated start date.
#[derive(Debug, Clone)]
pub(crate) struct Versions {
    pub chrome: u32,
    pub firefox: u32,
    pub ios_major: u32,
    pub ios_minor: u32,
    pub android: u32,
    pub safari_mac: String,
}

impl Versions {
    pub(crate) fn at(day: i64) -> Versions {
        let chrome_base = json::days_from_civil(2024, 11, 12);
        let releases = ((day - chrome_base).div_euclid(28)).max(-30);
        let (y, m, _) = json::civil_from_days(day);
        let apple_year = if m >= 10 { y } else { y - 1 };
        let ios_major = if apple_year >= 2025 {
            (apple_year - 1999) as u32
        } else {
            (apple_year - 2006).max(15) as u32
        };
        let months_since = if m >= 10 { m - 9 } else { m + 3 };
        let ios_minor = (months_since * 2 / 3).min(6);
        let android = if day >= json::days_from_civil(2026, 6, 10) {
            17
        } else if day >= json::days_from_civil(2025, 6, 10) {
            16
        } else if day >= json::days_from_civil(2024, 10, 1) {
            15
        } else {
            14
        };
        Versions {
            chrome: (131 + releases) as u32,
            firefox: (133 + releases) as u32,
            ios_major,
            ios_minor,
            android,
            safari_mac: format!("{}.{}", ios_major, ios_minor),
        }
    }
}

/// Precomputed `location` objects for a city: [graph, diag].
#[derive(Debug)]
pub(crate) struct LocFrag {
    pub graph: Vec<u8>,
    pub diag: Vec<u8>,
}

fn loc_frag(name: &str, state: &str, country: &str, lat: f64, lon: f64, graph: bool) -> Vec<u8> {
    // Entra reports coordinates at float32 precision.
    let lat = lat as f32 as f64;
    let lon = lon as f32 as f64;
    fragment(|o| {
        o.str("city", name);
        o.str("state", state);
        o.str("countryOrRegion", country);
        o.obj("geoCoordinates", |g| {
            if graph {
                g.null("altitude");
            }
            g.raw("latitude", fmt_coord(lat).as_bytes());
            g.raw("longitude", fmt_coord(lon).as_bytes());
        });
    })
}

fn fmt_coord(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// A way of using an application: client, resources, platform and weights.
#[derive(Debug, Clone)]
pub(crate) struct Usage {
    pub client: usize,
    pub ia_resource: usize,
    pub ni_resources: Vec<usize>,
    pub mobile: bool,
    pub ui: Ui,
    pub ia_w: u32,
    pub ni_w: u32,
    pub client_app_used: &'static str,
    pub protocol: &'static str,
    pub scopes: &'static str,
}

/// Index of the "empty" location fragment (managed identities, internal addresses).
pub(crate) fn empty_loc(t: &Tenant) -> usize {
    t.loc_frags.len() - 1
}

const DEPT_ENG: usize = 0;
const DEPT_FIN: usize = 3;
const DEPT_IT: usize = 5;

fn first_party_usages(
    dept: usize,
    admin: bool,
    kind: DeviceKind,
    lob: &[(usize, AppKind)],
) -> Vec<Usage> {
    use catalog::*;
    let mut v = Vec::new();
    let browser = "Browser";
    let native = "Mobile Apps and Desktop clients";
    let mk = |client, ia_resource, ni: &[usize], ui, ia_w, ni_w, cau, scopes| Usage {
        client,
        ia_resource,
        ni_resources: ni.to_vec(),
        mobile: kind.is_mobile(),
        ui,
        ia_w,
        ni_w,
        client_app_used: cau,
        protocol: "none",
        scopes,
    };
    if kind.is_mobile() {
        v.push(mk(
            OUTLOOK_MOBILE,
            EXO,
            &[EXO, GRAPH, SPO],
            Ui::Native,
            3,
            40,
            native,
            "[\"EAS.AccessAsUser.All\",\"EWS.AccessAsUser.All\",\"Mail.ReadWrite\"]",
        ));
        v.push(mk(
            TEAMS,
            TEAMS_SVC,
            &[TEAMS_SVC, GRAPH, SPO, EXO],
            Ui::Native,
            3,
            30,
            native,
            "[\"user_impersonation\"]",
        ));
        v.push(mk(
            AUTHENTICATOR,
            ACCOUNT_CONTROLS,
            &[ACCOUNT_CONTROLS, GRAPH],
            Ui::Native,
            1,
            4,
            native,
            "[\"openid\",\"profile\"]",
        ));
        v.push(mk(
            ONEDRIVE_MOBILE,
            SPO,
            &[SPO],
            Ui::Native,
            1,
            5,
            native,
            "[\"AllSites.Write\"]",
        ));
        v.push(mk(
            COMPANY_PORTAL,
            INTUNE,
            &[INTUNE],
            Ui::Native,
            0,
            2,
            native,
            "[\"user_impersonation\"]",
        ));
        v.push(mk(
            BROKER,
            DRS,
            &[DRS, GRAPH],
            Ui::Native,
            0,
            2,
            native,
            "[\"openid\",\"profile\"]",
        ));
        v.push(mk(
            OFFICE_HOME,
            OFFICE_HOME,
            &[],
            Ui::Browser,
            2,
            0,
            browser,
            "",
        ));
        return v;
    }
    if kind == DeviceKind::Windows {
        v.push(mk(
            WINDOWS_SIGNIN,
            AAD,
            &[AAD],
            Ui::WinLogon,
            3,
            6,
            native,
            "",
        ));
        v.push(mk(
            EDGE,
            GRAPH,
            &[GRAPH],
            Ui::Native,
            0,
            3,
            native,
            "[\"openid\",\"profile\",\"User.Read\"]",
        ));
        v.push(mk(
            BROKER,
            DRS,
            &[DRS, INTUNE_ENROLL],
            Ui::Native,
            0,
            1,
            native,
            "",
        ));
    }
    v.push(mk(
        TEAMS,
        TEAMS_SVC,
        &[TEAMS_SVC, GRAPH, SPO, EXO],
        Ui::Native,
        4,
        38,
        native,
        "[\"user_impersonation\"]",
    ));
    v.push(mk(
        OFFICE,
        EXO,
        &[EXO, SPO, GRAPH, SHELL_SERVER],
        Ui::Native,
        4,
        34,
        native,
        "[\"EWS.AccessAsUser.All\",\"Mail.ReadWrite\"]",
    ));
    v.push(mk(
        ONEDRIVE_SYNC,
        SPO,
        &[SPO],
        Ui::Native,
        1,
        14,
        native,
        "[\"AllSites.Write\"]",
    ));
    v.push(mk(
        OFFICE_HOME,
        OFFICE_HOME,
        &[],
        Ui::Browser,
        9,
        0,
        browser,
        "",
    ));
    v.push(mk(
        SHELL_CLIENT,
        SHELL_SERVER,
        &[SHELL_SERVER, GRAPH],
        Ui::Browser,
        0,
        8,
        browser,
        "[\"user_impersonation\"]",
    ));
    v.push(mk(
        OWA,
        EXO,
        &[EXO, GRAPH],
        Ui::Browser,
        6,
        12,
        browser,
        "[\"EWS.AccessAsUser.All\",\"Mail.ReadWrite\",\"Calendars.ReadWrite\"]",
    ));
    v.push(mk(SPO, SPO, &[SPO], Ui::Browser, 9, 3, browser, ""));
    v.push(mk(
        TEAMS_WEB,
        TEAMS_SVC,
        &[TEAMS_SVC, GRAPH],
        Ui::Browser,
        1,
        3,
        browser,
        "[\"user_impersonation\"]",
    ));
    v.push(mk(MY_APPS, MY_APPS, &[], Ui::Browser, 1, 0, browser, ""));
    v.push(mk(
        MY_SIGNINS,
        MY_SIGNINS,
        &[],
        Ui::Browser,
        0,
        0,
        browser,
        "",
    ));
    v.push(mk(
        TODO,
        GRAPH,
        &[GRAPH],
        Ui::Native,
        0,
        2,
        native,
        "[\"Tasks.ReadWrite\"]",
    ));
    if dept == DEPT_ENG || dept == DEPT_IT {
        v.push(mk(
            AZURE_PORTAL,
            ARM,
            &[ARM],
            Ui::Browser,
            3,
            8,
            browser,
            "[\"user_impersonation\"]",
        ));
        v.push(mk(
            ADIBIZA,
            GRAPH,
            &[GRAPH, AAD],
            Ui::Browser,
            0,
            6,
            browser,
            "[\"AuditLog.Read.All\",\"Directory.Read.All\",\"openid\",\"profile\"]",
        ));
        v.push(mk(
            AZURE_CLI,
            ARM,
            &[ARM, GRAPH, KEY_VAULT],
            Ui::Cli,
            1,
            10,
            native,
            "[\"user_impersonation\"]",
        ));
        v.push(mk(
            VSCODE,
            ARM,
            &[ARM, GRAPH],
            Ui::Native,
            0,
            3,
            native,
            "[\"user_impersonation\"]",
        ));
    }
    if dept == DEPT_IT || admin {
        v.push(mk(
            AZURE_PS,
            ARM,
            &[ARM, GRAPH],
            Ui::Cli,
            1,
            3,
            native,
            "[\"user_impersonation\"]",
        ));
        v.push(mk(
            EXO_POWERSHELL,
            EXO,
            &[EXO],
            Ui::Cli,
            0,
            2,
            native,
            "[\"Exchange.Manage\"]",
        ));
        v.push(mk(
            AAD_POWERSHELL,
            AAD,
            &[AAD, GRAPH],
            Ui::Cli,
            0,
            1,
            native,
            "[\"Directory.AccessAsUser.All\"]",
        ));
    }
    if dept == DEPT_FIN {
        v.push(mk(
            POWER_BI_DESKTOP,
            POWER_BI,
            &[POWER_BI],
            Ui::Native,
            1,
            6,
            native,
            "[\"Dataset.ReadWrite.All\"]",
        ));
    }
    for &(app, k) in lob {
        match k {
            AppKind::Saml => {
                let mut u = mk(app, app, &[], Ui::Browser, 3, 0, browser, "");
                u.protocol = "saml20";
                v.push(u);
            }
            _ => v.push(mk(
                app,
                app,
                &[app, GRAPH],
                Ui::Browser,
                2,
                4,
                browser,
                "[\"openid\",\"profile\",\"User.Read\"]",
            )),
        }
    }
    v
}

const LOB_APPS: &[(&str, AppKind, &[usize])] = &[
    ("Salesforce", AppKind::Saml, &[1, 8]),
    ("ServiceNow", AppKind::Saml, &[]),
    ("Workday", AppKind::Saml, &[]),
    ("Atlassian Cloud", AppKind::Saml, &[0, 5, 9]),
    (
        "GitHub Enterprise Cloud - Organization",
        AppKind::Saml,
        &[0],
    ),
    ("Zoom", AppKind::Saml, &[]),
    ("Slack", AppKind::Saml, &[0, 2, 9]),
    ("Expense Portal", AppKind::Oidc, &[]),
    ("Contract Vault", AppKind::Oidc, &[6, 3]),
    ("Customer 360", AppKind::Oidc, &[1, 8]),
];

impl Tenant {
    /// Derives the tenant deterministically from the options (users, seed, start date,
    /// tenant id and attack selection).
    pub fn generate(opts: &SimOptions) -> Tenant {
        let mut rng = Rng::from_parts(&[opts.seed, 0x07E4_A4E7]);
        // An invalid id (rejected by `SimOptions::validate`) falls back to one from the seed.
        let gid = json::parse_guid(&opts.effective_tenant_id())
            .or_else(|| json::parse_guid(&crate::tenant_id_for_seed(opts.seed)))
            .unwrap_or_else(|| rng.guid());
        let tenant_id = guid_string(gid);
        let (company, stem) = pick_company(&mut rng);
        let domain = format!("{stem}.com");
        let initial_domain = format!("{stem}.onmicrosoft.com");
        let adfs_host = format!("sts.{domain}");
        let start_day = json::days_from_civil(
            chrono::Datelike::year(&opts.start) as i64,
            chrono::Datelike::month(&opts.start),
            chrono::Datelike::day(&opts.start),
        );
        let versions = Versions::at(start_day);

        // Offices.
        let office_plans: &[&[(&str, &str)]] = &[
            &[
                ("Seattle", "US"),
                ("London", "GB"),
                ("Bengaluru", "IN"),
                ("Munich", "DE"),
                ("Sydney", "AU"),
                ("Toronto", "CA"),
            ],
            &[
                ("New York", "US"),
                ("Dublin", "IE"),
                ("Hyderabad", "IN"),
                ("Paris", "FR"),
                ("Singapore", "SG"),
                ("Austin", "US"),
            ],
            &[
                ("London", "GB"),
                ("Boston", "US"),
                ("Berlin", "DE"),
                ("Pune", "IN"),
                ("Melbourne", "AU"),
                ("Madrid", "ES"),
            ],
            &[
                ("Chicago", "US"),
                ("Manchester", "GB"),
                ("Frankfurt am Main", "DE"),
                ("Bengaluru", "IN"),
                ("Vancouver", "CA"),
                ("Tokyo", "JP"),
            ],
        ];
        let plan = office_plans[rng.index(office_plans.len())];
        let n_offices = (1 + opts.users as usize / 60).clamp(1, plan.len());
        let mut offices = Vec::new();
        for (i, (cname, cc)) in plan.iter().take(n_offices).enumerate() {
            let city_idx = catalog::city_index(cname, cc);
            let biz = catalog::isps_of(cc, IspKind::Business);
            let isp = if biz.is_empty() {
                catalog::isps_of(cc, IspKind::Residential)[0]
            } else {
                biz[rng.index(biz.len())]
            };
            let base = catalog::ip_in(&ISPS[isp], rng.next_u64()) & !0x7;
            let n_ips = if i == 0 { 4 } else { 2 };
            let ips: Vec<u32> = (0..n_ips).map(|k| base + 1 + k as u32).collect();
            let name = if i == 0 {
                format!("{cname} HQ")
            } else {
                format!("{cname} Office")
            };
            offices.push(Office {
                named_location: format!("{} Corporate Network", cname),
                name,
                city: cname.to_string(),
                country: cc.to_string(),
                egress_ips: ips.iter().map(|&ip| json::ipv4_string(ip)).collect(),
                city_idx,
                isp,
                ips,
            });
        }
        let allowed_countries: Vec<&'static str> = {
            let mut v: Vec<&'static str> = plan.iter().map(|(_, c)| *c).collect();
            v.extend_from_slice(&[
                "US", "GB", "IE", "DE", "FR", "NL", "ES", "CA", "AU", "JP", "SG", "IN",
            ]);
            v.sort();
            v.dedup();
            v
        };

        // Applications: first-party (same order as the catalog constants), then LOB apps.
        let mut applications: Vec<App> = APPS
            .iter()
            .map(|a| App {
                app_id: a.id.to_string(),
                display_name: a.name.to_string(),
                kind: AppKind::FirstParty,
                sp_gid: 0,
                service_principal_id: String::new(),
                assigned_departments: Vec::new(),
            })
            .collect();
        let mut lob_idx = Vec::new();
        for (name, kind, depts) in LOB_APPS {
            let display = if *kind == AppKind::Oidc {
                format!("{} {}", company.split(' ').next().unwrap_or(company), name)
            } else {
                name.to_string()
            };
            lob_idx.push((applications.len(), *kind, *depts));
            applications.push(App {
                app_id: guid_string(rng.guid()),
                display_name: display,
                kind: *kind,
                sp_gid: 0,
                service_principal_id: String::new(),
                assigned_departments: depts
                    .iter()
                    .map(|&d| catalog::DEPTS[d].name.to_string())
                    .collect(),
            });
        }
        for a in applications.iter_mut() {
            a.sp_gid = rng.guid();
            a.service_principal_id = guid_string(a.sp_gid);
        }

        // AD FS relying parties.
        let adfs_relying_parties = vec![
            ("Intranet Portal", format!("https://intranet.{domain}/")),
            ("Citrix Gateway", format!("https://citrix.{domain}/")),
            ("SAP NetWeaver", format!("https://sap.{domain}/sap/saml2")),
            ("Timesheets", format!("urn:{stem}:timesheets")),
        ]
        .into_iter()
        .map(|(n, ident)| RelyingParty {
            app_id: guid_string(rng.guid()),
            app_display_name: format!("{n} - Native application"),
            identifier: ident,
            display_name: format!("{n} - Web API"),
        })
        .collect::<Vec<_>>();

        // Users.
        let mut users: Vec<User> = Vec::with_capacity(opts.users as usize);
        let mut used_upns = std::collections::BTreeSet::new();
        let dept_weights: Vec<u32> = catalog::DEPTS.iter().map(|d| d.weight).collect();
        let n_users = opts.users.max(1) as usize;
        let n_guests = if n_users >= 20 {
            (n_users / 25).max(1)
        } else {
            0
        };
        let n_disabled = if n_users >= 10 {
            (n_users / 50).max(1)
        } else {
            0
        };
        for ui in 0..n_users {
            let guest = ui >= n_users - n_guests;
            let disabled = !guest && ui >= n_users - n_guests - n_disabled;
            let first = *rng.pick(catalog::FIRST_NAMES);
            let last = *rng.pick(catalog::LAST_NAMES);
            let dept_idx = if ui == 0 {
                DEPT_IT
            } else if ui == 1 {
                10
            } else {
                rng.weighted(&dept_weights)
            };
            let dept = &catalog::DEPTS[dept_idx];
            let local: String = format!("{}.{}", first, last)
                .to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            let (partner_name, partner_domain) = *rng.pick(catalog::PARTNERS);
            let dom = if guest {
                partner_domain.to_string()
            } else {
                domain.clone()
            };
            let mut upn = format!("{local}@{dom}");
            let mut n = 2;
            while used_upns.contains(&upn) {
                upn = format!("{local}{n}@{dom}");
                n += 1;
            }
            used_upns.insert(upn.clone());
            let office_idx = if guest || rng.chance(0.12) {
                None
            } else {
                Some(rng.index(offices.len()).min(rng.index(offices.len())))
            };
            let home_city = match office_idx {
                Some(o) => near_city(offices[o].city_idx, &mut rng),
                None => {
                    if guest {
                        rng.index(37)
                    } else {
                        near_city(offices[rng.index(offices.len())].city_idx, &mut rng)
                    }
                }
            };
            let cc = CITIES[home_city].country;
            let res = catalog::isps_of(cc, IspKind::Residential);
            let home_isp = if res.is_empty() {
                0
            } else {
                res[rng.index(res.len())]
            };
            let mob = catalog::isps_of(cc, IspKind::Mobile);
            let mobile_isp = if mob.is_empty() {
                home_isp
            } else {
                mob[rng.index(mob.len())]
            };
            let home_ip = catalog::ip_in(&ISPS[home_isp], rng.next_u64());
            let home_ip6 = match catalog::v6_block(home_isp) {
                Some(b) if rng.chance(0.6) => Some(catalog::v6_subnet(b, rng.next_u64())),
                _ => None,
            };
            let mobile_v6 = catalog::v6_block(mobile_isp);
            let office_days = match office_idx {
                None => 0,
                Some(_) => match rng.below(4) {
                    0 => 0b11111,
                    1 => 0b01110,
                    2 => 0b00110 | (1 << rng.below(5)),
                    _ => 0b10101,
                },
            };
            let admin = (dept_idx == DEPT_IT && rng.chance(0.5)) || ui == 0;
            let roles = if !admin || guest {
                Vec::new()
            } else if ui == 0 {
                vec!["Global Administrator".to_string()]
            } else {
                vec![rng
                    .pick(&[
                        "User Administrator",
                        "Helpdesk Administrator",
                        "Security Administrator",
                        "Application Administrator",
                        "Intune Administrator",
                    ])
                    .to_string()]
            };
            let mfa_method = if rng.chance(0.82) {
                "Mobile app notification"
            } else if rng.chance(0.55) {
                "OATH verification code"
            } else {
                "Text message"
            };
            let lob_apps: Vec<usize> = lob_idx
                .iter()
                .filter(|(_, _, depts)| depts.is_empty() || depts.contains(&dept_idx))
                .filter(|_| !guest && rng.chance(0.8))
                .map(|(i, _, _)| *i)
                .collect();
            let adfs_rps: Vec<usize> = if !guest && rng.chance(0.35) {
                (0..adfs_relying_parties.len())
                    .filter(|_| rng.chance(0.4))
                    .collect()
            } else {
                Vec::new()
            };
            let devices = make_devices(&mut rng, &versions, guest, dept_idx, first, stem);
            let gid_u = rng.guid();
            let home_tenant = if guest { rng.guid() } else { gid };
            users.push(User {
                id: guid_string(gid_u),
                display_name: format!("{first} {last}"),
                given_name: first.to_string(),
                surname: last.to_string(),
                user_principal_name: upn,
                user_type: if guest {
                    "Guest".into()
                } else {
                    "Member".into()
                },
                account_enabled: !disabled,
                department: if guest {
                    String::new()
                } else {
                    dept.name.to_string()
                },
                job_title: if guest {
                    String::new()
                } else {
                    rng.pick(dept.titles).to_string()
                },
                office: match office_idx {
                    Some(o) => offices[o].name.clone(),
                    None => "Remote".into(),
                },
                city: CITIES[home_city].name.to_string(),
                country: cc.to_string(),
                home_tenant_id: guid_string(home_tenant),
                roles,
                mfa_method: mfa_method.to_string(),
                devices,
                gid: gid_u,
                guest,
                home_city,
                home_isp,
                home_ip,
                mobile_isp,
                home_ip6,
                mobile_v6,
                office_idx,
                office_days,
                work_start_min: (rng.normal(8.6 * 60.0, 40.0) as i32).clamp(6 * 60, 11 * 60),
                work_len_min: (rng.normal(8.7 * 60.0, 35.0) as i32).clamp(7 * 60, 11 * 60),
                activity: rng.uniform(0.75, 1.25),
                admin,
                dept_idx,
                lob_apps,
                adfs_rps,
                home_tenant,
                home_tenant_name: if guest {
                    partner_name.to_string()
                } else {
                    String::new()
                },
                ia_choices: Vec::new(),
                ia_weights: Vec::new(),
                ni_choices: Vec::new(),
                ni_weights: Vec::new(),
                phone_swap: None,
            });
        }

        // Usage tables per user.
        let mut usages: Vec<Usage> = Vec::new();
        let mut usage_index: std::collections::BTreeMap<(usize, usize, bool, u8), u16> =
            std::collections::BTreeMap::new();
        for u in users.iter_mut() {
            let lob: Vec<(usize, AppKind)> = u
                .lob_apps
                .iter()
                .map(|&i| (i, applications[i].kind))
                .collect();
            for (slot, d) in u.devices.iter().enumerate() {
                let list = if u.guest {
                    guest_usages(d.kind)
                } else {
                    first_party_usages(u.dept_idx, u.admin, d.kind, &lob)
                };
                for us in list {
                    let key = (us.client, us.ia_resource, us.mobile, us.ui as u8);
                    let idx = *usage_index.entry(key).or_insert_with(|| {
                        usages.push(us.clone());
                        (usages.len() - 1) as u16
                    });
                    if us.ia_w > 0 {
                        u.ia_choices.push((idx, slot as u8));
                        u.ia_weights
                            .push(us.ia_w * if d.kind.is_mobile() { 1 } else { 3 });
                    }
                    if us.ni_w > 0 {
                        u.ni_choices.push((idx, slot as u8));
                        u.ni_weights.push(us.ni_w);
                    }
                }
            }
        }

        let admin_users: Vec<usize> = users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.admin && u.account_enabled && !u.guest)
            .map(|(i, _)| i)
            .collect();

        // Workload service principals.
        let service_principals = make_service_principals(&mut rng, opts.users, &offices, stem);
        let managed_identities = make_managed_identities(&mut rng, opts.users);

        // Groups.
        let groups = [
            ("All Employees", "azureAD"),
            ("All Company", "unifiedGroups"),
            ("Engineering", "unifiedGroups"),
            ("Sales Team", "unifiedGroups"),
            ("SG-VPN-Users", "azureAD"),
            ("SG-M365-E5-Licensed", "azureAD"),
            ("SG-Intune-Pilot", "azureAD"),
            ("SG-Azure-Contributors", "azureAD"),
            ("Finance Team", "unifiedGroups"),
            ("SG-SSPR-Enabled", "azureAD"),
            ("Project Phoenix", "unifiedGroups"),
            ("SG-Salesforce-Users", "azureAD"),
        ]
        .iter()
        .map(|(n, t)| Group {
            id: guid_string(rng.guid()),
            display_name: n.to_string(),
            group_type: t.to_string(),
        })
        .collect();

        // Conditional Access.
        type CaDef<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], CaRule);
        let ca_defs: &[CaDef] = &[
            (
                "CA001: Require multifactor authentication for admins",
                "enabled",
                &["Mfa"],
                &[],
                CaRule::MfaAdmins,
            ),
            (
                "CA002: Block legacy authentication",
                "enabled",
                &["Block"],
                &[],
                CaRule::BlockLegacy,
            ),
            (
                "CA003: Require MFA outside trusted locations",
                "enabled",
                &["Mfa"],
                &[],
                CaRule::MfaUntrusted,
            ),
            (
                "CA004: Require compliant or hybrid joined device for Office 365",
                "enabled",
                &["RequireCompliantDevice", "RequireDomainJoinedDevice"],
                &[],
                CaRule::CompliantDesktop,
            ),
            (
                "CA005: Block access from unapproved countries",
                "enabled",
                &["Block"],
                &[],
                CaRule::BlockCountries,
            ),
        ];
        let conditional_access_policies = ca_defs
            .iter()
            .map(|(n, s, g, sc, r)| {
                let mut p = CaPolicy {
                    id: guid_string(rng.guid()),
                    display_name: n.to_string(),
                    state: s.to_string(),
                    grant_controls: g.iter().map(|x| x.to_string()).collect(),
                    session_controls: sc.iter().map(|x| x.to_string()).collect(),
                    rule: *r,
                    frags: [Vec::new(), Vec::new()],
                };
                p.build_frags();
                p
            })
            .collect();

        // Provisioning jobs.
        let tid_hex: String = tenant_id.replace('-', "");
        let mut provisioning_jobs = vec![ProvisioningJob {
            job_id: format!("Workday2AAD.{tid_hex}.{}", guid_string(rng.guid())),
            service_principal_name: "Workday to Microsoft Entra ID user provisioning".into(),
            service_principal_id: guid_string(rng.guid()),
            source_system: "Workday".into(),
            target_system: "Azure Active Directory".into(),
            inbound: true,
            app_id: guid_string(rng.guid()),
            source_id: rng.guid(),
            target_id: rng.guid(),
        }];
        for (name, prefix) in [
            ("Salesforce", "SalesforceOutDelta"),
            ("ServiceNow", "ServiceNowOutDelta"),
            ("Slack", "slackOutDelta"),
        ] {
            let app = applications.iter().find(|a| a.display_name == name);
            provisioning_jobs.push(ProvisioningJob {
                job_id: format!("{prefix}.{tid_hex}.{}", guid_string(rng.guid())),
                service_principal_name: name.into(),
                service_principal_id: app
                    .map(|a| a.service_principal_id.clone())
                    .unwrap_or_default(),
                source_system: "Azure Active Directory".into(),
                target_system: name.into(),
                inbound: false,
                app_id: app.map(|a| a.app_id.clone()).unwrap_or_default(),
                source_id: rng.guid(),
                target_id: rng.guid(),
            });
        }

        let mut loc_frags: Vec<LocFrag> = CITIES
            .iter()
            .map(|c| LocFrag {
                graph: loc_frag(c.name, c.state, c.country, c.lat, c.lon, true),
                diag: loc_frag(c.name, c.state, c.country, c.lat, c.lon, false),
            })
            .collect();
        loc_frags.push(LocFrag {
            graph: loc_frag("", "", "", 0.0, 0.0, true),
            diag: loc_frag("", "", "", 0.0, 0.0, false),
        });

        let sync_account = SyncAccount {
            id: rng.guid(),
            upn: format!(
                "Sync_DC01_{:012x}@{initial_domain}",
                rng.next_u64() & 0xFFFF_FFFF_FFFF
            ),
        };

        let mut t = Tenant {
            tenant_id,
            display_name: company.to_string(),
            domain,
            initial_domain,
            adfs_host,
            offices,
            users,
            applications,
            service_principals,
            managed_identities,
            adfs_relying_parties,
            groups,
            conditional_access_policies,
            provisioning_jobs,
            gid,
            start_day,
            seed: opts.seed,
            versions,
            loc_frags,
            usages,
            attacks: Vec::new(),
            sync_account,
            admin_users,
            allowed_countries,
        };
        t.attacks = attacks::plan(&t, opts);
        attacks::apply(&mut t);
        t
    }

    /// Start of simulated day `day` (UTC midnight) in ticks.
    pub(crate) fn day_start(&self, day: u32) -> Ticks {
        (self.start_day + day as i64) * TICKS_PER_DAY
    }

    /// Directory as pretty JSON (what `tenant.json` contains).
    pub fn directory_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

fn pick_company(rng: &mut Rng) -> (&'static str, &'static str) {
    *rng.pick(catalog::COMPANIES)
}

/// A city in the same metro area / country as `office_city` (mostly the same city).
fn near_city(office_city: usize, rng: &mut Rng) -> usize {
    let oc = &CITIES[office_city];
    if rng.chance(0.7) {
        return office_city;
    }
    let same: Vec<usize> = CITIES
        .iter()
        .enumerate()
        .take(37)
        .filter(|(_, c)| c.country == oc.country && (c.tz_min == oc.tz_min))
        .map(|(i, _)| i)
        .collect();
    if same.is_empty() {
        office_city
    } else {
        same[rng.index(same.len())]
    }
}

fn guest_usages(kind: DeviceKind) -> Vec<Usage> {
    use catalog::*;
    let browser = "Browser";
    vec![
        Usage {
            client: TEAMS_WEB,
            ia_resource: TEAMS_SVC,
            ni_resources: vec![TEAMS_SVC, GRAPH],
            mobile: kind.is_mobile(),
            ui: Ui::Browser,
            ia_w: 3,
            ni_w: 20,
            client_app_used: browser,
            protocol: "none",
            scopes: "[\"user_impersonation\"]",
        },
        Usage {
            client: SPO,
            ia_resource: SPO,
            ni_resources: vec![SPO],
            mobile: kind.is_mobile(),
            ui: Ui::Browser,
            ia_w: 4,
            ni_w: 10,
            client_app_used: browser,
            protocol: "none",
            scopes: "",
        },
    ]
}

fn hex_name(rng: &mut Rng, n: usize) -> String {
    const CH: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n).map(|_| CH[rng.index(CH.len())] as char).collect()
}

fn make_devices(
    rng: &mut Rng,
    v: &Versions,
    guest: bool,
    dept: usize,
    first: &str,
    stem: &str,
) -> Vec<Device> {
    let mut out = Vec::new();
    let chrome = v.chrome - rng.below(2) as u32;
    let rich = *rng.pick(&[
        "Rich Client 4.66.2.0",
        "Rich Client 4.65.0.0",
        "Rich Client 4.67.1.0",
    ]);
    // Primary computer.
    let mac = !guest
        && rng.chance(if dept == DEPT_ENG || dept == 2 || dept == 9 {
            0.35
        } else {
            0.08
        });
    let linux = !guest && !mac && dept == DEPT_ENG && rng.chance(0.06);
    let (kind, os) = if mac {
        (DeviceKind::Mac, "MacOs".to_string())
    } else if linux {
        (DeviceKind::Linux, "Linux".to_string())
    } else {
        (DeviceKind::Windows, "Windows10".to_string())
    };
    let (browser, ua_browser) = match kind {
        DeviceKind::Mac if rng.chance(0.5) => (
            format!("Safari {}", v.safari_mac),
            format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{} Safari/605.1.15", v.safari_mac),
        ),
        DeviceKind::Mac => (
            format!("Chrome {chrome}.0.0"),
            format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"),
        ),
        DeviceKind::Linux => (
            format!("Firefox {}.0", v.firefox),
            format!("Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0", v.firefox),
        ),
        _ if rng.chance(0.6) => (
            format!("Edge {chrome}.0.0"),
            format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36 Edg/{chrome}.0.0.0"),
        ),
        _ => (
            format!("Chrome {chrome}.0.0"),
            format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"),
        ),
    };
    let ua_native = match kind {
        DeviceKind::Windows => "Mozilla/5.0 (Windows NT 10.0; Win64; x64; WebView/3.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36 Edg/{c}.0.0.0".replace("{c}", &chrome.to_string()),
        DeviceKind::Mac => "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0".to_string(),
        _ => "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0".to_string(),
    };
    let (trust, compliant, managed, device_id, display) = if guest {
        (String::new(), false, false, String::new(), String::new())
    } else {
        let r = rng.f64();
        let prefix: String = stem.chars().take(3).collect::<String>().to_uppercase();
        let name = match kind {
            DeviceKind::Mac => format!("{first}'s MacBook Pro"),
            DeviceKind::Linux => format!("{prefix}-LX-{}", hex_name(rng, 6)),
            _ => format!("{prefix}-LT-{}", hex_name(rng, 7)),
        };
        if kind == DeviceKind::Windows && r < 0.5 {
            (
                "Hybrid Azure AD joined".to_string(),
                true,
                true,
                guid_string(rng.guid()),
                name,
            )
        } else {
            let joined = if kind == DeviceKind::Windows {
                "Azure AD joined"
            } else {
                "Azure AD registered"
            };
            // A few devices drift out of compliance (stale OS patch, BitLocker off).
            let compliant = !rng.chance(0.01);
            (
                joined.to_string(),
                compliant,
                true,
                guid_string(rng.guid()),
                name,
            )
        }
    };
    let mut d = Device {
        device_id,
        display_name: display,
        kind,
        operating_system: os,
        browser,
        is_compliant: compliant,
        is_managed: managed,
        trust_type: trust,
        ua_browser,
        ua_native,
        rich_client: rich.to_string(),
        frags: Default::default(),
    };
    d.finish();
    out.push(d);
    // Phone.
    if !guest && rng.chance(0.85) {
        let iphone = rng.chance(0.7);
        out.push(make_phone(rng, v, iphone));
    }
    out
}

/// Builds a phone; `iphone` picks iOS over Android.
pub(crate) fn make_phone(rng: &mut Rng, v: &Versions, iphone: bool) -> Device {
    let lag = rng.below(3) as u32;
    let managed = rng.chance(0.55);
    let (kind, os, browser, ua_b, display) = if iphone {
        let (maj, min) = if lag == 0 || v.ios_minor >= lag {
            (v.ios_major, v.ios_minor.saturating_sub(lag))
        } else {
            (v.ios_major - 1, 6 - lag)
        };
        let patch = rng.below(3);
        let os = if patch == 0 {
            format!("Ios {maj}.{min}")
        } else {
            format!("Ios {maj}.{min}.{patch}")
        };
        let under = if patch == 0 {
            format!("{maj}_{min}")
        } else {
            format!("{maj}_{min}_{patch}")
        };
        (
            DeviceKind::Iphone,
            os,
            format!("Mobile Safari {maj}.{min}"),
            format!("Mozilla/5.0 (iPhone; CPU iPhone OS {under} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{maj}.{min} Mobile/15E148 Safari/604.1"),
            "iPhone".to_string(),
        )
    } else {
        let maj = v.android - lag.min(1);
        let model = *rng.pick(&["SM-S928B", "Pixel 9", "SM-A556B", "Pixel 8a", "SM-S921U"]);
        (
            DeviceKind::Android,
            format!("Android {maj}"),
            format!("Chrome Mobile {}.0.0", v.chrome),
            format!("Mozilla/5.0 (Linux; Android {maj}; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Mobile Safari/537.36", v.chrome),
            model.to_string(),
        )
    };
    let mut d = Device {
        device_id: guid_string(rng.guid()),
        display_name: display,
        kind,
        operating_system: os,
        browser,
        is_compliant: managed,
        is_managed: managed,
        trust_type: "Azure AD registered".into(),
        ua_browser: ua_b,
        ua_native: "Mozilla/5.0 (compatible; MSAL 1.0) PKeyAuth/1.0".into(),
        rich_client: String::new(),
        frags: Default::default(),
    };
    d.finish();
    d
}

fn thumbprint(rng: &mut Rng) -> String {
    let mut v = Vec::new();
    let bytes: Vec<u8> = (0..20).map(|_| rng.next_u64() as u8).collect();
    json::hex_lower(&mut v, &bytes);
    String::from_utf8(v).unwrap_or_default().to_uppercase()
}

fn make_service_principals(
    rng: &mut Rng,
    users: u32,
    offices: &[Office],
    stem: &str,
) -> Vec<ServicePrincipal> {
    use catalog::*;
    type Tpl = (
        &'static str,
        Host,
        &'static [(usize, u32, bool)],
        &'static str,
        &'static str,
    );
    let templates: &[Tpl] = &[
        (
            "Terraform-Deploy",
            Host::Azure,
            &[(ARM, 30, true), (GRAPH, 60, true)],
            "certificate",
            "Microsoft.Identity.Client",
        ),
        (
            "Backup-Exporter",
            Host::Office,
            &[(GRAPH, 60, false), (EXO, 60, false)],
            "certificate",
            "Microsoft.Identity.Client",
        ),
        (
            "HR-Sync-Connector",
            Host::Aws,
            &[(GRAPH, 15, false)],
            "clientSecret",
            "MSAL.Python",
        ),
        (
            "Datadog-Azure-Integration",
            Host::Aws,
            &[(ARM, 10, false), (GRAPH, 60, false)],
            "clientSecret",
            "azure-identity",
        ),
        (
            "ServiceNow-Graph-Connector",
            Host::Aws,
            &[(GRAPH, 30, false)],
            "clientSecret",
            "MSAL4J",
        ),
        (
            "PowerBI-Refresh-Svc",
            Host::Azure,
            &[(SQL, 60, false), (POWER_BI, 60, false)],
            "certificate",
            "Microsoft.Identity.Client",
        ),
        (
            "GitHub-Actions-Deploy",
            Host::Azure,
            &[(ARM, 45, true), (KEY_VAULT, 45, true)],
            "federatedIdentityCredential",
            "azure-identity",
        ),
        (
            "Legacy-Report-Script",
            Host::Office,
            &[(GRAPH, 120, true)],
            "clientSecret",
            "MSAL.PS",
        ),
        (
            "Sentinel-Graph-Collector",
            Host::Azure,
            &[(GRAPH, 20, false)],
            "clientSecret",
            "Microsoft.Identity.Client",
        ),
        (
            "Mail-Archiver",
            Host::Office,
            &[(EXO, 30, false)],
            "certificate",
            "Microsoft.Identity.Client",
        ),
        (
            "Okta-Workflows-Bridge",
            Host::Aws,
            &[(GRAPH, 30, true)],
            "clientSecret",
            "MSAL4J",
        ),
        (
            "Intune-Reporting-Export",
            Host::Azure,
            &[(GRAPH, 60, false), (INTUNE, 120, false)],
            "certificate",
            "Microsoft.Identity.Client",
        ),
    ];
    let n = (4 + users as usize / 40).clamp(4, templates.len());
    let _ = stem;
    templates
        .iter()
        .take(n)
        .map(|(name, host, jobs, cred_type, lib)| {
            let gid = rng.guid();
            let app_gid = rng.guid();
            let mut credentials = vec![Credential {
                key_id: guid_string(rng.guid()),
                credential_type: cred_type.to_string(),
                thumbprint: if *cred_type == "certificate" {
                    thumbprint(rng)
                } else {
                    String::new()
                },
                display_name: if *cred_type == "certificate" {
                    format!("CN={}", name.to_lowercase())
                } else if *cred_type == "federatedIdentityCredential" {
                    "repo:main".to_string()
                } else {
                    format!("{name}-secret-2026")
                },
            }];
            if *cred_type == "clientSecret" && rng.chance(0.5) {
                credentials.push(Credential {
                    key_id: guid_string(rng.guid()),
                    credential_type: "clientSecret".into(),
                    thumbprint: String::new(),
                    display_name: format!("{name}-secret-2025"),
                });
            }
            let (isp, city, ips) = match host {
                Host::Azure => {
                    let isp = catalog::isp_index("Microsoft Corporation");
                    let city = *rng.pick(&[
                        catalog::city_index("Boydton", "US"),
                        catalog::city_index("Dublin", "IE"),
                        catalog::city_index("Amsterdam", "NL"),
                    ]);
                    let ips = (0..3)
                        .map(|_| catalog::ip_in(&ISPS[isp], rng.next_u64()))
                        .collect();
                    (isp, city, ips)
                }
                Host::Aws => {
                    let isp = catalog::isp_index("Amazon.com, Inc.");
                    let city = catalog::city_index("Boydton", "US");
                    let ips = (0..2)
                        .map(|_| catalog::ip_in(&ISPS[isp], rng.next_u64()))
                        .collect();
                    (isp, city, ips)
                }
                Host::Office => (offices[0].isp, offices[0].city_idx, vec![offices[0].ips[0]]),
            };
            ServicePrincipal {
                id: guid_string(gid),
                app_id: guid_string(app_gid),
                display_name: name.to_string(),
                credentials,
                resources: jobs
                    .iter()
                    .map(|(r, _, _)| APPS[*r].name.to_string())
                    .collect(),
                gid,
                app_gid,
                jobs: jobs
                    .iter()
                    .map(|&(resource, every_min, business_hours)| SpJob {
                        resource,
                        every_min,
                        business_hours,
                    })
                    .collect(),
                ips,
                isp,
                city,
                stale_secret: *name == "Legacy-Report-Script",
                library: lib,
            }
        })
        .collect()
}

fn make_managed_identities(rng: &mut Rng, users: u32) -> Vec<ManagedIdentity> {
    use catalog::*;
    let sub = guid_string(rng.guid());
    type Tpl = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [usize],
        u32,
    );
    let templates: &[Tpl] = &[
        (
            "func-invoice-processor",
            "systemAssigned",
            "rg-finance-prod",
            "Microsoft.Web/sites",
            &[KEY_VAULT, STORAGE, SQL],
            6,
        ),
        (
            "vm-build-agent-01",
            "systemAssigned",
            "rg-devops",
            "Microsoft.Compute/virtualMachines",
            &[ARM, STORAGE, KEY_VAULT],
            4,
        ),
        (
            "id-aks-prod-workload",
            "userAssigned",
            "rg-aks-prod",
            "Microsoft.ContainerService/managedClusters",
            &[KEY_VAULT, STORAGE, ARM],
            10,
        ),
        (
            "logic-hr-onboarding",
            "systemAssigned",
            "rg-hr-automation",
            "Microsoft.Logic/workflows",
            &[GRAPH],
            2,
        ),
        (
            "adf-analytics-prod",
            "systemAssigned",
            "rg-data-prod",
            "Microsoft.DataFactory/factories",
            &[SQL, STORAGE],
            5,
        ),
        (
            "id-app-gateway-kv",
            "userAssigned",
            "rg-network-prod",
            "Microsoft.Network/applicationGateways",
            &[KEY_VAULT],
            3,
        ),
        (
            "app-customer-portal",
            "systemAssigned",
            "rg-web-prod",
            "Microsoft.Web/sites",
            &[SQL, KEY_VAULT, STORAGE],
            8,
        ),
        (
            "vm-sql-reporting",
            "systemAssigned",
            "rg-data-prod",
            "Microsoft.Compute/virtualMachines",
            &[STORAGE, ARM],
            2,
        ),
        (
            "id-automation-runbooks",
            "userAssigned",
            "rg-ops",
            "Microsoft.Automation/automationAccounts",
            &[ARM, GRAPH],
            3,
        ),
        (
            "func-ticket-webhooks",
            "systemAssigned",
            "rg-support-prod",
            "Microsoft.Web/sites",
            &[KEY_VAULT, STORAGE],
            4,
        ),
    ];
    let n = (3 + users as usize / 60).clamp(3, templates.len());
    templates
        .iter()
        .take(n)
        .map(|(name, msi, rg, provider, res, per_hour)| {
            let resource_id = format!("/subscriptions/{sub}/resourcegroups/{rg}/providers/{provider}/{name}");
            let assoc = if *msi == "userAssigned" {
                format!("/subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}")
            } else {
                resource_id.clone()
            };
            let gid = rng.guid();
            let app_gid = rng.guid();
            ManagedIdentity {
                id: guid_string(gid),
                app_id: guid_string(app_gid),
                display_name: name.to_string(),
                msi_type: msi.to_string(),
                associated_resource_id: assoc,
                azure_resource_id: resource_id,
                resources: res.iter().map(|r| APPS[*r].name.to_string()).collect(),
                gid,
                res_idx: res.to_vec(),
                per_hour: *per_hour,
            }
        })
        .collect()
}
