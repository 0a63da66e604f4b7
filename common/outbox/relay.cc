#include "common/outbox/relay.h"

#include <algorithm>

#include <absl/strings/numbers.h>

#include "common/logging/log.h"
#include "common/outbox/store.h"
#include "common/thread/thread_name.h"

namespace concord::outbox {
namespace {

using namespace std::chrono_literals;

// Renews the lease only if we still hold it; releases likewise.
constexpr const char* kRenewScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";
constexpr const char* kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// The stream id just before `id`, so that XREAD (exclusive) returns `id` again.
std::string Before(const std::string& id) {
  auto dash = id.find('-');
  uint64_t ms = 0, seq = 0;
  absl::SimpleAtoi(id.substr(0, dash), &ms);
  absl::SimpleAtoi(id.substr(dash + 1), &seq);
  if (seq > 0) return std::to_string(ms) + "-" + std::to_string(seq - 1);
  if (ms == 0) return "0-0";
  return std::to_string(ms - 1) + "-18446744073709551615";
}

bool IdLess(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& id) {
    auto dash = id.find('-');
    uint64_t ms = 0, seq = 0;
    absl::SimpleAtoi(id.substr(0, dash), &ms);
    absl::SimpleAtoi(id.substr(dash + 1), &seq);
    return std::make_pair(ms, seq);
  };
  return parse(a) < parse(b);
}

}  // namespace

Relay::Relay(redis::Options redis, kafka::Producer& producer, RelayOptions options)
    : conn_(std::move(redis)), producer_(producer), options_(std::move(options)) {
  auto& reg = metrics::Default();
  static auto& relayed = reg.AddCounter("concord_outbox_relayed_total", "Outbox records acknowledged by Kafka", {"prefix"});
  static auto& failed = reg.AddCounter("concord_outbox_failed_total", "Outbox deliveries that failed and will be retried", {"prefix"});
  static auto& pending = reg.AddGauge("concord_outbox_pending", "Outbox records waiting for Kafka", {"prefix"});
  relayed_metric_ = &relayed.With({options_.prefix});
  failed_metric_ = &failed.With({options_.prefix});
  pending_metric_ = &pending.With({options_.prefix});
}

Relay::~Relay() { Stop(5s); }

void Relay::Start() {
  if (!options_.enabled) {
    log::Warn("outbox relay disabled: events stay in Redis until a relay runs", {{"prefix", options_.prefix}});
    return;
  }
  thread_ = std::thread([this] {
    thread::SetName("outbox-relay");
    Run();
  });
}

void Relay::Stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  auto deadline = std::chrono::steady_clock::now() + drain;
  // Let what was read reach Kafka before stopping; new records are not read any more.
  stop_ = true;
  thread_.join();
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    (void)producer_.Flush(100ms);
  }
  Reap();
  if (leader_) ReleaseLease();
  log::Info("outbox relay stopped", {{"relayed", relayed_.load()}, {"in_flight", in_flight_.load()}});
}

bool Relay::HoldLease() {
  std::string lock = options_.prefix + ":outbox:lock";
  auto now = std::chrono::steady_clock::now();
  if (leader_ && now - lease_renewed_ < options_.lease / 3) return true;
  if (leader_) {
    auto r = conn_.Command({"EVAL", kRenewScript, "1", lock, options_.instance, std::to_string(options_.lease.count())});
    if (r.ok() && r->integer == 1) {
      lease_renewed_ = now;
      return true;
    }
    leader_ = false;
    log::Warn("outbox relay lost its lease", {{"prefix", options_.prefix}});
    return false;
  }
  auto r = conn_.Command({"SET", lock, options_.instance, "NX", "PX", std::to_string(options_.lease.count())});
  if (r.ok() && r->type == redis::Reply::Type::kStatus) {
    leader_ = true;
    lease_renewed_ = now;
    last_id_ = "0-0";  // a new leader starts from the oldest record still in the outbox
    log::Info("outbox relay is active", {{"prefix", options_.prefix}, {"instance", options_.instance}});
    return true;
  }
  return false;
}

void Relay::ReleaseLease() {
  (void)conn_.Command({"EVAL", kReleaseScript, "1", options_.prefix + ":outbox:lock", options_.instance});
  leader_ = false;
}

std::vector<std::string> Relay::TakeAcked() {
  std::lock_guard lock(mu_);
  std::vector<std::string> acked;
  acked.swap(acked_);
  return acked;
}

void Relay::Deleted(std::vector<std::string> acked, const absl::StatusOr<redis::Reply>& r) {
  if (r.ok() && !r->is_error()) return;
  // Not deleted: they will be produced again later (consumers dedupe by event id).
  log::Warn("outbox delete failed", {{"error", r.ok() ? r->str : r.status().ToString()}});
  std::lock_guard lock(mu_);
  acked_.insert(acked_.end(), acked.begin(), acked.end());
}

std::vector<std::string> Relay::DeleteCommand(const std::vector<std::string>& acked) const {
  std::vector<std::string> cmd;
  cmd.reserve(2 + acked.size());
  cmd.push_back("XDEL");
  cmd.push_back(options_.prefix + ":outbox");
  cmd.insert(cmd.end(), acked.begin(), acked.end());
  return cmd;
}

bool Relay::Rewind() {
  std::vector<std::string> failed;
  {
    std::lock_guard lock(mu_);
    // Rewind only once nothing is in flight: records after the failed one that are still
    // on their way would otherwise be read and produced a second time.
    if (in_flight_.load() == 0) failed.swap(failed_);
  }
  if (failed.empty()) return false;
  auto first = *std::min_element(failed.begin(), failed.end(), IdLess);
  std::string rewind = Before(first);
  if (IdLess(rewind, last_id_)) last_id_ = rewind;
  return true;
}

void Relay::Reap() {
  auto acked = TakeAcked();
  if (!acked.empty()) {
    auto r = conn_.Command(DeleteCommand(acked));
    Deleted(std::move(acked), r);
  }
  Rewind();
}

bool Relay::HasFailures() {
  std::lock_guard lock(mu_);
  return !failed_.empty();
}

void Relay::Run() {
  const std::string stream = options_.prefix + ":outbox";
  int backoff_ms = 0;
  while (!stop_) {
    if (Rewind()) backoff_ms = 500;  // a delivery failed: the broker is likely down, slow down
    if (HasFailures()) {             // wait for in-flight reports before rewinding
      std::this_thread::sleep_for(10ms);
      continue;
    }
    if (backoff_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = 0;
    }
    if (!HoldLease()) {
      Reap();  // what the last lease delivered
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(options_.lease / 5, 500ms));
      continue;
    }
    // The gauge at most every pending_interval (also while idle), not once per read.
    if (auto now = std::chrono::steady_clock::now(); now - pending_updated_ >= options_.pending_interval) {
      pending_updated_ = now;
      auto len = conn_.Command({"XLEN", stream});
      if (len.ok()) pending_metric_->Set(static_cast<double>(len->integer));
    }
    // Keep the producer queue bounded: a down broker must not pull the whole outbox into memory.
    if (in_flight_.load() >= options_.batch * 4) {
      Reap();
      std::this_thread::sleep_for(20ms);
      continue;
    }
    // The records Kafka acknowledged since the last read are deleted in the same round trip
    // as the next read.
    auto acked = TakeAcked();
    std::vector<std::vector<std::string>> cmds;
    if (!acked.empty()) cmds.push_back(DeleteCommand(acked));
    cmds.push_back({"XREAD", "COUNT", std::to_string(options_.batch), "BLOCK", std::to_string(options_.block.count()),
                    "STREAMS", stream, last_id_});
    auto replies = conn_.Pipeline(cmds);
    if (!acked.empty()) {
      Deleted(std::move(acked), replies.ok() ? absl::StatusOr<redis::Reply>(replies->front())
                                             : absl::StatusOr<redis::Reply>(replies.status()));
    }
    if (!replies.ok()) {
      log::Warn("outbox read failed", {{"error", replies.status().ToString()}});
      backoff_ms = 500;
      continue;
    }
    const redis::Reply& reply = replies->back();
    if (reply.is_error()) {
      log::Warn("outbox read failed", {{"error", reply.str}});
      backoff_ms = 500;
      continue;
    }
    if (reply.is_nil() || reply.elements.empty()) continue;  // idle
    static const std::vector<redis::Reply> kNone;
    const auto& entries = reply.elements[0].elements.size() == 2 ? reply.elements[0].elements[1].elements : kNone;
    for (const auto& entry : entries) {
      if (entry.elements.size() != 2) continue;
      const std::string& id = entry.elements[0].str;
      OutboxEvent record;
      if (!DecodeRecord(entry.elements[1].elements, &record)) {
        // Cannot be produced: skipped, loudly, and left in the outbox for an operator.
        log::Error("outbox record unreadable; skipped", {{"prefix", options_.prefix}, {"stream_id", id}});
        last_id_ = id;
        continue;
      }
      in_flight_++;
      auto s = producer_.Produce(record.topic, record.key, record.value, record.headers,
                                 [this, id, event_id = record.event_id](const kafka::DeliveryResult& r) {
                                   std::lock_guard lock(mu_);
                                   if (r.ok()) {
                                     acked_.push_back(id);
                                     relayed_++;
                                     relayed_metric_->Inc();
                                   } else {
                                     failed_.push_back(id);
                                     failed_metric_->Inc();
                                     log::Warn("outbox delivery failed; will retry", {{"event_id", event_id},
                                                                                       {"error", r.error_text},
                                                                                       {"retryable", r.retryable}});
                                   }
                                   in_flight_--;
                                 });
      if (!s.ok()) {
        in_flight_--;
        log::Warn("outbox produce refused; will retry", {{"event_id", record.event_id}, {"error", s.ToString()}});
        backoff_ms = 200;
        break;  // last_id_ stays before this record
      }
      last_id_ = id;
    }
    if (static_cast<int>(entries.size()) < options_.batch && options_.gather.count() > 0) {
      std::this_thread::sleep_for(options_.gather);
    }
  }
}

}  // namespace concord::outbox
