//! The Kafka source (`[[ingest.kafka]]`): one consumer in a consumer group, reading its
//! topics into batches whose positions (the next offset of each partition) are committed with
//! the events, like file positions.
//!
//! - **The store is the source of truth.** When partitions are assigned, each starts at the
//!   later of the store's committed position and the group's committed offset (which another
//!   replica may have moved on), or at `start_at` when neither knows it. Offsets are committed
//!   to the group only after the store commit holding them (a mirror for lag tooling and for
//!   the replica that gets the partition next).
//! - **Rebalances** (the eager protocol: every partition is revoked, then the new set is
//!   assigned): a revoke waits until every batch already sent to the pipeline is committed,
//!   commits those offsets to the group synchronously and drops the messages read but not yet
//!   sent, so the next owner of a partition starts exactly after what this replica stored.
//! - **Bad messages are data**: a message that does not decode, is not of the topic's format,
//!   has no payload or is longer than `max_message_bytes` becomes a dead letter naming its
//!   topic, partition and offset; the partition goes on.
//!
//! One thread (`kafka-poll`) owns the consumer's poll loop (rebalance callbacks run inside
//! it) and copies messages into a batch; a decoding thread (`kafka-decode`) decodes the batch
//! before (on a small pool, `kafka-decode-N`, for a large batch) and sends it to the pipeline,
//! in order, while the poll loop reads the next. A batch counts as sent once handed to the
//! decoder, so a revoke waits for it too. The pipeline's commit stage reports durable
//! positions through a [`Committer`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use event::{DeadLetter, DecodeOptions};
use rayon::iter::{IndexedParallelIterator, ParallelIterator};
use rayon::slice::ParallelSlice;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::runtime::Handle;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use crate::IngestError;
use crate::config::{Config, KafkaFormat, KafkaSourceConfig, StartAt};
use crate::decode::now_rfc3339;
use crate::position::{Batch, BatchStats, Checkpoint, KafkaPosition, KafkaReceipt, Origin};

/// A batch holds about this many payload bytes at most.
const MAX_BATCH_BYTES: u64 = 8 * 1024 * 1024;
/// A new payload buffer holds a full batch and a message more without growing (growing a
/// buffer this large copies it and faults its new pages in).
const ARENA_CAPACITY: usize = MAX_BATCH_BYTES as usize + 1024 * 1024;
/// How long one poll waits for a message.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a rebalance waits for the group's committed offsets.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);
/// librdkafka's statistics (the partitions' high watermarks, for the lag) come this often.
const STATISTICS_INTERVAL_MS: u64 = 2_000;
/// How long librdkafka waits before fetching a partition again once its prefetch queue was
/// over its limits.
const FETCH_QUEUE_BACKOFF_MS: u64 = 20;
/// The messages/s gauge is taken over this window.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// A Kafka consumer group's topics, read into batches.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    topics: HashMap<String, TopicSettings>,
    max_message_bytes: usize,
    batch_max_events: usize,
    batch_max_wait: Duration,
    /// Whether batches are decoded (always, except in [`KafkaSource::without_decoding`]).
    decode: bool,
    shared: Arc<Shared>,
}

impl fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSource")
            .field("brokers", &self.config.brokers)
            .field("group", &self.config.group)
            .field("topics", &self.topics.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct TopicSettings {
    format: KafkaFormat,
    options: DecodeOptions,
    /// The cluster comes from the envelope when it names one.
    cluster_from_envelope: bool,
}

/// What the poll thread, the rebalance callbacks, the committer and the metrics share.
struct Shared {
    group: String,
    start_at: StartAt,
    state: Mutex<PartitionState>,
    /// Signalled when durable positions move.
    durable_moved: Condvar,
    /// Set by a revoke; the poll loop then drops what it read but did not send.
    revoked: AtomicBool,
    /// Fires when the source stops: a revoke waits no longer.
    cancel: CancellationToken,
    metrics: Mutex<BTreeMap<(String, i32), PartitionMetrics>>,
    messages: AtomicU64,
    rate: Mutex<Rate>,
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Next offset of each partition as far as batches were sent to the pipeline.
    sent: HashMap<(String, i32), i64>,
    /// Next offset of each partition as far as the store committed (from the checkpoint at
    /// start, then from the committer).
    durable: HashMap<(String, i32), i64>,
}

/// One partition's figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionMetrics {
    /// The next offset this consumer reads (-1 before the first message or assignment).
    pub next_offset: i64,
    /// The partition's high watermark as librdkafka last reported it (-1 when unknown).
    pub high_watermark: i64,
    /// Messages read from the partition since start.
    pub messages: u64,
    /// Whether the partition is assigned to this consumer now.
    pub assigned: bool,
}

impl PartitionMetrics {
    /// Messages in the partition not read yet, when both ends are known.
    pub fn lag(&self) -> Option<i64> {
        (self.assigned && self.next_offset >= 0 && self.high_watermark >= 0)
            .then(|| (self.high_watermark - self.next_offset).max(0))
    }
}

#[derive(Debug, Default)]
struct Rate {
    samples: VecDeque<(Instant, u64)>,
}

/// Reads a Kafka source's figures while it runs, for `/metrics`.
#[derive(Debug, Clone)]
pub struct KafkaMetricsHandle {
    shared: Arc<Shared>,
}

impl KafkaMetricsHandle {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.shared.group
    }

    /// Every partition seen, by topic and partition.
    pub fn partitions(&self) -> BTreeMap<(String, i32), PartitionMetrics> {
        lock(&self.shared.metrics).clone()
    }

    /// Messages read since start.
    pub fn messages(&self) -> u64 {
        self.shared.messages.load(Ordering::Relaxed)
    }

    /// Messages read per second over the last ten seconds.
    pub fn messages_per_second(&self) -> f64 {
        let rate = lock(&self.shared.rate);
        let now = (Instant::now(), self.messages());
        match rate.samples.front() {
            Some(&(at, count)) if now.0 > at => {
                (now.1 - count) as f64 / now.0.duration_since(at).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// Tells a Kafka source that positions are committed to the store: kept as durable (a revoke
/// waits for them) and committed to the consumer group.
#[derive(Clone)]
pub(crate) struct Committer {
    shared: Arc<Shared>,
    consumer: Arc<BaseConsumer<KafkaContext>>,
}

/// The consumer group names a source in `Debug` output; the rest is runtime state.
impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Committer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Committer").field(&self.shared).finish()
    }
}

impl Committer {
    pub(crate) fn committed(&self, positions: &[KafkaPosition]) {
        {
            let mut state = lock(&self.shared.state);
            for position in positions {
                state.durable.insert(
                    (position.topic.clone(), position.partition),
                    position.offset,
                );
            }
        }
        self.shared.durable_moved.notify_all();
        let mut offsets = TopicPartitionList::with_capacity(positions.len());
        for position in positions {
            if let Err(error) = offsets.add_partition_offset(
                &position.topic,
                position.partition,
                Offset::Offset(position.offset),
            ) {
                tracing::warn!(%error, topic = %position.topic, partition = position.partition, "kafka: offset not committed to the group");
                return;
            }
        }
        if let Err(error) = self.consumer.commit(&offsets, CommitMode::Async) {
            tracing::debug!(%error, group = %self.shared.group, "kafka: committing offsets to the group failed (the store holds them)");
        }
    }
}

/// The librdkafka settings of `config`'s connection (brokers, TLS, SASL with its password
/// read now), or why they cannot be made.
fn client_config(config: &KafkaSourceConfig) -> Result<rdkafka::ClientConfig, IngestError> {
    config
        .connection()
        .client_config()
        .map_err(|error| IngestError::InvalidConfig {
            reason: format!("ingest.kafka (group {:?}): {error}", config.group),
        })
}

impl KafkaSource {
    /// Prepares the consumer of `config` (one `[[ingest.kafka]]` table of the validated
    /// `ingest` table), resuming from the positions of `start`. Reads the SASL password.
    pub fn new(
        config: &KafkaSourceConfig,
        ingest: &Config,
        start: &Checkpoint,
    ) -> Result<KafkaSource, IngestError> {
        // Reads the SASL password now: a missing file or variable stops `serve` at start.
        client_config(config)?;
        let topics = config
            .topics
            .iter()
            .map(|topic| {
                let settings = TopicSettings {
                    format: topic.format,
                    options: DecodeOptions {
                        cluster: topic
                            .cluster
                            .clone()
                            .unwrap_or_else(|| crate::config::DEFAULT_CLUSTER.to_owned()),
                        keep_request_received: ingest.keep_request_received,
                    },
                    cluster_from_envelope: topic.cluster.is_none() && topic.format.is_envelope(),
                };
                (topic.name.clone(), settings)
            })
            .collect();
        let durable = start
            .kafka_positions(&config.group)
            .map(|position| {
                (
                    (position.topic.clone(), position.partition),
                    position.offset,
                )
            })
            .collect();
        let shared = Arc::new(Shared {
            group: config.group.clone(),
            start_at: config.start_at,
            state: Mutex::new(PartitionState {
                sent: HashMap::new(),
                durable,
            }),
            durable_moved: Condvar::new(),
            revoked: AtomicBool::new(false),
            cancel: CancellationToken::new(),
            metrics: Mutex::new(BTreeMap::new()),
            messages: AtomicU64::new(0),
            rate: Mutex::new(Rate::default()),
        });
        Ok(KafkaSource {
            config: config.clone(),
            topics,
            max_message_bytes: config.max_message_bytes.unwrap_or(ingest.max_line_bytes),
            batch_max_events: ingest.batch_max_events,
            batch_max_wait: Duration::from_millis(ingest.batch_max_wait_ms),
            decode: true,
            shared,
        })
    }

    /// The consume stage alone, for `kubetrail-bench kafka`: messages are read, batched and
    /// handed on exactly as by a running source, but not decoded, so the batches carry their
    /// positions and figures (messages, bytes) and no events. This tells what consuming costs
    /// from what decoding does; a pipeline never runs it.
    #[doc(hidden)]
    #[must_use]
    pub fn without_decoding(mut self) -> KafkaSource {
        self.decode = false;
        self
    }

    /// The source's figures, readable while it runs.
    pub fn metrics(&self) -> KafkaMetricsHandle {
        KafkaMetricsHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Consumes until `cancel` fires or the receiver is gone, sending batches into `batches`
    /// (waiting while it is full). What was read but not sent is read again by whoever owns
    /// the partition next. The consumer leaves the group once the pipeline's last commit has
    /// told it its positions (the committers hold it until then).
    pub async fn run(
        self,
        batches: Sender<Batch>,
        cancel: CancellationToken,
    ) -> Result<(), IngestError> {
        let consumer = self.consumer()?;
        let handle = Handle::current();
        let own_cancel = self.shared.cancel.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let topics: Vec<&str> = self
                .config
                .topics
                .iter()
                .map(|topic| topic.name.as_str())
                .collect();
            consumer
                .subscribe(&topics)
                .map_err(|source| IngestError::Kafka {
                    action: "subscribe to the topics",
                    source,
                })?;
            tracing::info!(group = %self.shared.group, topics = ?topics, "kafka: consuming");
            let (to_decoder, readings) = std::sync::mpsc::sync_channel(1);
            let (return_arena, spares) = std::sync::mpsc::channel();
            let (source, consumer) = (&self, &consumer);
            std::thread::scope(|scope| {
                let decoder = spawn_named(scope, "kafka-decode", move || {
                    let decoder = Decoder {
                        source,
                        consumer,
                        batches,
                        handle,
                        spares: return_arena,
                    };
                    decoder.run(readings);
                })?;
                // A thread of its own, named like the decoders', so `top -H` (and the Kafka
                // benchmark) can tell consuming from decoding. When the loop ends the poller
                // is dropped: the decoder sends what it was handed, then sees the channel
                // closed.
                let poller = spawn_named(scope, "kafka-poll", move || {
                    Poller {
                        reading: Reading::new(),
                        spares,
                        source,
                        consumer,
                        decoder: to_decoder,
                    }
                    .run()
                })?;
                let polled = poller
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                if let Err(panic) = decoder.join() {
                    std::panic::resume_unwind(panic);
                }
                polled
            })
        });
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = cancel.cancelled() => {
                own_cancel.cancel();
                task.await
            }
        };
        own_cancel.cancel();
        joined.map_err(|error| IngestError::KafkaThread {
            reason: error.to_string(),
        })?
    }

    fn consumer(&self) -> Result<Arc<BaseConsumer<KafkaContext>>, IngestError> {
        let config = &self.config;
        let mut client = client_config(config)?;
        client
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match config.start_at {
                    StartAt::Beginning => "earliest",
                    StartAt::End => "latest",
                },
            )
            .set("session.timeout.ms", config.session_timeout_ms.to_string())
            // When the prefetch queue is full, fetch again soon after it drains instead of
            // a second later (librdkafka's default), so a fast reader never waits on it.
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string())
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
        let context = KafkaContext {
            shared: Arc::clone(&self.shared),
        };
        let consumer: BaseConsumer<KafkaContext> =
            client
                .create_with_context(context)
                .map_err(|source| IngestError::Kafka {
                    action: "create the consumer",
                    source,
                })?;
        Ok(Arc::new(consumer))
    }
}

/// librdkafka's callbacks: rebalances, statistics, errors.
struct KafkaContext {
    shared: Arc<Shared>,
}

impl ClientContext for KafkaContext {
    fn stats(&self, statistics: Statistics) {
        let mut metrics = lock(&self.shared.metrics);
        for (topic, topic_statistics) in &statistics.topics {
            for (partition, partition_statistics) in &topic_statistics.partitions {
                if *partition < 0 || partition_statistics.hi_offset < 0 {
                    continue;
                }
                if let Some(entry) = metrics.get_mut(&(topic.clone(), *partition)) {
                    entry.high_watermark = partition_statistics.hi_offset;
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(group = %self.shared.group, %error, reason, "kafka client error");
    }
}

impl ConsumerContext for KafkaContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let assignment = self.shared.starting_offsets(consumer, partitions);
                if let Err(error) = consumer.assign(&assignment) {
                    tracing::error!(group = %self.shared.group, %error, "kafka: assigning partitions failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.shared.revoke(consumer, partitions);
                if let Err(error) = consumer.unassign() {
                    tracing::error!(group = %self.shared.group, %error, "kafka: unassigning partitions failed");
                }
            }
            other => {
                tracing::warn!(group = %self.shared.group, error = ?other, "kafka: rebalance failed; unassigning");
                self.shared.revoke(consumer, partitions);
                let _ = consumer.unassign();
            }
        }
    }
}

impl Shared {
    /// Where each assigned partition starts: the later of the store's position and the
    /// group's committed offset, else `start_at`.
    fn starting_offsets(
        &self,
        consumer: &BaseConsumer<KafkaContext>,
        partitions: &TopicPartitionList,
    ) -> TopicPartitionList {
        let committed = match consumer.committed_offsets(partitions.clone(), COMMITTED_TIMEOUT) {
            Ok(committed) => committed.to_topic_map(),
            Err(error) => {
                tracing::warn!(group = %self.group, %error, "kafka: the group's committed offsets are unknown; starting from the store's");
                HashMap::new()
            }
        };
        let state = lock(&self.state);
        let mut metrics = lock(&self.metrics);
        let mut assignment = TopicPartitionList::with_capacity(partitions.count());
        for element in partitions.elements() {
            let key = (element.topic().to_owned(), element.partition());
            let stored = state.durable.get(&key).copied();
            let group = match committed.get(&key) {
                Some(Offset::Offset(offset)) if *offset >= 0 => Some(*offset),
                _ => None,
            };
            let offset = match stored.max(group) {
                Some(offset) => Offset::Offset(offset),
                None => match self.start_at {
                    StartAt::Beginning => Offset::Beginning,
                    StartAt::End => Offset::End,
                },
            };
            tracing::info!(group = %self.group, topic = %key.0, partition = key.1, stored, committed = group, ?offset, "kafka: partition assigned");
            let entry = metrics.entry(key.clone()).or_default();
            entry.assigned = true;
            entry.next_offset = offset.to_raw().filter(|raw| *raw >= 0).unwrap_or(-1);
            entry.high_watermark = -1;
            if let Err(error) = assignment.add_partition_offset(&key.0, key.1, offset) {
                tracing::error!(group = %self.group, %error, "kafka: partition not assigned");
            }
        }
        assignment
    }

    /// Waits until every batch sent to the pipeline is committed to the store (or shutdown
    /// begins), commits those positions to the group, and tells the poll loop to drop what it
    /// read but did not send.
    fn revoke(&self, consumer: &BaseConsumer<KafkaContext>, partitions: &TopicPartitionList) {
        self.revoked.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let mut state = lock(&self.state);
        loop {
            let behind = state
                .sent
                .iter()
                .any(|(key, sent)| state.durable.get(key).is_none_or(|durable| durable < sent));
            if !behind {
                break;
            }
            if self.cancel.is_cancelled() {
                tracing::warn!(group = %self.group, "kafka: shutting down with batches not yet committed; their partitions are read again from the last commit");
                break;
            }
            state = self
                .durable_moved
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut offsets = TopicPartitionList::new();
        for element in partitions.elements() {
            let key = (element.topic().to_owned(), element.partition());
            if let Some(durable) = state.durable.get(&key)
                && offsets
                    .add_partition_offset(&key.0, key.1, Offset::Offset(*durable))
                    .is_err()
            {
                continue;
            }
        }
        state.sent.clear();
        drop(state);
        if offsets.count() > 0
            && let Err(error) = consumer.commit(&offsets, CommitMode::Sync)
        {
            tracing::warn!(group = %self.group, %error, "kafka: committing offsets to the group at revoke failed");
        }
        let mut metrics = lock(&self.metrics);
        for element in partitions.elements() {
            if let Some(entry) = metrics.get_mut(&(element.topic().to_owned(), element.partition()))
            {
                entry.assigned = false;
            }
        }
        tracing::info!(group = %self.group, partitions = partitions.count(), waited_ms = started.elapsed().as_millis() as u64, "kafka: partitions revoked");
    }
}

/// Starts a thread of `scope` named `name` (the name `top -H` shows).
fn spawn_named<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    work: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, IngestError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn_scoped(scope, work)
        .map_err(|error| IngestError::KafkaThread {
            reason: format!("cannot start thread {name}: {error}"),
        })
}

/// The poll loop's side: the consumer and the batch being read.
struct Poller<'a> {
    reading: Reading,
    /// Payload buffers of batches decoded, for the next ones (their pages stay mapped: no
    /// page faults for every batch).
    spares: Receiver<Vec<u8>>,
    source: &'a KafkaSource,
    consumer: &'a Arc<BaseConsumer<KafkaContext>>,
    /// To the decoding thread, which holds one batch more while it decodes another.
    decoder: SyncSender<Reading>,
}

impl Poller<'_> {
    fn run(&mut self) -> Result<(), IngestError> {
        let shared = &self.source.shared;
        let mut last_sample = Instant::now();
        loop {
            if shared.cancel.is_cancelled() {
                return Ok(());
            }
            let polled = self.consumer.poll(POLL_TIMEOUT);
            if shared.revoked.swap(false, Ordering::SeqCst) {
                // Read but not handed on: the partition's next owner (maybe this consumer
                // again) reads it from the committed position.
                self.reading = Reading::with_arena(std::mem::take(&mut self.reading.arena));
            }
            match polled {
                None => {}
                Some(Ok(message)) => self.reading.add(&message, self.source),
                Some(Err(error)) => {
                    if let Some((code, reason)) = self.consumer.client().fatal_error() {
                        return Err(IngestError::KafkaFatal {
                            group: shared.group.clone(),
                            reason: format!("{code}: {reason}"),
                        });
                    }
                    tracing::warn!(group = %shared.group, %error, "kafka: consumer error (retrying)");
                }
            }
            if last_sample.elapsed() >= Duration::from_secs(1) {
                last_sample = Instant::now();
                shared.sample_rate();
            }
            let due = self.reading.messages > 0
                && (self.reading.messages >= self.source.batch_max_events as u64
                    || self.reading.stats.bytes >= MAX_BATCH_BYTES
                    || self
                        .reading
                        .first
                        .is_some_and(|first| first.elapsed() >= self.source.batch_max_wait));
            if due && !self.hand_on() {
                return Ok(());
            }
        }
    }

    /// Hands what was read to the decoding thread; `false` when it stopped (the pipeline is
    /// gone or shutdown began). From here the batch counts as sent: a revoke waits until the
    /// store committed it.
    fn hand_on(&mut self) -> bool {
        let shared = &self.source.shared;
        let next = Reading::with_arena(
            self.spares
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(ARENA_CAPACITY)),
        );
        let reading = std::mem::replace(&mut self.reading, next);
        {
            let mut state = lock(&shared.state);
            for read in &reading.partitions {
                state
                    .sent
                    .insert((read.topic.clone(), read.partition), read.next_offset);
            }
        }
        {
            let mut metrics = lock(&shared.metrics);
            for read in &reading.partitions {
                let entry = metrics
                    .entry((read.topic.clone(), read.partition))
                    .or_default();
                entry.assigned = true;
                entry.next_offset = read.next_offset;
                entry.messages += read.messages;
            }
        }
        self.decoder.send(reading).is_ok()
    }
}

/// The decoding thread's side: batches handed on by the poll loop are decoded in order (on a
/// few pool threads for a large batch) and sent to the pipeline, while the poll loop reads
/// the next one.
struct Decoder<'a> {
    source: &'a KafkaSource,
    consumer: &'a Arc<BaseConsumer<KafkaContext>>,
    batches: Sender<Batch>,
    handle: Handle,
    spares: std::sync::mpsc::Sender<Vec<u8>>,
}

impl Decoder<'_> {
    /// Until the poll loop stops or a batch cannot be sent.
    fn run(&self, readings: Receiver<Reading>) {
        let shared = &self.source.shared;
        // Started here, the pool's threads share this thread's CPU priority.
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_DECODERS);
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|n| format!("kafka-decode-{n}"))
            .build()
        {
            Ok(pool) => Some(pool),
            Err(error) => {
                tracing::warn!(group = %shared.group, %error, "kafka: no decoding pool; decoding on one thread");
                None
            }
        };
        while let Ok(reading) = readings.recv() {
            let mut decoded = if self.source.decode {
                reading.decode(self.source, pool.as_ref())
            } else {
                reading.undecoded()
            };
            let _ = self.spares.send(std::mem::take(&mut decoded.arena));
            let positions: Vec<KafkaPosition> = decoded
                .partitions
                .iter()
                .map(|read| KafkaPosition {
                    group: shared.group.clone(),
                    topic: read.topic.clone(),
                    partition: read.partition,
                    offset: read.next_offset,
                })
                .collect();
            let batch = Batch {
                events: decoded.events,
                dead_letters: decoded.dead_letters,
                origin: Origin::Kafka(KafkaReceipt {
                    positions,
                    committer: Committer {
                        shared: Arc::clone(shared),
                        consumer: Arc::clone(self.consumer),
                    },
                }),
                stats: decoded.stats,
            };
            let cancel = shared.cancel.clone();
            let batches = self.batches.clone();
            let sent = self.handle.block_on(async move {
                tokio::select! {
                    () = cancel.cancelled() => false,
                    sent = batches.send(batch) => sent.is_ok(),
                }
            });
            if !sent {
                // The poll loop stops at its next hand-on.
                shared.cancel.cancel();
                return;
            }
        }
    }
}

/// Messages read since the last batch was sent, kept undecoded: they are decoded together
/// when the batch is sent, on several threads for a large batch, while librdkafka goes on
/// fetching in the background.
struct Reading {
    /// The payloads of `pending`, one after the other.
    arena: Vec<u8>,
    pending: Vec<Pending>,
    /// The topics of `pending` (a handful).
    topics: Vec<String>,
    stats: BatchStats,
    messages: u64,
    /// The partitions read from, in the order first seen (a handful: found by a scan).
    partitions: Vec<PartitionRead>,
    first: Option<Instant>,
}

/// One message of a topic the source reads, not yet decoded.
struct Pending {
    /// Into `Reading::topics`.
    topic: usize,
    partition: i32,
    offset: i64,
    /// Into `Reading::arena`.
    payload: std::ops::Range<usize>,
}

/// How far one partition was read into the batch.
struct PartitionRead {
    topic: String,
    partition: i32,
    next_offset: i64,
    messages: u64,
}

/// What a batch holds once decoded.
struct DecodedBatch {
    events: Vec<event::Event>,
    dead_letters: Vec<DeadLetter>,
    stats: BatchStats,
    partitions: Vec<PartitionRead>,
    /// The payload buffer, for the next batch.
    arena: Vec<u8>,
}

/// Fewest messages per decoding task: a batch of fewer than twice that is decoded on one
/// thread.
const MESSAGES_PER_DECODER: usize = 256;
/// Most threads decoding batches.
const MAX_DECODERS: usize = 4;

impl Reading {
    fn new() -> Reading {
        Reading::with_arena(Vec::with_capacity(ARENA_CAPACITY))
    }

    /// Reads into `arena` (emptied first).
    fn with_arena(mut arena: Vec<u8>) -> Reading {
        arena.clear();
        Reading {
            arena,
            pending: Vec::new(),
            topics: Vec::new(),
            stats: BatchStats::default(),
            messages: 0,
            partitions: Vec::new(),
            first: None,
        }
    }

    fn add(&mut self, message: &BorrowedMessage<'_>, source: &KafkaSource) {
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset();
        self.first.get_or_insert_with(Instant::now);
        self.messages += 1;
        self.stats.lines += 1;
        let payload = message.payload().unwrap_or_default();
        self.stats.bytes += payload.len() as u64;
        match self
            .partitions
            .iter_mut()
            .find(|read| read.partition == partition && read.topic == topic)
        {
            Some(read) => {
                read.next_offset = offset + 1;
                read.messages += 1;
            }
            None => self.partitions.push(PartitionRead {
                topic: topic.to_owned(),
                partition,
                next_offset: offset + 1,
                messages: 1,
            }),
        }
        source.shared.messages.fetch_add(1, Ordering::Relaxed);
        if !source.topics.contains_key(topic) {
            return;
        }
        let topic = match self.topics.iter().position(|known| known == topic) {
            Some(index) => index,
            None => {
                self.topics.push(topic.to_owned());
                self.topics.len() - 1
            }
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(payload);
        self.pending.push(Pending {
            topic,
            partition,
            offset,
            payload: start..self.arena.len(),
        });
    }

    /// The batch as it was read, without events (see [`KafkaSource::without_decoding`]).
    fn undecoded(self) -> DecodedBatch {
        DecodedBatch {
            events: Vec::new(),
            dead_letters: Vec::new(),
            stats: self.stats,
            partitions: self.partitions,
            arena: self.arena,
        }
    }

    /// Decodes the messages in order: their events, and a dead letter for each one that
    /// does not decode.
    fn decode(self, source: &KafkaSource, pool: Option<&rayon::ThreadPool>) -> DecodedBatch {
        let Reading {
            arena,
            pending,
            topics,
            mut stats,
            partitions,
            ..
        } = self;
        let settings: Vec<Option<&TopicSettings>> = topics
            .iter()
            .map(|topic| source.topics.get(topic))
            .collect();
        // Each task decodes a run of messages straight into one list of events, in order.
        let decode_run = |(run, messages): (usize, &[Pending])| -> DecodedRun {
            let mut decoded = DecodedRun {
                events: Vec::with_capacity(messages.len()),
                filtered: 0,
                rejected: Vec::new(),
            };
            for (index, message) in messages.iter().enumerate() {
                let Some(settings) = settings[message.topic] else {
                    continue;
                };
                match decode_message(
                    &arena[message.payload.clone()],
                    settings,
                    source.max_message_bytes,
                    &mut decoded.events,
                ) {
                    Ok(filtered) => decoded.filtered += filtered as u64,
                    Err(rejected) => decoded
                        .rejected
                        .push((run * MESSAGES_PER_DECODER + index, rejected)),
                }
            }
            decoded
        };
        let runs: Vec<DecodedRun> = match pool {
            Some(pool) if pending.len() >= 2 * MESSAGES_PER_DECODER => pool.install(|| {
                pending
                    .par_chunks(MESSAGES_PER_DECODER)
                    .enumerate()
                    .map(decode_run)
                    .collect()
            }),
            _ => vec![decode_run((0, &pending))],
        };
        let mut events = Vec::with_capacity(runs.iter().map(|run| run.events.len()).sum());
        let mut dead_letters = Vec::new();
        for mut run in runs {
            stats.events += run.events.len() as u64;
            stats.filtered += run.filtered;
            events.append(&mut run.events);
            for (index, rejected) in run.rejected {
                let message = &pending[index];
                let topic = &topics[message.topic];
                let (partition, offset) = (message.partition, message.offset);
                let length = message.payload.len();
                tracing::warn!(topic, partition, offset, length, reason = %rejected.reason, "dead letter: kafka message not decoded");
                stats.dead_letters += 1;
                dead_letters.push(DeadLetter {
                    time: now_rfc3339(),
                    source: format!("kafka:{topic}/{partition}"),
                    offset: u64::try_from(offset).unwrap_or_default(),
                    length: length as u64,
                    reason: rejected.reason,
                    excerpt: rejected.excerpt,
                });
            }
        }
        DecodedBatch {
            events,
            dead_letters,
            stats,
            partitions,
            arena,
        }
    }
}

/// What one decoding task made of a run of messages.
struct DecodedRun {
    events: Vec<event::Event>,
    filtered: u64,
    /// Messages without events, by their index in the batch.
    rejected: Vec<(usize, Rejected)>,
}

struct Rejected {
    reason: String,
    /// The start of the (decompressed) message, unless it looks secret-bearing, binary or
    /// overlong.
    excerpt: Option<String>,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Appends the events of one message to `events` and returns how many were filtered out, or
/// says why it has none (and leaves `events` as it was).
fn decode_message(
    payload: &[u8],
    settings: &TopicSettings,
    max_bytes: usize,
    events: &mut Vec<event::Event>,
) -> Result<usize, Rejected> {
    let reject = |reason: String, excerpt: Option<&[u8]>| Rejected {
        reason,
        excerpt: excerpt.and_then(event::dead_letter_excerpt),
    };
    if payload.is_empty() {
        return Err(reject("message has no payload".to_owned(), None));
    }
    if payload.len() > max_bytes {
        return Err(reject(
            format!("message exceeds max_message_bytes ({max_bytes} bytes)"),
            None,
        ));
    }
    let inflated;
    let document = if payload.starts_with(GZIP_MAGIC) {
        let mut text = Vec::new();
        let limit = u64::try_from(max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if let Err(error) = flate2::read::MultiGzDecoder::new(payload)
            .take(limit)
            .read_to_end(&mut text)
        {
            return Err(reject(
                format!("gzip payload does not decompress: {error}"),
                None,
            ));
        }
        if text.len() > max_bytes {
            return Err(reject(
                format!("decompressed message exceeds max_message_bytes ({max_bytes} bytes)"),
                None,
            ));
        }
        inflated = text;
        &inflated[..]
    } else {
        payload
    };
    if let Some(expected) = envelope_key(settings.format)
        && !has_envelope_key(document, expected)
    {
        return Err(reject(
            format!("not a {} message", format_name(settings.format)),
            Some(document),
        ));
    }
    let first = events.len();
    let decoded = if settings.cluster_from_envelope {
        event::decode_line_cluster_from_envelope(document, &settings.options, events)
    } else {
        event::decode_line(document, &settings.options, events)
    };
    let outcome = decoded.map_err(|error| reject(error.to_string(), Some(document)))?;
    let kind = match settings.format {
        KafkaFormat::Falco => event::Source::Falco,
        _ => event::Source::K8sAudit,
    };
    if events[first..].iter().any(|event| event.source != kind) {
        events.truncate(first);
        return Err(reject(
            format!(
                "holds events of another kind than the topic's format ({})",
                format_name(settings.format)
            ),
            Some(document),
        ));
    }
    Ok(outcome.filtered)
}

fn format_name(format: KafkaFormat) -> &'static str {
    match format {
        KafkaFormat::Audit => "audit",
        KafkaFormat::Falco => "falco",
        KafkaFormat::EksCloudwatch => "eks_cloudwatch",
        KafkaFormat::GkeCloudAudit => "gke_cloud_audit",
        KafkaFormat::AksDiagnostic => "aks_diagnostic",
    }
}

/// The top-level keys that tell a cloud envelope apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvelopeKey {
    MessageType,
    ProtoPayload,
    Records,
}

fn envelope_key(format: KafkaFormat) -> Option<EnvelopeKey> {
    match format {
        KafkaFormat::EksCloudwatch => Some(EnvelopeKey::MessageType),
        KafkaFormat::GkeCloudAudit => Some(EnvelopeKey::ProtoPayload),
        KafkaFormat::AksDiagnostic => Some(EnvelopeKey::Records),
        KafkaFormat::Audit | KafkaFormat::Falco => None,
    }
}

#[derive(Deserialize)]
struct EnvelopeKeys {
    #[serde(rename = "messageType")]
    message_type: Option<IgnoredAny>,
    #[serde(rename = "protoPayload")]
    proto_payload: Option<IgnoredAny>,
    records: Option<IgnoredAny>,
    properties: Option<IgnoredAny>,
}

/// Whether `document` is a JSON object with the envelope's key (AKS: `records`, or one
/// record's `properties`). A document that is no JSON object passes: the decoder names what
/// is wrong with it.
fn has_envelope_key(document: &[u8], key: EnvelopeKey) -> bool {
    let Ok(keys) = serde_json::from_slice::<EnvelopeKeys>(document) else {
        return true;
    };
    match key {
        EnvelopeKey::MessageType => keys.message_type.is_some(),
        EnvelopeKey::ProtoPayload => keys.proto_payload.is_some(),
        EnvelopeKey::Records => keys.records.is_some() || keys.properties.is_some(),
    }
}

impl Shared {
    fn sample_rate(&self) {
        let mut rate = lock(&self.rate);
        let now = Instant::now();
        rate.samples
            .push_back((now, self.messages.load(Ordering::Relaxed)));
        while rate
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            rate.samples.pop_front();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(format: KafkaFormat, cluster: Option<&str>) -> TopicSettings {
        TopicSettings {
            format,
            options: DecodeOptions {
                cluster: cluster.unwrap_or("default").to_owned(),
                keep_request_received: false,
            },
            cluster_from_envelope: cluster.is_none() && format.is_envelope(),
        }
    }

    /// The events of one message, or why it has none.
    fn decode(
        payload: &[u8],
        settings: &TopicSettings,
        max_bytes: usize,
    ) -> Result<Vec<event::Event>, Rejected> {
        let mut events = Vec::new();
        decode_message(payload, settings, max_bytes, &mut events).map(|_| events)
    }

    const AUDIT: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.100000Z"}"#;
    const FALCO: &str = r#"{"time":"2026-01-01T00:00:00.000000000Z","rule":"Terminal shell in container","priority":"Notice","source":"syscall","hostname":"node-1","output":"shell","output_fields":{}}"#;

    #[test]
    fn messages_decode_by_topic_format() {
        let audit = settings(KafkaFormat::Audit, Some("prod"));
        let events = decode(AUDIT.as_bytes(), &audit, 1 << 20).ok().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].cluster, "prod");

        let falco = settings(KafkaFormat::Falco, None);
        assert_eq!(
            decode(FALCO.as_bytes(), &falco, 1 << 20)
                .ok()
                .unwrap()
                .len(),
            1
        );
        // The wrong kind for the topic is a dead letter, and the events decoded before it
        // stay as they were.
        let mut events = decode(AUDIT.as_bytes(), &audit, 1 << 20).ok().unwrap();
        let rejected = decode_message(FALCO.as_bytes(), &audit, 1 << 20, &mut events)
            .err()
            .unwrap();
        assert!(
            rejected.reason.contains("another kind"),
            "{}",
            rejected.reason
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].audit_id.as_deref(), Some("a-1"));
        // A plain event on an envelope topic too.
        let eks = settings(KafkaFormat::EksCloudwatch, None);
        let rejected = decode(AUDIT.as_bytes(), &eks, 1 << 20).err().unwrap();
        assert_eq!(rejected.reason, "not a eks_cloudwatch message");
    }

    /// A batch decoded on several threads keeps the messages' order; bad ones become dead
    /// letters naming their topic, partition and offset; messages of topics the source does
    /// not read decode to nothing.
    #[test]
    fn a_batch_decodes_in_message_order_with_its_dead_letters() {
        let config: KafkaSourceConfig = toml::from_str(
            r#"
            brokers = ["127.0.0.1:1"]
            group = "g"
            topics = [{ name = "audit", format = "audit", cluster = "prod" }]
            "#,
        )
        .unwrap();
        let source = KafkaSource::new(&config, &Config::default(), &Checkpoint::default()).unwrap();
        let mut reading = Reading::new();
        reading.topics = vec!["audit".to_owned(), "other".to_owned()];
        let messages = 3 * MESSAGES_PER_DECODER + 7;
        for offset in 0..messages {
            let payload = if offset % 250 == 249 {
                "{not json".to_owned()
            } else {
                AUDIT.replace("a-1", &format!("id-{offset}"))
            };
            pend(&mut reading, usize::from(offset == 3), 2, offset, &payload);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let batch = reading.decode(&source, Some(&pool));
        let bad: Vec<u64> = (0..messages as u64).filter(|o| o % 250 == 249).collect();
        let expected: Vec<String> = (0..messages)
            .filter(|o| o % 250 != 249 && *o != 3)
            .map(|o| format!("id-{o}"))
            .collect();
        let ids: Vec<String> = batch
            .events
            .iter()
            .map(|event| event.audit_id.clone().unwrap())
            .collect();
        assert_eq!(ids, expected);
        assert!(batch.events.iter().all(|event| event.cluster == "prod"));
        assert_eq!(
            batch
                .dead_letters
                .iter()
                .map(|d| d.offset)
                .collect::<Vec<_>>(),
            bad
        );
        assert!(
            batch
                .dead_letters
                .iter()
                .all(|d| d.source == "kafka:audit/2" && !d.reason.is_empty())
        );
        assert_eq!(batch.stats.events, expected.len() as u64);
        assert_eq!(batch.stats.dead_letters, bad.len() as u64);
        assert!(
            batch.arena.capacity() > 0,
            "the buffer is handed back for reuse"
        );
    }

    /// Adds `payload` to `reading` as a message of its `topic`-th topic, undecoded.
    fn pend(reading: &mut Reading, topic: usize, partition: i32, offset: usize, payload: &str) {
        let start = reading.arena.len();
        reading.arena.extend_from_slice(payload.as_bytes());
        reading.pending.push(Pending {
            topic,
            partition,
            offset: offset as i64,
            payload: start..reading.arena.len(),
        });
    }

    /// Without decoding (the benchmark's consume stage alone) a batch keeps what was read:
    /// its figures, its partitions' positions and the buffer, and holds no events.
    #[test]
    fn an_undecoded_batch_keeps_its_figures_and_positions() {
        let mut reading = Reading::new();
        for (offset, payload) in [AUDIT, "{not json"].into_iter().enumerate() {
            pend(&mut reading, 0, 1, offset, payload);
            reading.messages += 1;
            reading.stats.lines += 1;
            reading.stats.bytes += payload.len() as u64;
        }
        reading.topics = vec!["audit".to_owned()];
        reading.partitions.push(PartitionRead {
            topic: "audit".to_owned(),
            partition: 1,
            next_offset: 2,
            messages: 2,
        });
        let batch = reading.undecoded();
        assert!(batch.events.is_empty() && batch.dead_letters.is_empty());
        assert_eq!(batch.stats.lines, 2);
        assert_eq!(batch.stats.bytes, (AUDIT.len() + "{not json".len()) as u64);
        assert_eq!(batch.stats.events, 0);
        let positions: Vec<(&str, i32, i64)> = batch
            .partitions
            .iter()
            .map(|read| (read.topic.as_str(), read.partition, read.next_offset))
            .collect();
        assert_eq!(positions, [("audit", 1, 2)]);
        assert!(batch.arena.capacity() > 0, "the buffer goes back for reuse");
    }

    #[test]
    fn bad_messages_are_rejected_with_the_reason() {
        let audit = settings(KafkaFormat::Audit, None);
        let reason =
            |payload: &[u8], max: usize| decode(payload, &audit, max).err().unwrap().reason;
        assert_eq!(reason(b"", 100), "message has no payload");
        assert_eq!(
            reason(AUDIT.as_bytes(), 100),
            "message exceeds max_message_bytes (100 bytes)"
        );
        assert!(!reason(b"{not json", 100).is_empty());
        assert!(reason(b"\x1f\x8bnot gzip", 100).starts_with("gzip payload does not decompress"));
    }

    #[test]
    fn gzip_payloads_are_decompressed_within_the_limit() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(AUDIT.as_bytes()).unwrap();
        let gzip = encoder.finish().unwrap();
        let audit = settings(KafkaFormat::Audit, None);
        assert_eq!(decode(&gzip, &audit, 1 << 20).ok().unwrap().len(), 1);
        let rejected = decode(&gzip, &audit, AUDIT.len() - 1).err().unwrap();
        assert!(
            rejected.reason.starts_with("decompressed message exceeds"),
            "{}",
            rejected.reason
        );
    }

    #[test]
    fn lag_needs_both_ends_and_an_assignment() {
        let mut metrics = PartitionMetrics {
            next_offset: 10,
            high_watermark: 25,
            messages: 10,
            assigned: true,
        };
        assert_eq!(metrics.lag(), Some(15));
        metrics.high_watermark = -1;
        assert_eq!(metrics.lag(), None);
        metrics.high_watermark = 25;
        metrics.assigned = false;
        assert_eq!(metrics.lag(), None);
    }
}
