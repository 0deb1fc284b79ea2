//! Pods bound to this node: from the API server's watch into the engine
//! ([`source`]), admission ([`admit`]), status and final deletion back to
//! the API server ([`status`]), and what was last seen of each
//! ([`view`]).

pub mod admit;
pub mod source;
pub mod status;
pub mod view;
