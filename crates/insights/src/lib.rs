//! The everyday questions about sign-ins, answered over one snapshot of the store.
//!
//! * [`applications`]: users who signed into each application (distinct users, sign-ins,
//!   succeeded / interrupted / failed);
//! * [`failures`]: failed sign-in attempts, by error code (with its meaning), user, application,
//!   IP address and country;
//! * [`clients`]: browsers and operating systems in use (sign-ins and distinct users);
//! * [`workloads`]: the resources managed identities and service principals accessed.
//!
//! Each takes a [`Period`] and [`Filters`] and answers exactly: no sampling, no caps on what is
//! counted (only the lists are cut to `top`). [`error_codes`] is the AADSTS catalogue that
//! classes codes as success, interruption or failure and explains them; [`explain`] says who,
//! how, what and why of one sign-in. `gatehouse ask` and
//! `GET /gatehouse/insights/{question}` are thin callers of this crate.

mod display;
mod explain;
mod methods;
mod partials;
mod period;
mod questions;
mod reports;
mod summarized;

pub use explain::{
    explain, AuthenticationStep, Diagnosis, Explanation, How, PolicyDecision, What, Who,
    LEGACY_CLIENT_APPS,
};
pub use gatehouse_model::error_codes::{
    describe, interrupt_codes, lookup, outcome, CodeDescription, ErrorClass, ErrorCode, Outcome,
    CATALOGUE,
};
pub use methods::{
    app_credential_sign_in_activities, graph_method, sign_ins_by_auth_method,
    user_registration_details, users_registered_by_method, CredentialActivity, CredentialSignIn,
    MethodCount, MethodUsage, RegistrationSummary, UserRegistration,
};
pub use partials::{kept_days_dir, DayPartials, Source};
pub use period::{parse_instant, parse_span, Period};
pub use questions::{
    applications, clients, failures, workloads, AppUsage, ApplicationsReport, ClientCount,
    ClientsReport, Counted, FailureCode, FailuresReport, Filters, Question, ResourceAccess, Tally,
    WorkloadIdentity, WorkloadsReport, DEFAULT_TOP,
};
pub use reports::{
    application_sign_in_detailed_summary, application_sign_in_summary, daily_sign_ins,
    relying_party_summary, report_period, service_principal_sign_in_activities, ActivityScope,
    ApplicationSignInDetailedSummary, ApplicationSignInSummary, DailySignIns,
    DetailedSummaryFilter, KeyValuePair, RelyingPartySummary, ServicePrincipalSignInActivity,
    SignInActivity, SignInStatus,
};
pub use summarized::{
    summarized_sign_ins, SummarizedSignIn, SummaryFilter, SummaryIdentity, SummaryKey, SummaryOf,
    SummaryPage, SummaryStatus, Window, FILTERABLE,
};

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    /// A period or filter that makes no sense (the message names it).
    #[error("{0}")]
    Invalid(String),
    /// The query failed.
    #[error("query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

/// A `Result` with [`InsightsError`].
pub type Result<T> = std::result::Result<T, InsightsError>;
