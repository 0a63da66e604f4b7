#include "services/alignment/processor.h"

#include <algorithm>
#include <cstdlib>

#include <absl/strings/numbers.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>

#include "common/kafka/cloudevents.h"
#include "common/logging/log.h"
#include "common/malloc/heap.h"
#include "common/thread/thread_name.h"

namespace concord::alignment {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;

namespace {

std::string PartitionField(const std::string& topic, int32_t partition) { return topic + ":" + std::to_string(partition); }

int64_t EventMicros(const events::v1::Event& e) {
  return e.occurred_at().seconds() * 1000000 + e.occurred_at().nanos() / 1000;
}

}  // namespace

std::optional<int64_t> HandedOverAt(const redis::Reply& offset, const redis::Reply& handover) {
  if (handover.is_nil()) {
    if (offset.is_nil()) return 0;  // no instance ever held it
    return std::nullopt;            // checkpointed by a version before the handover mark
  }
  if (handover.str == "owned") return std::nullopt;
  // A checkpoint that moved past the mark came from an owner that did not mark the partition
  // (an older version during a rolling upgrade): the mark no longer tells.
  const std::string& at = handover.str;
  if (offset.is_nil() ? at != "0" : offset.str != at) return std::nullopt;
  int64_t n = 0;
  if (!absl::SimpleAtoi(at, &n)) return std::nullopt;
  return n;
}

Processor::Processor(ProcessorOptions options, redis::Options redis, kafka::Producer& producer, EnginePort& engine)
    : options_(std::move(options)), redis_(redis),
      checkpoint_dictionaries_(CheckpointDictionaryPrefix(options_.redis_prefix)), producer_(producer), engine_(engine),
      writer_({.findings_topic = options_.findings_topic,
               .dlq_topic = options_.dlq_topic,
               .source = options_.source,
               .group_id = options_.group_id,
               .redis_prefix = options_.redis_prefix,
               .offsets_key = OffsetsKey(),
               .max_pending_checkpoints = options_.max_pending_checkpoints,
               .max_sealed_bytes = options_.max_sealed_bytes},
              std::move(redis), producer,
              [this](const NextOffsets& offsets) {
                // Checkpointed: the offsets may be committed (the writer's thread; thread-safe).
                for (const auto& [tp, next] : offsets) (void)consumer_->Store({tp.first, tp.second, next});
              }) {
  auto& reg = metrics::Default();
  consumed_ = &reg.AddCounter("concord_alignment_events_consumed_total", "Events consumed", {"topic"});
  for (const auto& topic : options_.input_topics) consumed_by_topic_.push_back(&consumed_->With({topic}));
  held_for_ = &reg.AddHistogram("concord_alignment_event_held_seconds",
                                "From reading a record to the engine running it (the cross-team merge, the batch)", {},
                                metrics::LatencyBuckets())
                   .With({});
  event_age_ = &reg.AddHistogram("concord_alignment_event_age_seconds",
                                 "From an event's occurred_at to the engine running it (input delay, or a backlog)", {},
                                 metrics::LatencyBuckets())
                    .With({});
  lag_ = &reg.AddGauge("concord_alignment_consumer_lag", "Records behind the end of the assigned partitions").With({});
  customers_ = &reg.AddGauge("concord_alignment_state_customers", "Customers held in memory").With({});
  cold_customers_ = &reg.AddGauge("concord_alignment_state_customers_cold",
                                  "Of the customers held, those kept as checkpoint bytes until their next event (--hot-customers)")
                        .With({});
  cold_bytes_ = &reg.AddGauge("concord_alignment_state_cold_bytes",
                              "Bytes the cold customers take: key, compressed checkpoint and timer of each").With({});
  held_metric_ = &reg.AddGauge("concord_alignment_events_held",
                        "Decoded events waiting for the other team's partition (cross-team merge)").With({});
  caught_up_metric_ = &reg.AddGauge("concord_alignment_caught_up",
                                    "1 once the assigned partitions' backlog has been read (timers run)").With({});
  auto& forced = reg.AddCounter("concord_alignment_events_out_of_merge_total",
                                "Events run before the other team's partition could be merged with them: its position "
                                "unknown for max_hold, or held_limit events held",
                                {"reason"});
  forced_unknown_ = &forced.With({"position_unknown"});
  forced_held_limit_ = &forced.With({"held_limit"});
  paused_metric_ = &reg.AddGauge("concord_alignment_partitions_paused",
                                 "Input partitions not fetched while their held events wait for the other team's")
                        .With({});
}

Processor::~Processor() { Stop(); }

Processor::TP Processor::Key(std::string_view topic, int32_t partition) {
  for (const auto& t : options_.input_topics) {
    if (t == topic) return {t, partition};
  }
  return {*other_topics_.emplace(topic).first, partition};
}

absl::Status Processor::Start() {
  for (const auto& topic : {options_.findings_topic, options_.dlq_topic}) {
    if (auto s = producer_.Prepare(topic, 5s); !s.ok()) {
      log::Warn("output topic not ready; records to it wait until it is", {{"topic", topic}, {"error", s.ToString()}});
    }
  }
  // Read-ahead of 16 MiB, not librdkafka's 64: in a replay the read thread waits for Redis
  // anyway, and the rest was only memory (alone, it took ~100 MiB off the 1M-event replay's
  // peak at no measurable cost). --kafka-property queued.max.messages.kbytes overrides it.
  kafka::Properties props = {{"queued.max.messages.kbytes", "16384"}};
  props.insert(props.end(), options_.kafka_properties.begin(), options_.kafka_properties.end());
  props.emplace_back("partition.assignment.strategy", "range");  // co-partitioning, see header
  kafka::ConsumerOptions co{.brokers = options_.brokers,
                            .group_id = options_.group_id,
                            .client_id = "concord-alignment-" + options_.instance_id,
                            .topics = options_.input_topics,
                            .properties = props,
                            .auto_commit = true,
                            .listener = this};
  auto c = kafka::Consumer::Create(co);
  if (!c.ok()) return c.status();
  consumer_ = std::move(*c);
  running_ = true;
  writer_.Start();
  thread_ = std::thread([this] {
    thread::SetName("align-read");
    Run();
  });
  return absl::OkStatus();
}

void Processor::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  writer_.Stopping();
  thread_.join();  // Run flushed the writer
  writer_.Stop();
  running_ = false;
}

absl::Status Processor::Ping() {
  if (!running_) return absl::UnavailableError("alignment processor is not running");
  return absl::OkStatus();
}

void Processor::Run() {
  log::Info("alignment processor started", {{"group", options_.group_id}, {"topics", options_.input_topics}});
  while (!stop_) {
    // Findings waiting for their check are published within about a millisecond.
    auto m = consumer_->Poll(options_.poll_timeout);
    if (!m && !caught_up_ && AllCaughtUp()) {
      caught_up_ = true;  // everything the partitions had is read and processed
      caught_up_metric_->Set(1);
    }
    if (m) {
      Handle(*m);
      while (static_cast<int>(batch_.records) < options_.max_batch) {
        auto next = consumer_->Poll(0ms);
        if (!next) break;
        Handle(*next);
      }
    }
    Release(options_.reorder_grace.count() == 0);
    PauseOrResume();
    auto now = std::chrono::steady_clock::now();
    if (options_.hot_idle.count() > 0 && now - last_idle_choice_ >= options_.hot_idle) {
      last_idle_choice_ = now;
      parking_ = engine_.ChooseIdleCustomers();  // an idle instance with nothing to park does nothing
    }
    // Events park the chosen a few at a time; a quiet poll parks a bigger share (~0.5 ms).
    if (!m && parking_ && !(parking_ = engine_.ParkChosen(128))) {
      heap::ReleaseFreeMemory();  // what the parked customers' decoded state took, now
    }
    if (now - last_tick_ >= options_.tick) {
      last_tick_ = now;
      // Timers wait until the tail is replayed: an acceptance still in the tail would
      // otherwise be reported as an SLA breach.
      if (caught_up_) {
        found_.clear();
        engine_.AdvanceTime(std::chrono::system_clock::now(), &found_);
        // Restored timers may have fired in an earlier run too: checked.
        for (auto& f : found_) pending_.findings.push_back({std::move(f), true});
      }
      lag_->Set(static_cast<double>(consumer_->Lag()));
      customers_->Set(static_cast<double>(engine_.customers()));
      cold_customers_->Set(static_cast<double>(engine_.cold_customers()));
      cold_bytes_->Set(static_cast<double>(engine_.cold_bytes()));
      held_metric_->Set(static_cast<double>(held_count_));
    }
    if (!batch_.empty()) Detect();
    if (pending_.empty()) continue;
    if (pending_.started == std::chrono::steady_clock::time_point{}) pending_.started = now;
    if (now - pending_.started >= options_.checkpoint_interval || pending_.records >= options_.checkpoint_max_records) {
      Seal();
    } else if (!pending_.findings.empty() || !pending_.dead_letters.empty()) {
      writer_.Submit(std::exchange(pending_.findings, {}), std::exchange(pending_.dead_letters, {}));
      pending_.submitted = true;  // sealed at the interval even if nothing else comes
    }
  }
  ForgetHeld();  // not processed, offsets not stored: the next owner reads them again
  if (!batch_.empty()) Detect();
  if (!pending_.empty()) Seal();
  writer_.Flush();
  (void)consumer_->Commit();
  if (auto s = consumer_->Close(); !s.ok()) log::Warn("alignment consumer close", {{"error", s.ToString()}});
  log::Info("alignment processor stopped", {{"processed", processed_.load()}, {"findings", writer_.findings_published()}});
}

void Processor::Handle(const kafka::Message& m) {
  if (m.error()) {
    log::Warn("kafka consumer error", {{"error", m.error_text()}});
    return;
  }
  batch_.records++;
  processed_++;
  const TP tp = Key(m.topic_view(), m.partition());
  size_t topic_index = 0;
  while (topic_index < options_.input_topics.size() && options_.input_topics[topic_index].data() != tp.first.data()) ++topic_index;
  if (topic_index < consumed_by_topic_.size()) consumed_by_topic_[topic_index]->Inc();
  else consumed_->With({std::string(tp.first)}).Inc();
  auto decoded = DecodeEventInto(m.key(), m.value(), m.header_views(), options_.limits, event_);
  auto& held = held_[tp];
  read_upto_[tp] = m.offset() + 1;
  if (!decoded.ok()) {
    if (held.empty()) batch_.next_offsets[tp] = m.offset() + 1;
    else dead_tail_[tp] = m.offset() + 1;  // applied once the held ones go
    batch_.dead_letters.push_back({std::string(m.key()), std::string(m.value()), std::string(decoded.message()),
                                  m.headers(), {std::string(tp.first), m.partition(), m.offset()}});
    return;
  }
  Decoded d{.value = std::string(m.value()),
            .at_us = EventMicros(event_),
            .tp = tp,
            .offset = m.offset(),
            .arrived = std::chrono::steady_clock::now(),
            .replayed = Replayed(tp, m.offset())};
  auto& seen = seen_us_[tp];
  seen = std::max(seen, d.at_us);
  held.push_back(std::move(d));
  ++held_count_;
}

bool Processor::Replayed(const TP& tp, int64_t offset) {
  if (auto h = handed_over_at_.find(tp); h != handed_over_at_.end()) return offset < h->second;
  auto it = assigned_hw_.find(tp);
  if (it == assigned_hw_.end()) {
    auto hw = consumer_->HighWatermark(tp.first.data(), tp.second);
    if (!hw) return true;
    it = assigned_hw_.emplace(tp, *hw).first;
  }
  return offset < it->second;
}

bool Processor::AllCaughtUp() const {
  if (held_count_ > 0 || !batch_.empty()) return false;
  auto assigned = consumer_->Assignment();
  if (assigned.empty()) return false;
  for (const auto& tp : assigned) {
    if (Position({tp.topic, tp.partition}) != PartnerState::kCaughtUp) return false;
  }
  return true;
}

Processor::PartnerState Processor::Position(const TP& tp) const {
  auto hw = consumer_->HighWatermark(tp.first.data(), tp.second);  // a canonical name: NUL-terminated
  if (!hw) {  // no fetch answered yet: what the broker said at assignment
    auto a = assigned_hw_.find(tp);
    if (a == assigned_hw_.end()) return PartnerState::kUnknown;
    hw = a->second;
  }
  auto it = read_upto_.find(tp);
  if (it == read_upto_.end()) return *hw == 0 ? PartnerState::kCaughtUp : PartnerState::kUnknown;
  return it->second >= *hw ? PartnerState::kCaughtUp : PartnerState::kBehind;
}

Processor::Alone Processor::MayGoAlone(const Decoded& d, const TP& other, PartnerState other_position,
                                      int64_t grace_edge_us, std::chrono::steady_clock::time_point now) const {
  switch (other_position) {
    case PartnerState::kBehind:
      // Its next record is already on the broker: wait for it, so that the order does not
      // depend on how reads were batched (bounded by memory: held_limit).
      return held_count_ >= options_.held_limit ? Alone::kForcedHeldLimit : Alone::kWait;
    case PartnerState::kUnknown:
      return now - d.arrived >= options_.max_hold ? Alone::kForcedUnknown : Alone::kWait;
    case PartnerState::kCaughtUp: {
      // Live: the other team's earlier events may still be on their way (a slower relay):
      // wait out the grace, unless that partition has already delivered a later event (each
      // relay publishes in time order, so nothing earlier can still come from there). An event
      // dated ahead of this clock (a producer's clock skew) waits the grace after it arrived,
      // not until its date.
      int64_t at = d.at_us;
      if (at <= grace_edge_us || now - d.arrived >= options_.reorder_grace) return Alone::kInOrder;
      auto seen = seen_us_.find(other);
      return seen != seen_us_.end() && seen->second >= at ? Alone::kInOrder : Alone::kWait;
    }
  }
  return Alone::kInOrder;
}

void Processor::Release(bool all) {
  // Partition N of the two topics holds the same customers. Their events go to the engine in
  // one deterministic order: a merge by event time of the two partitions' offset orders (ties:
  // the first topic first), taking an event only when the other side's next event is known or
  // cannot come yet. The same input then gives the same findings however the reads were
  // batched: after a restart, a rebalance, or in an uninterrupted run.
  const int64_t grace_edge_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                    (std::chrono::system_clock::now() - options_.reorder_grace).time_since_epoch())
                                    .count();
  const auto now = std::chrono::steady_clock::now();
  auto take = [&](const TP& tp, std::deque<Decoded>& q) {
    batch_.next_offsets[tp] = std::max(batch_.next_offsets[tp], q.front().offset + 1);
    batch_.decoded.push_back(std::move(q.front()));
    q.pop_front();
    --held_count_;
  };
  std::set<int32_t> partitions;
  for (const auto& [tp, q] : held_) {
    if (!q.empty() || dead_tail_.count(tp)) partitions.insert(tp.second);
  }
  for (int32_t p : partitions) {
    if (options_.input_topics.size() != 2) {  // one topic: offset order, after the grace
      for (const auto& topic : options_.input_topics) {
        TP tp{topic, p};
        auto& q = held_[tp];
        while (!q.empty() && (all || q.front().at_us <= grace_edge_us)) take(tp, q);
      }
    } else {
      TP ta{options_.input_topics[0], p}, tb{options_.input_topics[1], p};
      auto& a = held_[ta];
      auto& b = held_[tb];
      std::optional<PartnerState> position_a, position_b;  // read when first needed
      while (!a.empty() || !b.empty()) {
        if (!a.empty() && !b.empty()) {
          if (a.front().at_us <= b.front().at_us) take(ta, a);
          else take(tb, b);
          continue;
        }
        bool from_a = !a.empty();
        auto& q = from_a ? a : b;
        if (!all) {
          auto& position = from_a ? position_b : position_a;
          if (!position) position = Position(from_a ? tb : ta);
          const Alone alone = MayGoAlone(q.front(), from_a ? tb : ta, *position, grace_edge_us, now);
          if (alone == Alone::kWait) break;
          if (alone == Alone::kForcedUnknown) forced_unknown_->Inc();
          if (alone == Alone::kForcedHeldLimit) forced_held_limit_->Inc();
        }
        take(from_a ? ta : tb, q);
      }
    }
    for (const auto& topic : options_.input_topics) {
      TP tp{topic, p};
      if (!held_[tp].empty()) continue;
      if (auto it = dead_tail_.find(tp); it != dead_tail_.end()) {
        batch_.next_offsets[tp] = std::max(batch_.next_offsets[tp], it->second);
        dead_tail_.erase(it);
      }
    }
  }
}

void Processor::PauseOrResume() {
  if (options_.held_per_partition == 0) return;
  // Every partition pair's waiting side together stays within half of held_limit: the merge
  // never has to give up the order for memory.
  const size_t pairs = std::max<size_t>(1, held_.size() / 2);
  const size_t high = std::max<size_t>(2, std::min(options_.held_per_partition, options_.held_limit / (2 * pairs)));
  for (const auto& [tp, q] : held_) {
    const bool paused = paused_.count(tp) > 0;
    if (!paused && q.size() >= high) {
      if (auto s = consumer_->Pause({{std::string(tp.first), tp.second}}); !s.ok()) {
        log::Warn("cannot pause an input partition", {{"topic", tp.first}, {"partition", tp.second}, {"error", s.ToString()}});
        continue;
      }
      paused_.insert(tp);
    } else if (paused && q.size() <= high / 2) {
      if (auto s = consumer_->Resume({{std::string(tp.first), tp.second}}); !s.ok()) {
        log::Warn("cannot resume an input partition", {{"topic", tp.first}, {"partition", tp.second}, {"error", s.ToString()}});
        continue;
      }
      paused_.erase(tp);
    }
  }
  paused_metric_->Set(static_cast<double>(paused_.size()));
}

void Processor::ResumeAll() {
  // A pause outlives a rebalance in librdkafka: whatever is assigned next must be fetched.
  std::vector<kafka::TopicPartition> tps;
  for (const auto& tp : paused_) tps.push_back({std::string(tp.first), tp.second});
  if (!tps.empty()) (void)consumer_->Resume(tps);
  paused_.clear();
  paused_metric_->Set(0);
}

void Processor::Detect() {
  // batch_ is in the order Release merged it (no sorting here: within a partition the offset
  // order is the order, even where event times go back).
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto now = std::chrono::steady_clock::now();
  for (auto& d : batch_.decoded) {
    event_age_->Observe(static_cast<double>(now_us - d.at_us) / 1e6);
    held_for_->Observe(std::chrono::duration<double>(now - d.arrived).count());
    // The bytes parsed when they were read: they parse again.
    if (!event_.ParseFromString(d.value)) {
      log::Error("a decoded record no longer parses; skipped",
                 {{"topic", d.tp.first}, {"partition", d.tp.second}, {"offset", d.offset}});
      continue;
    }
    // The engine keeps each customer's partition (from the position): where Seal checkpoints it.
    position_.set_topic(d.tp.first.data(), d.tp.first.size());
    position_.set_partition(d.tp.second);
    position_.set_offset(d.offset);
    found_.clear();
    engine_.Process(event_, position_, &found_);
    for (auto& f : found_) pending_.findings.push_back({std::move(f), d.replayed});
  }
  for (auto& d : batch_.dead_letters) pending_.dead_letters.push_back(std::move(d));
  for (const auto& [tp, next] : batch_.next_offsets) {
    auto& at = pending_.next_offsets[tp];
    at = std::max(at, next);
  }
  pending_.records += batch_.records;
  batch_ = Batch();
}

void Processor::Seal() {
  // Serialized here, on the read thread (the engine is not thread-safe), as of the epoch's
  // last record: the state matches the offsets written with it.
  std::vector<std::vector<std::string>> state;
  for (auto& c : engine_.TakeDirty()) {
    if (c.bytes) state.push_back(redis::Cmd("HSET", StateKey(c.partition), std::move(c.key), std::move(*c.bytes)));
    else state.push_back(redis::Cmd("HDEL", StateKey(c.partition), std::move(c.key)));
  }
  writer_.Submit(std::move(pending_.findings), std::move(pending_.dead_letters));
  NextOffsets offsets;
  for (const auto& [tp, next] : pending_.next_offsets) offsets.emplace(TopicPartitionKey(tp.first, tp.second), next);
  writer_.Seal(std::move(state), std::move(offsets));
  pending_ = Pending();
}

std::string Processor::StateKey(int32_t partition) const {
  return options_.redis_prefix + ":state:" + options_.group_id + ":p" + std::to_string(partition);
}

void Processor::OnAssigned(std::vector<kafka::TopicPartition>& partitions) {
  // Partitions lost before were flushed then (their dropped epochs do not concern these).
  writer_.ForgetDropped();
  std::set<int32_t> numbers;
  for (const auto& tp : partitions) {
    if (engine::PackPartition(tp.partition) == engine::kNoPartition) {
      // The engine keeps a customer's partition in two bytes (engine/util.h): its state could
      // not be checkpointed. Stopping beats losing it quietly; no real topic has this many.
      log::Error("input partition numbers above 65534 are not supported",
                 {{"topic", tp.topic}, {"partition", tp.partition}});
      std::abort();
    }
    numbers.insert(tp.partition);
  }
  // Restore each partition's customers and resume at its checkpoint. Redis is required:
  // starting without the state would repeat or miss findings, so wait for it.
  for (int attempt = 0;; ++attempt) {
    std::vector<std::vector<std::string>> cmds;
    for (int32_t p : numbers) cmds.push_back({"HGETALL", StateKey(p)});
    std::vector<std::string> offsets_get = {"HMGET", OffsetsKey()}, handover_get = {"HMGET", HandoverKey()};
    // Ours from here on, before anything is published: read what the earlier owners left, then
    // mark it (a retry then reads "owned", its own mark, and checks more: safe).
    std::vector<std::string> own = {"HSET", HandoverKey()};
    for (const auto& tp : partitions) {
      std::string f = PartitionField(tp.topic, tp.partition);
      offsets_get.push_back(f);
      handover_get.push_back(f);
      own.push_back(std::move(f));
      own.push_back("owned");
    }
    cmds.push_back(std::move(offsets_get));
    cmds.push_back(std::move(handover_get));
    cmds.push_back(std::move(own));
    auto replies = redis_.Pipeline(cmds);
    if (replies.ok() && replies->back().is_error()) replies = absl::UnavailableError(replies->back().str);
    const absl::StatusOr<size_t> restored =
        replies.ok() ? RestoreCustomers(*replies, numbers) : absl::StatusOr<size_t>(replies.status());
    if (restored.ok()) {
      const auto& offsets = (*replies)[numbers.size()].elements;
      const auto& handover = (*replies)[numbers.size() + 1].elements;
      for (size_t i = 0; i < partitions.size() && i < offsets.size() && i < handover.size(); ++i) {
        const TP key = Key(partitions[i].topic, partitions[i].partition);
        if (!offsets[i].is_nil()) {
          partitions[i].offset = std::stoll(offsets[i].str);
          read_upto_[key] = partitions[i].offset;
        }
        if (auto at = HandedOverAt(offsets[i], handover[i])) handed_over_at_[key] = *at;
      }
      NoteStartPositions(partitions);
      caught_up_ = false;
      caught_up_metric_->Set(0);
      // Partitions whose earlier owners are accounted for: their backlog is not looked up in Redis.
      log::Info("alignment partitions restored",
                {{"partitions", numbers.size()}, {"customers", *restored}, {"handed_over", handed_over_at_.size()}});
      return;
    }
    if (stop_) return;
    log::Warn("cannot restore alignment state yet; retrying", {{"error", restored.status().ToString()}, {"attempt", attempt}});
    std::this_thread::sleep_for(500ms);
  }
}

absl::StatusOr<size_t> Processor::RestoreCustomers(const std::vector<redis::Reply>& state,
                                                   const std::set<int32_t>& partitions) {
  // Checkpoints may be compressed with the deployment's dictionary (Writer); one that cannot be
  // read leaves its customer to start afresh, as it always has.
  size_t restored = 0, unreadable = 0;
  std::string buf;
  auto p = partitions.begin();
  for (size_t i = 0; i < partitions.size(); ++i, ++p) {
    const auto& el = state[i].elements;  // HGETALL: customer, checkpoint, ...
    for (size_t j = 0; j + 1 < el.size(); j += 2) {
      std::string_view bytes = el[j + 1].str;
      if (IsCompressedValue(bytes)) {
        auto s = checkpoint_dictionaries_.Decompress(redis_, bytes, &buf);
        if (!s.ok() && s.code() != absl::StatusCode::kDataLoss) return s;  // Redis: the restore is tried again
        bytes = s.ok() ? std::string_view(buf) : std::string_view();
      }
      if (!bytes.empty() && engine_.Restore(el[j].str, bytes, *p).ok()) ++restored;
      else ++unreadable;
    }
  }
  if (unreadable > 0) {
    log::Error("alignment checkpoints that could not be read; those customers start afresh",
               {{"unreadable", unreadable}, {"restored", restored}});
  }
  return restored;
}

void Processor::ForgetHeld() {
  ResumeAll();
  held_.clear();
  held_count_ = 0;
  dead_tail_.clear();
  read_upto_.clear();
  seen_us_.clear();
  assigned_hw_.clear();
  handed_over_at_.clear();
}

void Processor::NoteStartPositions(const std::vector<kafka::TopicPartition>& partitions) {
  // Where each partition starts and ends right now, so that the cross-team ordering knows from
  // the first record whether the other side is behind (a backlog) or caught up.
  std::vector<kafka::TopicPartition> unknown;
  for (const auto& tp : partitions) {
    if (tp.offset < 0) unknown.push_back({tp.topic, tp.partition});
  }
  if (!unknown.empty()) {
    if (auto committed = consumer_->Committed(unknown, 5s); committed.ok()) {
      for (const auto& c : *committed) {
        if (c.offset >= 0) read_upto_[Key(c.topic, c.partition)] = c.offset;
      }
    }
  }
  for (const auto& tp : partitions) {
    auto w = consumer_->QueryWatermarks(tp.topic, tp.partition, 5s);
    if (!w.ok()) continue;
    TP key = Key(tp.topic, tp.partition);
    assigned_hw_[key] = w->second;
    if (!read_upto_.count(key)) read_upto_[key] = w->first;  // no checkpoint, no commit: from the start
  }
}

void Processor::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  // Whatever was processed is published and checkpointed before letting go; events still held
  // for ordering were not processed and their offsets not stored: the next owner reads them.
  ForgetHeld();
  if (!batch_.empty()) Detect();
  if (!pending_.empty()) Seal();
  writer_.Flush();
  // An epoch dropped (Redis or Kafka down at shutdown) may have published findings above the
  // checkpoint: the partitions stay "owned", and their next owner checks its whole backlog.
  if (!writer_.dropped()) MarkHandedOver(partitions);
  DropPartitions(partitions);
}

void Processor::MarkHandedOver(const std::vector<kafka::TopicPartition>& partitions) {
  if (partitions.empty()) return;
  std::vector<std::string> get = {"HMGET", OffsetsKey()}, set = {"HSET", HandoverKey()};
  for (const auto& tp : partitions) get.push_back(PartitionField(tp.topic, tp.partition));
  auto offsets = redis_.Command(get);
  if (offsets.ok() && offsets->elements.size() == partitions.size()) {
    for (size_t i = 0; i < partitions.size(); ++i) {
      set.push_back(get[i + 2]);
      set.push_back(offsets->elements[i].is_nil() ? "0" : offsets->elements[i].str);
    }
    if (auto s = redis_.CommandOk(set); s.ok()) return;
    else offsets = s.status();
  }
  // Left "owned": the next owner checks what it replays against the store, as after a crash.
  log::Warn("alignment partitions not marked as handed over",
            {{"error", offsets.ok() ? "unexpected reply" : offsets.status().ToString()}});
}

void Processor::OnLost(const std::vector<kafka::TopicPartition>& partitions) {
  // Another member owns them already: what we hold is stale; the new owner replays it.
  batch_ = Batch();
  pending_ = Pending();
  // What is not yet written would overwrite what the new owner checkpoints: the epoch being
  // published is sealed as discarded (its records are awaited), the queued ones dropped.
  writer_.DiscardQueued();
  writer_.Seal({}, {}, /*discard=*/true);
  writer_.Flush();
  ForgetHeld();
  DropPartitions(partitions);
}

void Processor::DropPartitions(const std::vector<kafka::TopicPartition>& partitions) {
  std::set<int32_t> numbers;
  for (const auto& tp : partitions) numbers.insert(tp.partition);
  engine_.DropPartitions(numbers);
}

}  // namespace concord::alignment
