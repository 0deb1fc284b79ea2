//! Writes: create, replace, patch and delete, with the API server's
//! defaulting, validation, update rules and error answers. The backend only
//! ever sees defaulted, validated objects.

use jiff::Timestamp;
use nodelet_spec::{FieldError, FieldErrors, FieldPath, Object};
use serde_json::{Value, json};

use crate::admission::Admission;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;
use crate::patch::{self, PatchType};

/// Parses one object of `kind` from a request body (JSON or YAML), strictly
/// (unknown fields are errors, as `fieldValidation=Strict`).
pub fn decode(kind: Kind, body: &[u8]) -> Result<Object, ApiError> {
    let converted;
    let body = if crate::protobuf::is_protobuf(body) {
        converted = serde_json::to_vec(&crate::protobuf::to_json(kind, body)?)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        &converted[..]
    } else if let Some(typed) = with_default_type(kind, body) {
        // The API server takes the type from the URL when the body has
        // none (client libraries often leave apiVersion/kind out).
        converted = typed;
        &converted[..]
    } else {
        body
    };
    let manifests = nodelet_spec::load::load_bytes("<request>", body)
        .map_err(|e| ApiError::bad_request(strict_message(&e.to_string())))?;
    let mut it = manifests.into_iter();
    let (Some(m), None) = (it.next(), it.next()) else {
        return Err(ApiError::bad_request(
            "the request body must contain exactly one object",
        ));
    };
    if m.object.kind() != kind.name() {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object ({}) does not match the resource of the request ({})",
            m.object.kind(),
            kind.plural()
        )));
    }
    Ok(m.object)
}

/// A JSON object body without `apiVersion`/`kind`, with those of the
/// resource the URL names; `None` for anything else (left as it is).
fn with_default_type(kind: Kind, body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    if o.contains_key("apiVersion") && o.contains_key("kind") {
        return None;
    }
    o.entry("apiVersion").or_insert_with(|| json!("v1"));
    o.entry("kind").or_insert_with(|| json!(kind.name()));
    serde_json::to_vec(&v).ok()
}

/// `<request>: document 0 (Pod "x"): unknown field ...` → the API server's
/// `strict decoding error: unknown field ...` wording where it applies.
fn strict_message(msg: &str) -> String {
    match msg.find("unknown field") {
        Some(i) => format!("strict decoding error: {}", &msg[i..]),
        None => msg.trim_start_matches("<request>: ").to_string(),
    }
}

pub fn meta(obj: &mut Object) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    obj.metadata_mut()
}

fn to_value(obj: &Object) -> Result<Value, ApiError> {
    obj.to_value()
        .map_err(|e| ApiError::internal(format!("encoding object: {e}")))
}

pub fn random_suffix() -> String {
    // Same alphabet as the API server's generateName (no vowels, no 0/1/3).
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHA[usize::from(*b) % ALPHA.len()] as char)
        .collect()
}

/// Namespace and name from the URL and the object, checked against each
/// other as the API server does.
pub(crate) fn place(obj: &mut Object, ns: &str, url_name: Option<&str>) -> Result<(), ApiError> {
    let m = meta(obj);
    match m.namespace.as_deref() {
        None | Some("") => m.namespace = Some(ns.to_string()),
        Some(n) if n == ns => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    if m.name.as_deref().unwrap_or("").is_empty()
        && let Some(g) = m.generate_name.as_deref().filter(|g| !g.is_empty())
    {
        m.name = Some(format!("{g}{}", random_suffix()));
    }
    if let Some(u) = url_name
        && m.name.as_deref() != Some(u)
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(())
}

fn default_and_validate(obj: &mut Object) -> Result<(), ApiError> {
    nodelet_spec::defaults::default_object(obj);
    // stringData is write-only: the API server folds it into data.
    if let Object::Secret(s) = obj
        && let Some(sd) = s.string_data.take()
    {
        let data = s.data.get_or_insert_with(Default::default);
        for (k, v) in sd {
            data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
        }
    }
    let errs = nodelet_spec::validate::validate_object(obj);
    if errs.is_empty() {
        Ok(())
    } else {
        let name = meta(obj).name.clone().unwrap_or_default();
        Err(ApiError::invalid(obj.kind(), &name, &errs))
    }
}

/// POST: returns the created object (or, with dryRun, what would be)
/// and the admission warnings. Admission runs as in the API server:
/// mutating after defaulting, validating after the object's own
/// validation (dry runs included).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    body: &[u8],
    dry_run: bool,
    field_manager: Option<&str>,
    admission: Admission<'_>,
) -> Result<(Value, Vec<String>), ApiError> {
    if !matches!(
        kind,
        Kind::Pod | Kind::Service | Kind::ConfigMap | Kind::Secret | Kind::ServiceAccount
    ) {
        return Err(ApiError::method_not_allowed(format!(
            "create is not supported on resource {}",
            kind.plural()
        )));
    }
    let mut obj = decode(kind, body)?;
    place(&mut obj, ns, None)?;
    crate::pod_update::prepare_create(&mut obj);
    if let Some(fm) = field_manager {
        record_manager(meta(&mut obj), fm, "Update");
    }
    admit_and_store(backend, ns, obj, dry_run, admission).await
}

/// Defaulting, mutating admission, validation, validating admission, then
/// the store (or, with dryRun, the object as it would be stored).
async fn admit_and_store(
    backend: &dyn Backend,
    ns: &str,
    mut obj: Object,
    dry_run: bool,
    admission: Admission<'_>,
) -> Result<(Value, Vec<String>), ApiError> {
    nodelet_spec::defaults::default_object(&mut obj);
    admission.mutate(backend, &mut obj).await?;
    default_and_validate(&mut obj)?;
    let warnings = admission.validate(backend, ns, &obj).await?;
    if dry_run {
        return Ok((to_value(&obj)?, warnings));
    }
    Ok((backend.create(obj).await?, warnings))
}

fn record_manager(
    m: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    manager: &str,
    operation: &str,
) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
    let mf = m.managed_fields.get_or_insert_with(Vec::new);
    mf.retain(|e| {
        !(e.manager.as_deref() == Some(manager) && e.operation.as_deref() == Some(operation))
    });
    mf.push(ManagedFieldsEntry {
        manager: Some(manager.to_string()),
        operation: Some(operation.to_string()),
        api_version: Some("v1".into()),
        time: Some(Time(Timestamp::now())),
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(FieldsV1(json!({}))),
        subresource: None,
    });
}

/// Update rules the API server applies before the backend sees an update.
fn check_update(kind: Kind, old: &Value, new: &Value) -> Result<(), ApiError> {
    let name = new["metadata"]["name"].as_str().unwrap_or("");
    let mut errs = FieldErrors::default();
    if let (Some(a), Some(b)) = (
        old["metadata"]["uid"].as_str(),
        new["metadata"]["uid"].as_str(),
    ) && a != b
    {
        errs.push(FieldError::invalid(
            FieldPath::new("metadata.uid"),
            b,
            "field is immutable",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(kind.name(), name, &errs))
    }
}

fn rv_of(v: &Value) -> Result<Option<u64>, ApiError> {
    match v["metadata"]["resourceVersion"].as_str() {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}"))),
    }
}

/// Validates `new` (a full object as JSON) as an update of `old` and stores it.
#[allow(clippy::too_many_arguments)]
async fn store_update(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    old: &Value,
    mut new: Value,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    // Status is the agent's: a write to the main resource never changes it.
    if !old["status"].is_null() {
        new["status"] = old["status"].clone();
    }
    for keep in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        if !old["metadata"][keep].is_null() && new["metadata"][keep].is_null() {
            new["metadata"][keep] = old["metadata"][keep].clone();
        }
    }
    if kind == Kind::Pod {
        // The pod strategy: prepare, ValidatePodUpdate, the engine's update.
        return crate::pod_update::update(backend, ns, name, old, &new, expected_rv, dry_run).await;
    }
    check_update(kind, old, &new)?;
    let bytes = serde_json::to_vec(&new).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut obj = decode(kind, &bytes)?;
    place(&mut obj, ns, Some(name))?;
    default_and_validate(&mut obj)?;
    check_immutable(&obj, old, name)?;
    if dry_run {
        return to_value(&obj);
    }
    backend.replace(obj, expected_rv).await
}

/// `ValidateConfigMapUpdate` / `ValidateSecretUpdate`: `immutable` data and
/// a Secret's type never change.
fn check_immutable(new: &Object, old: &Value, name: &str) -> Result<(), ApiError> {
    let errs = match new {
        Object::ConfigMap(n) => {
            let o = serde_json::from_value(old.clone())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            nodelet_spec::validate::validate_config_map_update(n, &o)
        }
        Object::Secret(n) => {
            let o = serde_json::from_value(old.clone())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            nodelet_spec::validate::validate_secret_update(n, &o)
        }
        _ => return Ok(()),
    };
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(new.kind(), name, &errs))
    }
}

/// A whole object from a PUT body (JSON, YAML or protobuf), not yet checked.
pub fn parse_value(kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(_) if crate::protobuf::is_protobuf(body) => crate::protobuf::to_json(kind, body),
        Err(_) => {
            let text =
                std::str::from_utf8(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            serde_saphyr::from_str(text).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

/// PUT
pub async fn replace(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let new = parse_value(kind, body)?;
    let (old, _) = backend.get(kind, ns, name).await?;
    let expected = rv_of(&new)?;
    store_update(backend, kind, ns, name, &old, new, expected, dry_run).await
}

/// PATCH (all four types; apply creates when missing).
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    pt: PatchType,
    body: &[u8],
    dry_run: bool,
    field_manager: Option<&str>,
    admission: Admission<'_>,
) -> Result<(Value, bool, Vec<String>), ApiError> {
    if !matches!(
        kind,
        Kind::Pod | Kind::Service | Kind::ConfigMap | Kind::Secret | Kind::ServiceAccount
    ) {
        return Err(ApiError::method_not_allowed(format!(
            "patch is not supported on resource {}",
            kind.plural()
        )));
    }
    let p = patch::parse_body(pt, body)?;
    if pt == PatchType::Apply && field_manager.unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let (old, cur_rv) = match backend.get(kind, ns, name).await {
        Ok(x) => x,
        Err(e) if e.code == 404 && pt == PatchType::Apply => {
            let mut bytes =
                serde_json::to_vec(&p).map_err(|e| ApiError::internal(e.to_string()))?;
            let mut obj = decode(kind, &bytes)?;
            place(&mut obj, ns, Some(name))?;
            crate::pod_update::prepare_create(&mut obj);
            record_manager(meta(&mut obj), field_manager.unwrap_or(""), "Apply");
            bytes.clear();
            // An apply that creates is admitted like a POST.
            let (v, warnings) = admit_and_store(backend, ns, obj, dry_run, admission).await?;
            return Ok((v, true, warnings));
        }
        Err(e) => return Err(e),
    };
    let mut doc = old.clone();
    patch::apply(pt, &mut doc, &p)?;
    // A resourceVersion in the patch is a precondition.
    let expected = match rv_of(&doc)? {
        Some(rv) if Some(rv) != rv_of(&old)? => {
            return Err(ApiError::conflict(kind.plural(), name));
        }
        Some(_) if p.pointer("/metadata/resourceVersion").is_some() => Some(cur_rv),
        _ => None,
    };
    if let Some(o) = doc["metadata"].as_object_mut() {
        o.remove("resourceVersion");
    }
    if let Some(fm) = field_manager.filter(|f| !f.is_empty()) {
        let mut m: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
            serde_json::from_value(doc["metadata"].clone())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        record_manager(
            &mut m,
            fm,
            if pt == PatchType::Apply {
                "Apply"
            } else {
                "Update"
            },
        );
        doc["metadata"] = serde_json::to_value(m).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok((
        store_update(backend, kind, ns, name, &old, doc, expected, dry_run).await?,
        false,
        Vec::new(),
    ))
}

/// DELETE options from the query and the optional `DeleteOptions` body.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeleteOpts {
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

pub fn delete_opts(query: &crate::query::Query, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let mut grace = query.int("gracePeriodSeconds")?;
    if let Some(g) = b["gracePeriodSeconds"].as_i64() {
        grace = Some(g);
    }
    let policy = b["propagationPolicy"]
        .as_str()
        .map(str::to_string)
        .or_else(|| query.get("propagationPolicy").map(str::to_string));
    if let Some(p) = policy
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ),
        ));
    }
    if let Some(g) = grace
        && g < 0
    {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: gracePeriodSeconds: Invalid value: {g}: must be >= 0"
            ),
        ));
    }
    Ok(DeleteOpts {
        grace,
        uid: b["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: b["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    })
}

pub async fn delete(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if !matches!(
        kind,
        Kind::Pod
            | Kind::Service
            | Kind::ConfigMap
            | Kind::Secret
            | Kind::ServiceAccount
            | Kind::Role
            | Kind::ClusterRole
            | Kind::RoleBinding
            | Kind::ClusterRoleBinding
    ) {
        return Err(ApiError::method_not_allowed(format!(
            "delete is not supported on resource {}",
            kind.plural()
        )));
    }
    let (cur, _) = backend.get(kind, ns, name).await?;
    if let Some(uid) = &opts.uid
        && cur["metadata"]["uid"].as_str() != Some(uid.as_str())
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                kind.plural(),
                cur["metadata"]["uid"].as_str().unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && cur["metadata"]["resourceVersion"].as_str() != Some(rv.as_str())
    {
        return Err(ApiError::conflict(kind.plural(), name));
    }
    if dry_run {
        return Ok(cur);
    }
    backend.delete(kind, ns, name, opts.grace).await
}
