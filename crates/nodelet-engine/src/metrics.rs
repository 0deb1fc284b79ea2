//! The engine's Prometheus metrics: one registry, encoded by whichever
//! front door serves `/metrics` (`nodelet serve`'s API, node mode's kubelet
//! server on :10250) through [`crate::Engine::metrics_text`].
//!
//! Kubelet metrics keep their upstream names (`pkg/kubelet/metrics/
//! metrics.go`): `kubelet_lifecycle_handler_http_fallbacks_total`,
//! `kubelet_lifecycle_handler_sleep_terminated_total`,
//! `kubelet_pod_start_duration_seconds` (upstream buckets),
//! `kubelet_running_pods`, `kubelet_running_containers{container_state}`.
//! `kubelet_pod_stop_signals_count{signal}` and
//! `kubelet_pod_termination_grace_period_exceeded_total` are the names
//! KEP-4960 proposes (not found in metrics.go as checked); nodelet's own are
//! `nodelet_*`: hook delivery durations by hook, handler and result,
//! re-deliveries, image pulls, events dropped over the count bounds.
//! `kubelet_admission_rejections_total{reason}` counts pods refused at
//! admission (`OutOfpods` beyond `--max-pods`).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upstream's `podStartupDurationBuckets`.
const POD_START_BUCKETS: [f64; 25] = [
    0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0,
    300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
];
const HOOK_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const PULL_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    /// `PostStart` / `PreStop`.
    pub hook: String,
    /// `Exec`, `HTTPGet`, `Sleep`, `TCPSocket`.
    pub handler: String,
    /// `Succeeded`, `Failed`, `TimedOut`, `Cancelled`.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookOnly {
    pub hook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub container_state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabel {
    pub signal: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_fallbacks: Counter,
    pub sleep_terminated: Counter,
    pub grace_exceeded: Counter,
    pub pod_start: Histogram,
    pub running_pods: Gauge,
    pub running_containers: Family<StateLabel, Gauge>,
    pub stop_signals: Family<SignalLabel, Gauge>,
    pub hook_duration: Family<HookLabels, Histogram>,
    pub redeliveries: Family<HookOnly, Counter>,
    pub image_pull: Histogram,
    pub admission_rejections: Family<ReasonLabel, Counter>,
    pub events_dropped: Counter,
    pub retention_sweeps: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // Help texts without a final period: the encoder appends one.
        let mut r = Registry::default();
        let http_fallbacks = Counter::default();
        r.register(
            "kubelet_lifecycle_handler_http_fallbacks",
            "The number of times lifecycle handlers successfully fell back to http from https",
            http_fallbacks.clone(),
        );
        let sleep_terminated = Counter::default();
        r.register(
            "kubelet_lifecycle_handler_sleep_terminated",
            "The number of times lifecycle sleep handler got terminated before it finishes",
            sleep_terminated.clone(),
        );
        let grace_exceeded = Counter::default();
        r.register(
            "kubelet_pod_termination_grace_period_exceeded",
            "Containers killed (SIGKILL) because they did not stop within their termination grace period (KEP-4960 name)",
            grace_exceeded.clone(),
        );
        let pod_start = Histogram::new(POD_START_BUCKETS);
        r.register(
            "kubelet_pod_start_duration_seconds",
            "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
            pod_start.clone(),
        );
        let running_pods = Gauge::default();
        r.register(
            "kubelet_running_pods",
            "Number of pods that have a running pod sandbox",
            running_pods.clone(),
        );
        let running_containers = Family::<StateLabel, Gauge>::default();
        r.register(
            "kubelet_running_containers",
            "Number of containers currently running",
            running_containers.clone(),
        );
        let stop_signals = Family::<SignalLabel, Gauge>::default();
        r.register(
            "kubelet_pod_stop_signals_count",
            "Running containers by their effective stop signal (KEP-4960 name)",
            stop_signals.clone(),
        );
        let hook_duration =
            Family::<HookLabels, Histogram>::new_with_constructor(|| Histogram::new(HOOK_BUCKETS));
        r.register(
            "nodelet_hook_delivery_duration_seconds",
            "Lifecycle hook deliveries by hook, handler and result, and how long they took",
            hook_duration.clone(),
        );
        let redeliveries = Family::<HookOnly, Counter>::default();
        r.register(
            "nodelet_hook_redeliveries",
            "Hook deliveries sent again (attempt > 1): interrupted by an agent stop, or a preStop restarted by a shorter grace",
            redeliveries.clone(),
        );
        let image_pull = Histogram::new(PULL_BUCKETS);
        r.register(
            "nodelet_image_pull_duration_seconds",
            "Image pulls and how long they took",
            image_pull.clone(),
        );
        let admission_rejections = Family::<ReasonLabel, Counter>::default();
        r.register(
            "kubelet_admission_rejections",
            "Cumulative number pod admission rejections by the Kubelet",
            admission_rejections.clone(),
        );
        let events_dropped = Counter::default();
        r.register(
            "nodelet_events_dropped",
            "Events deleted before their TTL because they were over --max-events or --max-events-per-namespace (oldest first)",
            events_dropped.clone(),
        );
        let retention_sweeps = Counter::default();
        r.register(
            "nodelet_retention_sweeps",
            "Sweeps of the state store for expired or over-bound events and records (run after writes and at the next expiry, never on an idle node)",
            retention_sweeps.clone(),
        );
        Metrics {
            registry: Mutex::new(r),
            http_fallbacks,
            sleep_terminated,
            grace_exceeded,
            pod_start,
            running_pods,
            running_containers,
            stop_signals,
            hook_duration,
            redeliveries,
            image_pull,
            admission_rejections,
            events_dropped,
            retention_sweeps,
        }
    }

    /// A pod refused at admission (`--max-pods`).
    pub fn pod_rejected(&self, reason: &str) {
        self.admission_rejections
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn hook_delivered(&self, hook: &str, handler: &str, result: &str, took: Duration) {
        self.hook_duration
            .get_or_create(&HookLabels {
                hook: hook.to_owned(),
                handler: handler.to_owned(),
                result: result.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition (OpenMetrics, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }
}
