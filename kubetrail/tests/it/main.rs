//! End-to-end tests of the kubetrail binary: the CLI, the configuration, the HTTP API, a
//! webhook-only deployment, detection while serving, file sources through rotation and kill -9,
//! Kafka in and out against a real broker; the deployment's manifests and audit policy; DuckDB
//! reading the tables (from disk and from a bucket on moto's S3 server); verify; compaction; and the crate graph.

mod api;
mod architecture;
mod cli;
mod common;
mod compaction;
mod config;
mod deploy;
mod detection;
mod engines;
mod integrity;
mod kafka;
mod posture;
mod readme;
mod s3;
mod serve;
mod webhook;
