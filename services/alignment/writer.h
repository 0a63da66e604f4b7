#pragma once
// The alignment processor's output side, on two threads of its own so that the read thread
// never waits for Redis or Kafka (only when too much is queued: backpressure):
//   * publisher: produces the new findings and the dead letters, without waiting for
//     acknowledgements. Findings that an earlier owner of the partition may have published
//     (raised while replaying) are first checked against Redis (EXISTS: stored by an earlier
//     run?); while it waits for Redis, the read thread's next findings queue up and go in the
//     next check: one round trip per batch however fast they come. Live findings skip the
//     check, so Redis is not on their path.
//   * checkpointer: for each sealed epoch, in order, waits for its acknowledgements (re-sends
//     what failed), then writes ONE MULTI/EXEC: the changed customers' state, the findings and
//     the partitions' next offsets; only then it hands the offsets back to be stored in Kafka.
// Both used to run on the read thread; at 10k events/s the transaction (tens of ms, hundreds
// when Redis is busy) and the EXISTS round trips stalled every finding behind them.

#include <atomic>
#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_set.h>

#include "common/kafka/producer.h"
#include "services/alignment/engine/engine.h"
#include "common/metrics/metrics.h"
#include "common/redis/redis.h"
#include "concord/alignment/v1/alignment.pb.h"
#include "services/alignment/findings_store.h"

namespace concord::alignment {

using TopicPartitionKey = std::pair<std::string, int32_t>;

// Where the dictionaries of compressed checkpoints are (dictionary_codec.h).
inline std::string CheckpointDictionaryPrefix(const std::string& redis_prefix) { return redis_prefix + ":sdict"; }
using NextOffsets = std::map<TopicPartitionKey, int64_t>;

// A finding from the engine. `check`: it may have been published by an earlier run (raised
// while replaying records an earlier owner of the partition may have processed, or by a timer
// restored from a checkpoint), so the store is asked first. The engine's own memory of the ids it
// raised covers the rest; the store covers what that memory has forgotten.
struct Raised {
  engine::EncodedFinding finding;
  bool check = true;
};

struct DeadLetter {
  std::string key, value, reason;
  kafka::Headers headers;
  kafka::TopicPartition from;
};

struct WriterOptions {
  std::string findings_topic;
  std::string dlq_topic;
  std::string source;        // ce_source of published findings
  std::string group_id;      // dlq_consumer header
  std::string redis_prefix;  // findings store
  std::string offsets_key;   // Redis hash of the partitions' next offsets
  size_t max_pending_checkpoints = 2;  // sealed epochs waiting for the checkpointer
  size_t max_queued = 1024;            // hand-overs waiting for the publisher
  // Sealed epochs not yet checkpointed (findings, dead letters, serialized state), estimated:
  // past this the read thread waits before sealing another. A replay reads faster than Redis
  // takes checkpoints; with only a count bound its epochs piled up to ~400 MB on top of the
  // state of 100k customers. Counted as Submit does (each finding three times). With an
  // epoch's findings stored in batched commands, 32 MiB peaked about the same in the 1M-event
  // replay but was ~6% slower than this (the service's --max-inflight-mib).
  size_t max_sealed_bytes = 128u << 20;
};

class Writer {
 public:
  // Called on the checkpointer thread once an epoch's transaction is written.
  using OnCheckpointed = std::function<void(const NextOffsets&)>;

  Writer(WriterOptions options, redis::Options redis, kafka::Producer& producer, OnCheckpointed on_checkpointed);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void Start();
  // Gives up on what cannot be written (Redis or Kafka down) after a few attempts from now on.
  void Stopping() { stopping_ = true; }
  void Stop();  // after Flush: ends the threads

  // Read thread. Findings from the engine and records that did not decode, in order.
  void Submit(std::vector<Raised> findings, std::vector<DeadLetter> dead_letters);
  // Ends the epoch: `state` (HSET/HDEL of the changed customers, serialized as of the epoch's
  // last record) and `next_offsets` are written with the epoch's findings. Discard: partitions
  // lost; what was produced is awaited, nothing is written.
  void Seal(std::vector<std::vector<std::string>> state, NextOffsets next_offsets, bool discard = false);
  // Waits until everything handed over is published and checkpointed (or given up).
  void Flush();
  // Partitions lost: drops what is queued and not yet published, and every sealed epoch not
  // yet being written (the next owner replays them).
  void DiscardQueued();

  uint64_t findings_published() const { return findings_published_.load(); }
  uint64_t dead_lettered() const { return dead_lettered_.load(); }
  // Whether an epoch was finished without its checkpoint (discarded, or given up at shutdown)
  // since the last ForgetDropped: its findings may be on Kafka above the checkpointed offsets.
  bool dropped() const { return dropped_.load(); }
  void ForgetDropped() { dropped_ = false; }

 private:
  struct Fresh {  // a new finding, published; serialized once, the proto is gone
    std::string id, customer_key, bytes;
    v1::FindingType type;
    int64_t detected_ms;
  };
  struct Item {
    std::string topic, key, value;
    kafka::Headers headers;
    bool sent = false;       // handed to the producer (its callback will come)
    bool delivered = false;  // acknowledged
  };
  // One epoch: filled by the publisher, then written by the checkpointer. On the heap:
  // delivery callbacks point into it.
  struct Epoch {
    uint64_t seq = 0;
    std::vector<Raised> unchecked;  // not yet published (or checked against Redis)
    std::vector<Fresh> fresh;
    absl::flat_hash_set<std::string> fresh_ids;  // one finding is never published twice in an epoch
    std::vector<DeadLetter> dead_letters;
    size_t dead_published = 0;  // dead_letters[0..n) have their item
    std::deque<Item> items;     // a deque: callbacks hold pointers to its elements
    size_t next_send = 0;       // items before this one have been handed to the producer
    size_t outstanding = 0;     // sent, report not yet in (delivery_mu_)
    std::string delivery_error;  // the last failure reported (delivery_mu_)
    std::vector<std::vector<std::string>> commands;  // MULTI ... EXEC, built once when sealed
    size_t findings_command = SIZE_MAX;  // the MSET of its findings, until they are compressed
    size_t state_begin = 0, state_end = 0;  // its checkpoints' commands, until compressed
    NextOffsets next_offsets;
    bool discard = false;
    size_t bytes = 0;  // the estimate of what its hand-overs brought (sealed_bytes_)
  };
  struct Work {
    std::vector<Raised> findings;
    std::vector<DeadLetter> dead_letters;
    bool seal = false, discard = false;
    std::vector<std::vector<std::string>> state;
    NextOffsets next_offsets;
    size_t bytes = 0;  // a seal: the estimate for its whole epoch
  };

  void Enqueue(Work w);  // waits while max_queued hand-overs wait (a seal: or max_sealed_bytes)
  void PublishLoop();
  void CheckpointLoop();
  absl::Status Publish(Epoch& e);
  void ForgetCheckpointedIds();  // publisher thread: pending ids of epochs now in Redis
  bool PublishAll(Epoch& e);  // retries; false if it gave up at shutdown
  void SealCurrent(Work& w);  // moves current_ to the checkpointer
  absl::Status Send(Epoch& e, Item& item);
  void AwaitDeliveries(Epoch& e);
  void Compress(Epoch& e);  // checkpointer thread, before its first attempt
  bool WriteCheckpoint(Epoch& e);  // retries; false if it gave up at shutdown
  absl::Status Deliveries(Epoch& e);
  absl::Status Transaction(Epoch& e);

  WriterOptions options_;
  redis::Connection publish_redis_, checkpoint_redis_;
  kafka::Producer& producer_;
  OnCheckpointed on_checkpointed_;
  FindingsStore findings_;
  // The checkpointer's; each obtains its dictionary on a thread of its own.
  DictionaryCompressor finding_compressor_, checkpoint_compressor_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;  // work_, sealed_, publishing_, quit_
  // One per kind of waiter, so that a hand-over (about a thousand a second on a live stream)
  // wakes the publisher alone, not the checkpointer too: a wake-up is a context switch, and
  // those were most of the service's CPU at 10k events/s on two cores.
  std::condition_variable work_cv_;    // the publisher: work_ or quit_
  std::condition_variable sealed_cv_;  // the checkpointer: sealed_, or quit_ with nothing left to seal
  std::condition_variable room_cv_;    // the read thread (Enqueue, Flush) and a seal waiting for room
  std::deque<Work> work_;
  size_t sealed_bytes_ = 0;  // of sealed epochs (queued or in sealed_) not yet checkpointed
  size_t unsealed_bytes_ = 0;  // read thread: handed over since the last seal
  bool publishing_ = false;  // the publisher holds work taken from work_
  std::deque<std::unique_ptr<Epoch>> sealed_;  // the front one is being written
  bool quit_ = false;
  std::thread publisher_, checkpointer_;

  // Publisher thread.
  std::unique_ptr<Epoch> current_;
  uint64_t next_seq_ = 1;
  bool failed_ = false;  // an epoch was given up: later ones are not written without it
  // Ids published by sealed epochs not yet in Redis: EXISTS cannot see them yet.
  std::deque<std::pair<uint64_t, std::vector<std::string>>> pending_ids_;
  absl::flat_hash_set<std::string> pending_id_set_;
  std::atomic<uint64_t> checkpointed_seq_{0};  // every epoch up to this one is done

  std::mutex delivery_mu_;
  std::condition_variable delivery_cv_;

  std::atomic<uint64_t> findings_published_{0}, dead_lettered_{0};
  std::atomic<bool> dropped_{false};
  metrics::Family<metrics::Counter>* findings_metric_;
  metrics::Family<metrics::Counter>* dlq_metric_;
  metrics::Histogram* latency_;
  metrics::Counter* checked_;         // looked up by EXISTS (replayed records, restored timers)
  metrics::Counter* already_stored_;  // raised again, found by EXISTS: not published twice
  metrics::Gauge* inflight_;          // sealed_bytes_
  metrics::Counter* inflight_waits_;  // seconds Enqueue waited for room
  // What one kind of value took when written to Redis: serialized, and as stored (compressed).
  struct StoredBytes {
    metrics::Counter* serialized;
    metrics::Counter* stored;
    static StoredBytes Add(metrics::Registry& reg, const std::string& name, const std::string& values);
    // Compresses `value` with `c` in place, counting it.
    void Compress(DictionaryCompressor& c, std::string& value) const;
  };
  StoredBytes finding_bytes_, checkpoint_bytes_;
};

}  // namespace concord::alignment
