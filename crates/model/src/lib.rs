//! The Gatehouse data model.
//!
//! Gatehouse stores the three Entra activity logs (sign-ins of all four kinds, directory audits and
//! provisioning events) plus the Identity Protection risk feeds. This crate says what those records
//! are: the log kinds ([`LogKind`], [`SignInKind`]), the documented Graph enums ([`enums`]), the
//! explicit Arrow schemas whose column names are the Graph property names ([`schema`]), the
//! timestamp grammar every export shape uses ([`time`]), and the AADSTS error codes sign-ins
//! carry ([`error_codes`]).
//!
//! Nothing here does I/O: readers live in `gatehouse-formats`, storage in `gatehouse-store`.

pub mod bytes;
pub mod enums;
pub mod error_codes;
pub mod kind;
pub mod schema;
pub mod time;

pub use kind::{is_valid_tenant_id, LogKind, SignInKind};
pub use schema::{ColumnKind, TableSchema};
