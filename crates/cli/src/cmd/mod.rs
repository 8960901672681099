//! One module per subcommand.

pub mod ask;
pub mod connect;
pub mod demo;
pub mod explain;
pub mod export;
pub mod ingest;
pub mod retention;
pub mod risk;
pub mod serve;
pub mod show;
pub mod simulate;
pub mod sql;
pub mod status;
pub mod token;
