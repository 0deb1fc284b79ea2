//! Cluster DNS for standalone mode: records ([`records`]) and the server
//! that answers pods ([`server`]).

pub mod records;
pub mod server;
