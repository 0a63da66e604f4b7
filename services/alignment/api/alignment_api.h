#pragma once
// concord.alignment.v1.AlignmentService over the gRPC callback API.
//
//   * Findings (List/Get/Watch/Acknowledge/Resolve/Dismiss) are served from the Redis layout
//     of FindingsStore, which the streaming Processor writes.
//   * Status changes are one Lua compare-and-set in Redis (finding + feed entry + request
//     record + outbox entry), then the FindingEvent{status_changed} is published to Kafka; if
//     that fails the outbox relay thread publishes it later (at-least-once, ce_id deterministic).
//   * WatchFindings: one worker thread and one dedicated Redis connection per stream
//     (XREAD BLOCK on the feed), at most `max_watchers` streams.
//   * GetCustomerView / GetScorecard take optional hooks into the engine's in-memory state;
//     without them they serve what Redis holds (see README.md).
//   * Playbook: versioned in Redis (`<prefix>:playbook`), validated with engine::LoadPlaybook.
//
// Handlers run their (short, bounded) Redis calls on the gRPC callback thread, like the
// marketing and sales services.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <absl/status/statusor.h>

#include "common/auth/authorizer.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/redis/redis.h"
#include "common/writes/rpc_metrics.h"
#include "concord/alignment/v1/alignment.grpc.pb.h"
#include "services/alignment/api/playbook_store.h"
#include "services/alignment/findings_store.h"

namespace concord::alignment::api {

using Deadline = std::optional<std::chrono::system_clock::time_point>;

// Activity the findings store cannot know (touches, claims, hand-offs): supplied by the engine
// through AlignmentApiOptions::scorecard_activity. Every field is for the given scope and period.
struct ScorecardActivity {
  uint64_t customers_touched = 0;
  uint64_t touches = 0;
  uint64_t claims = 0;
  uint64_t handoffs_due = 0;            // hand-offs whose SLA deadline fell in the period
  uint64_t handoffs_within_sla = 0;     // of those, accepted or first-touched within the SLA
  uint64_t handoffs_accepted = 0;       // hand-offs accepted in the period
  std::optional<std::chrono::milliseconds> median_time_to_accept;
};

struct AlignmentApiOptions {
  std::string redis_prefix = "concord:alignment";
  std::string findings_topic = "concord.alignment.findings.v1";
  std::string source = "/concord/alignment";  // ce_source of status-change events

  // WatchFindings.
  int max_watchers = 256;
  std::chrono::milliseconds heartbeat_interval{15000};
  std::chrono::milliseconds watch_block{1000};  // XREAD BLOCK; also the cancellation latency

  // Lists and responses.
  size_t max_response_bytes = 3 * 1024 * 1024 + 512 * 1024;  // below the 4 MiB message limit
  int list_max_scan = 5000;                                   // index entries read per ListFindings call
  int scorecard_max_scan = 200000;                            // findings read per GetScorecard call
  std::chrono::milliseconds pool_timeout{1000};

  // Access check before every RPC (common/auth; not owned). Null: no access control.
  auth::Authorizer* authz = nullptr;

  // Status-change events.
  std::chrono::milliseconds publish_timeout{5000};
  std::chrono::milliseconds relay_interval{1000};
  std::chrono::milliseconds relay_min_age{5000};  // relayed once publish_timeout + this has passed

  // Playbook installed as version 1 when Redis holds none (e.g. the --playbook file).
  std::string initial_playbook_yaml;
  std::string initial_playbook_source;  // "file:<path>"

  // ---- hooks into the engine (all optional) ------------------------------------------------
  // The engine's picture of a customer (identity, records, stage, owner, touches, claims,
  // hand-off, opportunities, score). nullopt = unknown to the engine. open_findings is always
  // filled from Redis by the API (status lives there).
  std::function<absl::StatusOr<std::optional<v1::CustomerView>>(const std::string& customer_key, uint32_t max_touches)>
      customer_view;
  // Activity counts for a scorecard scope and period.
  std::function<absl::StatusOr<ScorecardActivity>(const v1::ScorecardScope& scope,
                                                  std::chrono::system_clock::time_point start,
                                                  std::chrono::system_clock::time_point end)>
      scorecard_activity;
  // Called after a playbook version is installed (UpdatePlaybook, or the initial one), with
  // the parsed playbook whose version is the installed one. Must be thread-safe.
  std::function<void(const engine::Playbook&)> on_playbook_installed;
};

class AlignmentApi final : public v1::AlignmentService::CallbackService {
 public:
  // `pool` serves the unary RPCs (each WatchFindings stream opens its own connection with
  // pool.options()); `producer` publishes status-change events. All must outlive the service.
  AlignmentApi(AlignmentApiOptions options, redis::Pool& pool, kafka::Producer& producer,
               metrics::Registry& registry);
  ~AlignmentApi() override;

  static constexpr const char* service_full_name() { return v1::AlignmentService::service_full_name(); }

  // Installs the initial playbook if none is stored and starts the outbox relay.
  absl::Status Start();
  // Ends every watch stream (UNAVAILABLE, "resume from your cursor") within ~watch_block,
  // stops the relay. Idempotent; the destructor calls it.
  void Shutdown();

  int active_watchers() const { return watchers_.load(); }
  PlaybookStore& playbooks() { return playbooks_; }

  grpc::ServerUnaryReactor* ListFindings(grpc::CallbackServerContext* ctx, const v1::ListFindingsRequest* req,
                                         v1::ListFindingsResponse* resp) override;
  grpc::ServerUnaryReactor* GetFinding(grpc::CallbackServerContext* ctx, const v1::GetFindingRequest* req,
                                       v1::Finding* resp) override;
  grpc::ServerWriteReactor<v1::WatchFindingsResponse>* WatchFindings(grpc::CallbackServerContext* ctx,
                                                                     const v1::WatchFindingsRequest* req) override;
  grpc::ServerUnaryReactor* AcknowledgeFinding(grpc::CallbackServerContext* ctx,
                                               const v1::AcknowledgeFindingRequest* req,
                                               v1::AcknowledgeFindingResponse* resp) override;
  grpc::ServerUnaryReactor* ResolveFinding(grpc::CallbackServerContext* ctx, const v1::ResolveFindingRequest* req,
                                           v1::ResolveFindingResponse* resp) override;
  grpc::ServerUnaryReactor* DismissFinding(grpc::CallbackServerContext* ctx, const v1::DismissFindingRequest* req,
                                           v1::DismissFindingResponse* resp) override;
  grpc::ServerUnaryReactor* GetCustomerView(grpc::CallbackServerContext* ctx, const v1::GetCustomerViewRequest* req,
                                            v1::CustomerView* resp) override;
  grpc::ServerUnaryReactor* GetScorecard(grpc::CallbackServerContext* ctx, const v1::GetScorecardRequest* req,
                                         v1::Scorecard* resp) override;
  grpc::ServerUnaryReactor* GetPlaybook(grpc::CallbackServerContext* ctx, const v1::GetPlaybookRequest* req,
                                        v1::Playbook* resp) override;
  grpc::ServerUnaryReactor* UpdatePlaybook(grpc::CallbackServerContext* ctx, const v1::UpdatePlaybookRequest* req,
                                           v1::UpdatePlaybookResponse* resp) override;
  grpc::ServerUnaryReactor* ValidatePlaybook(grpc::CallbackServerContext* ctx,
                                             const v1::ValidatePlaybookRequest* req,
                                             v1::ValidatePlaybookResponse* resp) override;

 private:
  friend class WatchReactor;

  template <typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, std::string_view method, bool write, Fn&& fn);

  struct StatusRequest {
    std::string_view method;
    const std::string& request_id;
    const events::v1::Actor& actor;
    bool has_actor;
    const std::string& finding_id;
    uint64_t expected_version;
    const std::string& reason;
    bool reason_required;
    v1::FindingStatus target;
    std::string fingerprint;
  };
  absl::Status ChangeStatus(const StatusRequest& r, const Deadline& deadline, v1::Finding* finding,
                            std::string* event_id);
  absl::Status Publish(const v1::FindingEvent& ev, std::chrono::milliseconds timeout);
  void RelayLoop();
  absl::StatusOr<redis::Pool::Lease> Lease(const Deadline& deadline);
  absl::Status Scorecard(const v1::GetScorecardRequest& req, const Deadline& deadline, v1::Scorecard* out);
  absl::Status CustomerView(const v1::GetCustomerViewRequest& req, const Deadline& deadline, v1::CustomerView* out);

  AlignmentApiOptions options_;
  redis::Pool& pool_;
  kafka::Producer& producer_;
  FindingsStore store_;
  PlaybookStore playbooks_;
  writes::RpcMetrics rpc_metrics_;
  metrics::Family<metrics::Counter>* status_changes_;
  metrics::Gauge* watchers_gauge_;

  std::atomic<int> watchers_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread relay_;
};

// The predicate of ListFindings and WatchFindings (AND of the set fields, OR within a list).
bool Matches(const v1::FindingFilter& filter, const v1::Finding& f);

}  // namespace concord::alignment::api
