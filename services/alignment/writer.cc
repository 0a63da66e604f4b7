#include "services/alignment/writer.h"

#include <algorithm>
#include <chrono>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/time_util.h>
#include <google/protobuf/wire_format_lite.h>

#include "common/kafka/cloudevents.h"
#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::alignment {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;

namespace {

google::protobuf::Timestamp Now() {
  return TimeUtil::MillisecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// The finding-raised FindingEvent's bytes: its small fields serialized, then `raised` appended
// as a length-delimited field. Appending a field to serialized bytes is how protobuf encodes it
// (field 10 comes last in field order anyway), and it spares copying the whole finding into
// the event.
std::string RaisedEvent(const engine::EncodedFinding& f, const google::protobuf::Timestamp& detected_at) {
  v1::FindingEvent ev;
  ev.set_id("raised:" + f.id);
  *ev.mutable_occurred_at() = detected_at;
  ev.set_customer_key(f.customer_key);
  ev.set_schema_version(1);
  std::string out = ev.SerializeAsString();
  // Tag and length into a buffer, then one append of the finding (a StringOutputStream grew
  // the string and copied the finding in pieces).
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  uint8_t head[10];
  uint8_t* end = CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(v1::FindingEvent::kRaisedFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED), head);
  end = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(f.bytes.size()), end);
  out.reserve(out.size() + static_cast<size_t>(end - head) + f.bytes.size());
  out.append(reinterpret_cast<const char*>(head), static_cast<size_t>(end - head));
  out.append(f.bytes);
  return out;
}

std::chrono::milliseconds Backoff(int attempt) { return std::min((attempt + 1) * 200ms, 2000ms); }

}  // namespace

Writer::Writer(WriterOptions options, redis::Options redis, kafka::Producer& producer, OnCheckpointed on_checkpointed)
    : options_(std::move(options)), publish_redis_(redis), checkpoint_redis_(redis), producer_(producer),
      on_checkpointed_(std::move(on_checkpointed)), findings_(options_.redis_prefix),
      finding_compressor_(findings_.DictionaryPrefix(), redis, "finding"),
      checkpoint_compressor_(CheckpointDictionaryPrefix(options_.redis_prefix), std::move(redis), "checkpoint"),
      current_(std::make_unique<Epoch>()) {
  auto& reg = metrics::Default();
  findings_metric_ = &reg.AddCounter("concord_alignment_findings_total", "Findings published", {"type"});
  dlq_metric_ = &reg.AddCounter("concord_alignment_dead_letters_total", "Records sent to the dead-letter topic", {"topic"});
  latency_ = &reg.AddHistogram("concord_alignment_detection_latency_seconds",
                               "From the last evidence event's time to the finding's publication", {},
                               metrics::LatencyBuckets())
                  .With({});
  already_stored_ = &reg.AddCounter("concord_alignment_findings_already_stored_total",
                                    "Findings raised again but already stored by an earlier run (not published again)", {})
                         .With({});
  checked_ = &reg.AddCounter("concord_alignment_findings_checked_total",
                             "Findings looked up in Redis before publishing: raised from records an earlier owner of "
                             "the partition may have processed, or by a restored timer",
                             {})
                  .With({});
  // What --max-inflight-mib bounds, and how long it held reading back: sizing an instance.
  inflight_ = &reg.AddGauge("concord_alignment_inflight_bytes",
                            "Findings, dead letters and checkpoints sealed and not yet written to Redis (estimated "
                            "bytes; bounded by --max-inflight-mib)",
                            {})
                   .With({});
  finding_bytes_ = StoredBytes::Add(reg, "concord_alignment_finding_bytes_total", "findings");
  checkpoint_bytes_ = StoredBytes::Add(reg, "concord_alignment_checkpoint_bytes_total", "customer checkpoints");
  inflight_waits_ = &reg.AddCounter("concord_alignment_inflight_wait_seconds_total",
                                    "Time reading waited for the writer: in-flight memory (--max-inflight-mib) or hand-overs queued", {})
                         .With({});
}

Writer::StoredBytes Writer::StoredBytes::Add(metrics::Registry& reg, const std::string& name, const std::string& values) {
  auto& family = reg.AddCounter(name,
                                "Bytes of the " + values + " written to Redis: serialized, and as stored (compressed "
                                "with the deployment's dictionary once it has one)",
                                {"form"});
  return {&family.With({"serialized"}), &family.With({"stored"})};
}

void Writer::StoredBytes::Compress(DictionaryCompressor& c, std::string& value) const {
  serialized->Inc(static_cast<double>(value.size()));
  value = c.Compress(std::move(value));
  stored->Inc(static_cast<double>(value.size()));
}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  quit_ = false;
  finding_compressor_.Start();
  checkpoint_compressor_.Start();
  publisher_ = std::thread([this] {
    thread::SetName("align-publish");
    PublishLoop();
  });
  checkpointer_ = std::thread([this] {
    thread::SetName("align-checkpt");
    CheckpointLoop();
  });
}

void Writer::Stop() {
  if (!publisher_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  work_cv_.notify_all();
  sealed_cv_.notify_all();
  publisher_.join();
  checkpointer_.join();
  finding_compressor_.Stop();
  checkpoint_compressor_.Stop();
}

void Writer::Submit(std::vector<Raised> findings, std::vector<DeadLetter> dead_letters) {
  if (findings.empty() && dead_letters.empty()) return;
  // Until its epoch is checkpointed a finding is in memory three times: the engine's bytes
  // (then the SET), the published FindingEvent and the producer's copy of it until acknowledged;
  // plus its id, key, headers and index commands, about 0.5 KiB. (A flat 2 KiB was about half
  // of what a 1 KiB finding takes: the bound let twice its memory through.)
  for (const auto& r : findings) unsealed_bytes_ += 3 * r.finding.bytes.size() + 512;
  for (const auto& d : dead_letters) unsealed_bytes_ += d.key.size() + d.value.size() + d.reason.size() + 256;
  Enqueue({.findings = std::move(findings), .dead_letters = std::move(dead_letters)});
}

void Writer::Seal(std::vector<std::vector<std::string>> state, NextOffsets next_offsets, bool discard) {
  size_t bytes = std::exchange(unsealed_bytes_, 0);
  for (const auto& c : state) {
    for (const auto& a : c) bytes += a.size() + 32;
  }
  Enqueue({.seal = true, .discard = discard, .state = std::move(state), .next_offsets = std::move(next_offsets),
           .bytes = bytes});
}

void Writer::Enqueue(Work w) {
  {
    std::unique_lock lock(mu_);
    // Only a seal waits for bytes: sealed epochs are written without the read thread, so their
    // bytes always come back (an unsealed epoch needs the read thread's next seal, so waiting on
    // it could never end). With nothing sealed in flight, one epoch larger than the bound goes.
    const auto has_room = [&] {
      return work_.size() < options_.max_queued &&
             (!w.seal || sealed_bytes_ == 0 || sealed_bytes_ + w.bytes <= options_.max_sealed_bytes);
    };
    if (!has_room()) {
      const auto from = std::chrono::steady_clock::now();
      room_cv_.wait(lock, has_room);
      inflight_waits_->Inc(std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count());
    }
    sealed_bytes_ += w.bytes;
    inflight_->Set(static_cast<double>(sealed_bytes_));
    work_.push_back(std::move(w));
  }
  work_cv_.notify_one();
}

void Writer::Flush() {
  std::unique_lock lock(mu_);
  room_cv_.wait(lock, [&] { return work_.empty() && !publishing_ && sealed_.empty(); });
}

void Writer::DiscardQueued() {
  std::lock_guard lock(mu_);
  for (auto& w : work_) {
    w.findings.clear();
    w.dead_letters.clear();
    w.discard = true;
  }
  for (size_t i = 1; i < sealed_.size(); ++i) sealed_[i]->discard = true;
}

void Writer::PublishLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    if (!work_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return quit_ || !work_.empty(); })) {
      // Idle (a replay done, a quiet hour): what was checkpointed meanwhile need not be held.
      lock.unlock();
      ForgetCheckpointedIds();
      lock.lock();
      continue;
    }
    if (work_.empty()) return;  // quit, and nothing left
    // Everything queued up to the next seal goes in one check.
    std::vector<Work> taken;
    while (!work_.empty()) {
      bool seal = work_.front().seal;
      taken.push_back(std::move(work_.front()));
      work_.pop_front();
      if (seal) break;
    }
    publishing_ = true;
    lock.unlock();
    room_cv_.notify_all();  // room in the queue
    Epoch& e = *current_;
    for (auto& w : taken) {
      e.bytes += w.bytes;  // only a seal has bytes: the whole epoch's
      std::move(w.findings.begin(), w.findings.end(), std::back_inserter(e.unchecked));
      std::move(w.dead_letters.begin(), w.dead_letters.end(), std::back_inserter(e.dead_letters));
    }
    if (!failed_ && !PublishAll(e)) failed_ = true;
    if (taken.back().seal) SealCurrent(taken.back());
    lock.lock();
    publishing_ = false;
    room_cv_.notify_all();                  // a Flush
    if (quit_) sealed_cv_.notify_all();     // the checkpointer may now stop
  }
}

void Writer::SealCurrent(Work& w) {
  auto e = std::move(current_);
  current_ = std::make_unique<Epoch>();
  e->seq = next_seq_++;
  e->discard = w.discard || failed_;
  e->next_offsets = std::move(w.next_offsets);
  if (!e->discard) {
    auto& cmds = e->commands;
    cmds.push_back({"MULTI"});
    e->state_begin = cmds.size();
    std::move(w.state.begin(), w.state.end(), std::back_inserter(cmds));
    e->state_end = cmds.size();
    std::vector<std::string> ids;
    ids.reserve(e->fresh.size());
    std::vector<FindingsStore::ToSave> save;
    save.reserve(e->fresh.size());
    for (auto& f : e->fresh) {
      save.push_back({f.id, f.customer_key, f.detected_ms, std::move(f.bytes)});
      ids.push_back(f.id);
    }
    if (!save.empty()) e->findings_command = cmds.size();  // SaveCommands' MSET comes first
    for (auto& c : findings_.SaveCommands(std::move(save))) cmds.push_back(std::move(c));
    if (!e->next_offsets.empty()) {
      std::vector<std::string> hset = {"HSET", options_.offsets_key};
      for (const auto& [tp, next] : e->next_offsets) {
        hset.push_back(tp.first + ":" + std::to_string(tp.second));
        hset.push_back(std::to_string(next));
      }
      cmds.push_back(std::move(hset));
    }
    cmds.push_back({"EXEC"});
    for (const auto& id : ids) pending_id_set_.insert(id);
    pending_ids_.emplace_back(e->seq, std::move(ids));
  }
  std::unique_lock lock(mu_);
  room_cv_.wait(lock, [&] { return sealed_.size() < options_.max_pending_checkpoints; });
  sealed_.push_back(std::move(e));
  sealed_cv_.notify_one();
}

bool Writer::PublishAll(Epoch& e) {
  for (int attempt = 0;; ++attempt) {
    auto s = Publish(e);
    if (s.ok()) return true;
    if (stopping_ && attempt >= 3) {
      log::Error("alignment findings not published at shutdown; the epoch will be replayed", {{"error", s.ToString()}});
      return false;
    }
    log::Warn("alignment publish failed; retrying", {{"error", s.ToString()}, {"attempt", attempt + 1}});
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

void Writer::ForgetCheckpointedIds() {
  // Ids of epochs now in Redis are found by EXISTS from here on.
  for (uint64_t done = checkpointed_seq_.load(); !pending_ids_.empty() && pending_ids_.front().first <= done;) {
    for (const auto& id : pending_ids_.front().second) pending_id_set_.erase(id);
    pending_ids_.pop_front();
  }
  // The set keeps the capacity of its largest moment (a replay: tens of thousands of ids in
  // flight, megabytes of slots); give that back once it is mostly empty.
  if (pending_id_set_.capacity() > 1024 && pending_id_set_.capacity() > 8 * pending_id_set_.size()) {
    pending_id_set_.rehash(0);
  }
}

absl::Status Writer::Publish(Epoch& e) {
  ForgetCheckpointedIds();
  // Which findings are new: not published in an earlier run (replays) nor twice.
  if (!e.unchecked.empty()) {
    std::vector<std::string> ids;
    for (const auto& r : e.unchecked) {
      if (r.check) ids.push_back(r.finding.id);
    }
    std::vector<bool> exists;
    if (!ids.empty()) {
      auto stored = findings_.Exists(publish_redis_, ids);
      if (!stored.ok()) return stored.status();
      exists = std::move(*stored);
      checked_->Inc(static_cast<double>(ids.size()));
    }
    const auto now = Now();
    const int64_t now_ms = TimeUtil::TimestampToMilliseconds(now);
    const std::string ce_time = TimeUtil::ToString(now);  // once per batch: it formats through printf
    size_t checked = 0;
    for (auto& r : e.unchecked) {
      auto& f = r.finding;
      if (r.check && exists[checked++]) {
        already_stored_->Inc();
        continue;
      }
      if (pending_id_set_.count(f.id) || !e.fresh_ids.insert(f.id).second) continue;
      // Detected = published: the engine's bytes carry its own clock, replaced here (no parse).
      // The latency runs from when the finding became detectable: the last evidence, or the
      // deadline of a timer-driven one (an SLA breach is not hours late because the SLA is hours).
      const engine::Micros latency = std::max<engine::Micros>(0, now_ms * 1000 - f.complete_at);
      engine::SetDetection(&f, now_ms * 1000, latency);
      latency_->Observe(static_cast<double>(latency) / 1e6);
      e.items.push_back({options_.findings_topic, f.customer_key, RaisedEvent(f, now),
                         kafka::ToHeaders({"raised:" + f.id, options_.source, "io.concord.alignment.finding-raised.v1",
                                           ce_time, f.customer_key, "concord.alignment.v1.FindingEvent"})});
      e.fresh.push_back({std::move(f.id), std::move(f.customer_key), std::move(f.bytes), f.type, now_ms});
    }
    e.unchecked.clear();
  }
  for (; e.dead_published < e.dead_letters.size(); ++e.dead_published) {
    const auto& d = e.dead_letters[e.dead_published];
    auto headers = d.headers;
    headers.push_back({"dlq_reason", d.reason});
    headers.push_back({"dlq_topic", d.from.topic});
    headers.push_back({"dlq_partition", std::to_string(d.from.partition)});
    headers.push_back({"dlq_offset", std::to_string(d.from.offset)});
    headers.push_back({"dlq_consumer", options_.group_id});
    e.items.push_back({options_.dlq_topic, d.key, d.value, std::move(headers)});
  }
  for (; e.next_send < e.items.size(); ++e.next_send) {
    if (e.items[e.next_send].sent) continue;
    if (auto s = Send(e, e.items[e.next_send]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Writer::Send(Epoch& e, Item& item) {
  {
    std::lock_guard lock(delivery_mu_);
    ++e.outstanding;
  }
  auto s = producer_.Produce(item.topic, item.key, item.value, item.headers,
                             [this, ep = &e, it = &item](const kafka::DeliveryResult& r) {
                               std::lock_guard lock(delivery_mu_);
                               if (r.ok()) it->delivered = true;
                               else ep->delivery_error = r.error_text;
                               if (--ep->outstanding == 0) delivery_cv_.notify_all();
                             });
  if (!s.ok()) {  // not enqueued (e.g. the queue is full): sent again by the next attempt
    std::lock_guard lock(delivery_mu_);
    if (--e.outstanding == 0) delivery_cv_.notify_all();
    return absl::UnavailableError("publishing findings: " + std::string(s.message()));
  }
  item.sent = true;
  return absl::OkStatus();
}

void Writer::AwaitDeliveries(Epoch& e) {
  std::unique_lock lock(delivery_mu_);
  // Delivery reports always come (success, or failure after delivery.timeout.ms).
  delivery_cv_.wait(lock, [&] { return e.outstanding == 0; });
}

void Writer::CheckpointLoop() {
  // Once an epoch is given up (shutting down with Redis or Kafka unavailable), no later one is
  // written: each builds on the state and offsets of the ones before it.
  bool gave_up = false;
  std::unique_lock lock(mu_);
  while (true) {
    sealed_cv_.wait(lock, [&] { return (quit_ && work_.empty() && !publishing_) || !sealed_.empty(); });
    if (sealed_.empty()) return;  // quit, and nothing left
    Epoch* e = sealed_.front().get();
    bool discard = e->discard || gave_up;
    lock.unlock();
    bool written = false;
    if (discard) AwaitDeliveries(*e);  // callbacks point into it
    else written = WriteCheckpoint(*e);
    lock.lock();
    std::unique_ptr<Epoch> done = std::move(sealed_.front());
    sealed_.pop_front();
    if (!written && !discard) gave_up = true;
    if (!written) dropped_ = true;
    checkpointed_seq_ = done->seq;
    sealed_bytes_ -= done->bytes;
    inflight_->Set(static_cast<double>(sealed_bytes_));
    room_cv_.notify_all();
    lock.unlock();
    done.reset();  // a large epoch is freed outside the lock
    lock.lock();
  }
}

void Writer::Compress(Epoch& e) {
  if (e.findings_command != SIZE_MAX) {
    auto& mset = e.commands[e.findings_command];  // MSET key value key value ...
    for (size_t i = 2; i < mset.size(); i += 2) finding_bytes_.Compress(finding_compressor_, mset[i]);
  }
  for (size_t c = e.state_begin; c < e.state_end; ++c) {
    auto& cmd = e.commands[c];  // HSET key customer checkpoint, or HDEL
    if (cmd.size() == 4 && cmd[0] == "HSET") checkpoint_bytes_.Compress(checkpoint_compressor_, cmd[3]);
  }
  e.findings_command = SIZE_MAX;  // once, not again on a retry
  e.state_begin = e.state_end = 0;
}

bool Writer::WriteCheckpoint(Epoch& e) {
  // Here, not when the epoch is sealed: the publisher is on the path of live findings.
  Compress(e);
  for (int attempt = 0;; ++attempt) {
    auto s = Deliveries(e);
    if (s.ok()) s = Transaction(e);
    if (s.ok()) return true;
    if (stopping_ && attempt >= 3) {
      log::Error("alignment epoch not checkpointed at shutdown; it will be replayed", {{"error", s.ToString()}});
      AwaitDeliveries(e);
      return false;
    }
    log::Warn("alignment checkpoint failed; retrying", {{"error", s.ToString()}, {"attempt", attempt + 1}});
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

absl::Status Writer::Deliveries(Epoch& e) {
  // Nothing is checkpointed that is not on Kafka: a failed record is sent again first.
  AwaitDeliveries(e);
  std::string error;
  {
    std::lock_guard lock(delivery_mu_);
    error.swap(e.delivery_error);
  }
  bool failed = false;
  for (auto& item : e.items) {
    if (item.delivered) continue;
    failed = true;
    if (auto s = Send(e, item); !s.ok()) return s;
  }
  if (failed) return absl::UnavailableError("publishing findings: " + error);
  return absl::OkStatus();
}

absl::Status Writer::Transaction(Epoch& e) {
  auto replies = checkpoint_redis_.Pipeline(e.commands);  // kept for a retry
  if (!replies.ok()) return replies.status();
  const auto& result = replies->back();
  if (result.type != redis::Reply::Type::kArray) return absl::InternalError("checkpoint transaction aborted: " + result.str);
  for (const auto& r : result.elements) {
    if (r.is_error()) return absl::InternalError("checkpoint: " + r.str);
  }
  for (const auto& f : e.fresh) {
    findings_published_++;
    findings_metric_->With({v1::FindingType_Name(f.type)}).Inc();
  }
  for (const auto& d : e.dead_letters) {
    dead_lettered_++;
    dlq_metric_->With({d.from.topic}).Inc();
    log::Warn("record sent to the dead-letter topic",
              {{"topic", d.from.topic}, {"partition", d.from.partition}, {"offset", d.from.offset}, {"reason", d.reason}});
  }
  if (on_checkpointed_) on_checkpointed_(e.next_offsets);
  return absl::OkStatus();
}

}  // namespace concord::alignment
