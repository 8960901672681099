//! `gatehouse ask`: the everyday questions (users per application, failed sign-ins, browsers and
//! operating systems, workload identities' resources) over the store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use gatehouse_insights::{Filters, Period, Question};
use gatehouse_model::SignInKind;
use gatehouse_query::QueryEngine;
use gatehouse_store::Store;

/// Which question.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// Users who signed into each application: distinct users and sign-ins, succeeded /
    /// interrupted / failed (default period: the last 7 days).
    Applications,
    /// Failed sign-ins: total, by error code with its meaning, user, application, IP address and
    /// country (default period: the last 24 hours).
    Failures,
    /// Browsers and operating systems: sign-ins and distinct users per browser, per OS and per
    /// pair (default: the last 7 days).
    Clients,
    /// Resources accessed by managed identities and service principals: per identity, each
    /// resource with sign-ins, failures, first and last access (default: the last 7 days).
    Workloads,
}

impl Which {
    fn question(self) -> Question {
        match self {
            Which::Applications => Question::Applications,
            Which::Failures => Question::Failures,
            Which::Clients => Question::Clients,
            Which::Workloads => Question::Workloads,
        }
    }
}

/// Arguments of `gatehouse ask`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question.
    #[arg(value_enum)]
    question: Which,
    /// The period: this long before `--to` (or now), e.g. 24h, 7d, 2w, 90m.
    #[arg(long, conflicts_with = "from")]
    since: Option<String>,
    /// Start of the period: a day (2026-10-05) or an RFC 3339 time.
    #[arg(long)]
    from: Option<String>,
    /// End of the period (excluded; default now).
    #[arg(long)]
    to: Option<String>,
    /// Only this application (display name in any case, or id); for workloads, the identity.
    #[arg(long)]
    app: Option<String>,
    /// Only this user (user principal name in any case, or object id).
    #[arg(long)]
    user: Option<String>,
    /// Only these sign-in types (comma-separated: interactiveUser, nonInteractiveUser,
    /// servicePrincipal, managedIdentity).
    #[arg(long = "type", value_delimiter = ',')]
    kinds: Vec<String>,
    /// Entries per list.
    #[arg(long, default_value_t = gatehouse_insights::DEFAULT_TOP)]
    top: usize,
    /// Keep browser and OS versions instead of folding them into families (clients).
    #[arg(long)]
    versions: bool,
    /// Print the report as JSON (the shape `GET /gatehouse/insights/{question}` answers).
    #[arg(long)]
    json: bool,
    /// Ask about this tenant's data only.
    #[arg(long)]
    tenant: Option<String>,
    /// Group every day from the sign-ins, neither reading nor writing the grouped days kept in
    /// `_gatehouse/insights/` (by a server or an earlier `ask`).
    #[arg(long)]
    regroup: bool,
}

/// Runs `gatehouse ask`.
pub fn run(data: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let question = args.question.question();
    let period = Period::resolve(
        args.since.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        question.default_span(),
        chrono::Utc::now(),
    )?;
    let filters = Filters {
        app: args.app,
        user: args.user,
        kinds: parse_kinds(&args.kinds)?,
        top: Some(args.top),
    };
    let store = Store::open(data).with_context(|| format!("opening {}", data.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let text = rt.block_on(async {
        let engine = QueryEngine::open(&store, args.tenant.as_deref()).await?;
        // The days a server (or an earlier `ask`) grouped and kept in files are read, not
        // grouped again; the days grouped here are kept for the next.
        let partials = gatehouse_insights::DayPartials::new(KEPT_DAYS_MEMORY)
            .with_dir(gatehouse_insights::kept_days_dir(store.root()));
        let src = gatehouse_insights::Source {
            engine: &engine,
            tenant: args.tenant.as_deref(),
            partials: (!args.regroup).then_some(&partials),
        };
        answer(&src, question, period, &filters, args.versions, args.json).await
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Memory for the grouped days one `ask` holds (they are read from and written to files).
const KEPT_DAYS_MEMORY: usize = 256 << 20;

/// Sign-in types by their Graph names.
pub fn parse_kinds(names: &[String]) -> anyhow::Result<Vec<SignInKind>> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            SignInKind::from_exact_graph_name(n.trim()).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown sign-in type {n:?}: use interactiveUser, nonInteractiveUser, \
                     servicePrincipal or managedIdentity"
                )
            })
        })
        .collect()
}

/// The report as text or JSON.
async fn answer(
    src: &gatehouse_insights::Source<'_>,
    question: Question,
    period: Period,
    filters: &Filters,
    versions: bool,
    json: bool,
) -> anyhow::Result<String> {
    fn out<T: serde::Serialize + std::fmt::Display>(r: T, json: bool) -> anyhow::Result<String> {
        Ok(if json {
            serde_json::to_string_pretty(&r)? + "\n"
        } else {
            r.to_string()
        })
    }
    use gatehouse_insights as i;
    match question {
        Question::Applications => out(i::applications(src, period, filters).await?, json),
        Question::Failures => out(i::failures(src, period, filters).await?, json),
        Question::Clients => out(i::clients(src, period, filters, versions).await?, json),
        Question::Workloads => out(i::workloads(src, period, filters).await?, json),
    }
}
