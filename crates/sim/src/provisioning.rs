//! Provisioning records (`provisioningObjectSummary`): Workday to Entra inbound user
//! provisioning and Entra to SaaS (Salesforce, ServiceNow, Slack) outbound SCIM provisioning,
//! with success, skipped and failure outcomes. Rendered as Graph records or as
//! `ProvisioningLogs` diagnostic envelopes (PascalCase `Id`/`Name`, integer step enums).

use crate::day::Day;
use crate::json::{self, Obj, Ticks, TimeFmt, TICKS_PER_MIN};
use crate::rng::Rng;

/// Outcome of a provisioning event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    Skipped,
    Failure,
}

/// One provisioning step.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub name: &'static str,
    /// 0 import, 1 scoping, 2 matching, 3 processing, 4 referenceResolution, 5 export.
    pub ty: u8,
    /// 0 success, 1 failure, 2 skipped.
    pub status: u8,
    pub description: String,
    pub details: Vec<(&'static str, String)>,
}

/// One planned provisioning record.
#[derive(Debug, Clone)]
pub(crate) struct ProvRec {
    pub t: Ticks,
    pub seq: u32,
    pub id: u128,
    pub job: usize,
    pub cycle: u128,
    pub change: u128,
    pub action: &'static str,
    pub status: Status,
    pub duration_ms: i64,
    pub user: usize,
    pub source_id: String,
    pub target_id: String,
    pub steps: Vec<Step>,
    pub error: Option<(String, String)>,
    pub props: Vec<(&'static str, String)>,
}

/// Plans the provisioning cycles of the day.
pub(crate) fn plan(d: &mut Day) {
    let t = d.t;
    let members: Vec<usize> = (0..t.users.len()).filter(|&i| !t.users[i].guest).collect();
    if members.is_empty() {
        return;
    }
    let mut out = Vec::new();
    for ji in 0..t.provisioning_jobs.len() {
        let mut rng = Rng::from_parts(&[t.seed, 0x9F0, ji as u64, d.day as u64]);
        let cycle_every = 40 * TICKS_PER_MIN;
        let phase = rng.below(cycle_every as u64) as i64;
        let mut at = d.start + phase;
        let rate = (t.users.len() as f64 / 150.0).max(0.3);
        while at < d.end {
            let cycle = rng.guid();
            let n = (rng.f64() * 2.0 * rate + rng.f64()) as usize;
            let mut tt = at;
            for _ in 0..n {
                let ui = members[rng.index(members.len())];
                tt += rng.range(1, 20) * 10_000_000;
                out.push(make_rec(d, &mut rng, ji, ui, tt, cycle));
            }
            at += cycle_every;
        }
    }
    for mut r in out {
        if d.inside(r.t) {
            r.seq = d.next_seq();
            d.provs.push(r);
        }
    }
}

fn make_rec(d: &Day, rng: &mut Rng, ji: usize, ui: usize, at: Ticks, cycle: u128) -> ProvRec {
    let t = d.t;
    let job = &t.provisioning_jobs[ji];
    let u = &t.users[ui];
    let upn = u.user_principal_name.clone();
    let roll = rng.f64();
    let change = rng.guid();
    let mut steps = Vec::new();
    let mut props = Vec::new();
    let mut error = None;
    let (action, status);
    if job.inbound {
        let worker_id = format!("{}", 20_000 + (u.gid % 30_000) as u64);
        steps.push(Step {
            name: "EntryImportObjectUpdate",
            ty: 0,
            status: 0,
            description: format!("Retrieved Worker '{worker_id}' from Workday"),
            details: vec![("ReportableIdentifier", worker_id.clone())],
        });
        steps.push(Step {
            name: "EntrySynchronizationScoping",
            ty: 1,
            status: 0,
            description: "Determine if Worker in scope by evaluating against each scoping filter"
                .into(),
            details: vec![
                ("Active in the source system", "True".into()),
                ("Scoping filter evaluation passed", "True".into()),
            ],
        });
        steps.push(Step {
            name: "EntryImportUpdate",
            ty: 2,
            status: 0,
            description: format!("Retrieved '{upn}' from Azure Active Directory"),
            details: vec![("ReportableIdentifier", upn.clone())],
        });
        if roll < 0.55 {
            action = "other";
            status = Status::Skipped;
            steps.push(Step {
                name: "EntrySynchronizationSkip",
                ty: 3,
                status: 2,
                description: format!(
                    "User '{upn}' will be skipped: no attribute changes were detected"
                ),
                details: vec![
                    ("SkipReason", "RedundantExport".into()),
                    ("ReportableIdentifier", upn.clone()),
                ],
            });
        } else if roll < 0.97 {
            action = "update";
            status = Status::Success;
            let (attr, val) = match rng.below(4) {
                0 => ("jobTitle", u.job_title.clone()),
                1 => ("department", u.department.clone()),
                2 => ("officeLocation", u.office.clone()),
                _ => ("manager", json::guid_string(rng.guid())),
            };
            steps.push(Step {
                name: "EntryExportUpdate",
                ty: 5,
                status: 0,
                description: format!("User '{upn}' was updated in Azure Active Directory"),
                details: vec![(attr, val.clone()), ("ReportableIdentifier", upn.clone())],
            });
            props.push((attr, val));
        } else {
            action = "update";
            status = Status::Failure;
            steps.push(Step {
                name: "EntryExportUpdate",
                ty: 5,
                status: 1,
                description: format!("Failed to update User '{upn}' in Azure Active Directory"),
                details: vec![("ReportableIdentifier", upn.clone())],
            });
            error = Some((
                "AzureActiveDirectoryConflictEntries".to_string(),
                "Unable to update User: another object in Azure Active Directory already has the same value for the property 'mail'. Update the source attribute or the conflicting object and retry.".to_string(),
            ));
        }
    } else {
        let target = &job.target_system;
        steps.push(Step {
            name: "EntryImportUpdate",
            ty: 0,
            status: 0,
            description: format!(
                "Received User '{upn}' change of type (Update) from Azure Active Directory"
            ),
            details: vec![
                ("objectId", u.id.clone()),
                ("userPrincipalName", upn.clone()),
                ("accountEnabled", "True".into()),
            ],
        });
        let in_scope = !u.lob_apps.is_empty() && roll > 0.15;
        if !in_scope {
            action = "other";
            status = Status::Skipped;
            steps.push(Step {
                name: "EntrySynchronizationScoping",
                ty: 1,
                status: 2,
                description: "Determine if User in scope by evaluating against each scoping filter"
                    .into(),
                details: vec![
                    ("Assigned to the application", "False".into()),
                    ("SkipReason", "NotEffectivelyEntitled".into()),
                ],
            });
        } else {
            steps.push(Step {
                name: "EntrySynchronizationScoping",
                ty: 1,
                status: 0,
                description: "Determine if User in scope by evaluating against each scoping filter"
                    .into(),
                details: vec![
                    ("Active in the source system", "True".into()),
                    ("Assigned to the application", "True".into()),
                ],
            });
            steps.push(Step {
                name: "EntryImportUpdate",
                ty: 2,
                status: 0,
                description: format!("Retrieved User '{upn}' from {target}"),
                details: vec![("ReportableIdentifier", upn.clone())],
            });
            if roll > 0.96 {
                action = "update";
                status = Status::Failure;
                steps.push(Step {
                    name: "EntryExportUpdate",
                    ty: 5,
                    status: 1,
                    description: format!("Failed to update User '{upn}' in {target}"),
                    details: vec![("ReportableIdentifier", upn.clone())],
                });
                error = Some((
                    format!("{}EntryConflict", target.replace(' ', "")),
                    format!("Message: {target} returned an error response with the HTTP status code 409.  This response indicates that a user or a group already exisits with the same name. Web Response: {{\"detail\":\"User already exists\",\"status\":\"409\"}}"),
                ));
            } else {
                action = "update";
                status = Status::Success;
                steps.push(Step {
                    name: "EntryExportUpdate",
                    ty: 5,
                    status: 0,
                    description: format!("User '{upn}' was updated in {target}"),
                    details: vec![
                        ("ReportableIdentifier", upn.clone()),
                        ("title", u.job_title.clone()),
                    ],
                });
                props.push(("title", u.job_title.clone()));
                props.push(("active", "True".into()));
            }
        }
    }
    let target_id = if job.inbound {
        u.id.clone()
    } else if status == Status::Skipped {
        String::new()
    } else {
        format!("{:x}", rng.next_u64())
    };
    let source_id = if job.inbound {
        format!("{}", 20_000 + (u.gid % 30_000) as u64)
    } else {
        u.id.clone()
    };
    ProvRec {
        t: at,
        seq: 0,
        id: rng.next_u128(),
        job: ji,
        cycle,
        change,
        action,
        status,
        duration_ms: rng.range(300, 4000),
        user: ui,
        source_id,
        target_id,
        steps,
        error,
        props,
    }
}

fn step_type_name(ty: u8) -> &'static str {
    match ty {
        0 => "import",
        1 => "scoping",
        2 => "matching",
        3 => "processing",
        4 => "referenceResolution",
        _ => "export",
    }
}

fn step_status_name(s: u8) -> &'static str {
    match s {
        0 => "success",
        1 => "failure",
        _ => "skipped",
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Success => "success",
        Status::Skipped => "skipped",
        Status::Failure => "failure",
    }
}

/// Renders a provisioning record (no trailing newline).
pub(crate) fn render(b: &mut Vec<u8>, t: &crate::tenant::Tenant, p: &ProvRec, graph: bool) {
    let job = &t.provisioning_jobs[p.job];
    let u = &t.users[p.user];
    let (src_name, src_type, tgt_type) = if job.inbound {
        (u.display_name.as_str(), "Worker", "User")
    } else {
        (
            u.display_name.as_str(),
            "User",
            "urn:ietf:params:scim:schemas:core:2.0:User",
        )
    };
    if graph {
        let mut o = Obj::new(b);
        o.guid("id", p.id);
        o.time("activityDateTime", p.t, TimeFmt::SecZ);
        o.str("tenantId", &t.tenant_id);
        o.str("jobId", &job.job_id);
        o.guid("cycleId", p.cycle);
        o.guid("changeId", p.change);
        o.str("provisioningAction", p.action);
        o.int("durationInMilliseconds", p.duration_ms);
        o.obj("provisioningStatusInfo", |s| {
            s.str("status", status_name(p.status));
            write_error(s, p);
        });
        o.arr("provisioningSteps", |a| {
            for st in &p.steps {
                a.obj(|s| {
                    s.str("name", st.name);
                    s.str("provisioningStepType", step_type_name(st.ty));
                    s.str("status", step_status_name(st.status));
                    s.str("description", &st.description);
                    write_details(s, &st.details);
                });
            }
        });
        write_props(&mut o, p);
        o.obj("servicePrincipal", |s| {
            s.str("id", &job.service_principal_id);
            s.str("displayName", &job.service_principal_name);
        });
        o.obj("sourceSystem", |s| {
            s.guid("id", job.source_id);
            s.str("displayName", &job.source_system);
            s.raw("details", b"{}");
        });
        o.obj("targetSystem", |s| {
            s.guid("id", job.target_id);
            s.str("displayName", &job.target_system);
            target_details(s, job);
        });
        o.obj("initiatedBy", |s| {
            s.str("id", "");
            s.str("displayName", "Azure AD Provisioning Service");
            s.str("initiatorType", "system");
        });
        o.obj("sourceIdentity", |s| {
            s.str("id", &p.source_id);
            s.str("displayName", src_name);
            s.str("identityType", src_type);
            s.raw("details", b"{}");
        });
        o.obj("targetIdentity", |s| {
            s.str("id", &p.target_id);
            s.str(
                "displayName",
                if p.target_id.is_empty() {
                    ""
                } else {
                    &u.display_name
                },
            );
            s.str("identityType", tgt_type);
            s.raw("details", b"{}");
        });
        o.end();
        return;
    }
    let mut o = Obj::new(b);
    o.time("time", p.t, TimeFmt::Frac7Z);
    {
        let b = o.key("resourceId");
        b.extend_from_slice(b"\"/tenants/");
        b.extend_from_slice(t.tenant_id.as_bytes());
        b.extend_from_slice(b"/providers/Microsoft.aadiam\"");
    }
    o.str("operationName", "Provisioning activity");
    o.str("operationVersion", "1.0");
    o.str("category", "ProvisioningLogs");
    o.str("tenantId", &t.tenant_id);
    o.str(
        "resultType",
        match p.status {
            Status::Success => "Success",
            Status::Skipped => "Skipped",
            Status::Failure => "Failure",
        },
    );
    o.int("durationMs", p.duration_ms);
    o.guid("correlationId", p.change);
    o.guid("identity", p.id);
    o.int("Level", 4);
    o.obj("properties", |o| {
        o.guid("id", p.id);
        o.time("activityDateTime", p.t, TimeFmt::TrimZ);
        o.str("tenantId", &t.tenant_id);
        o.str("jobId", &job.job_id);
        o.guid("cycleId", p.cycle);
        o.guid("changeId", p.change);
        o.str(
            "action",
            match p.action {
                "create" => "Create",
                "update" => "Update",
                "delete" => "Delete",
                "disable" => "Disable",
                _ => "Other",
            },
        );
        o.str("provisioningAction", p.action);
        o.obj("servicePrincipal", |s| {
            s.str("Id", &job.service_principal_id);
            s.str("Name", &job.service_principal_name);
        });
        o.obj("sourceSystem", |s| {
            s.raw("details", b"{}");
            s.guid("Id", job.source_id);
            s.str("Name", &job.source_system);
        });
        o.obj("targetSystem", |s| {
            target_details(s, job);
            s.guid("Id", job.target_id);
            s.str("Name", &job.target_system);
        });
        o.obj("initiatedBy", |s| {
            s.str("Type", "system");
            s.str("Id", "");
            s.str("Name", "Azure AD Provisioning Service");
        });
        o.obj("sourceIdentity", |s| {
            s.str("identityType", src_type);
            s.obj("details", |dd| {
                dd.str("id", &p.source_id);
                dd.str("odatatype", src_type);
                dd.str("DisplayName", src_name);
                dd.str("UserPrincipalName", &u.user_principal_name);
            });
            s.str("Id", &p.source_id);
            s.str("Name", src_name);
        });
        o.obj("targetIdentity", |s| {
            s.str("identityType", tgt_type);
            s.raw("details", b"{}");
            s.str("Id", &p.target_id);
            s.str("Name", "");
        });
        o.obj("provisioningStatusInfo", |s| {
            s.str("Status", status_name(p.status));
            write_error(s, p);
        });
        o.obj("statusInfo", |s| {
            s.int(
                "Status",
                match p.status {
                    Status::Success => 0,
                    Status::Failure => 1,
                    Status::Skipped => 2,
                },
            );
        });
        o.arr("provisioningSteps", |a| {
            for st in &p.steps {
                a.obj(|s| {
                    s.str("name", st.name);
                    s.int("provisioningStepType", st.ty as i64);
                    s.int("status", st.status as i64);
                    s.str("description", &st.description);
                    write_details(s, &st.details);
                });
            }
        });
        write_props(o, p);
        o.int("durationInMilliseconds", p.duration_ms);
    });
    o.end();
}

fn target_details(s: &mut Obj, job: &crate::tenant::ProvisioningJob) {
    s.obj("details", |dd| {
        if !job.inbound {
            dd.str("ApplicationId", &job.app_id);
            dd.str("ServicePrincipalId", &job.service_principal_id);
            dd.str("ServicePrincipalDisplayName", &job.service_principal_name);
        }
    });
}

fn write_error(s: &mut Obj, p: &ProvRec) {
    match &p.error {
        None => s.null("errorInformation"),
        Some((code, reason)) => s.obj("errorInformation", |e| {
            e.str("errorCode", code);
            e.str("reason", reason);
            e.null("additionalDetails");
            e.str("errorCategory", "nonServiceFailure");
            e.null("recommendedAction");
        }),
    }
}

fn write_details(s: &mut Obj, details: &[(&'static str, String)]) {
    s.obj("details", |dd| {
        for (k, v) in details {
            dd.str(k, v);
        }
    });
}

fn write_props(o: &mut Obj, p: &ProvRec) {
    o.arr("modifiedProperties", |a| {
        for (k, v) in &p.props {
            a.obj(|m| {
                m.str("displayName", k);
                m.null("oldValue");
                m.str("newValue", v);
            });
        }
    });
}
