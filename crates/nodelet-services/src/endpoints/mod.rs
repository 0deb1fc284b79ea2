//! Endpoints and EndpointSlices kept from selectors and pod readiness.

pub mod compute;
