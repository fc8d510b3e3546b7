//! `GET /api/v1/tail`: events and alerts as they pass the pipeline, as server-sent events,
//! filtered by a query in the search syntax and by the caller's scope. A client that falls
//! behind gets a `lagged` event saying how many messages it missed; the pipeline never waits
//! for a client.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::extract::ApiQuery;
use crate::query_log::QueryNote;
use crate::{ApiError, ApiState, Principal, Scope, TailItem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TailParams {
    /// Search syntax; events must match it (alerts are matched on their triggering event's
    /// fields they carry: rule, cluster, namespace, actor).
    #[serde(default)]
    q: String,
    /// Send events (default true).
    events: Option<bool>,
    /// Send alerts (default true).
    alerts: Option<bool>,
}

/// What one client wants.
struct Filter {
    matcher: Option<search::Matcher>,
    scope: Scope,
    events: bool,
    alerts: bool,
}

impl Filter {
    fn events(&self, events: &[event::Event]) -> Vec<String> {
        if !self.events {
            return Vec::new();
        }
        events
            .iter()
            .filter(|event| {
                self.scope
                    .allows(&event.cluster, event.namespace.as_deref())
            })
            .filter(|event| self.matcher.as_ref().is_none_or(|m| m.matches(event)))
            .filter_map(|event| serde_json::to_string(&tail_event(event)).ok())
            .collect()
    }

    fn alerts(&self, alerts: &[event::Alert]) -> Vec<String> {
        if !self.alerts {
            return Vec::new();
        }
        alerts
            .iter()
            .filter(|alert| {
                self.scope
                    .allows(&alert.cluster, alert.namespace.as_deref())
            })
            .filter(|alert| self.matcher.as_ref().is_none_or(|m| m.matches_alert(alert)))
            .filter_map(|alert| serde_json::to_string(alert).ok())
            .collect()
    }
}

/// An event as the tail shows it: the normalised fields, not the body.
fn tail_event(event: &event::Event) -> serde_json::Value {
    serde_json::json!({
        "event_id": event.event_id,
        "time": event::format_rfc3339_micros(event.time),
        "cluster": event.cluster,
        "source": event.source,
        "verb": event.verb,
        "user": event.user,
        "impersonated_user": event.impersonated_user,
        "source_ips": event.source_ips,
        "user_agent": event.user_agent,
        "resource": event.resource,
        "subresource": event.subresource,
        "namespace": event.namespace,
        "name": event.name,
        "response_code": event.response_code,
        "decision": event.decision,
        "falco_rule": event.falco_rule,
        "pod_name": event.pod_name,
    })
}

pub(crate) async fn tail(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<TailParams>,
) -> Result<Response, ApiError> {
    let matcher = if params.q.trim().is_empty() {
        None
    } else {
        Some(search::Matcher::parse(&params.q)?)
    };
    let filter = Arc::new(Filter {
        matcher,
        scope: principal.scope.clone(),
        events: params.events.unwrap_or(true),
        alerts: params.alerts.unwrap_or(true),
    });
    let receiver = state.inner.tail.subscribe();
    let shutdown = state.inner.shutdown.clone();
    let stream = messages(receiver, filter, shutdown);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response
        .extensions_mut()
        .insert(QueryNote::new().with("q", params.q));
    Ok(response)
}

fn messages(
    receiver: tokio::sync::broadcast::Receiver<TailItem>,
    filter: Arc<Filter>,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let pending: std::collections::VecDeque<SseEvent> = std::collections::VecDeque::new();
    futures::stream::unfold(
        (receiver, filter, shutdown, pending),
        |(mut receiver, filter, shutdown, mut pending)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (receiver, filter, shutdown, pending)));
                }
                let item = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    item = receiver.recv() => item,
                };
                match item {
                    Ok(TailItem::Events(events)) => pending.extend(
                        filter
                            .events(&events)
                            .into_iter()
                            .map(|data| SseEvent::default().event("event").data(data)),
                    ),
                    Ok(TailItem::Alerts(alerts)) => pending.extend(
                        filter
                            .alerts(&alerts)
                            .into_iter()
                            .map(|data| SseEvent::default().event("alert").data(data)),
                    ),
                    Err(RecvError::Lagged(missed)) => pending.push_back(
                        SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed_messages\":{missed}}}")),
                    ),
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    )
}
