//! `/ui/`: a small read-only web page of pod lifecycle timelines, embedded
//! in the binary (server-rendered with nodelet-timeline's renderers, the
//! same code as `nodelet timeline`; no front-end build). A few lines of
//! script hold the API's watch on `podtimelines` open and reload the page
//! when a timeline changes, so the picture stays live. Behind the API's
//! authentication like every other path.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;

use crate::error::ApiError;
use crate::kind::Kind;
use crate::routes::AppState;

/// Reloads the page at the first change a watch from `rv` reports, and
/// says how its watch is in `body[data-live]`: `on` once the server
/// accepted it, `reconnecting` after a broken connection (retried five
/// times, 0.2 s doubling: a live page outlives a dropped connection, as a
/// client-go reflector re-watches), `off` when the server refuses it (an
/// error status: reloading on its error body would reload forever) or the
/// retries ran out, with the error in `data-live-error`. A fetch that the
/// page's own reload or leaving aborts is none of these. A watch the
/// server ends (its timeout) is opened again from the same version.
fn live_script(watch_path: &str, rv: u64) -> String {
    format!(
        "<script>(async()=>{{let leaving=false;addEventListener('beforeunload',()=>{{leaving=true;}});\
         const b=document.body,wait=ms=>new Promise(r=>setTimeout(r,ms));\
         for(let n=0;;){{try{{const r=await fetch('{watch_path}{sep}watch=1&resourceVersion={rv}',{{credentials:'same-origin'}});\
         if(!r.ok){{b.dataset.live='off';b.dataset.liveError='HTTP '+r.status;return;}}\
         b.dataset.live='on';n=0;const x=await r.body.getReader().read();\
         if(!x.done){{leaving=true;location.reload();return;}}await wait(1000);}}\
         catch(e){{if(leaving)return;b.dataset.liveError=String(e);\
         if(n>=5){{b.dataset.live='off';return;}}b.dataset.live='reconnecting';await wait(200*2**n);n++;}}}}}})();</script>",
        sep = if watch_path.contains('?') { '&' } else { '?' },
    )
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>body{{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:16px;color:#212121}}li{{margin:4px 0}}</style></head><body><h1 style=\"font-size:18px\">{t}</h1>{body}</body></html>",
        t = nodelet_timeline::render::esc(title),
    );
    ([("content-type", "text/html; charset=utf-8")], html).into_response()
}

/// `/ui/`: every pod's timeline, linked.
pub async fn index(State(st): State<AppState>) -> Response {
    let (items, rv) = match st.backend.list(Kind::PodTimeline, None).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let mut names: Vec<(String, String)> = items
        .iter()
        .map(|v| {
            (
                v["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                v["metadata"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    names.sort();
    let esc = nodelet_timeline::render::esc;
    let mut body = String::from("<ul class=\"pods\">");
    for (ns, name) in &names {
        body.push_str(&format!(
            "<li data-pod=\"{n}/{p}\"><a href=\"/ui/pods/{n}/{p}\">{n}/{p}</a></li>",
            n = esc(ns),
            p = esc(name)
        ));
    }
    if names.is_empty() {
        body.push_str("<li>no pods</li>");
    }
    body.push_str("</ul>");
    body.push_str(&live_script("/apis/nodelet.dev/v1/podtimelines", rv));
    page("nodelet: pod timelines", &body)
}

/// `/ui/pods/{ns}/{name}`: one pod's timeline picture and marks.
pub async fn pod(State(st): State<AppState>, Path((ns, name)): Path<(String, String)>) -> Response {
    let (v, rv): (Value, u64) = match st.backend.get(Kind::PodTimeline, &ns, &name).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let tl: nodelet_timeline::PodTimeline = match serde_json::from_value(v) {
        Ok(t) => t,
        Err(e) => {
            return ApiError::internal(format!("the timeline of pod {ns}/{name}: {e}"))
                .into_response();
        }
    };
    let l = nodelet_timeline::layout(&tl, Timestamp::now());
    let mut html = nodelet_timeline::html(&tl, &l);
    let script = live_script(
        &format!(
            "/apis/nodelet.dev/v1/namespaces/{ns}/podtimelines?fieldSelector=metadata.name%3D{name}"
        ),
        rv,
    );
    match html.rfind("</body>") {
        Some(i) => html.insert_str(i, &script),
        None => html.push_str(&script),
    }
    ([("content-type", "text/html; charset=utf-8")], html).into_response()
}
