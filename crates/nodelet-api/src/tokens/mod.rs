//! Service account tokens in standalone mode: nodelet's API is the token
//! issuer and authenticator a cluster's API server would be.
//!
//! - [`keys`]: the signing key (`<root>/pki/sa.key`, ECDSA P-256, as
//!   kube-apiserver accepts for `--service-account-key-file`).
//! - [`jwt`]: ES256 compact JWS encode/verify.
//! - [`authority`]: the `TokenRequest` logic (claims exactly as the API
//!   server's `serviceaccount.Claims`: issuer, audiences, expiry, the
//!   `kubernetes.io` pod/node/service account binding, the 3607 s
//!   warn-only extension) and the authenticator (signature, issuer,
//!   audience, expiry, and the bound pod and account still existing).
//! - [`request`]: the `serviceaccounts/<name>/token` subresource.
//!
//! The engine reaches the authority only through its
//! `nodelet_engine::sources::TokenIssuer` seam, wired in by the binary.

pub mod authority;
pub mod jwt;
pub mod keys;
pub mod request;

pub use authority::{ServiceAccountUser, TokenAuthority};

/// kubeadm's `--service-account-issuer` (and so the default audience).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
