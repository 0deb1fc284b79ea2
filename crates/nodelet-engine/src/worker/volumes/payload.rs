//! What a configMap, secret, downwardAPI or projected volume holds right
//! now: the sources are looked up through the engine's [`crate::sources`]
//! seam (tokens included) and handed to the pure payload functions of
//! `nodelet_spec::volume`.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};
use nodelet_spec::admission::service_account::service_account_name;
use nodelet_spec::volume::{
    FileDefaults, Payload, ProjectionInputs, config_map_payload, downward_api_payload,
    projected_payload, projected_tokens, secret_payload,
};

use super::{CachedToken, fs_group};
use crate::sources::{BoundPod, TokenRequest};
use crate::worker::shared::Shared;

/// The atomic writer's log context: `pod <ns>/<name> volume <vol>`.
pub fn context(pod: &Pod, volume: &str) -> String {
    format!(
        "pod {}/{} volume {volume}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

fn defaults(mode: Option<i32>, user: Option<i64>) -> FileDefaults {
    FileDefaults {
        mode: mode.unwrap_or(nodelet_spec::volume::DEFAULT_FILE_MODE),
        user,
    }
}

/// The payload of `v` for `pod` (as the pod is now).
pub async fn volume_payload(shared: &Shared, pod: &Pod, v: &Volume) -> Result<Payload, String> {
    let sources = &shared.ctx.sources;
    let ns = namespace(pod);
    let node = shared.ctx.config.node_name.as_str();
    // Unset limits read as the node's allocatable, as in the environment.
    let allocatable = shared.ctx.config.allocatable.map(|a| a.as_quantities());
    let allocatable = allocatable.as_ref();
    if let Some(c) = &v.config_map {
        let cm = sources.config_map(ns, &c.name).await.map_err(|e| e.0)?;
        return config_map_payload(
            &c.name,
            c.items.as_deref().unwrap_or(&[]),
            cm.as_ref(),
            defaults(c.default_mode, c.default_user),
            c.optional.unwrap_or(false),
        )
        .map_err(|e| e.0);
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let secret = sources.secret(ns, &name).await.map_err(|e| e.0)?;
        return secret_payload(
            &name,
            s.items.as_deref().unwrap_or(&[]),
            secret.as_ref(),
            defaults(s.default_mode, s.default_user),
            s.optional.unwrap_or(false),
        )
        .map_err(|e| e.0);
    }
    if let Some(d) = &v.downward_api {
        return downward_api_payload(
            d.items.as_deref().unwrap_or(&[]),
            pod,
            node,
            allocatable,
            defaults(d.default_mode, d.default_user),
        )
        .map_err(|e| e.0);
    }
    if let Some(p) = &v.projected {
        let mut inputs = Inputs::default();
        for s in p.sources.iter().flatten() {
            // Lookup errors (not absence) fail the whole volume.
            if let Some(c) = &s.config_map
                && !inputs.config_maps.contains_key(&c.name)
            {
                let cm = sources.config_map(ns, &c.name).await.map_err(|e| e.0)?;
                inputs.config_maps.insert(c.name.clone(), cm);
            }
            if let Some(c) = &s.secret
                && !inputs.secrets.contains_key(&c.name)
            {
                let sec = sources.secret(ns, &c.name).await.map_err(|e| e.0)?;
                inputs.secrets.insert(c.name.clone(), sec);
            }
        }
        for t in projected_tokens(p) {
            let token = token(shared, pod, &v.name, &t).await;
            inputs.tokens.insert(t.index, token);
        }
        return projected_payload(p, pod, node, allocatable, &inputs, fs_group(pod))
            .map_err(|e| e.0);
    }
    Ok(Payload::new())
}

#[derive(Default)]
struct Inputs {
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
    tokens: HashMap<usize, Result<String, String>>,
}

impl ProjectionInputs for Inputs {
    fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps.get(name).and_then(Option::as_ref)
    }
    fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name).and_then(Option::as_ref)
    }
    fn token(&self, index: usize) -> Result<&str, String> {
        match self.tokens.get(&index) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(e.clone()),
            None => Err("failed to fetch token: no token requested".into()),
        }
    }
}

/// The cached token of source `t` of volume `volume`, or a new one when it
/// is due for refresh (the kubelet's token manager).
async fn token(
    shared: &Shared,
    pod: &Pod,
    volume: &str,
    t: &nodelet_spec::volume::TokenProjection,
) -> Result<String, String> {
    let clock = &shared.ctx.clock;
    let key = (volume.to_owned(), t.index);
    let cached = shared
        .volumes
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    if let Some(c) = cached
        && clock.instant() < c.refresh_at
    {
        return Ok(c.token);
    }
    let req = TokenRequest {
        namespace: namespace(pod).to_owned(),
        service_account: service_account_name(pod),
        audiences: if t.audience.is_empty() {
            Vec::new()
        } else {
            vec![t.audience.clone()]
        },
        expiration_seconds: t.expiration_seconds,
        bound_pod: Some(BoundPod {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }),
    };
    let grant = shared
        .ctx
        .sources
        .service_account_token(&req)
        .await
        .map_err(|e| format!("failed to fetch token: {}", e.0))?;
    let now_wall = clock.now();
    let ttl = grant
        .expiration
        .duration_since(now_wall)
        .try_into()
        .unwrap_or(Duration::ZERO);
    // `requiresRefresh`: past 80% of the lifetime, or a day old.
    let refresh = (ttl.mul_f64(0.8)).min(Duration::from_secs(24 * 3600));
    shared
        .volumes
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            key,
            CachedToken {
                token: grant.token.clone(),
                refresh_at: clock.instant() + refresh,
            },
        );
    Ok(grant.token)
}
