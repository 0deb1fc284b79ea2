//! An in-memory Backend for tests and the `serve_mem` example: a fake behind
//! the API's seam. Pods "run" at once (status Running/Ready), deletion
//! honours a short grace period, exec runs the command on the host (no
//! container!), and each container gets a CRI log file with one line.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Node;
use nodelet_api::{ApiError, Backend, Kind, PodStreams, WatchEvent, WatchEventType};
use nodelet_runtime::{AttachRequest, InteractiveExec, InteractiveExecRequest};
use nodelet_spec::Object;
use serde_json::{Value, json};
use tokio::sync::broadcast;

type Key = (Kind, String, String);

struct Inner {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<WatchEvent>,
}

pub struct MemBackend {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<WatchEvent>,
    log_dir: PathBuf,
    started: jiff::Timestamp,
    /// Longest time a deleted pod stays Terminating (keeps tests fast).
    pub max_grace: Duration,
}

const HISTORY: usize = 1000;

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl MemBackend {
    pub fn new(log_dir: PathBuf) -> Arc<Self> {
        let (tx, _) = broadcast::channel(4096);
        let b = MemBackend {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 1,
                history: VecDeque::new(),
            }),
            tx,
            log_dir,
            started: jiff::Timestamp::now(),
            max_grace: Duration::from_secs(2),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let v = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now()},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            b.put(Kind::Namespace, "", ns, v, WatchEventType::Added);
        }
        Arc::new(b)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Stores and publishes; returns the stored object.
    pub fn put(&self, kind: Kind, ns: &str, name: &str, mut v: Value, ty: WatchEventType) -> Value {
        let mut g = self.lock();
        g.rv += 1;
        let rv = g.rv;
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        if ty == WatchEventType::Deleted {
            g.objects.remove(&(kind, ns.to_string(), name.to_string()));
        } else {
            g.objects
                .insert((kind, ns.to_string(), name.to_string()), v.clone());
        }
        let ev = WatchEvent {
            event_type: ty,
            kind,
            object: v.clone(),
            rv,
        };
        g.history.push_back(ev.clone());
        if g.history.len() > HISTORY {
            g.history.pop_front();
        }
        let _ = self.tx.send(ev);
        v
    }

    fn event(&self, pod: &Value, reason: &str, message: &str, ty: &str) {
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let pname = pod["metadata"]["name"].as_str().unwrap_or("");
        let name = format!(
            "{pname}.{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let v = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now()},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": pname, "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
            "reason": reason, "message": message, "type": ty, "count": 1,
            "firstTimestamp": now(), "lastTimestamp": now(),
            "source": {"component": "kubelet", "host": "mem"}, "reportingComponent": "kubelet", "reportingInstance": "mem"});
        self.put(Kind::Event, &ns, &name, v, WatchEventType::Added);
    }

    fn log_file(&self, ns: &str, pod: &str, container: &str) -> PathBuf {
        self.log_dir.join(format!("{ns}_{pod}_{container}.log"))
    }

    fn running_status(&self, pod: &Value) -> Value {
        let containers = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let statuses: Vec<Value> = containers
            .iter()
            .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true,
                "restartCount": 0, "state": {"running": {"startedAt": now()}}}))
            .collect();
        json!({"phase": "Running", "podIP": "10.88.0.2", "podIPs": [{"ip": "10.88.0.2"}], "hostIP": "127.0.0.1",
            "startTime": now(), "qosClass": "BestEffort",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now()},
                {"type": "Ready", "status": "True", "lastTransitionTime": now()},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now()},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
            "containerStatuses": statuses})
    }

    fn obj_value(obj: &Object) -> (Kind, Value) {
        match obj {
            Object::Pod(p) => (Kind::Pod, serde_json::to_value(p).unwrap()),
            Object::Service(s) => (Kind::Service, serde_json::to_value(s).unwrap()),
            Object::ConfigMap(c) => (Kind::ConfigMap, serde_json::to_value(c).unwrap()),
            Object::Secret(s) => (Kind::Secret, serde_json::to_value(s).unwrap()),
            Object::ServiceAccount(s) => (Kind::ServiceAccount, serde_json::to_value(s).unwrap()),
        }
    }

    fn finish_delete(self: &Arc<Self>, kind: Kind, ns: String, name: String, after: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let cur = me
                .lock()
                .objects
                .get(&(kind, ns.clone(), name.clone()))
                .cloned();
            if let Some(v) = cur {
                me.put(kind, &ns, &name, v, WatchEventType::Deleted);
            }
        });
    }
}

/// The Backend impl lives on `Arc<MemBackend>` so deletion can schedule work.
pub struct Mem(pub Arc<MemBackend>);

#[async_trait]
impl Backend for Mem {
    async fn create(&self, obj: Object) -> Result<Value, ApiError> {
        let (kind, mut v) = MemBackend::obj_value(&obj);
        let ns = v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        if self
            .0
            .lock()
            .objects
            .contains_key(&(kind, ns.clone(), name.clone()))
        {
            return Err(ApiError::already_exists(kind.plural(), &name));
        }
        if !self
            .0
            .lock()
            .objects
            .contains_key(&(Kind::Namespace, String::new(), ns.clone()))
        {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{ns}\" not found"),
            ));
        }
        v["apiVersion"] = json!("v1");
        v["kind"] = json!(kind.name());
        v["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        v["metadata"]["creationTimestamp"] = json!(now());
        if kind == Kind::Pod {
            v["spec"]["nodeName"] = json!("mem");
            v["status"] = self.0.running_status(&v);
            for c in v["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let cname = c["name"].as_str().unwrap_or("");
                let line = format!("{} stdout F hello from {cname}\n", jiff::Timestamp::now());
                let _ = std::fs::write(self.0.log_file(&ns, &name, cname), line);
            }
        }
        let stored = self.0.put(kind, &ns, &name, v, WatchEventType::Added);
        if kind == Kind::Pod {
            self.0.event(
                &stored,
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to mem"),
                "Normal",
            );
            self.0
                .event(&stored, "Started", "Started container", "Normal");
        }
        Ok(stored)
    }

    async fn replace(&self, obj: Object, expected_rv: Option<u64>) -> Result<Value, ApiError> {
        let (kind, mut v) = MemBackend::obj_value(&obj);
        let ns = v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        let cur = self
            .0
            .lock()
            .objects
            .get(&(kind, ns.clone(), name.clone()))
            .cloned();
        let Some(cur) = cur else {
            return Err(ApiError::not_found(kind.plural(), &name));
        };
        if let Some(rv) = expected_rv
            && cur["metadata"]["resourceVersion"].as_str() != Some(rv.to_string().as_str())
        {
            return Err(ApiError::conflict(kind.plural(), &name));
        }
        v["apiVersion"] = json!("v1");
        v["kind"] = json!(kind.name());
        v["status"] = cur["status"].clone();
        Ok(self.0.put(kind, &ns, &name, v, WatchEventType::Modified))
    }

    async fn update_status(
        &self,
        ns: &str,
        name: &str,
        status: Value,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError> {
        // No node agent here: the status is stored as written.
        let key = (Kind::Pod, ns.to_string(), name.to_string());
        let Some(mut cur) = self.0.lock().objects.get(&key).cloned() else {
            return Err(ApiError::not_found("pods", name));
        };
        if let Some(rv) = expected_rv
            && cur["metadata"]["resourceVersion"].as_str() != Some(rv.to_string().as_str())
        {
            return Err(ApiError::conflict("pods", name));
        }
        cur["status"] = status;
        Ok(self
            .0
            .put(Kind::Pod, ns, name, cur, WatchEventType::Modified))
    }

    async fn put_plain(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        obj: Value,
        create: bool,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError> {
        let cur = self
            .0
            .lock()
            .objects
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned();
        match (cur, create) {
            (Some(_), true) => Err(ApiError::already_exists(kind.plural(), name)),
            (None, false) => Err(ApiError::not_found(kind.plural(), name)),
            (Some(c), false)
                if expected_rv.is_some_and(|rv| {
                    c["metadata"]["resourceVersion"].as_str() != Some(rv.to_string().as_str())
                }) =>
            {
                Err(ApiError::conflict(kind.plural(), name))
            }
            (_, create) => {
                let ty = if create {
                    WatchEventType::Added
                } else {
                    WatchEventType::Modified
                };
                Ok(self.0.put(kind, ns, name, obj, ty))
            }
        }
    }

    async fn get(&self, kind: Kind, ns: &str, name: &str) -> Result<(Value, u64), ApiError> {
        let g = self.0.lock();
        let ns = if kind.namespaced() { ns } else { "" };
        match g.objects.get(&(kind, ns.to_string(), name.to_string())) {
            Some(v) => Ok((
                v.clone(),
                v["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0),
            )),
            None => Err(ApiError::not_found(kind.plural(), name)),
        }
    }

    async fn list(&self, kind: Kind, ns: Option<&str>) -> Result<(Vec<Value>, u64), ApiError> {
        let g = self.0.lock();
        let items = g
            .objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        Ok((items, g.rv))
    }

    async fn watch(&self, since_rv: u64) -> Result<BoxStream<'static, WatchEvent>, ApiError> {
        let g = self.0.lock();
        let rx = self.0.tx.subscribe();
        if let Some(first) = g.history.front()
            && since_rv + 1 < first.rv
        {
            return Err(ApiError::gone(format!(
                "too old resource version: {since_rv} ({})",
                first.rv - 1
            )));
        }
        let backlog: Vec<WatchEvent> = g
            .history
            .iter()
            .filter(|e| e.rv > since_rv)
            .cloned()
            .collect();
        let last = backlog.last().map_or(since_rv, |e| e.rv);
        drop(g);
        let live = futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                }
            }
        })
        .filter(move |e| futures::future::ready(e.rv > last));
        Ok(futures::stream::iter(backlog).chain(live).boxed())
    }

    async fn delete(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> Result<Value, ApiError> {
        let (mut cur, _) = self.get(kind, ns, name).await?;
        let ns_key = if kind.namespaced() { ns } else { "" };
        if kind != Kind::Pod {
            return Ok(self.0.put(kind, ns_key, name, cur, WatchEventType::Deleted));
        }
        let grace = grace.unwrap_or_else(|| {
            cur["spec"]["terminationGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(30)
        });
        if grace == 0 {
            return Ok(self.0.put(kind, ns, name, cur, WatchEventType::Deleted));
        }
        if cur["metadata"]["deletionTimestamp"].is_null() {
            cur["metadata"]["deletionTimestamp"] = json!(now());
            cur["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            self.0.event(
                &cur,
                "Killing",
                &format!(
                    "Stopping container {}",
                    cur["spec"]["containers"][0]["name"].as_str().unwrap_or("")
                ),
                "Normal",
            );
            cur = self.0.put(kind, ns, name, cur, WatchEventType::Modified);
            let after = Duration::from_secs(grace as u64).min(self.0.max_grace);
            self.0
                .finish_delete(kind, ns.to_string(), name.to_string(), after);
        }
        Ok(cur)
    }

    fn metrics(&self) -> String {
        // No agent behind this backend: an empty exposition.
        "# EOF\n".to_string()
    }

    fn node(&self) -> Node {
        let mut n = nodelet_api::node::this_node(self.0.started, "fake://mem", 110);
        n.metadata.name = Some("mem".into());
        n
    }
}

#[async_trait]
impl PodStreams for Mem {
    async fn pod(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        Ok(self.get(Kind::Pod, ns, name).await?.0)
    }

    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        _container: &str,
        req: InteractiveExecRequest,
    ) -> Result<InteractiveExec, ApiError> {
        self.pod(ns, pod).await?;
        let Some((cmd, args)) = req.command.split_first() else {
            return Err(ApiError::bad_request("no command"));
        };
        let mut child = tokio::process::Command::new(cmd)
            .args(args)
            .stdin(if req.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ApiError::internal(format!("exec: {e}")))?;
        let (etx, erx) = tokio::sync::oneshot::channel();
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
            let _ = etx.send(code);
        });
        Ok(InteractiveExec {
            stdin,
            stdout,
            stderr,
            resize: None,
            exit: erx,
        })
    }

    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        _req: AttachRequest,
    ) -> Result<InteractiveExec, ApiError> {
        // The fake's "main process" prints its log line and exits.
        let path = self.0.log_file(ns, pod, container);
        let req = InteractiveExecRequest {
            command: vec!["cat".into(), path.display().to_string()],
            tty: false,
            stdin: false,
            initial_size: None,
        };
        self.exec(ns, pod, container, req).await
    }

    async fn log_path(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<PathBuf, ApiError> {
        self.pod(ns, pod).await?;
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod}\" not found"
            )));
        }
        Ok(self.0.log_file(ns, pod, container))
    }
}
