//! Admission mutations the API server applies to objects on create, as
//! pure functions (the API layer looks up what they need and calls them).

pub mod service_account;
