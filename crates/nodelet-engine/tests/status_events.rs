//! Pod status as Kubernetes reports it, events (fields and aggregation),
//! the facade's apply/delete/subscribe contract, and agent restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use nodelet_engine::clock::TokioClock;
use nodelet_engine::{ApplyAction, Engine, EngineConfig, EngineError, EngineEvent, EventFilter};
use nodelet_runtime::fake::{Match, OnStop, Run, Script};
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn identical_events_are_aggregated_with_count_and_timestamps() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 1),
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.times(is_start("c1")).len() == 2).await;
    let started: Vec<_> = h
        .events()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Started"))
        .collect();
    assert_eq!(
        started.len(),
        1,
        "two identical Started events fold into one"
    );
    let e = &started[0];
    assert_eq!(e.count, Some(2));
    assert_eq!(e.message.as_deref(), Some("Started container c1"));
    let first = e.first_timestamp.as_ref().unwrap().0;
    let last = e.last_timestamp.as_ref().unwrap().0;
    assert_eq!(first.to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(last.to_string(), "2026-01-01T00:00:01Z");
    // Stored through the store, under kind Event.
    let stored = h.store.list_objects("Event", Some("default")).unwrap();
    assert!(
        stored
            .iter()
            .any(|(v, _)| v["reason"] == "Started" && v["count"] == 2)
    );
}

#[tokio::test(start_paused = true)]
async fn events_carry_kubelet_fields() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "initContainers": [ctr("i1", json!({"imagePullPolicy": "IfNotPresent"}))],
        "containers": [ctr("c1", json!({"imagePullPolicy": "Always"}))]}}));
    h.fake.script(
        Match::Name("i1".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    h.until(5, |h| h.phase("p") == "Running").await;
    let events = h
        .engine
        .list_events(&EventFilter {
            namespace: Some("default".into()),
            pod: Some("p".into()),
        })
        .unwrap();
    let reasons: Vec<_> = events.iter().map(|e| e.reason.clone().unwrap()).collect();
    assert_eq!(
        reasons,
        vec![
            "Pulled", "Created", "Started", "Pulling", "Pulled", "Created", "Started"
        ]
    );
    let created = &events[1];
    assert_eq!(created.message.as_deref(), Some("Created container: i1"));
    assert_eq!(
        created.involved_object.field_path.as_deref(),
        Some("spec.initContainers{i1}")
    );
    assert_eq!(created.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(created.involved_object.uid.as_deref(), Some("u1"));
    assert_eq!(created.type_.as_deref(), Some("Normal"));
    assert_eq!(
        created.source.as_ref().unwrap().component.as_deref(),
        Some("nodelet")
    );
    assert_eq!(
        created.source.as_ref().unwrap().host.as_deref(),
        Some("node1")
    );
    assert_eq!(created.reporting_component.as_deref(), Some("nodelet"));
    assert_eq!(
        events[0].message.as_deref(),
        Some("Container image \"img-i1\" already present on machine")
    );
    assert_eq!(
        events[3].message.as_deref(),
        Some("Pulling image \"img-c1\"")
    );
    assert_eq!(
        events[3].involved_object.field_path.as_deref(),
        Some("spec.containers{c1}")
    );
}

/// e2e "InitContainer should invoke init containers on a RestartAlways
/// pod": a completed init container is `ready` in the Running pod's
/// `initContainerStatuses` (the kubelet's prober manager sets it); one
/// that failed is not.
#[tokio::test(start_paused = true)]
async fn a_completed_init_container_is_ready() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "initContainers": [ctr("i1", json!({}))],
        "containers": [ctr("c1", json!({}))]}}));
    h.fake.script(
        Match::Name("i1".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    h.until(5, |h| h.phase("p") == "Running").await;
    let i1 = h.cstatus("p", "i1");
    assert!(i1.ready, "completed init container not ready: {i1:?}");
    assert_eq!(i1.state.unwrap().terminated.unwrap().exit_code, 0);

    h.apply(json!({"metadata": {"name": "q"}, "spec": {
        "restartPolicy": "Never",
        "initContainers": [ctr("i2", json!({}))],
        "containers": [ctr("c2", json!({}))]}}));
    h.fake.script(
        Match::Name("i2".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 1),
            on_stop: OnStop::Die,
        },
    );
    h.until(5, |h| h.phase("q") == "Failed").await;
    assert!(
        !h.cstatus("q", "i2").ready,
        "a failed init container is ready"
    );
    // e2e "InitContainer should not start app containers and fail the pod
    // if init containers fail on a RestartNever pod".
    let st = h.get("q").unwrap().status.unwrap();
    let init = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Initialized")
        .unwrap();
    assert_eq!(
        (
            init.status.as_str(),
            init.reason.as_deref(),
            init.message.as_deref()
        ),
        (
            "False",
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status: [i2]")
        )
    );
}

/// `state.terminated.message` carries what the runtime read from the
/// container's termination message file (the spec's path is defaulted to
/// `/dev/termination-log`, so every container has one).
#[tokio::test(start_paused = true)]
async fn the_termination_message_is_in_the_terminated_state() {
    let h = setup().await;
    h.fake.set_termination_message("c", "DONE");
    h.apply(json!({"metadata": {"name": "p"}, "spec": {
        "restartPolicy": "Never",
        "containers": [ctr("c", json!({}))]}}));
    h.fake.script(
        Match::Name("c".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    h.until(5, |h| h.phase("p") == "Succeeded").await;
    let t = h.cstatus("p", "c").state.unwrap().terminated.unwrap();
    assert_eq!(t.message.as_deref(), Some("DONE"));
}

#[tokio::test(start_paused = true)]
async fn status_reports_phase_conditions_ips_and_container_fields() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    let pending = h.get("p").unwrap();
    assert_eq!(pending.status.unwrap().phase.as_deref(), Some("Pending"));
    h.until(5, |h| h.phase("p") == "Running").await;
    let pod = h.get("p").unwrap();
    assert!(pod.metadata.uid.is_some());
    assert!(pod.metadata.resource_version.is_some());
    let st = pod.status.unwrap();
    assert_eq!(st.pod_ip.as_deref(), Some("10.88.0.3"));
    assert_eq!(st.host_ip.as_deref(), Some("192.168.1.10"));
    assert_eq!(st.start_time.unwrap().0.to_string(), "2026-01-01T00:00:00Z");
    let conds = st.conditions.unwrap();
    let types: Vec<_> = conds
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("PodReadyToStartContainers", "True"),
            ("Initialized", "True"),
            ("Ready", "True"),
            ("ContainersReady", "True"),
            ("PodScheduled", "True"),
        ]
    );
    assert!(conds.iter().all(|c| c.last_transition_time.is_some()));
    let cs = &st.container_statuses.unwrap()[0];
    assert_eq!(cs.image, "img-c1");
    assert_eq!(cs.image_id, "sha256:fake-img-c1");
    assert!(
        cs.container_id
            .as_deref()
            .unwrap()
            .starts_with("nodelet://")
    );
    assert_eq!(cs.restart_count, 0);
    assert_eq!(cs.stop_signal.as_deref(), Some("SIGTERM"));

    // A transition moves lastTransitionTime; an unchanged condition keeps it.
    h.until(20, |h| h.now() >= 10.0).await;
    assert!(h.fake.trigger_exit("c1", 1));
    h.until(5, |h| h.cstatus("p", "c1").restart_count == 1)
        .await;
    h.until(5, |h| h.cstatus("p", "c1").ready).await;
    let conds = h.get("p").unwrap().status.unwrap().conditions.unwrap();
    let sched = conds.iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(
        sched.last_transition_time.as_ref().unwrap().0.to_string(),
        "2026-01-01T00:00:00Z"
    );
    let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        ready.last_transition_time.as_ref().unwrap().0.to_string(),
        "2026-01-01T00:00:10Z"
    );
}

#[tokio::test(start_paused = true)]
async fn apply_is_idempotent_and_refuses_a_changed_pod() {
    let h = setup().await;
    let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}});
    let first = h.engine.apply(vec![pod(p.clone())]).unwrap();
    assert_eq!(first[0].action, ApplyAction::Created);
    let again = h.engine.apply(vec![pod(p)]).unwrap();
    assert_eq!(again[0].action, ApplyAction::Unchanged);
    let bound = h.engine.get_pod("default", "p").unwrap();
    assert!(
        bound.spec.unwrap().node_name.is_some_and(|n| !n.is_empty()),
        "admitted pods are bound to this node"
    );
    let changed =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c2", json!({}))]}});
    let err = h.engine.apply(vec![pod(changed)]).unwrap_err();
    assert!(matches!(err, EngineError::AlreadyExists { .. }), "{err}");
    assert_eq!(h.engine.list_pods().len(), 1);
    let err = h.engine.delete_pod("default", "nope", None).unwrap_err();
    assert!(matches!(err, EngineError::NotFound { .. }));
    let again = json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}});
    let err = h.engine.create(pod(again)).unwrap_err();
    assert!(
        matches!(err, EngineError::AlreadyExists { .. }),
        "create is strict"
    );
}

#[tokio::test(start_paused = true)]
async fn config_objects_are_stored_and_feed_the_container_environment() {
    let h = setup().await;
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cfg"}, "data": {"greeting": "hello"}}))
    .unwrap();
    let applied = h
        .engine
        .apply(vec![nodelet_spec::Object::ConfigMap(Box::new(cm.clone()))])
        .unwrap();
    assert_eq!(applied[0].action, ApplyAction::Created);
    let applied = h
        .engine
        .apply(vec![nodelet_spec::Object::ConfigMap(Box::new(cm))])
        .unwrap();
    assert_eq!(applied[0].action, ApplyAction::Unchanged);
    h.fake.script(
        Match::Command(vec!["echo".into(), "hello".into()]),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 7),
            on_stop: OnStop::Die,
        },
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never", "containers": [ctr("c1", json!({
        "command": ["echo", "$(G)"],
        "env": [{"name": "G", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}}]}))]}}));
    // The fake matched the expanded command: it exits 7 after 1 s.
    h.until(10, |h| h.phase("p") == "Failed").await;
    let t = h.cstatus("p", "c1").state.unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 7);
    let id = h.engine.container_id("default", "p", "c1").unwrap();
    assert_eq!(
        t.container_id.as_deref(),
        Some(format!("nodelet://{id}").as_str())
    );
    let removed = h
        .engine
        .delete_object("ConfigMap", "default", "cfg")
        .unwrap();
    assert_eq!(removed["data"]["greeting"], "hello");
    assert!(
        h.engine
            .delete_object("ConfigMap", "default", "cfg")
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_updates_events_and_deletion() {
    let h = setup().await;
    let mut sub = h.engine.subscribe();
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    h.delete("p", None).await;
    h.gone("p").await;
    let (mut updates, mut events, mut deleted) = (0, 0, 0);
    while let Ok(ev) = sub.try_recv() {
        match ev {
            EngineEvent::PodUpdated(_) => updates += 1,
            EngineEvent::Event(_) => events += 1,
            EngineEvent::PodDeleted { name, .. } => {
                assert_eq!(name, "p");
                deleted += 1
            }
        }
    }
    assert!(
        updates >= 3 && events >= 4,
        "updates {updates} events {events}"
    );
    assert_eq!(deleted, 1);
    assert!(h.engine.list_pods().is_empty());
}

/// What a pod's start shows, update by update: as the kubelet's status
/// manager, the first status already has `startTime`, and a container
/// without postStart goes from waiting straight to running (node mode
/// PATCHes `pods/status` once per update: two, not four). With a postStart
/// the started-but-hooked state is shown in between.
#[tokio::test(start_paused = true)]
async fn a_pod_start_is_two_updates_and_the_first_has_its_start_time() {
    let h = setup().await;
    let mut sub = h.engine.subscribe();
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let mut seen = Vec::new();
    while let Ok(ev) = sub.try_recv() {
        if let EngineEvent::PodUpdated(p) = ev {
            let st = p.status.unwrap_or_default();
            let c = &st.container_statuses.unwrap_or_default()[0];
            let state = c.state.clone().unwrap_or_default();
            assert!(st.start_time.is_some(), "no startTime in {:?}", st.phase);
            seen.push((
                st.phase.unwrap_or_default(),
                state.waiting.and_then(|w| w.reason),
                state.running.is_some(),
                c.container_id.is_some(),
            ));
        }
    }
    assert_eq!(
        seen,
        vec![
            (
                "Pending".into(),
                Some("ContainerCreating".into()),
                false,
                false
            ),
            ("Running".into(), None, true, true),
        ]
    );

    let mut sub = h.engine.subscribe();
    h.fake.script(
        Match::Name("hooked".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        },
    );
    h.apply(
        json!({"metadata": {"name": "q"}, "spec": {"containers": [ctr("hooked", json!({
        "lifecycle": {"postStart": {"sleep": {"seconds": 2}}}}))]}}),
    );
    h.until(10, |h| h.phase("q") == "Running").await;
    let mut states = Vec::new();
    while let Ok(ev) = sub.try_recv() {
        if let EngineEvent::PodUpdated(p) = ev
            && p.metadata.name.as_deref() == Some("q")
        {
            let st = p.status.unwrap_or_default();
            let c = &st.container_statuses.unwrap_or_default()[0];
            states.push((st.phase.unwrap_or_default(), c.container_id.is_some()));
        }
    }
    assert_eq!(
        states,
        vec![
            ("Pending".into(), false),
            ("Pending".into(), true),
            ("Running".into(), true),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn restart_of_the_engine_adopts_running_containers_without_duplicating() {
    let h = setup().await;
    h.fake.exec_script(
        &["ps"],
        nodelet_runtime::fake::ExecScript::ok_after(Duration::from_secs(1)),
    );
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["ps"])}})),
    ]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    h.engine.shutdown().await;
    assert_eq!(
        h.fake.containers().len(),
        1,
        "shutdown must not kill containers"
    );

    let clock = Arc::new(TokioClock::new(ORIGIN.parse().unwrap()));
    let engine = Engine::new(
        Arc::new(h.fake.clone()),
        h.store.clone(),
        clock,
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pod = engine.get_pod("default", "p").expect("pod recovered");
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(h.times(is_create("c1")).len(), 1, "no duplicate container");
    assert_eq!(
        h.times(is_exec("c1", "ps")).len(),
        1,
        "postStart of a running container is not re-run"
    );
    // The adopted container's exit is still observed.
    assert!(h.fake.trigger_exit("c1", 1));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.times(is_create("c1")).len(), 2);
    engine.delete_pod("default", "p", Some(1)).unwrap();
    engine.wait_pod_gone("default", "p").await;
    assert!(h.fake.containers().is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_wait_for_a_hanging_post_start() {
    let h = setup().await;
    h.fake
        .exec_script(&["hang"], nodelet_runtime::fake::ExecScript::hang());
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        ctr("c1", json!({"lifecycle": {"postStart": exec_hook(&["hang"])}})),
    ]}}));
    h.until(5, |h| h.now() >= 2.0).await;
    h.engine.shutdown().await;
    assert!(h.now() < 2.5, "shutdown took until {}", h.now());
    assert_eq!(
        h.fake.containers().len(),
        1,
        "the container outlives the agent"
    );
    assert!(h.times(is_signal("c1", 15)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn termination_interrupted_by_an_agent_restart_resumes_with_full_grace() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
    h.fake
        .exec_script(&["pre"], nodelet_runtime::fake::ExecScript::hang());
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 10, "containers": [
        ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}})),
    ]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    h.delete("p", None).await;
    h.until(10, |h| h.now() >= 4.0).await;
    h.engine.shutdown().await;
    let restart = h.now();
    let clock = Arc::new(TokioClock::new(ORIGIN.parse().unwrap()));
    let engine = Engine::new(
        Arc::new(h.fake.clone()),
        h.store.clone(),
        clock,
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    let pod = engine.get_pod("default", "p").expect("still terminating");
    assert!(pod.metadata.deletion_timestamp.is_some());
    engine.wait_pod_gone("default", "p").await;
    assert_eq!(
        h.times(is_exec("c1", "pre")).len(),
        2,
        "preStop delivered again after the restart"
    );
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(
        (term - (restart + 10.0)).abs() < 0.01,
        "SIGTERM at {term}: full grace again from {restart}"
    );
    assert!((kill - (term + 2.0)).abs() < 0.01, "SIGKILL at {kill}");
    engine.resources_released().await;
    assert!(h.fake.containers().is_empty());
    assert!(h.store.get_object("Pod", "default", "p").unwrap().is_none());
}

/// nodelet resumes an interrupted termination with the grace left since
/// the deletion recorded in the store (the kubelet starts the full grace
/// again), and the SIGKILL lands at deletion + grace although the time
/// before the restart and the re-delivered preStop each took a fraction
/// of a second more than the whole seconds the kill counts in.
#[tokio::test(start_paused = true)]
async fn termination_resumed_after_a_restart_ends_at_the_deletion_plus_its_grace() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
    // The first delivery never ends (the agent dies during it); the
    // second takes 1.6 s.
    h.fake
        .exec_script(&["pre"], nodelet_runtime::fake::ExecScript::hang());
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"terminationGracePeriodSeconds": 10, "containers": [
        ctr("c1", json!({"lifecycle": {"preStop": exec_hook(&["pre"])}})),
    ]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.delete("p", None).await;
    let deleted = h.now();
    // The agent stops while the preStop runs and is down for 1.7 s.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.engine.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    h.fake.exec_script(
        &["pre"],
        nodelet_runtime::fake::ExecScript::ok_after(Duration::from_millis(1600)),
    );
    let restart = h.now();
    let wall = ORIGIN
        .parse::<jiff::Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_secs_f64(restart))
        .unwrap();
    let engine = Engine::new(
        Arc::new(h.fake.clone()),
        h.store.clone(),
        Arc::new(TokioClock::new(wall)),
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    engine.wait_pod_gone("default", "p").await;
    let pre = h.times(is_exec("c1", "pre"));
    assert_eq!(pre.len(), 2, "preStop delivered again: {pre:?}");
    let term = h.first(is_signal("c1", 15));
    let kill = h.first(is_signal("c1", 9));
    assert!(
        (term - (restart + 1.6)).abs() < 0.05,
        "SIGTERM at {term}: after the re-delivered preStop (restart {restart})"
    );
    assert!(
        (kill - (deleted + 10.0)).abs() < 0.05,
        "SIGKILL at {kill}: want deletion ({deleted}) + 10 s, not the full grace again"
    );
    engine.resources_released().await;
    assert!(h.fake.containers().is_empty());
}

/// Events expire after the event TTL (kube-apiserver's `--event-ttl`,
/// default 1 h) since they were last written; the pod itself stays.
#[tokio::test(start_paused = true)]
async fn events_expire_after_the_event_ttl() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.has_event("Started", "Started container c1"))
        .await;
    let n = h.events().len();
    assert!(n >= 3, "{:?}", h.event_triples());
    tokio::time::sleep(Duration::from_secs(59 * 60)).await;
    assert_eq!(h.events().len(), n, "not expired before the TTL");
    tokio::time::sleep(Duration::from_secs(3 * 60)).await;
    assert!(h.events().is_empty(), "left: {:?}", h.event_triples());
    assert!(h.engine.get_pod("default", "p").is_some());
}

/// A pod leaves the store once its containers stopped; their removal runs
/// in the background. If the agent stops before that finished, the next
/// start finds what is left (container records and runtime objects of pods
/// no longer in the store) and releases it.
#[tokio::test(start_paused = true)]
async fn a_restart_finishes_the_teardown_of_deleted_pods() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(1), 0),
            on_stop: OnStop::Die,
        },
    );
    h.apply(
        json!({"metadata": {"name": "p"}, "spec": {"restartPolicy": "Never",
        "containers": [ctr("c1", json!({}))]}}),
    );
    h.until(5, |h| h.phase("p") == "Succeeded").await;
    h.engine.shutdown().await;
    // As if the agent died right after the pod left the store.
    h.store.delete_object("Pod", "default", "p").unwrap();
    assert_eq!(h.fake.containers().len(), 1);
    assert_eq!(h.fake.sandbox_count(), 1);
    assert_eq!(h.store.list_containers().unwrap().len(), 1);
    let engine = Engine::new(
        Arc::new(h.fake.clone()),
        h.store.clone(),
        Arc::new(TokioClock::new(ORIGIN.parse().unwrap())),
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    engine.resources_released().await;
    assert!(h.fake.containers().is_empty());
    assert_eq!(h.fake.sandbox_count(), 0);
    assert!(h.store.list_containers().unwrap().is_empty());
    engine.shutdown().await;
}

/// After a restart the stored pods are readable at once, as stored, while
/// re-adoption goes on; pod changes are refused until it ends; then each
/// pod is the re-adopted one (an exit while the agent was down applied
/// with its real code).
#[tokio::test(start_paused = true)]
async fn stored_pods_are_served_while_they_are_re_adopted() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    let stored_rv = h
        .engine
        .get_pod("default", "p")
        .unwrap()
        .metadata
        .resource_version;
    h.engine.shutdown().await;
    // The container exits while no agent runs.
    assert!(h.fake.trigger_exit("c1", 3));

    let engine = Engine::with_sources(
        Arc::new(h.fake.clone()),
        h.store.clone(),
        Arc::new(TokioClock::new(ORIGIN.parse().unwrap())),
        Arc::new(nodelet_engine::sources::StoreSources::new(h.store.clone())),
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    // Nothing adopted yet (the adoption task has not run): the stored pod.
    assert!(!engine.is_adopted());
    let served = engine.get_pod("default", "p").expect("stored pod served");
    assert_eq!(served.metadata.resource_version, stored_rv);
    assert_eq!(served.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(engine.list_pods().len(), 1);
    assert!(matches!(
        engine.delete_pod("default", "p", Some(1)),
        Err(EngineError::Adopting)
    ));
    let other =
        pod(json!({"metadata": {"name": "q"}, "spec": {"containers": [ctr("c2", json!({}))]}}));
    assert!(matches!(
        engine.apply(vec![other.clone()]),
        Err(EngineError::Adopting)
    ));

    engine.adopted().await;
    assert!(engine.is_adopted());
    let adopted = engine.get_pod("default", "p").unwrap();
    assert_ne!(
        adopted.metadata.resource_version, stored_rv,
        "published again"
    );
    let st = adopted
        .status
        .unwrap()
        .container_statuses
        .unwrap()
        .remove(0);
    let exit = st
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .or_else(|| st.last_state.as_ref().and_then(|s| s.terminated.clone()))
        .expect("the exit while down is applied");
    assert_eq!(exit.exit_code, 3);
    engine.apply(vec![other]).unwrap();
    engine.delete_pod("default", "p", Some(1)).unwrap();
    engine.wait_pod_gone("default", "p").await;
    engine.shutdown().await;
}

/// Once a deleted pod is removed, its last published status (terminal,
/// with how each container ended) stays readable by uid until a new pod of
/// the name replaces it: node mode sends it when it finishes a deletion
/// before its status reporter did.
#[tokio::test(start_paused = true)]
async fn a_removed_pod_keeps_its_final_status_until_replaced() {
    let h = setup().await;
    h.fake.script(
        Match::Name("c1".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        },
    );
    let p = json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "restartPolicy": "Never",
        "containers": [ctr("c1", json!({}))]}});
    h.apply(p.clone());
    h.until(5, |h| h.phase("p") == "Running").await;
    assert!(
        h.engine.removed_pod("default", "p", "u1").is_none(),
        "a live pod is not removed"
    );
    h.delete("p", Some(1)).await;
    h.gone("p").await;
    let last = h
        .engine
        .removed_pod("default", "p", "u1")
        .expect("the removed pod's last status");
    let st = last.status.unwrap_or_default();
    assert_eq!(st.phase.as_deref(), Some("Failed"));
    let c = &st.container_statuses.unwrap_or_default()[0];
    assert!(
        c.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some(),
        "{c:?}"
    );
    assert!(h.engine.removed_pod("default", "p", "other-uid").is_none());
    let mut again = p;
    again["metadata"]["uid"] = json!("u2");
    h.apply(again);
    h.until(5, |h| h.phase("p") == "Running").await;
    assert!(h.engine.removed_pod("default", "p", "u1").is_none());
}

/// A removed pod is forgotten a while after its removal, once another pod
/// is admitted: pod names that never come back must not grow the engine.
#[tokio::test(start_paused = true)]
async fn a_removed_pod_is_forgotten_after_a_while() {
    let h = setup().await;
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    h.delete("p", Some(0)).await;
    h.gone("p").await;
    h.apply(json!({"metadata": {"name": "q"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    assert!(
        h.engine.removed_pod("default", "p", "u1").is_some(),
        "kept right after the removal"
    );
    tokio::time::sleep(nodelet_engine::REMOVED_KEPT).await;
    h.apply(json!({"metadata": {"name": "r"}, "spec": {"containers": [ctr("c1", json!({}))]}}));
    assert!(h.engine.removed_pod("default", "p", "u1").is_none());
    assert_eq!(h.phase("q"), "Running");
}

/// Removals are counted as they happen, and a removed pod can be
/// forgotten without another admission once it was kept long enough.
#[tokio::test(start_paused = true)]
async fn removals_are_counted_and_a_removed_pod_can_be_pruned() {
    let h = setup().await;
    let mut removals = h.engine.removals();
    assert_eq!(*removals.borrow_and_update(), 0);
    h.apply(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {
        "containers": [ctr("c1", json!({}))]}}));
    h.until(5, |h| h.phase("p") == "Running").await;
    assert!(!removals.has_changed().unwrap(), "no removal yet");
    h.delete("p", Some(0)).await;
    h.gone("p").await;
    tokio::time::timeout(std::time::Duration::from_secs(5), removals.changed())
        .await
        .expect("a removal is signalled")
        .unwrap();
    assert_eq!(*removals.borrow_and_update(), 1);
    assert_eq!(h.engine.prune_removed(), 0, "kept right after the removal");
    assert!(h.engine.removed_pod("default", "p", "u1").is_some());
    tokio::time::sleep(nodelet_engine::REMOVED_KEPT).await;
    assert_eq!(h.engine.prune_removed(), 1);
    assert!(h.engine.removed_pod("default", "p", "u1").is_none());
    assert_eq!(h.engine.prune_removed(), 0);
}
