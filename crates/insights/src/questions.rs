//! The four everyday questions: each one SQL query over the snapshot's `signins` table (pruned
//! by day partition, sign-in type and file statistics), folded into a typed report.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use serde::Serialize;

use crate::partials::{day_column, day_group, grouped_narrowed, Narrow, Source};
use crate::{Period, Result};

/// Hash maps and sets for folding groups: foldhash (seeded per map) hashes the groups' short
/// keys several times faster than the standard SipHash, which was a tenth of a month's answer.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
use gatehouse_model::error_codes::{describe, interrupt_codes, CodeDescription};

/// How many entries each list of a report holds unless told otherwise.
pub const DEFAULT_TOP: usize = 10;

/// The questions, by the names the CLI and the HTTP API give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// [`applications`].
    Applications,
    /// [`failures`].
    Failures,
    /// [`clients`].
    Clients,
    /// [`workloads`].
    Workloads,
}

impl Question {
    /// Every question.
    pub const ALL: [Question; 4] = [
        Question::Applications,
        Question::Failures,
        Question::Clients,
        Question::Workloads,
    ];

    /// Its name: `applications`, `failures`, `clients`, `workloads`.
    pub fn name(self) -> &'static str {
        match self {
            Question::Applications => "applications",
            Question::Failures => "failures",
            Question::Clients => "clients",
            Question::Workloads => "workloads",
        }
    }

    /// The question named `name`.
    pub fn from_name(name: &str) -> Option<Question> {
        Question::ALL.into_iter().find(|q| q.name() == name)
    }

    /// The period it covers when none is given: this week for applications, browsers and
    /// workloads, the last 24 hours for failures.
    pub fn default_span(self) -> chrono::Duration {
        match self {
            Question::Failures => chrono::Duration::hours(24),
            _ => chrono::Duration::days(7),
        }
    }

    /// The sign-in types it counts when none are given: user sign-ins (interactive and
    /// non-interactive) for applications and clients, every type for failures, service
    /// principals and managed identities for workloads.
    pub fn default_kinds(self) -> Vec<SignInKind> {
        match self {
            Question::Applications | Question::Clients => {
                vec![SignInKind::InteractiveUser, SignInKind::NonInteractiveUser]
            }
            Question::Failures => SignInKind::ALL.to_vec(),
            Question::Workloads => {
                vec![SignInKind::ServicePrincipal, SignInKind::ManagedIdentity]
            }
        }
    }
}

/// What a question looks at besides its period.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Only this application: its display name (any case) or its id. For workloads, the
    /// identity's name or id, or its application id.
    pub app: Option<String>,
    /// Only this user: user principal name (any case) or object id.
    pub user: Option<String>,
    /// Only these sign-in types (empty: the question's default, [`Question::default_kinds`]).
    pub kinds: Vec<SignInKind>,
    /// At most this many entries per list (default [`DEFAULT_TOP`]; totals count everything).
    pub top: Option<usize>,
}

impl Filters {
    fn top(&self) -> usize {
        self.top.unwrap_or(DEFAULT_TOP)
    }

    fn kinds(&self, q: Question) -> Vec<SignInKind> {
        if self.kinds.is_empty() {
            q.default_kinds()
        } else {
            self.kinds.clone()
        }
    }
}

/// Sign-ins counted by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counted {
    /// Distinct users (by object id).
    pub users: u64,
    /// Sign-ins.
    pub sign_ins: u64,
    /// Of them succeeded (`errorCode` 0).
    pub succeeded: u64,
    /// Of them interrupted (an expected step such as MFA; see [`crate::ErrorClass::Interrupt`]).
    pub interrupted: u64,
    /// Of them failed (any other code).
    pub failed: u64,
}

impl Counted {
    /// Adds `other`'s figures (users too: callers count each user once).
    fn add(&mut self, other: &Counted) {
        self.users += other.users;
        self.sign_ins += other.sign_ins;
        self.succeeded += other.succeeded;
        self.interrupted += other.interrupted;
        self.failed += other.failed;
    }
}

/// One application's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppUsage {
    /// The application's id.
    pub app_id: Option<String>,
    /// Its display name.
    pub app_display_name: Option<String>,
    /// Its users and sign-ins.
    #[serde(flatten)]
    pub counts: Counted,
}

/// Users who signed into applications.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationsReport {
    /// The period.
    pub period: Period,
    /// The sign-in types counted.
    pub sign_in_types: Vec<&'static str>,
    /// Over all applications (users counted once however many applications they used).
    pub total: Counted,
    /// How many applications were used.
    pub applications_used: u64,
    /// The applications, most users first.
    pub applications: Vec<AppUsage>,
}

/// Users who signed into each application in `period`: distinct users and sign-ins,
/// succeeded / interrupted / failed, most users first.
pub async fn applications(
    src: &Source<'_>,
    period: Period,
    filters: &Filters,
) -> Result<ApplicationsReport> {
    let kinds = filters.kinds(Question::Applications);
    let c = Conditions::new(&kinds, filters, AppColumns::App, &APPLICATION_GROUPS);
    let outcomes = outcome_sums();
    let (keys, key_groups) = filter_keys(&APPLICATION_GROUPS);
    // One scan grouped by application and user (a hash aggregate DataFusion vectorises; a
    // `count(DISTINCT …)` beside sums is not), folded here: an application's users are its
    // groups, the total's users the distinct ids over all of them.
    let sql_for = |condition: &str, time: &str, by_day: bool| {
        format!(
            "SELECT appId, appDisplayName, NULLIF(userId, '') AS userId, \
             count(*) AS signIns, {outcomes}{keys}{} \
             FROM signins WHERE {time} AND {condition} GROUP BY 1, 2, 3{key_groups}{}",
            day_column(by_day),
            day_group(by_day, true)
        )
    };
    let batches = c.grouped(src, period, &sql_for).await?;
    // A group may come once per day: users are counted as sets. Keys borrow the batches' text
    // (a month of days is hundreds of thousands of groups).
    type App<'b> = (Option<&'b str>, Option<&'b str>);
    let mut apps: HashMap<App<'_>, (Counted, HashSet<&str>)> = HashMap::default();
    let mut total = Counted::default();
    let mut users: HashSet<&str> = HashSet::default();
    for b in &batches {
        let (app_ids, names, user_ids) = (
            Strings::of(b, "appId"),
            Strings::of(b, "appDisplayName"),
            Strings::of(b, "userId"),
        );
        let sums = ["signIns", "succeeded", "interrupted", "failed"].map(|n| Ints::of(b, n));
        for i in 0..b.num_rows() {
            let user = user_ids.get(i);
            let c = Counted {
                users: 0,
                sign_ins: sums[0].get(i),
                succeeded: sums[1].get(i),
                interrupted: sums[2].get(i),
                failed: sums[3].get(i),
            };
            total.add(&c);
            users.extend(user);
            let e = apps.entry((app_ids.get(i), names.get(i))).or_default();
            e.0.add(&c);
            e.1.extend(user);
        }
    }
    total.users = users.len() as u64;
    let mut applications: Vec<AppUsage> = apps
        .into_iter()
        .map(|((app_id, app_display_name), (mut counts, users))| {
            counts.users = users.len() as u64;
            AppUsage {
                app_id: app_id.map(str::to_string),
                app_display_name: app_display_name.map(str::to_string),
                counts,
            }
        })
        .collect();
    applications.sort_by(|a, b| {
        (b.counts.users, b.counts.sign_ins)
            .cmp(&(a.counts.users, a.counts.sign_ins))
            .then_with(|| a.app_display_name.cmp(&b.app_display_name))
            .then_with(|| a.app_id.cmp(&b.app_id))
    });
    let applications_used = applications.len() as u64;
    applications.truncate(filters.top());
    Ok(ApplicationsReport {
        period,
        sign_in_types: kind_names(&kinds),
        total,
        applications_used,
        applications,
    })
}

/// One error code's failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureCode {
    /// The code and what it means.
    #[serde(flatten)]
    pub code: CodeDescription,
    /// Failed sign-ins with it.
    pub failures: u64,
    /// Distinct users who met it.
    pub users: u64,
}

/// A value and how many failures had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// The value (`null`: not reported in the log).
    pub value: Option<String>,
    /// Its display name where the value is an id (applications, users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Failures.
    pub failures: u64,
}

/// Failed sign-in attempts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailuresReport {
    /// The period.
    pub period: Period,
    /// The sign-in types counted.
    pub sign_in_types: Vec<&'static str>,
    /// Failed sign-ins (interruptions such as MFA prompts are not failures).
    pub failures: u64,
    /// Distinct users among them.
    pub users: u64,
    /// Interrupted sign-ins in the same period, for comparison.
    pub interrupted: u64,
    /// By error code, most failures first, each with its meaning.
    pub by_error_code: Vec<FailureCode>,
    /// By user principal name (`name`: the user's object id).
    pub by_user: Vec<Tally>,
    /// By application id (`name`: its display name).
    pub by_application: Vec<Tally>,
    /// By IP address.
    pub by_ip_address: Vec<Tally>,
    /// By country or region (two-letter code).
    pub by_country: Vec<Tally>,
}

/// Failed sign-in attempts in `period`: the total, and by error code (with its meaning), user,
/// application, IP address and country, most failures first.
pub async fn failures(
    src: &Source<'_>,
    period: Period,
    filters: &Filters,
) -> Result<FailuresReport> {
    let kinds = filters.kinds(Question::Failures);
    let c = Conditions::new(&kinds, filters, AppColumns::App, &FAILURE_GROUPS);
    let interrupts = in_list(&interrupt_codes());
    // The user's and the application's columns, which the filters test too.
    let who = "NULLIF(userPrincipalName, '') AS upn, NULLIF(userId, '') AS userId, \
               NULLIF(appId, '') AS appId, NULLIF(appDisplayName, '') AS appName";
    let who_groups = "userPrincipalName, userId, appId, appDisplayName";
    // One scan: failures grouped by every dimension at once, folded here into each breakdown
    // (failures are a small share of sign-ins, and the groups fewer still). A user's object id
    // and an application's name follow from the user principal name and the application id
    // (they are keys too, for the filters, without multiplying the groups).
    let sql_for = |condition: &str, time: &str, by_day: bool| {
        format!(
            "SELECT status.errorCode AS code, {who}, NULLIF(ipAddress, '') AS ip, \
             NULLIF(location.countryOrRegion, '') AS country, count(*) AS n{} \
             FROM signins WHERE {time} AND {condition} AND status.errorCode <> 0 \
             AND status.errorCode NOT IN ({interrupts}) \
             GROUP BY status.errorCode, {who_groups}, ipAddress, location.countryOrRegion{}",
            day_column(by_day),
            day_group(by_day, true)
        )
    };
    let groups = c.grouped(src, period, &sql_for).await?;
    let sql_for = |condition: &str, time: &str, by_day: bool| {
        format!(
            "SELECT count(*) AS n, {who}{} FROM signins WHERE {time} AND {condition} \
             AND status.errorCode IN ({interrupts}) GROUP BY {who_groups}{}",
            day_column(by_day),
            day_group(by_day, true)
        )
    };
    let interrupted = c
        .grouped(src, period, &sql_for)
        .await?
        .iter()
        .map(|b| (0..b.num_rows()).map(|i| int(b, "n", i)).sum::<u64>())
        .sum();

    let mut total = 0;
    let mut users: HashSet<&str> = HashSet::default();
    let mut codes: HashMap<i32, (u64, HashSet<&str>)> = HashMap::default();
    // Keys borrow the batches' text; user names are folded to lower case at the end.
    let mut by_upn: HashMap<Option<&str>, (u64, BTreeSet<&str>)> = HashMap::default();
    let mut by_app: HashMap<Option<&str>, (u64, BTreeSet<&str>)> = HashMap::default();
    let mut by_ip: HashMap<Option<&str>, u64> = HashMap::default();
    let mut by_country: HashMap<Option<&str>, u64> = HashMap::default();
    for b in &groups {
        let codes_col = b
            .column_by_name("code")
            .map(|c| c.as_primitive::<Int32Type>().clone());
        let (user_ids, upns, app_ids, app_names, ips, countries) = (
            Strings::of(b, "userId"),
            Strings::of(b, "upn"),
            Strings::of(b, "appId"),
            Strings::of(b, "appName"),
            Strings::of(b, "ip"),
            Strings::of(b, "country"),
        );
        let counts = Ints::of(b, "n");
        for i in 0..b.num_rows() {
            let n = counts.get(i);
            let code = codes_col
                .as_ref()
                .filter(|c| c.is_valid(i))
                .map_or(0, |c| c.value(i));
            let user_id = user_ids.get(i);
            total += n;
            let entry = codes.entry(code).or_default();
            entry.0 += n;
            if let Some(u) = user_id {
                users.insert(u);
                entry.1.insert(u);
            }
            let e = by_upn.entry(upns.get(i)).or_default();
            e.0 += n;
            e.1.extend(user_id);
            let e = by_app.entry(app_ids.get(i)).or_default();
            e.0 += n;
            e.1.extend(app_names.get(i));
            *by_ip.entry(ips.get(i)).or_default() += n;
            *by_country.entry(countries.get(i)).or_default() += n;
        }
    }
    let mut by_user: HashMap<Option<String>, (u64, BTreeSet<&str>)> = HashMap::default();
    for (upn, (n, ids)) in by_upn {
        let e = by_user.entry(upn.map(str::to_lowercase)).or_default();
        e.0 += n;
        e.1.extend(ids);
    }
    let by_app: HashMap<Option<String>, (u64, BTreeSet<&str>)> = by_app
        .into_iter()
        .map(|(k, v)| (k.map(str::to_string), v))
        .collect();
    let owned = |m: HashMap<Option<&str>, u64>| -> HashMap<Option<String>, u64> {
        m.into_iter()
            .map(|(k, v)| (k.map(str::to_string), v))
            .collect()
    };
    let (by_ip, by_country) = (owned(by_ip), owned(by_country));
    let top = filters.top();
    let mut by_error_code: Vec<FailureCode> = codes
        .into_iter()
        .map(|(code, (failures, users))| FailureCode {
            code: describe(code),
            failures,
            users: users.len() as u64,
        })
        .collect();
    by_error_code.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.code.code.cmp(&b.code.code))
    });
    by_error_code.truncate(top);
    let named = |m: HashMap<Option<String>, (u64, BTreeSet<&str>)>| {
        tallies(
            m.into_iter().map(|(value, (failures, names))| Tally {
                value,
                // One name per value in practice; several are joined rather than one picked.
                name: (!names.is_empty()).then(|| names.into_iter().collect::<Vec<_>>().join(", ")),
                failures,
            }),
            top,
        )
    };
    let plain = |m: HashMap<Option<String>, u64>| {
        tallies(
            m.into_iter().map(|(value, failures)| Tally {
                value,
                name: None,
                failures,
            }),
            top,
        )
    };
    Ok(FailuresReport {
        period,
        sign_in_types: kind_names(&kinds),
        failures: total,
        users: users.len() as u64,
        interrupted,
        by_error_code,
        by_user: named(by_user),
        by_application: named(by_app),
        by_ip_address: plain(by_ip),
        by_country: plain(by_country),
    })
}

/// Most failures first, then by value; at most `top`.
fn tallies(items: impl Iterator<Item = Tally>, top: usize) -> Vec<Tally> {
    let mut v: Vec<Tally> = items.collect();
    v.sort_by(|a, b| {
        b.failures
            .cmp(&a.failures)
            .then_with(|| a.value.cmp(&b.value))
    });
    v.truncate(top);
    v
}

/// Sign-ins and users of one browser, operating system or pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCount {
    /// The browser (`null` for the OS list, or when the log names none: apps that are not
    /// browsers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// The operating system (`null` for the browser list, or when the log names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    /// Sign-ins.
    pub sign_ins: u64,
    /// Distinct users.
    pub users: u64,
}

/// Browsers and operating systems in use.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientsReport {
    /// The period.
    pub period: Period,
    /// The sign-in types counted.
    pub sign_in_types: Vec<&'static str>,
    /// Whether versions were kept (`Chrome 155.0.0`) or folded into families (`Chrome`).
    pub versions: bool,
    /// Sign-ins counted.
    pub sign_ins: u64,
    /// Per browser, most sign-ins first.
    pub browsers: Vec<ClientCount>,
    /// Per operating system.
    pub operating_systems: Vec<ClientCount>,
    /// Per browser and operating system.
    pub pairs: Vec<ClientCount>,
}

/// Browsers and operating systems in `period`: sign-ins and distinct users per browser, per
/// OS and per pair. Unless `versions`, a trailing version (`Chrome 155.0.0`, `Ios 17.4`) is
/// dropped so that a family counts once (`Windows 10` keeps its number: it has no dot).
pub async fn clients(
    src: &Source<'_>,
    period: Period,
    filters: &Filters,
    versions: bool,
) -> Result<ClientsReport> {
    let kinds = filters.kinds(Question::Clients);
    let c = Conditions::new(&kinds, filters, AppColumns::App, &CLIENT_GROUPS);
    let (keys, key_groups) = filter_keys(&CLIENT_GROUPS);
    let sql_for = |condition: &str, time: &str, by_day: bool| {
        format!(
            "SELECT NULLIF(deviceDetail.browser, '') AS browser, \
             NULLIF(deviceDetail.operatingSystem, '') AS os, NULLIF(userId, '') AS userId, \
             count(*) AS n{keys}{} FROM signins WHERE {time} AND {condition} \
             GROUP BY 1, 2, 3{key_groups}{}",
            day_column(by_day),
            day_group(by_day, true)
        )
    };
    let groups = c.grouped(src, period, &sql_for).await?;
    type Key = (Option<String>, Option<String>);
    let mut pairs: HashMap<Key, (u64, BTreeSet<String>)> = HashMap::default();
    let mut browsers: HashMap<Option<String>, (u64, BTreeSet<String>)> = HashMap::default();
    let mut systems: HashMap<Option<String>, (u64, BTreeSet<String>)> = HashMap::default();
    let mut sign_ins = 0;
    let name = |s: Option<String>| {
        if versions {
            s
        } else {
            s.map(|s| family(&s))
        }
    };
    for b in &groups {
        for i in 0..b.num_rows() {
            let n = int(b, "n", i);
            let (browser, os) = (name(text(b, "browser", i)), name(text(b, "os", i)));
            let user = text(b, "userId", i);
            sign_ins += n;
            for e in [
                pairs.entry((browser.clone(), os.clone())).or_default(),
                browsers.entry(browser).or_default(),
                systems.entry(os).or_default(),
            ] {
                e.0 += n;
                e.1.extend(user.clone());
            }
        }
    }
    let top = filters.top();
    let list = |items: Vec<ClientCount>| {
        let mut items = items;
        items.sort_by(|a, b| {
            (b.sign_ins, b.users)
                .cmp(&(a.sign_ins, a.users))
                .then_with(|| {
                    (&a.browser, &a.operating_system).cmp(&(&b.browser, &b.operating_system))
                })
        });
        items.truncate(top);
        items
    };
    Ok(ClientsReport {
        period,
        sign_in_types: kind_names(&kinds),
        versions,
        sign_ins,
        browsers: list(
            browsers
                .into_iter()
                .map(|(browser, (n, u))| ClientCount {
                    browser,
                    operating_system: None,
                    sign_ins: n,
                    users: u.len() as u64,
                })
                .collect(),
        ),
        operating_systems: list(
            systems
                .into_iter()
                .map(|(os, (n, u))| ClientCount {
                    browser: None,
                    operating_system: os,
                    sign_ins: n,
                    users: u.len() as u64,
                })
                .collect(),
        ),
        pairs: list(
            pairs
                .into_iter()
                .map(|((browser, os), (n, u))| ClientCount {
                    browser,
                    operating_system: os,
                    sign_ins: n,
                    users: u.len() as u64,
                })
                .collect(),
        ),
    })
}

/// A browser or OS name without its trailing version: words from the first one that starts
/// with a digit and holds a dot (`Mobile Safari 17.4` → `Mobile Safari`).
fn family(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    let end = words
        .iter()
        .position(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .unwrap_or(words.len());
    if end == 0 {
        return s.trim().to_string();
    }
    words[..end].join(" ")
}

/// One resource a workload identity accessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccess {
    /// The resource's id.
    pub resource_id: Option<String>,
    /// Its display name.
    pub resource_display_name: Option<String>,
    /// Sign-ins to it.
    pub sign_ins: u64,
    /// Of them failed.
    pub failures: u64,
    /// The first access in the period (RFC 3339).
    pub first_access: Option<String>,
    /// The last access in the period.
    pub last_access: Option<String>,
}

/// A managed identity or service principal and what it accessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentity {
    /// `servicePrincipal` or `managedIdentity`.
    pub sign_in_type: &'static str,
    /// The service principal's object id.
    pub service_principal_id: Option<String>,
    /// Its name.
    pub service_principal_name: Option<String>,
    /// Sign-ins over all resources.
    pub sign_ins: u64,
    /// Of them failed.
    pub failures: u64,
    /// The first access in the period.
    pub first_access: Option<String>,
    /// The last access in the period.
    pub last_access: Option<String>,
    /// The resources, most sign-ins first (all of them: `top` cuts identities, not these).
    pub resources: Vec<ResourceAccess>,
}

/// Resources accessed by workload identities.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadsReport {
    /// The period.
    pub period: Period,
    /// The sign-in types counted.
    pub sign_in_types: Vec<&'static str>,
    /// Identities that signed in.
    pub identities_seen: u64,
    /// The identities, most sign-ins first.
    pub identities: Vec<WorkloadIdentity>,
}

/// The resources managed identities and service principals accessed in `period`: per identity,
/// each resource with its sign-ins, failures, first and last access.
pub async fn workloads(
    src: &Source<'_>,
    period: Period,
    filters: &Filters,
) -> Result<WorkloadsReport> {
    let kinds = filters.kinds(Question::Workloads);
    let c = Conditions::new(&kinds, filters, AppColumns::Workload, &WORKLOAD_GROUPS);
    let (keys, key_groups) = filter_keys(&WORKLOAD_GROUPS);
    let sql_for = |condition: &str, time: &str, by_day: bool| {
        format!(
            "SELECT CASE WHEN array_has(signInEventTypes, 'managedIdentity') THEN 'managedIdentity' \
             WHEN array_has(signInEventTypes, 'servicePrincipal') THEN 'servicePrincipal' \
             ELSE 'other' END AS kind, \
             NULLIF(servicePrincipalId, '') AS spId, NULLIF(servicePrincipalName, '') AS spName, \
             NULLIF(resourceId, '') AS resourceId, NULLIF(resourceDisplayName, '') AS resourceName, \
             count(*) AS n, sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END) AS failed, \
             min(createdDateTime) AS first, max(createdDateTime) AS last{keys}{} \
             FROM signins WHERE {time} AND {condition} GROUP BY 1, 2, 3, 4, 5{key_groups}{}",
            day_column(by_day),
            day_group(by_day, true)
        )
    };
    let groups = c.grouped(src, period, &sql_for).await?;
    type Key = (&'static str, Option<String>, Option<String>);
    type Resource = (Option<String>, Option<String>);
    // A resource's group may come once per day: merged by resource.
    let mut identities: HashMap<Key, BTreeMap<Resource, ResourceAccess>> = HashMap::default();
    for b in &groups {
        for i in 0..b.num_rows() {
            let kind = match text(b, "kind", i).as_deref() {
                Some("managedIdentity") => "managedIdentity",
                Some("servicePrincipal") => "servicePrincipal",
                _ => "other",
            };
            let resource = (text(b, "resourceId", i), text(b, "resourceName", i));
            let access = identities
                .entry((kind, text(b, "spId", i), text(b, "spName", i)))
                .or_default()
                .entry(resource.clone())
                .or_insert_with(|| ResourceAccess {
                    resource_id: resource.0,
                    resource_display_name: resource.1,
                    sign_ins: 0,
                    failures: 0,
                    first_access: None,
                    last_access: None,
                });
            access.sign_ins += int(b, "n", i);
            access.failures += int(b, "failed", i);
            // RFC 3339 UTC strings of one format order as the instants do.
            let (first, last) = (time(b, "first", i), time(b, "last", i));
            if first.is_some() && (access.first_access.is_none() || first < access.first_access) {
                access.first_access = first;
            }
            if last > access.last_access {
                access.last_access = last;
            }
        }
    }
    let mut list: Vec<WorkloadIdentity> = identities
        .into_iter()
        .map(|((kind, id, name), resources)| {
            let mut resources: Vec<ResourceAccess> = resources.into_values().collect();
            resources.sort_by(|a, b| {
                b.sign_ins
                    .cmp(&a.sign_ins)
                    .then_with(|| a.resource_display_name.cmp(&b.resource_display_name))
                    .then_with(|| a.resource_id.cmp(&b.resource_id))
            });
            // RFC 3339 UTC strings of one format order as the instants do.
            let first_access = resources
                .iter()
                .filter_map(|r| r.first_access.clone())
                .min();
            let last_access = resources.iter().filter_map(|r| r.last_access.clone()).max();
            WorkloadIdentity {
                sign_in_type: kind,
                service_principal_id: id,
                service_principal_name: name,
                sign_ins: resources.iter().map(|r| r.sign_ins).sum(),
                failures: resources.iter().map(|r| r.failures).sum(),
                first_access,
                last_access,
                resources,
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.sign_ins
            .cmp(&a.sign_ins)
            .then_with(|| a.service_principal_name.cmp(&b.service_principal_name))
            .then_with(|| a.service_principal_id.cmp(&b.service_principal_id))
    });
    let identities_seen = list.len() as u64;
    list.truncate(filters.top());
    Ok(WorkloadsReport {
        period,
        sign_in_types: kind_names(&kinds),
        identities_seen,
        identities: list,
    })
}

/// Which columns the `app` filter matches.
#[derive(Clone, Copy)]
enum AppColumns {
    /// The application a user signed into.
    App,
    /// A workload identity: its service principal or its application.
    Workload,
}

/// The `WHERE` condition of a question besides its period: the sign-in types (literals, so that the
/// table skips files of other types) and the filters (as parameters `$1`…, never spliced into
/// the SQL text).
fn conditions(
    kinds: &[SignInKind],
    filters: &Filters,
    params: &mut Vec<ScalarValue>,
    app_columns: AppColumns,
) -> String {
    let mut parts = vec![kinds_condition(kinds)];
    parts.extend(filter_conditions(
        filters,
        params,
        app_columns,
        &TABLE_COLUMNS,
    ));
    parts.join(" AND ")
}

/// The condition on the sign-in types (`TRUE` for all of them).
fn kinds_condition(kinds: &[SignInKind]) -> String {
    if !kinds.is_empty() && kinds.len() < SignInKind::ALL.len() {
        let any: Vec<String> = kinds
            .iter()
            .map(|k| format!("array_has(signInEventTypes, '{}')", k.graph_name()))
            .collect();
        format!("({})", any.join(" OR "))
    } else {
        "TRUE".to_string()
    }
}

/// The columns the filters test, as the table names them or as a question's groups carry them.
struct FilterColumns {
    app_id: &'static str,
    app_name: &'static str,
    sp_id: &'static str,
    sp_name: &'static str,
    user_id: &'static str,
    upn: &'static str,
}

const TABLE_COLUMNS: FilterColumns = FilterColumns {
    app_id: "appId",
    app_name: "appDisplayName",
    sp_id: "servicePrincipalId",
    sp_name: "servicePrincipalName",
    user_id: "userId",
    upn: "userPrincipalName",
};

/// The columns of the applications question's groups that the filters test: its own keys, and
/// the user's name besides.
const APPLICATION_GROUPS: FilterColumns = FilterColumns {
    app_id: "appId",
    app_name: "appDisplayName",
    sp_id: "",
    sp_name: "",
    user_id: "userId",
    upn: "f_userPrincipalName",
};

/// The failures question's groups hold all of them as keys.
const FAILURE_GROUPS: FilterColumns = FilterColumns {
    app_id: "appId",
    app_name: "appName",
    sp_id: "",
    sp_name: "",
    user_id: "userId",
    upn: "upn",
};

/// The clients question's groups carry the user's columns only (each user's applications would
/// multiply them): an `app` filter is answered by the SQL, which groups its own days.
const CLIENT_GROUPS: FilterColumns = FilterColumns {
    app_id: "",
    app_name: "",
    sp_id: "",
    sp_name: "",
    user_id: "userId",
    upn: "f_userPrincipalName",
};

/// The workloads question's groups: the service principal's keys, and the others besides.
const WORKLOAD_GROUPS: FilterColumns = FilterColumns {
    app_id: "f_appId",
    app_name: "f_appDisplayName",
    sp_id: "spId",
    sp_name: "spName",
    user_id: "f_userId",
    upn: "f_userPrincipalName",
};

impl FilterColumns {
    /// Whether these columns hold every column `filters` test (a name is empty where a
    /// question's groups do not carry the column).
    fn carries(&self, filters: &Filters, app_columns: AppColumns) -> bool {
        let app = match app_columns {
            AppColumns::App => vec![self.app_id, self.app_name],
            AppColumns::Workload => vec![self.app_id, self.app_name, self.sp_id, self.sp_name],
        };
        let user = [self.user_id, self.upn];
        (filters.app.is_none() || app.iter().all(|c| !c.is_empty()))
            && (filters.user.is_none() || user.iter().all(|c| !c.is_empty()))
    }
}

/// What a question selects and groups by besides its own keys so that its groups carry the
/// columns the filters test (`groups`' names that start with `f_`; the others are the
/// question's own keys): the `SELECT` items and the `GROUP BY` items, each list starting with a
/// comma. An application's name follows from its id and a user's name from the id in practice,
/// so the groups barely multiply.
fn filter_keys(groups: &FilterColumns) -> (String, String) {
    let pairs = [
        (TABLE_COLUMNS.app_id, groups.app_id),
        (TABLE_COLUMNS.app_name, groups.app_name),
        (TABLE_COLUMNS.sp_id, groups.sp_id),
        (TABLE_COLUMNS.sp_name, groups.sp_name),
        (TABLE_COLUMNS.user_id, groups.user_id),
        (TABLE_COLUMNS.upn, groups.upn),
    ];
    let extra: Vec<_> = pairs.iter().filter(|(_, g)| g.starts_with("f_")).collect();
    let select = extra.iter().map(|(t, g)| format!(", {t} AS {g}")).collect();
    let group = extra.iter().map(|(t, _)| format!(", {t}")).collect();
    (select, group)
}

/// The filters' conditions over `columns`, their values pushed onto `params`.
fn filter_conditions(
    filters: &Filters,
    params: &mut Vec<ScalarValue>,
    app_columns: AppColumns,
    columns: &FilterColumns,
) -> Vec<String> {
    let FilterColumns {
        app_id,
        app_name,
        sp_id,
        sp_name,
        user_id,
        upn,
    } = columns;
    let mut parts = Vec::new();
    if let Some(app) = &filters.app {
        params.push(ScalarValue::Utf8(Some(app.clone())));
        let p = format!("${}", params.len());
        parts.push(match app_columns {
            AppColumns::App => format!("({app_id} = {p} OR lower({app_name}) = lower({p}))"),
            AppColumns::Workload => format!(
                "({sp_id} = {p} OR {app_id} = {p} \
                 OR lower({sp_name}) = lower({p}) OR lower({app_name}) = lower({p}))"
            ),
        });
    }
    if let Some(user) = &filters.user {
        params.push(ScalarValue::Utf8(Some(user.clone())));
        let p = format!("${}", params.len());
        parts.push(format!("({user_id} = {p} OR lower({upn}) = lower({p}))"));
    }
    parts
}

/// A question's conditions: for its SQL over the table, and for answering its filters from
/// days kept without them.
struct Conditions {
    /// The sign-in types and the filters, over the table's columns.
    all: String,
    /// The parameters of `all`.
    params: Vec<ScalarValue>,
    /// The sign-in types only: the condition of the days kept.
    kinds: String,
    /// The filters over the groups' columns and their parameters; `None`
    /// without filters.
    filters: Option<(String, Vec<ScalarValue>)>,
}

impl Conditions {
    fn new(
        kinds: &[SignInKind],
        filters: &Filters,
        app_columns: AppColumns,
        groups: &FilterColumns,
    ) -> Conditions {
        let mut params = Vec::new();
        let all = conditions(kinds, filters, &mut params, app_columns);
        let mut group_params = Vec::new();
        // Filters on columns the groups do not carry are answered by the SQL alone.
        let on_groups = if groups.carries(filters, app_columns) {
            filter_conditions(filters, &mut group_params, app_columns, groups)
        } else {
            Vec::new()
        };
        Conditions {
            all,
            params,
            kinds: kinds_condition(kinds),
            filters: (!on_groups.is_empty()).then(|| (on_groups.join(" AND "), group_params)),
        }
    }

    /// The grouped rows of `period` for the question whose SQL `sql_for(condition, time,
    /// by_day)` makes: with these conditions, answered from the days kept without the filters
    /// where a server keeps days ([`grouped_narrowed`]).
    async fn grouped(
        &self,
        src: &Source<'_>,
        period: Period,
        sql_for: &(dyn Fn(&str, &str, bool) -> String + Sync),
    ) -> Result<Vec<RecordBatch>> {
        let sql = |time: &str, by_day: bool| sql_for(&self.all, time, by_day);
        let unfiltered = |time: &str, by_day: bool| sql_for(&self.kinds, time, by_day);
        let narrow = self.filters.as_ref().map(|(condition, params)| Narrow {
            sql: &unfiltered,
            condition: condition.clone(),
            params: params.clone(),
        });
        grouped_narrowed(src, period, &sql, self.params.clone(), narrow.as_ref()).await
    }
}

/// A timestamp literal DataFusion compares with the stored time column.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    format!(
        "TIMESTAMP '{}'",
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// `succeeded`, `interrupted` and `failed` sums over the rows.
fn outcome_sums() -> String {
    let interrupts = in_list(&interrupt_codes());
    format!(
        "sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END) AS succeeded, \
         sum(CASE WHEN status.errorCode IN ({interrupts}) THEN 1 ELSE 0 END) AS interrupted, \
         sum(CASE WHEN status.errorCode <> 0 AND status.errorCode NOT IN ({interrupts}) \
         THEN 1 ELSE 0 END) AS failed"
    )
}

fn in_list(codes: &[i32]) -> String {
    codes
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_names(kinds: &[SignInKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.graph_name()).collect()
}

pub(crate) async fn run(
    engine: &QueryEngine,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    Ok(planned(engine.context(), sql, params)
        .await?
        .collect()
        .await?)
}

/// `sql` planned in `ctx` with its parameters `$1`… bound.
pub(crate) async fn planned(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<datafusion::dataframe::DataFrame> {
    let df = ctx.sql(sql).await?;
    Ok(if params.is_empty() {
        df
    } else {
        df.with_param_values(ParamValues::List(
            params.into_iter().map(Into::into).collect(),
        ))?
    })
}

/// A string column of a batch, resolved once (whatever string type DataFusion chose).
pub(crate) enum Strings<'a> {
    Utf8(&'a arrow::array::StringArray),
    View(&'a arrow::array::StringViewArray),
    Large(&'a arrow::array::LargeStringArray),
    /// Dictionary-encoded, as the days a server keeps hold their strings.
    Dictionary(
        &'a arrow::array::PrimitiveArray<Int32Type>,
        &'a arrow::array::StringArray,
    ),
    Missing,
}

impl<'a> Strings<'a> {
    pub(crate) fn of(b: &'a RecordBatch, name: &str) -> Strings<'a> {
        let Some(c) = b.column_by_name(name) else {
            return Strings::Missing;
        };
        if let Some(a) = c.as_string_opt::<i32>() {
            Strings::Utf8(a)
        } else if let Some(a) = c.as_string_view_opt() {
            Strings::View(a)
        } else if let Some(a) = c.as_string_opt::<i64>() {
            Strings::Large(a)
        } else if let Some((keys, values)) = c
            .as_dictionary_opt::<Int32Type>()
            .and_then(|d| Some((d.keys(), d.values().as_string_opt::<i32>()?)))
        {
            Strings::Dictionary(keys, values)
        } else {
            Strings::Missing
        }
    }

    /// Row `i`'s value, `None` for null.
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strings::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::View(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strings::Dictionary(keys, values) => {
                let k = usize::try_from(keys.is_valid(i).then(|| keys.value(i))?).ok()?;
                (k < values.len() && values.is_valid(k)).then(|| values.value(k))
            }
            Strings::Missing => None,
        }
    }
}

/// A count or sum column of a batch, resolved once.
pub(crate) enum Ints<'a> {
    I64(&'a arrow::array::Int64Array),
    U64(&'a arrow::array::UInt64Array),
    I32(&'a arrow::array::Int32Array),
    Missing,
}

impl<'a> Ints<'a> {
    pub(crate) fn of(b: &'a RecordBatch, name: &str) -> Ints<'a> {
        let Some(c) = b.column_by_name(name) else {
            return Ints::Missing;
        };
        if let Some(a) = c.as_primitive_opt::<Int64Type>() {
            Ints::I64(a)
        } else if let Some(a) = c.as_primitive_opt::<arrow::datatypes::UInt64Type>() {
            Ints::U64(a)
        } else if let Some(a) = c.as_primitive_opt::<Int32Type>() {
            Ints::I32(a)
        } else {
            Ints::Missing
        }
    }

    /// Row `i`'s value (0 for null or negative).
    pub(crate) fn get(&self, i: usize) -> u64 {
        match self {
            Ints::I64(a) if a.is_valid(i) => a.value(i).max(0) as u64,
            Ints::U64(a) if a.is_valid(i) => a.value(i),
            Ints::I32(a) if a.is_valid(i) => a.value(i).max(0) as u64,
            _ => 0,
        }
    }
}

/// A count or sum column's value (0 for null: a sum over no rows).
pub(crate) fn int(b: &RecordBatch, name: &str, i: usize) -> u64 {
    Ints::of(b, name).get(i)
}

/// A string column's value (`None` for null), whatever string type DataFusion chose.
pub(crate) fn text(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    Strings::of(b, name).get(i).map(str::to_string)
}

/// Microseconds since the epoch as RFC 3339 UTC (fractions only when there are any, as Graph).
pub(crate) fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// A timestamp column's value as RFC 3339 UTC (fractions only when there are any, as Graph).
fn time(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let c = b.column_by_name(name)?;
    if c.is_null(i) {
        return None;
    }
    let v = c.as_primitive_opt::<TimestampMicrosecondType>()?.value(i);
    Some(rfc3339(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_drop_dotted_versions_only() {
        assert_eq!(family("Chrome 155.0.0"), "Chrome");
        assert_eq!(family("Mobile Safari 17.4"), "Mobile Safari");
        assert_eq!(family("Ios 27.0.1"), "Ios");
        assert_eq!(family("Windows 10"), "Windows 10");
        assert_eq!(family("Windows10"), "Windows10");
        assert_eq!(family("1.2.3"), "1.2.3");
    }

    #[test]
    fn filters_become_parameters_never_sql_text() {
        let filters = Filters {
            app: Some("x' OR 1=1 --".into()),
            user: Some("o'brien@contoso.com".into()),
            ..Filters::default()
        };
        let mut params = Vec::new();
        let sql = conditions(
            &[SignInKind::InteractiveUser],
            &filters,
            &mut params,
            AppColumns::App,
        );
        assert!(!sql.contains("OR 1=1") && !sql.contains("brien"), "{sql}");
        assert_eq!(params.len(), 2);
        assert!(sql.contains("$1") && sql.contains("$2"), "{sql}");
    }
}
