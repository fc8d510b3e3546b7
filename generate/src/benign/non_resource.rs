//! Non-resource requests: discovery sweeps, health probes, OpenAPI and metrics.

use crate::catalog::{self as cat, A};
use crate::generator::{Generator, Reason};

use super::OPERATORS;

impl Generator {
    /// A discovery sweep: Helm or kubectl walking every group, an operator or a controller
    /// refreshing some; the first GET now, the rest scheduled.
    pub(super) fn discovery_sweep(&mut self, buf: &mut Vec<u8>) {
        let (actor, start, end) = match self.rng.below(100) {
            0..=54 => {
                let actor = self.helm_or_human((3, 4));
                (actor, 0, cat::DISCOVERY_PATHS.len())
            }
            55..=84 => {
                let actor = *self.rng.pick(OPERATORS);
                let start = self.rng.index(8);
                (actor, start, start + self.rng.range(6, 24) as usize)
            }
            _ => {
                let actor = *self.rng.pick(&[
                    A::GarbageCollector,
                    A::ResourcequotaController,
                    A::NamespaceController,
                    A::ControllerManager,
                ]);
                let start = self.rng.index(20);
                (actor, start, start + self.rng.range(4, 20) as usize)
            }
        };
        self.discovery_step(buf, actor, start, end);
    }

    /// A load balancer or kubelet health probe (`/readyz`, `/livez`, ...).
    pub(super) fn health_probe(&mut self, buf: &mut Vec<u8>) {
        let path = *self.rng.weighted(&[
            ("/readyz", 70u32),
            ("/livez", 20),
            ("/healthz", 7),
            ("/version", 3),
        ]);
        self.non_resource(buf, A::Probe, path, Reason::PublicInfo);
    }

    /// A human client fetching the OpenAPI document or the version.
    pub(super) fn openapi_get(&mut self, buf: &mut Vec<u8>) {
        let actor = self.human();
        let path = *self.rng.pick(&[
            "/openapi/v2?timeout=32s",
            "/openapi/v3?timeout=32s",
            "/version?timeout=32s",
        ]);
        self.non_resource(buf, actor, path, Reason::Discovery);
    }

    /// Prometheus scraping the API server.
    pub(super) fn metrics_scrape(&mut self, buf: &mut Vec<u8>) {
        self.non_resource(buf, A::Prometheus, "/metrics", Reason::Actor);
    }
}
