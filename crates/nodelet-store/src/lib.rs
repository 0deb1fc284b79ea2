//! nodelet-store: what nodelet must not forget across a restart.
