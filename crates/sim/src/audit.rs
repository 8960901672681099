//! Directory audit records (`directoryAudit`): user, group, application, device and role
//! management, security-info registration, consent and credential changes, rendered as Graph
//! records or as `AuditLogs` diagnostic envelopes.

use crate::catalog;
use crate::day::Day;
use crate::json::{self, json_string_literal, Obj, Ticks, TimeFmt, TICKS_PER_MIN};
use crate::rng::Rng;

/// Who performed an audited activity.
#[derive(Debug, Clone)]
pub(crate) enum Initiator {
    User {
        id: u128,
        display: String,
        upn: String,
        ip: Option<u32>,
    },
    App {
        app_id: Option<String>,
        display: String,
        sp_id: Option<u128>,
        sp_name: Option<String>,
    },
}

/// A modified property (values are already JSON-encoded strings, or None for null).
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A target resource of an audit record.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub id: String,
    pub display: Option<String>,
    pub ty: &'static str,
    pub upn: Option<String>,
    pub group_type: Option<&'static str>,
    pub props: Vec<Prop>,
}

/// One planned audit record.
#[derive(Debug, Clone)]
pub(crate) struct AuditRec {
    pub t: Ticks,
    pub seq: u32,
    pub id: String,
    pub category: &'static str,
    pub corr: u128,
    pub result: &'static str,
    pub result_reason: String,
    pub activity: &'static str,
    pub service: &'static str,
    pub op_type: &'static str,
    pub initiator: Initiator,
    pub user_agent: Option<String>,
    pub targets: Vec<Target>,
    pub additional: Vec<(String, String)>,
}

/// Builds an audit id shaped like the service's real ids, e.g.
/// `Directory_<correlationId>_<5 chars>_<9 digits>`.
pub(crate) fn audit_id(rng: &mut Rng, prefix: &str, corr: u128) -> String {
    const CH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tag: String = (0..5).map(|_| CH[rng.index(CH.len())] as char).collect();
    format!(
        "{prefix}_{}_{tag}_{}",
        json::guid_string(corr),
        100_000_000 + rng.below(900_000_000)
    )
}

fn prop(name: &str, old: Option<&str>, new: Option<&str>) -> Prop {
    Prop {
        name: name.to_string(),
        old: old.map(json_string_literal),
        new: new.map(json_string_literal),
    }
}

/// Raw (already JSON-encoded) property.
pub(crate) fn prop_raw(name: &str, old: Option<String>, new: Option<String>) -> Prop {
    Prop {
        name: name.to_string(),
        old,
        new,
    }
}

/// Initiator for a tenant user.
pub(crate) fn user_initiator(d: &Day, ui: usize, ip: Option<u32>) -> Initiator {
    let u = &d.t.users[ui];
    Initiator::User {
        id: u.gid,
        display: u.display_name.clone(),
        upn: u.user_principal_name.clone(),
        ip,
    }
}

/// Target for a tenant user.
pub(crate) fn user_target(d: &Day, ui: usize, props: Vec<Prop>) -> Target {
    let u = &d.t.users[ui];
    Target {
        id: u.id.clone(),
        display: None,
        ty: "User",
        upn: Some(u.user_principal_name.clone()),
        group_type: None,
        props,
    }
}

fn ms_app(name: &str, app_id: Option<&str>) -> Initiator {
    Initiator::App {
        app_id: app_id.map(|s| s.to_string()),
        display: name.to_string(),
        sp_id: None,
        sp_name: None,
    }
}

/// A user registering an authentication method ("User registered security info").
pub(crate) fn security_info(
    d: &mut Day,
    rng: &mut Rng,
    ui: usize,
    at: Ticks,
    ip: Option<u32>,
    method: &str,
) -> AuditRec {
    let corr = rng.guid();
    let seq = d.next_seq();
    AuditRec {
        t: at,
        seq,
        id: audit_id(rng, "AuthenticationMethods", corr),
        category: "UserManagement",
        corr,
        result: "success",
        result_reason: format!("User registered {method}"),
        activity: "User registered security info",
        service: "Authentication Methods",
        op_type: "Add",
        initiator: user_initiator(d, ui, ip),
        user_agent: None,
        targets: vec![user_target(d, ui, Vec::new())],
        additional: Vec::new(),
    }
}

/// Background directory activity of a normal day.
pub(crate) fn plan_background(d: &mut Day) {
    let t = d.t;
    let mut rng = Rng::from_parts(&[t.seed, 0xA0D1, d.day as u64]);
    let wd = crate::day::weekday(t.start_day + d.day as i64);
    let scale = if wd >= 5 { 0.15 } else { 1.0 };
    let n_users = t.users.len();
    let hq_tz = t
        .offices
        .first()
        .map(|o| catalog::CITIES[o.city_idx].tz_min)
        .unwrap_or(0) as i64;
    let dstart = d.start;
    let work_at = |rng: &mut Rng| -> Ticks {
        let m = rng.uniform(8.5 * 60.0, 17.5 * 60.0) as i64 - hq_tz;
        dstart + m.rem_euclid(24 * 60) * TICKS_PER_MIN + rng.below(60 * 10_000_000) as i64
    };
    let admins = &t.admin_users;
    let pick_admin = |rng: &mut Rng| -> usize {
        if admins.is_empty() {
            0
        } else {
            admins[rng.index(admins.len())]
        }
    };
    let members: Vec<usize> = (0..n_users).filter(|&i| !t.users[i].guest).collect();
    if members.is_empty() {
        return;
    }
    let pick_member = |rng: &mut Rng| members[rng.index(members.len())];
    let mut out: Vec<AuditRec> = Vec::new();

    // Directory synchronisation updates (AD Connect).
    let n_sync = ((n_users as f64 * 0.03 * scale) + rng.f64()).floor() as usize;
    for _ in 0..n_sync {
        let ui = pick_member(&mut rng);
        let corr = rng.guid();
        let at = d.start + rng.below(crate::json::TICKS_PER_DAY as u64) as i64;
        let (attr, old, new) = *rng.pick(&[
            (
                "TelephoneNumber",
                "[\"+1 206 555 0100\"]",
                "[\"+1 206 555 0142\"]",
            ),
            ("Manager", "[]", "[]"),
            ("Title", "[\"Analyst\"]", "[\"Senior Analyst\"]"),
            (
                "StreetAddress",
                "[\"1 Main Street\"]",
                "[\"400 Market Street\"]",
            ),
        ]);
        out.push(AuditRec {
            t: at,
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr),
            category: "UserManagement",
            corr,
            result: "success",
            result_reason: String::new(),
            activity: "Update user",
            service: "Core Directory",
            op_type: "Update",
            initiator: Initiator::User {
                id: t.sync_account.id,
                display: String::new(),
                upn: t.sync_account.upn.clone(),
                ip: None,
            },
            user_agent: None,
            targets: vec![user_target(
                d,
                ui,
                vec![
                    prop_raw(attr, Some(old.to_string()), Some(new.to_string())),
                    prop("Included Updated Properties", None, Some(attr)),
                    prop("TargetId.UserType", None, Some("Member")),
                ],
            )],
            additional: vec![("UserType".into(), "Member".into())],
        });
    }

    // Group membership changes by admins.
    let n_grp = ((n_users as f64 * 0.02 * scale) + rng.f64()).floor() as usize;
    for _ in 0..n_grp {
        let ui = pick_member(&mut rng);
        let g = &t.groups[rng.index(t.groups.len())];
        let admin = pick_admin(&mut rng);
        let corr = rng.guid();
        let remove = rng.chance(0.25);
        let admin_ip = t.offices.first().map(|o| o.ips[0]);
        let gname = json_string_literal(&g.display_name);
        out.push(AuditRec {
            t: work_at(&mut rng),
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr),
            category: "GroupManagement",
            corr,
            result: "success",
            result_reason: String::new(),
            activity: if remove {
                "Remove member from group"
            } else {
                "Add member to group"
            },
            service: "Core Directory",
            op_type: if remove { "Unassign" } else { "Assign" },
            initiator: user_initiator(d, admin, admin_ip),
            user_agent: None,
            targets: vec![
                user_target(
                    d,
                    ui,
                    vec![
                        prop_raw(
                            "Group.ObjectID",
                            if remove {
                                Some(json_string_literal(&g.id))
                            } else {
                                None
                            },
                            if remove {
                                None
                            } else {
                                Some(json_string_literal(&g.id))
                            },
                        ),
                        prop_raw(
                            "Group.DisplayName",
                            if remove { Some(gname.clone()) } else { None },
                            if remove { None } else { Some(gname.clone()) },
                        ),
                    ],
                ),
                Target {
                    id: g.id.clone(),
                    display: Some(g.display_name.clone()),
                    ty: "Group",
                    upn: None,
                    group_type: Some(if g.group_type == "unifiedGroups" {
                        "unifiedGroups"
                    } else {
                        "azureAD"
                    }),
                    props: Vec::new(),
                },
            ],
            additional: Vec::new(),
        });
    }

    // Self-service password resets and admin resets.
    let n_pw = ((n_users as f64 * 0.004 * scale) + rng.f64()).floor() as usize;
    for _ in 0..n_pw {
        let ui = pick_member(&mut rng);
        let corr = rng.guid();
        let at = work_at(&mut rng);
        let u = &t.users[ui];
        let ip = Some(u.home_ip);
        out.push(AuditRec {
            t: at,
            seq: 0,
            id: audit_id(&mut rng, "SSPR", corr),
            category: "UserManagement",
            corr,
            result: "success",
            result_reason: "Successfully completed reset.".into(),
            activity: "Reset password (self-service)",
            service: "Self-service Password Management",
            op_type: "Update",
            initiator: user_initiator(d, ui, ip),
            user_agent: None,
            targets: vec![user_target(d, ui, Vec::new())],
            additional: Vec::new(),
        });
        let corr2 = rng.guid();
        out.push(AuditRec {
            t: at + 3 * 10_000_000,
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr2),
            category: "UserManagement",
            corr: corr2,
            result: "success",
            result_reason: String::new(),
            activity: "Reset user password",
            service: "Core Directory",
            op_type: "Update",
            initiator: ms_app("Microsoft Password Reset Service", None),
            user_agent: None,
            targets: vec![user_target(d, ui, Vec::new())],
            additional: Vec::new(),
        });
    }

    // Security info registrations (new joiners, replaced phones).
    let n_sec = ((n_users as f64 * 0.004 * scale) + rng.f64()).floor() as usize;
    for _ in 0..n_sec {
        let ui = pick_member(&mut rng);
        let at = work_at(&mut rng);
        let ip = Some(t.users[ui].home_ip);
        let rec = security_info(
            d,
            &mut rng,
            ui,
            at,
            ip,
            "Authenticator App with Notification and Code",
        );
        out.push(rec);
    }

    // Intune device updates.
    let n_dev = ((n_users as f64 * 0.02 * scale) + rng.f64()).floor() as usize;
    for _ in 0..n_dev {
        let ui = pick_member(&mut rng);
        let u = &t.users[ui];
        let Some(dev) = u.devices.iter().find(|x| !x.device_id.is_empty()) else {
            continue;
        };
        let corr = rng.guid();
        out.push(AuditRec {
            t: d.start + rng.below(crate::json::TICKS_PER_DAY as u64) as i64,
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr),
            category: "Device",
            corr,
            result: "success",
            result_reason: String::new(),
            activity: "Update device",
            service: "Core Directory",
            op_type: "Update",
            initiator: ms_app(
                "Microsoft Intune",
                Some("0000000a-0000-0000-c000-000000000000"),
            ),
            user_agent: None,
            targets: vec![Target {
                id: json::guid_string(rng.guid()),
                display: Some(dev.display_name.clone()),
                ty: "Device",
                upn: None,
                group_type: None,
                props: vec![
                    prop("IsCompliant", Some("False"), Some("True")),
                    prop("Included Updated Properties", None, Some("IsCompliant")),
                ],
            }],
            additional: vec![
                ("DeviceId".into(), dev.device_id.clone()),
                ("DeviceOSType".into(), dev.operating_system.clone()),
            ],
        });
    }

    // App role assignments and consent (weekly-ish).
    if wd < 5 && rng.chance(0.6) {
        let ui = pick_member(&mut rng);
        let lob: Vec<usize> = (catalog::APPS.len()..t.applications.len()).collect();
        if !lob.is_empty() {
            let app = &t.applications[lob[rng.index(lob.len())]];
            let admin = pick_admin(&mut rng);
            let corr = rng.guid();
            let upn = t.users[ui].user_principal_name.clone();
            out.push(AuditRec {
                t: work_at(&mut rng),
                seq: 0,
                id: audit_id(&mut rng, "Directory", corr),
                category: "ApplicationManagement",
                corr,
                result: "success",
                result_reason: String::new(),
                activity: "Add app role assignment grant to user",
                service: "Core Directory",
                op_type: "Assign",
                initiator: user_initiator(d, admin, t.offices.first().map(|o| o.ips[0])),
                user_agent: None,
                targets: vec![
                    Target {
                        id: app.service_principal_id.clone(),
                        display: Some(app.display_name.clone()),
                        ty: "ServicePrincipal",
                        upn: None,
                        group_type: None,
                        props: vec![
                            prop("AppRole.Id", None, Some("18d14569-c3bd-439b-9a66-3a2aee01d14f")),
                            prop("AppRole.Value", None, Some("User")),
                            prop("User.UPN", None, Some(&upn)),
                        ],
                    },
                    user_target(d, ui, Vec::new()),
                ],
                additional: vec![("User-Agent".into(), "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0".into())],
            });
        }
    }
    if wd < 5 && rng.chance(0.25) {
        let ui = pick_member(&mut rng);
        let corr = rng.guid();
        let app_name = *rng.pick(&[
            "Grammarly",
            "Calendly",
            "Miro",
            "Adobe Acrobat",
            "Zoom for Outlook",
        ]);
        let sp = rng.guid();
        out.push(AuditRec {
            t: work_at(&mut rng),
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr),
            category: "ApplicationManagement",
            corr,
            result: "success",
            result_reason: String::new(),
            activity: "Consent to application",
            service: "Core Directory",
            op_type: "Assign",
            initiator: user_initiator(d, ui, Some(t.users[ui].home_ip)),
            user_agent: None,
            targets: vec![Target {
                id: json::guid_string(sp),
                display: Some(app_name.to_string()),
                ty: "ServicePrincipal",
                upn: None,
                group_type: None,
                props: vec![
                    prop("ConsentContext.IsAdminConsent", None, Some("False")),
                    prop("ConsentContext.IsAppOnly", None, Some("False")),
                    prop("ConsentContext.OnBehalfOfAll", None, Some("False")),
                    prop("ConsentContext.Tags", None, Some("WindowsAzureActiveDirectoryIntegratedApp")),
                    prop(
                        "ConsentAction.Permissions",
                        None,
                        Some(&format!(
                            "[] => [[Id: {}, ClientId: {}, PrincipalId: {}, ResourceId: {}, ConsentType: Principal, Scope:  openid profile email offline_access User.Read, CreatedDateTime: , LastModifiedDateTime ]]; ",
                            json::guid_string(rng.guid()),
                            json::guid_string(sp),
                            t.users[ui].id,
                            t.applications[catalog::GRAPH].service_principal_id
                        )),
                    ),
                    prop("TargetId.ServicePrincipalNames", None, Some(&json::guid_string(rng.guid()))),
                ],
            }],
            additional: vec![("User-Agent".into(), "EvoSTS".into())],
        });
    }

    // Routine secret rotations by administrators (look-alikes of a malicious credential add).
    if wd < 5 && rng.chance(0.2) && !t.service_principals.is_empty() {
        let sp = &t.service_principals[rng.index(t.service_principals.len())];
        let admin = pick_admin(&mut rng);
        let corr = rng.guid();
        let key_desc = |id: &str, name: &str| {
            format!("[KeyIdentifier={id},KeyType=Password,KeyUsage=Verify,DisplayName={name}]")
        };
        let old: Vec<String> = sp
            .credentials
            .iter()
            .map(|c| key_desc(&c.key_id, &c.display_name))
            .collect();
        let mut new = old.clone();
        new.push(key_desc(
            &json::guid_string(rng.guid()),
            &format!("{}-rotation", sp.display_name),
        ));
        let enc = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0".to_string();
        out.push(AuditRec {
            t: work_at(&mut rng),
            seq: 0,
            id: audit_id(&mut rng, "Directory", corr),
            category: "ApplicationManagement",
            corr,
            result: "success",
            result_reason: String::new(),
            activity: "Update application – Certificates and secrets management ",
            service: "Core Directory",
            op_type: "Update",
            initiator: user_initiator(d, admin, t.offices.first().map(|o| o.ips[0])),
            user_agent: Some(ua.clone()),
            targets: vec![Target {
                id: sp.application_object_id(),
                display: Some(sp.display_name.clone()),
                ty: "Application",
                upn: None,
                group_type: None,
                props: vec![
                    prop_raw("KeyDescription", Some(enc(&old)), Some(enc(&new))),
                    prop_raw(
                        "Included Updated Properties",
                        None,
                        Some("\"KeyDescription\"".into()),
                    ),
                ],
            }],
            additional: vec![
                ("User-Agent".into(), ua),
                ("AppId".into(), sp.app_id.clone()),
            ],
        });
    }

    // PIM activations by admins.
    if wd < 5 {
        for &a in admins.iter() {
            if !rng.chance(0.3) {
                continue;
            }
            let corr = rng.guid();
            let role = t.users[a]
                .roles
                .first()
                .cloned()
                .unwrap_or_else(|| "User Administrator".into());
            out.push(AuditRec {
                t: work_at(&mut rng),
                seq: 0,
                id: json::guid_string(rng.guid()),
                category: "RoleManagement",
                corr,
                result: "success",
                result_reason: "Role activation for daily administration".into(),
                activity: "Add member to role completed (PIM activation)",
                service: "PIM",
                op_type: "Add",
                initiator: user_initiator(d, a, Some(t.offices[0].ips[0])),
                user_agent: None,
                targets: vec![
                    Target {
                        id: json::guid_string(rng.guid()),
                        display: Some(role.clone()),
                        ty: "Role",
                        upn: None,
                        group_type: None,
                        props: Vec::new(),
                    },
                    user_target(d, a, Vec::new()),
                ],
                additional: vec![
                    (
                        "RoleDefinitionOriginId".into(),
                        json::guid_string(rng.guid()),
                    ),
                    ("ExpirationTime".into(), "8 hours".into()),
                ],
            });
        }
    }

    for mut rec in out {
        if d.inside(rec.t) {
            rec.seq = d.next_seq();
            d.audits.push(rec);
        }
    }
}

fn initiator_user_ip(b: &mut Vec<u8>, ip: Option<u32>) {
    b.push(b'"');
    if let Some(ip) = ip {
        json::ipv4(b, ip);
    }
    b.push(b'"');
}

fn write_initiator(o: &mut Obj, a: &AuditRec, graph: bool) {
    o.obj("initiatedBy", |i| match &a.initiator {
        Initiator::User {
            id,
            display,
            upn,
            ip,
        } => {
            if graph {
                i.null("app");
            }
            i.obj("user", |u| {
                u.guid("id", *id);
                if display.is_empty() {
                    u.null("displayName");
                } else {
                    u.str("displayName", display);
                }
                u.str("userPrincipalName", upn);
                match ip {
                    Some(_) => initiator_user_ip(u.key("ipAddress"), *ip),
                    None => u.null("ipAddress"),
                }
                u.null("userType");
                u.null("homeTenantId");
                u.null("homeTenantName");
            });
        }
        Initiator::App {
            app_id,
            display,
            sp_id,
            sp_name,
        } => {
            i.obj("app", |p| {
                p.opt("appId", app_id.as_deref());
                p.str("displayName", display);
                match sp_id {
                    Some(g) => p.guid("servicePrincipalId", *g),
                    None => p.null("servicePrincipalId"),
                }
                p.opt("servicePrincipalName", sp_name.as_deref());
            });
            if graph {
                i.null("user");
            }
        }
    });
}

fn write_body(o: &mut Obj, a: &AuditRec, graph: bool) {
    o.str("id", &a.id);
    o.str("category", a.category);
    o.guid("correlationId", a.corr);
    o.str("result", a.result);
    o.str("resultReason", &a.result_reason);
    o.str("activityDisplayName", a.activity);
    o.time(
        "activityDateTime",
        a.t,
        if graph {
            TimeFmt::Frac7Z
        } else {
            TimeFmt::TrimOffset
        },
    );
    o.str("loggedByService", a.service);
    o.str("operationType", a.op_type);
    if graph {
        write_initiator(o, a, true);
        o.opt("userAgent", a.user_agent.as_deref());
    } else {
        o.opt("userAgent", a.user_agent.as_deref());
        write_initiator(o, a, false);
    }
    o.arr("targetResources", |arr| {
        for tr in &a.targets {
            arr.obj(|t| {
                t.str("id", &tr.id);
                t.opt("displayName", tr.display.as_deref());
                t.str("type", tr.ty);
                t.opt("userPrincipalName", tr.upn.as_deref());
                t.opt("groupType", tr.group_type);
                t.arr("modifiedProperties", |m| {
                    for p in &tr.props {
                        m.obj(|mp| {
                            mp.str("displayName", &p.name);
                            mp.opt("oldValue", p.old.as_deref());
                            mp.opt("newValue", p.new.as_deref());
                        });
                    }
                });
                if !graph {
                    t.raw("administrativeUnits", b"[]");
                }
            });
        }
    });
    o.arr("additionalDetails", |arr| {
        for (k, v) in &a.additional {
            arr.obj(|kv| {
                kv.str("key", k);
                kv.str("value", v);
            });
        }
    });
}

/// Renders an audit record (no trailing newline).
pub(crate) fn render(b: &mut Vec<u8>, t: &crate::tenant::Tenant, a: &AuditRec, graph: bool) {
    if graph {
        let mut o = Obj::new(b);
        write_body(&mut o, a, true);
        o.end();
        return;
    }
    let mut o = Obj::new(b);
    o.time("time", a.t, TimeFmt::Frac7Z);
    {
        let b = o.key("resourceId");
        b.extend_from_slice(b"\"/tenants/");
        b.extend_from_slice(t.tenant_id.as_bytes());
        b.extend_from_slice(b"/providers/Microsoft.aadiam\"");
    }
    o.str("operationName", a.activity);
    o.str("operationVersion", "1.0");
    o.str("category", "AuditLogs");
    o.str("tenantId", &t.tenant_id);
    o.str("resultSignature", "None");
    o.int("durationMs", 0);
    if let Initiator::User { ip: Some(ip), .. } = &a.initiator {
        initiator_user_ip(o.key("callerIpAddress"), Some(*ip));
    }
    o.guid("correlationId", a.corr);
    let ident = match &a.initiator {
        Initiator::User { display, upn, .. } => {
            if display.is_empty() {
                upn.as_str()
            } else {
                display.as_str()
            }
        }
        Initiator::App { display, .. } => display.as_str(),
    };
    o.str("identity", ident);
    o.int("Level", 4);
    o.obj("properties", |p| write_body(p, a, false));
    o.end();
}
