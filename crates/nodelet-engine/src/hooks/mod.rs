//! Lifecycle hook handlers (owned by helper "store"); placeholder until it lands.
