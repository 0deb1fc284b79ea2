//! The API server's admission plugins that nodelet runs on object
//! creation, in the API server's order: the mutating ServiceAccount plugin
//! first (after defaulting, before validation), then, after the object's
//! own validation, the validating PodSecurity plugin on the admitted pod.
//! Each plugin has its own file; [`Admission`] runs them in that order.

pub mod pod_security;
pub mod service_account;

use nodelet_spec::Object;

pub use pod_security::{PodSecurityConfig, admit_pod, with_warnings};
pub use service_account::admit;

use crate::backend::Backend;
use crate::error::ApiError;

/// The admission plugins enabled for one request.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The ServiceAccount plugin (only when the API issues tokens).
    pub service_accounts: bool,
    /// The PodSecurity plugin's settings (always on).
    pub pod_security: &'a PodSecurityConfig,
}

impl Admission<'_> {
    /// Mutating admission: runs on the defaulted object, before validation.
    pub async fn mutate(&self, backend: &dyn Backend, obj: &mut Object) -> Result<(), ApiError> {
        if self.service_accounts {
            service_account::admit(backend, obj).await?;
        }
        Ok(())
    }

    /// Validating admission: runs on the validated object (dry runs too),
    /// returns the warnings for `Warning` headers.
    pub async fn validate(
        &self,
        backend: &dyn Backend,
        ns: &str,
        obj: &Object,
    ) -> Result<Vec<String>, ApiError> {
        match obj {
            Object::Pod(pod) => admit_pod(self.pod_security, backend, ns, pod).await,
            _ => Ok(Vec::new()),
        }
    }
}
