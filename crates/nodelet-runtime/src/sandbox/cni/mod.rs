//! Pod networking through CNI plugins (the runtime side of the CNI spec).

pub mod config;
pub mod invoke;
pub mod result;

pub use config::{CniOptions, NetworkConfigList};
pub use invoke::{CniArgs, CniCommand, CniInvoker};
