#pragma once
// The alignment service's streaming loop. One consumer group over both teams' topics; each
// instance owns whole partitions and keeps their customers' state in memory. For every batch
// it reads it
//   1. decodes each record (undecodable -> dead-letter topic with the reason, processing goes on),
//   2. runs the engine (and its timers),
//   3. hands the findings to the publisher, which produces the ones not published before (Kafka
//      acks=all, idempotent) without waiting for the acknowledgements, so a finding's latency is
//      one engine pass and a produce (plus one Redis round trip for findings raised while a
//      replayed tail is read: did an earlier run publish it?);
// and at most every `checkpoint_interval` (or `checkpoint_max_records`), for everything since
// the last checkpoint (an "epoch"), it serializes the changed customers' state and seals the
// epoch; the checkpoint thread then
//   4. waits until every record the epoch produced is acknowledged (re-sends what failed),
//   5. checkpoints, in ONE Redis MULTI/EXEC, that state, the findings and the next offset of
//      every partition the epoch touched,
//   6. only then stores the offsets in Kafka.
// Steps 3-6 run on the Writer's threads (writer.h), so the read path never waits for Redis or
// Kafka; when too much is queued (Redis down) reading stops until it is written.
// Checkpointing per epoch rather than per batch serializes a busy customer once instead of once
// per batch.
// A restart or rebalance restores each partition's state and resumes at its checkpoint, so
// only the tail is replayed; findings already stored are not published again.
//
// Cross-team order: the two topics are read independently, so a backlog (after a restart) or a
// slower relay can deliver one team's events ahead of the other team's earlier ones. Partition N
// of both topics is merged by event time (each partition keeps its offset order): an event goes
// to the engine when the other side's next event is later, or when the other side has nothing
// unread and the event is `reorder_grace` old (or the other side has shown a later event); an
// unknown position waits at most `max_hold`. The merge depends only on the records, not on how
// reads were batched, so a restart or a rebalance gives the same findings as one uninterrupted
// run.
//
// Both input topics have the same partition count and are keyed by customer with the same
// partitioner, so partition N of each holds the same customers. The consumer uses the range
// assignor, which gives partition N of both topics to the same member (co-partitioning);
// cooperative-sticky would not guarantee that.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/redis/redis.h"
#include "services/alignment/engine_port.h"
#include "services/alignment/event_codec.h"
#include "services/alignment/findings_store.h"
#include "services/alignment/writer.h"

namespace concord::alignment {

struct ProcessorOptions {
  std::string brokers;
  kafka::Properties kafka_properties;
  std::string group_id = "concord-alignment";
  std::string instance_id = "alignment";
  std::vector<std::string> input_topics = {"concord.marketing.events.v1", "concord.sales.events.v1"};
  std::string findings_topic = "concord.alignment.findings.v1";
  std::string dlq_topic = "concord.alignment.dlq.v1";
  std::string source = "/concord/alignment";  // ce_source of published findings
  std::string redis_prefix = "concord:alignment";
  int max_batch = 500;
  // An epoch ends (wait for acks, checkpoint, store offsets) after this long or this many records.
  std::chrono::milliseconds checkpoint_interval{200};
  size_t checkpoint_max_records = 50000;
  // The writer's bounds (WriterOptions: defaults and why): sealed epochs waiting for the
  // checkpoint thread, and their estimated bytes (the service's --max-inflight-mib).
  size_t max_pending_checkpoints = WriterOptions{}.max_pending_checkpoints;
  size_t max_sealed_bytes = WriterOptions{}.max_sealed_bytes;
  std::chrono::milliseconds poll_timeout{20};
  std::chrono::milliseconds tick{250};  // how often timers are evaluated
  // Decoded customers with no event or timer for one to two of these periods go cold (kept as
  // their compressed checkpoint until next used), so that memory follows activity: an instance
  // that has caught up keeps only what is busy decoded. 0 = only the --hot-customers limit.
  std::chrono::milliseconds hot_idle{5000};
  // Events are held until they are this old (by event time) so that what the other team's
  // topic delivers a little later can be put in order before them. 0 = no holding.
  std::chrono::milliseconds reorder_grace{100};
  // An event is also held while the other team's partition for the same customers has not
  // been read past its time (a backlog after a restart), but never longer than this.
  std::chrono::milliseconds max_hold{2000};  // when the other partition's position is unknown
  // A partition whose held events reach this is paused (not fetched) until they fall to half:
  // in a backlog the topic that covers event time faster (fewer events per hour) waits for the
  // other instead of piling up. Lowered so that all partitions together stay within half of
  // held_limit. Each pause drops what librdkafka had prefetched for the partition, so a small
  // value refetches a lot (1M-event backlog: 1,000 -> 20k events/s, 5,000 -> 65k, 20,000 ->
  // 73k). 0 = never pause.
  size_t held_per_partition = 20000;
  size_t held_limit = 200000;  // events held at most, whatever the other side: then order is given up
  DecodeLimits limits;
};

// Where a partition was handed over cleanly (Processor::HandoverKey), from its checkpointed
// offset and its handover field as Redis returned them (nil when absent): nullopt when an
// earlier owner may have published findings of any record below the partition's end (it holds
// or held it without handing it over: "owned", or a version that did not mark it).
std::optional<int64_t> HandedOverAt(const redis::Reply& offset, const redis::Reply& handover);

class Processor : public kafka::RebalanceListener {
 public:
  Processor(ProcessorOptions options, redis::Options redis, kafka::Producer& producer, EnginePort& engine);
  ~Processor() override;

  absl::Status Start();
  // Finishes the current batch (published and checkpointed), leaves the group.
  void Stop();

  bool running() const { return running_.load(); }
  uint64_t processed() const { return processed_.load(); }
  uint64_t findings_published() const { return writer_.findings_published(); }
  uint64_t dead_lettered() const { return writer_.dead_lettered(); }
  absl::Status Ping();

  // Consumer thread only (called from inside Poll during a rebalance).
  void OnAssigned(std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnLost(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  // (topic, partition); the topic is a view of the canonical name (options_.input_topics or
  // other_topics_), so that looking up a record's partition allocates nothing.
  using TP = std::pair<std::string_view, int32_t>;
  // A record that decoded (DecodeEvent's checks passed), kept as its bytes until the engine
  // runs it: parsed, an event is ~1.3 KB of small allocations against ~0.5 KB of bytes, and in
  // a backlog the merge holds up to held_limit of them. Detect parses it again into one reused
  // message.
  struct Decoded {
    std::string value;
    int64_t at_us = 0;  // occurred_at, the merge's order
    TP tp;
    int64_t offset = 0;
    std::chrono::steady_clock::time_point arrived;
    bool replayed = true;  // an earlier owner of the partition may have processed it
  };
  TP Key(std::string_view topic, int32_t partition);
  // Read and released for processing, not yet run through the engine.
  struct Batch {
    std::vector<Decoded> decoded;
    std::vector<DeadLetter> dead_letters;
    std::map<TP, int64_t> next_offsets;  // (topic, partition) -> offset
    size_t records = 0;
    bool empty() const { return decoded.empty() && dead_letters.empty() && next_offsets.empty(); }
  };
  // Since the last seal: what is not yet handed to the writer, and the epoch's positions.
  struct Pending {
    std::vector<Raised> findings;
    std::vector<DeadLetter> dead_letters;
    std::map<TP, int64_t> next_offsets;
    size_t records = 0;
    bool submitted = false;  // findings already handed to the writer: the epoch still needs its seal
    std::chrono::steady_clock::time_point started{};
    bool empty() const {
      return findings.empty() && dead_letters.empty() && next_offsets.empty() && records == 0 && !submitted;
    }
  };

  void Run();
  void Handle(const kafka::Message& m);  // decodes into held_; dead-letters what fails
  void Detect();                          // runs the engine over batch_ into pending_
  // Ends the epoch: serializes the changed customers and seals it in the writer.
  void Seal();
  std::string StateKey(int32_t partition) const;
  // State and offsets belong to the consumer group: two deployments never share checkpoints.
  std::string OffsetsKey() const { return options_.redis_prefix + ":offsets:" + options_.group_id; }
  // Per partition, "owned" while an instance holds it (it may publish findings of anything it
  // reads), or the offset where it was handed over cleanly: every finding raised from the
  // partition was then published and checkpointed below it. A new owner asks the store about
  // findings only below what an earlier owner may have read (Replayed).
  std::string HandoverKey() const { return options_.redis_prefix + ":handover:" + options_.group_id; }
  // After a clean revocation: each partition's handover field set to its checkpointed offset
  // (0 if none was ever checkpointed).
  void MarkHandedOver(const std::vector<kafka::TopicPartition>& partitions);
  // Each partition's HGETALL of checkpoints (in `partitions` order) into the engine; how many
  // customers were restored, or a Redis error (reading a dictionary) to try again on.
  absl::StatusOr<size_t> RestoreCustomers(const std::vector<redis::Reply>& state, const std::set<int32_t>& partitions);
  void DropPartitions(const std::vector<kafka::TopicPartition>& partitions);

  ProcessorOptions options_;
  redis::Connection redis_;
  Dictionaries checkpoint_dictionaries_;  // compressed checkpoints (Writer), read at restore
  kafka::Producer& producer_;
  EnginePort& engine_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> processed_{0};
  std::chrono::steady_clock::time_point last_tick_{};
  std::chrono::steady_clock::time_point last_idle_choice_{};
  bool parking_ = false;  // customers chosen to go cold are left to park while the input is quiet
  Batch batch_;      // released for the engine; a rebalance processes it before partitions go
  Pending pending_;  // since the last seal; a rebalance seals it before partitions go
  std::vector<engine::EncodedFinding> found_;  // one engine call's findings (reused)
  events::v1::Event event_;                    // the record being decoded or run (reused)
  v1::SourcePosition position_;                // its position (reused)
  Writer writer_;
  // Decoded events waiting out the reorder grace, per topic-partition in offset order.
  std::map<TP, std::deque<Decoded>> held_;
  std::map<TP, int64_t> dead_tail_;  // dead letters behind held events
  std::map<TP, int64_t> read_upto_;  // next offset to read, per partition
  std::map<TP, int64_t> seen_us_;    // latest event time read, per partition
  std::set<std::string> other_topics_;  // names that are not input topics (never, in practice)
  std::vector<metrics::Counter*> consumed_by_topic_;  // per input topic
  enum class PartnerState { kCaughtUp, kBehind, kUnknown };
  // Whether everything the partition had at its last fetch has been read.
  PartnerState Position(const TP& tp) const;
  // Whether an event may go to the engine while the other topic's partition has nothing held:
  // in order (nothing earlier can come from there), or forced without that guarantee.
  enum class Alone { kWait, kInOrder, kForcedUnknown, kForcedHeldLimit };
  // `other_position` is Position(other), read once per Release call: it takes a librdkafka lock.
  Alone MayGoAlone(const Decoded& d, const TP& other, PartnerState other_position, int64_t grace_edge_us,
                   std::chrono::steady_clock::time_point now) const;
  size_t held_count_ = 0;
  std::map<TP, int64_t> assigned_hw_;  // high watermark at assignment
  // Partitions whose earlier owners are accounted for (HandoverKey): handed over cleanly at this
  // offset, or 0 when no instance ever held them. Findings of records from there on are ours.
  std::map<TP, int64_t> handed_over_at_;
  // Whether an earlier owner may have processed the record (and published its findings): below
  // the offset the partition was handed over at, when that is known; else below its end at
  // assignment (the ones after it can only be ours), set from the first fetch's high watermark
  // (later, so still safe) when the query at assignment failed.
  bool Replayed(const TP& tp, int64_t offset);
  void NoteStartPositions(const std::vector<kafka::TopicPartition>& partitions);
  void ForgetHeld();  // drops events held for ordering (revocation, shutdown) and positions
  void Release(bool all);  // moves held events that may go now into batch_
  // Pauses the partitions holding held_per_partition events, resumes them at half (flow
  // control for the merge: bounded memory without running events out of order).
  void PauseOrResume();
  void ResumeAll();  // every partition this processor paused
  std::set<TP> paused_;
  // Set once every assigned partition has been read to its end (and nothing is held) after an
  // assignment. Wall-clock timers (SLA breaches) wait for it: while a backlog is replayed, the
  // event that would stop a timer may still be unread, and firing then would make the findings
  // depend on how fast the backlog was read.
  bool caught_up_ = false;
  bool AllCaughtUp() const;

  metrics::Family<metrics::Counter>* consumed_;
  metrics::Histogram* event_age_;
  metrics::Histogram* held_for_;
  metrics::Gauge* lag_;
  metrics::Gauge* customers_;
  metrics::Gauge* cold_customers_;
  metrics::Gauge* cold_bytes_;
  metrics::Gauge* held_metric_;
  metrics::Gauge* caught_up_metric_;
  // Events that went to the engine without the cross-team order guarantee (max_hold with the
  // other side's position unknown, or held_limit): findings may then depend on read timing.
  metrics::Counter* forced_unknown_;
  metrics::Counter* forced_held_limit_;
  metrics::Gauge* paused_metric_;
};

}  // namespace concord::alignment
