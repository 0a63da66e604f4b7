// WatchFindings: one worker thread + one dedicated Redis connection per stream.
//
// The worker reads the feed with XREAD BLOCK (watch_block) from the stream's cursor, rebuilds
// each entry's FindingEvent (the finding at the entry's version, from its status history),
// applies the filter and writes matching events one at a time (the next write waits for the
// previous one: a slow client slows only its own worker, memory stays bounded). Heartbeats
// when idle. Cancellation, deadline and server shutdown are noticed within watch_block.
#include <google/protobuf/util/time_util.h>

#include "common/logging/log.h"
#include "common/writes/status.h"
#include "common/writes/strings.h"
#include "common/writes/validation.h"
#include "services/alignment/api/alignment_api.h"
#include "common/thread/thread_name.h"

namespace concord::alignment::api {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;
using writes::Cat;

namespace {
google::protobuf::Timestamp NowTs() {
  return TimeUtil::MillisecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}
}  // namespace

class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchFindingsResponse> {
 public:
  WatchReactor(AlignmentApi* api, const v1::WatchFindingsRequest& req) : api_(api), req_(req) {}

  // Either finishes at once (bad request, too many streams) or starts the worker.
  void Begin() {
    writes::Validator v;
    const auto& f = req_.filter();
    for (int i = 0; i < f.types_size(); ++i) v.Enum(writes::Validator::Index("filter.types", i), f.types(i), v1::FindingType_IsValid, true);
    for (int i = 0; i < f.severities_size(); ++i)
      v.Enum(writes::Validator::Index("filter.severities", i), f.severities(i), v1::Severity_IsValid, true);
    for (int i = 0; i < f.statuses_size(); ++i)
      v.Enum(writes::Validator::Index("filter.statuses", i), f.statuses(i), v1::FindingStatus_IsValid, true);
    v.Enum("filter.team", f.team(), events::v1::Team_IsValid, false);
    v.MaxBytes("filter.customer_key", f.customer_key(), 256);
    if (!req_.resume_cursor().empty()) {
      resume_ = FeedId::Parse(req_.resume_cursor());
      if (!resume_) v.Add("resume_cursor", "not a cursor returned by WatchFindings or ListFindings");
    }
    if (!v.ok()) {
      Finish(v.ToGrpcStatus());
      return;
    }
    if (api_->stopping_) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
      return;
    }
    if (api_->watchers_.fetch_add(1) >= api_->options_.max_watchers) {
      api_->watchers_--;
      Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          Cat("too many WatchFindings streams (limit ", api_->options_.max_watchers, "); retry later")));
      return;
    }
    counted_ = true;
    api_->watchers_gauge_->Set(api_->watchers_.load());
    worker_ = std::thread([this] {
      thread::SetName("watch-findings");
      Run();
    });
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      in_flight_ = false;
      if (!ok) broken_ = true;
    }
    cv_.notify_all();
  }
  void OnCancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
  }
  void OnDone() override {
    if (worker_.joinable()) {
      // The worker has called Finish and only returns from it; OnDone may even run on it.
      if (worker_.get_id() == std::this_thread::get_id()) worker_.detach();
      else worker_.join();
    }
    if (counted_) {
      api_->watchers_--;
      api_->watchers_gauge_->Set(api_->watchers_.load());
    }
    delete this;
  }

 private:
  bool Over() {
    std::lock_guard lock(mu_);
    return cancelled_ || broken_ || api_->stopping_;
  }

  // Writes one message, waiting for the previous write. False when the stream is over.
  bool Send(v1::WatchFindingsResponse msg) {
    std::unique_lock lock(mu_);
    while (in_flight_ && !cancelled_ && !broken_ && !api_->stopping_) cv_.wait_for(lock, 200ms);
    if (cancelled_ || broken_ || api_->stopping_) return false;
    out_ = std::move(msg);
    in_flight_ = true;
    lock.unlock();
    StartWrite(&out_);
    last_sent_ = std::chrono::steady_clock::now();
    return true;
  }

  void End(grpc::Status status) {
    std::unique_lock lock(mu_);
    // Every started write completes (ok or not) before Finish.
    cv_.wait(lock, [&] { return !in_flight_; });
    lock.unlock();
    Finish(status);
  }

  bool Heartbeat(const std::string& cursor) {
    v1::WatchFindingsResponse hb;
    hb.set_cursor(cursor);
    *hb.mutable_heartbeat()->mutable_server_time() = NowTs();
    return Send(std::move(hb));
  }

  std::optional<v1::FindingEvent> BuildEvent(const FeedEntry& e, const v1::Finding& current) {
    v1::FindingEvent ev;
    ev.set_customer_key(current.customer_key());
    ev.set_schema_version(1);
    if (e.kind == "status") {
      auto at = FindingsStore::AtVersion(current, e.version);
      if (!at) return std::nullopt;
      const v1::StatusChange* change = nullptr;
      for (const auto& c : at->status_history()) {
        if (c.version() == e.version) change = &c;
      }
      if (!change) return std::nullopt;
      ev.set_id(Cat(current.id(), "@", e.version));
      *ev.mutable_occurred_at() = change->changed_at();
      auto* sc = ev.mutable_status_changed();
      sc->set_finding_id(current.id());
      *sc->mutable_change() = *change;
      *sc->mutable_finding() = *at;
    } else {
      auto at = FindingsStore::AtVersion(current, 1);
      if (!at) return std::nullopt;
      // Same id as the processor's Kafka record of the raised finding.
      ev.set_id("raised:" + current.id());
      *ev.mutable_occurred_at() = current.detected_at();
      *ev.mutable_raised() = *at;
    }
    return ev;
  }

  const v1::Finding& EventFinding(const v1::FindingEvent& ev) {
    return ev.has_raised() ? ev.raised() : ev.status_changed().finding();
  }

  void Run() {
    auto& store = api_->store_;
    redis::Options ro = api_->pool_.options();
    ro.command_timeout = api_->options_.watch_block + 2000ms;
    redis::Connection conn(ro);
    std::string cursor;
    // Where to start: the resume cursor (checked against the retained history) or now.
    for (int attempt = 0;; ++attempt) {
      if (Over()) return End(Ending());
      absl::Status s;
      if (resume_) {
        auto expired = store.FeedCursorExpired(conn, *resume_);
        if (expired.ok() && *expired) {
          return End(grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                                  Cat("resume_cursor: '", req_.resume_cursor(),
                                      "' is older than the retained history; list the findings again and watch from "
                                      "the response's watch_cursor")));
        }
        if (expired.ok()) cursor = resume_->ToString();
        s = expired.status();
      } else {
        auto last = store.FeedLastId(conn);
        if (last.ok()) cursor = *last;
        s = last.status();
      }
      if (s.ok()) break;
      if (attempt >= 10) return End(writes::ToGrpc(writes::StorageError(s)));
      std::this_thread::sleep_for(300ms);
    }
    if (!Heartbeat(cursor)) return End(Ending());

    int failures = 0;
    while (!Over()) {
      auto entries = store.ReadFeed(conn, cursor, 100, static_cast<int>(api_->options_.watch_block.count()));
      if (!entries.ok()) {
        if (++failures > 20) {
          return End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  Cat("findings feed unreachable: ", entries.status().message(), "; resume from cursor ",
                                      cursor)));
        }
        std::this_thread::sleep_for(250ms);
        continue;
      }
      failures = 0;
      std::vector<std::string> ids;
      for (const auto& e : *entries) {
        if (!e.finding_id.empty()) ids.push_back(e.finding_id);
      }
      auto found = store.GetMany(conn, ids);
      if (!found.ok()) {
        std::this_thread::sleep_for(250ms);
        continue;  // cursor unchanged: the same entries are read again
      }
      std::map<std::string, const v1::Finding*> by_id;
      for (const auto& f : *found) {
        if (f) by_id[f->id()] = &*f;
      }
      for (const auto& e : *entries) {
        cursor = e.cursor;
        auto it = by_id.find(e.finding_id);
        if (it == by_id.end()) continue;
        auto ev = BuildEvent(e, *it->second);
        if (!ev || !Matches(req_.filter(), EventFinding(*ev))) continue;
        v1::WatchFindingsResponse msg;
        msg.set_cursor(cursor);
        *msg.mutable_event() = std::move(*ev);
        if (!Send(std::move(msg))) return End(Ending());
      }
      if (std::chrono::steady_clock::now() - last_sent_ >= api_->options_.heartbeat_interval) {
        if (!Heartbeat(cursor)) return End(Ending());
      }
    }
    End(Ending(cursor));
  }

  grpc::Status Ending(const std::string& cursor = "") {
    std::lock_guard lock(mu_);
    if (cancelled_) return grpc::Status::CANCELLED;
    if (api_->stopping_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down; resume from the last cursor received");
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken; resume from the last cursor received");
  }

  AlignmentApi* api_;
  v1::WatchFindingsRequest req_;
  std::optional<FeedId> resume_;
  bool counted_ = false;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool in_flight_ = false, cancelled_ = false, broken_ = false;
  v1::WatchFindingsResponse out_;
  std::chrono::steady_clock::time_point last_sent_ = std::chrono::steady_clock::now();
};

grpc::ServerWriteReactor<v1::WatchFindingsResponse>* AlignmentApi::WatchFindings(grpc::CallbackServerContext* ctx,
                                                                               const v1::WatchFindingsRequest* req) {
  auto* reactor = new WatchReactor(this, *req);
  if (options_.authz) {
    if (grpc::Status refused = options_.authz->Check(*ctx, service_full_name(), "WatchFindings"); !refused.ok()) {
      reactor->Finish(refused);  // logged and counted by the check; no stream, no worker
      return reactor;
    }
  }
  reactor->Begin();
  return reactor;
}

}  // namespace concord::alignment::api
