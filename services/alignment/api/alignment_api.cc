#include "services/alignment/api/alignment_api.h"

#include <algorithm>
#include <set>

#include <absl/strings/escaping.h>
#include <google/protobuf/util/time_util.h>

#include "common/kafka/cloudevents.h"
#include "common/logging/log.h"
#include "common/writes/customer.h"
#include "common/writes/proto_bytes.h"
#include "common/writes/status.h"
#include "common/writes/strings.h"
#include "common/writes/validation.h"
#include "common/thread/thread_name.h"

namespace concord::alignment::api {

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;
using writes::Cat;

namespace {

constexpr int64_t kMaxMs = 253402300799999;  // 9999-12-31

google::protobuf::Timestamp NowTs() {
  return TimeUtil::MillisecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Page tokens: base64url("f1|<ms>|<id>") of the last index entry consumed.
std::string EncodeToken(const IndexPosition& p) {
  std::string out;
  absl::WebSafeBase64Escape(Cat("f1|", p.ms, "|", p.id), &out);
  return out;
}

std::optional<IndexPosition> DecodeToken(const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) return std::nullopt;
  if (raw.rfind("f1|", 0) != 0) return std::nullopt;
  auto bar = raw.find('|', 3);
  if (bar == std::string::npos) return std::nullopt;
  IndexPosition p;
  try {
    size_t used = 0;
    p.ms = std::stoll(raw.substr(3, bar - 3), &used);
    if (used != bar - 3) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  p.id = raw.substr(bar + 1);
  if (p.id.empty()) return std::nullopt;
  return p;
}

void CheckFilter(writes::Validator& v, const v1::FindingFilter& f) {
  for (int i = 0; i < f.types_size(); ++i) v.Enum(writes::Validator::Index("filter.types", i), f.types(i), v1::FindingType_IsValid, true);
  for (int i = 0; i < f.severities_size(); ++i)
    v.Enum(writes::Validator::Index("filter.severities", i), f.severities(i), v1::Severity_IsValid, true);
  for (int i = 0; i < f.statuses_size(); ++i)
    v.Enum(writes::Validator::Index("filter.statuses", i), f.statuses(i), v1::FindingStatus_IsValid, true);
  v.Enum("filter.team", f.team(), events::v1::Team_IsValid, false);
  v.MaxBytes("filter.customer_key", f.customer_key(), 256);
  if (f.has_detected_after()) v.Timestamp("filter.detected_after", f.detected_after());
  if (f.has_detected_before()) v.Timestamp("filter.detected_before", f.detected_before());
  if (f.has_detected_after() && f.has_detected_before())
    v.TimeOrder("filter.detected_after", &f.detected_after(), "filter.detected_before", &f.detected_before());
}

const char* Verb(v1::FindingStatus s) {
  switch (s) {
    case v1::FINDING_STATUS_ACKNOWLEDGED: return "acknowledge";
    case v1::FINDING_STATUS_RESOLVED: return "resolve";
    case v1::FINDING_STATUS_DISMISSED: return "dismiss";
    default: return "change";
  }
}

bool Allowed(v1::FindingStatus from, v1::FindingStatus to) {
  if (from == v1::FINDING_STATUS_UNSPECIFIED) from = v1::FINDING_STATUS_OPEN;
  switch (to) {
    case v1::FINDING_STATUS_ACKNOWLEDGED: return from == v1::FINDING_STATUS_OPEN;
    case v1::FINDING_STATUS_RESOLVED:
    case v1::FINDING_STATUS_DISMISSED:
      return from == v1::FINDING_STATUS_OPEN || from == v1::FINDING_STATUS_ACKNOWLEDGED;
    default: return false;
  }
}

// Request record: fingerprint \0 event id \0 finding bytes.
std::string RequestRecord(const std::string& fp, const std::string& event_id, const v1::Finding& f) {
  std::string out = fp;
  out.push_back('\0');
  out += event_id;
  out.push_back('\0');
  out += f.SerializeAsString();
  return out;
}

kafka::CloudEvent StatusCloudEvent(const v1::FindingEvent& ev, const std::string& source) {
  return {ev.id(), source, "io.concord.alignment.finding-status-changed.v1", TimeUtil::ToString(ev.occurred_at()),
          ev.customer_key(), "concord.alignment.v1.FindingEvent"};
}

}  // namespace

bool Matches(const v1::FindingFilter& filter, const v1::Finding& f) {
  auto in = [](const auto& list, int v) {
    if (list.empty()) return true;
    for (int x : list) {
      if (x == v) return true;
    }
    return false;
  };
  auto status = f.status() == v1::FINDING_STATUS_UNSPECIFIED ? v1::FINDING_STATUS_OPEN : f.status();
  if (!in(filter.types(), f.type()) || !in(filter.severities(), f.severity()) || !in(filter.statuses(), status)) return false;
  if (!filter.customer_key().empty() && filter.customer_key() != f.customer_key()) return false;
  if (filter.has_detected_after() && f.detected_at() < filter.detected_after()) return false;
  if (filter.has_detected_before() && !(f.detected_at() < filter.detected_before())) return false;
  if (filter.team() != events::v1::TEAM_UNSPECIFIED) {
    bool any = false;
    for (const auto& e : f.evidence()) any = any || e.team() == filter.team();
    if (!any) return false;
  }
  return true;
}

AlignmentApi::AlignmentApi(AlignmentApiOptions options, redis::Pool& pool, kafka::Producer& producer,
                           metrics::Registry& registry)
    : options_(std::move(options)), pool_(pool), producer_(producer), store_(options_.redis_prefix),
      playbooks_(options_.redis_prefix), rpc_metrics_(registry, "alignment") {
  status_changes_ = &registry.AddCounter("concord_alignment_status_changes_total", "Finding status changes applied", {"status"});
  watchers_gauge_ = &registry.AddGauge("concord_alignment_watch_streams", "Open WatchFindings streams").With({});
}

AlignmentApi::~AlignmentApi() { Shutdown(); }

absl::Status AlignmentApi::Start() {
  if (!options_.initial_playbook_yaml.empty()) {
    auto load = engine::LoadPlaybook(options_.initial_playbook_yaml, 1);
    if (!load.ok()) return absl::InvalidArgumentError("initial playbook: " + load.ErrorText());
    auto lease = pool_.Acquire(5000ms);
    if (!lease.ok()) return lease.status();
    auto cur = playbooks_.Current(**lease);
    if (!cur.ok()) return cur.status();
    if (*cur == 0) {
      v1::Playbook pb;
      pb.set_declared_version(load.playbook->declared_version);
      pb.set_yaml(options_.initial_playbook_yaml);
      pb.set_sha256(Sha256Hex(pb.yaml()));
      *pb.mutable_loaded_at() = NowTs();
      pb.mutable_loaded_by()->set_id("system:alignment");
      pb.mutable_loaded_by()->set_kind(events::v1::ACTOR_KIND_SYSTEM);
      pb.mutable_loaded_by()->set_team(events::v1::TEAM_ALIGNMENT);
      pb.set_source(options_.initial_playbook_source.empty() ? "file" : options_.initial_playbook_source);
      auto r = playbooks_.Install(**lease, pb, 0, "", "");
      if (!r.ok()) return r.status();
      if (r->applied && options_.on_playbook_installed) {
        load.playbook->version = r->current;
        options_.on_playbook_installed(*load.playbook);
      }
    }
  }
  stopping_ = false;
  if (!relay_.joinable()) {
    relay_ = std::thread([this] {
      thread::SetName("api-relay");
      RelayLoop();
    });
  }
  return absl::OkStatus();
}

void AlignmentApi::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (relay_.joinable()) relay_.join();
  // Watch workers notice `stopping_` within watch_block and finish their streams.
  auto until = std::chrono::steady_clock::now() + options_.watch_block * 3 + 2s;
  while (watchers_.load() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
}

absl::StatusOr<redis::Pool::Lease> AlignmentApi::Lease(const Deadline& deadline) {
  auto timeout = options_.pool_timeout;
  if (deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::system_clock::now());
    timeout = std::max(0ms, std::min(timeout, left));
  }
  auto lease = pool_.Acquire(timeout);
  if (!lease.ok()) return writes::StorageError(lease.status());
  return lease;
}

template <typename Fn>
grpc::ServerUnaryReactor* AlignmentApi::Unary(grpc::CallbackServerContext* ctx, std::string_view method, bool write,
                                              Fn&& fn) {
  auto* reactor = ctx->DefaultReactor();
  auto started = std::chrono::steady_clock::now();
  Deadline deadline;
  auto raw = ctx->deadline();
  if (raw != std::chrono::system_clock::time_point::max()) deadline = raw;
  grpc::Status status;
  if (options_.authz) status = options_.authz->Check(*ctx, service_full_name(), method);  // logged there
  if (!status.ok()) {
    // refused: nothing read or written
  } else if (deadline && std::chrono::system_clock::now() >= *deadline) {
    status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded before the call started");
  } else {
    absl::Status s;
    try {
      s = fn(deadline);
    } catch (const std::exception& e) {
      s = absl::InternalError(Cat("internal error: ", e.what()));
    }
    if (s.ok() && deadline && std::chrono::system_clock::now() > *deadline && !write) {
      s = absl::DeadlineExceededError("deadline exceeded");
    }
    status = writes::ToGrpc(s);
  }
  rpc_metrics_.Record(method, status.error_code(), std::chrono::steady_clock::now() - started, write);
  reactor->Finish(status);
  return reactor;
}

// ---- findings ----------------------------------------------------------------------------

grpc::ServerUnaryReactor* AlignmentApi::ListFindings(grpc::CallbackServerContext* ctx,
                                                     const v1::ListFindingsRequest* req,
                                                     v1::ListFindingsResponse* resp) {
  return Unary(ctx, "ListFindings", false, [&](const Deadline& deadline) -> absl::Status {
    writes::Validator v;
    int page_size = 0;
    if (auto s = writes::CheckPageSize(req->page_size(), &page_size); !s.ok()) v.Add("page_size", Cat("must be 0..500, got ", req->page_size()));
    CheckFilter(v, req->filter());
    std::optional<IndexPosition> after;
    if (!req->page_token().empty()) {
      after = DecodeToken(req->page_token());
      if (!after) v.Add("page_token", "not a token returned by ListFindings");
    }
    if (!v.ok()) return v.ToStatus();

    auto lease = Lease(deadline);
    if (!lease.ok()) return lease.status();
    auto& conn = **lease;
    // The feed position first: everything listed below happened at or before it... or after,
    // in which case a watch from it repeats it (never misses it).
    auto cursor = store_.FeedLastId(conn);
    if (!cursor.ok()) return writes::StorageError(cursor.status());
    resp->set_watch_cursor(*cursor);

    const auto& f = req->filter();
    std::string index = f.customer_key().empty() ? store_.AllIndexKey() : store_.CustomerIndexKey(f.customer_key());
    int64_t min_ms = f.has_detected_after() ? TimeUtil::TimestampToMilliseconds(f.detected_after()) : 0;
    int64_t max_ms = f.has_detected_before() ? TimeUtil::TimestampToMilliseconds(f.detected_before()) - 1 : kMaxMs;
    // detected_after is inclusive at ms precision; sub-ms precision is re-checked by Matches.

    size_t bytes = 0;
    int scanned = 0;
    std::optional<IndexPosition> pos = after;
    bool more = true;
    while (true) {
      if (deadline && std::chrono::system_clock::now() >= *deadline) return absl::DeadlineExceededError("deadline exceeded while listing");
      int need = page_size - resp->findings_size();
      int chunk = std::min(std::max(need, 20), 500);
      auto scan = store_.ScanIndex(conn, index, min_ms, max_ms, pos, chunk);
      if (!scan.ok()) return writes::StorageError(scan.status());
      std::vector<std::string> ids;
      for (const auto& [ms, id] : scan->items) ids.push_back(id);
      auto got = store_.GetMany(conn, ids);
      if (!got.ok()) return writes::StorageError(got.status());
      bool full = false;
      size_t consumed = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        const auto& item = (*got)[i];
        if (item && Matches(f, *item)) {
          size_t size = item->ByteSizeLong() + 8;
          if (resp->findings_size() > 0 && bytes + size > options_.max_response_bytes) {
            full = true;
            break;
          }
          bytes += size;
          *resp->add_findings() = *item;
        }
        ++consumed;
        pos = IndexPosition{scan->items[i].first, scan->items[i].second};
        ++scanned;
        if (resp->findings_size() >= page_size) {
          full = true;
          break;
        }
      }
      if (full) {
        more = !(scan->exhausted && consumed == ids.size());
        break;
      }
      if (scan->exhausted) {
        more = false;
        break;
      }
      if (scanned >= options_.list_max_scan) break;  // short page; the token continues the scan
    }
    if (more && pos) resp->set_next_page_token(EncodeToken(*pos));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AlignmentApi::GetFinding(grpc::CallbackServerContext* ctx, const v1::GetFindingRequest* req,
                                                   v1::Finding* resp) {
  return Unary(ctx, "GetFinding", false, [&](const Deadline& deadline) -> absl::Status {
    writes::Validator v;
    v.Required("finding_id", req->finding_id(), 128);
    if (!v.ok()) return v.ToStatus();
    auto lease = Lease(deadline);
    if (!lease.ok()) return lease.status();
    auto f = store_.Get(**lease, req->finding_id());
    if (!f.ok()) return writes::StorageError(f.status());
    if (!f->has_value()) return writes::NotFound("finding", req->finding_id());
    *resp = std::move(**f);
    return absl::OkStatus();
  });
}

absl::Status AlignmentApi::ChangeStatus(const StatusRequest& r, const Deadline& deadline, v1::Finding* out,
                                        std::string* event_id) {
  writes::Validator v;
  v.RequestId(r.request_id);
  if (!r.has_actor) v.Add("actor", "required (who makes the change)");
  else v.OptionalActor("actor", r.actor, true);
  v.Required("finding_id", r.finding_id, 128);
  if (r.reason_required) v.Required("reason", r.reason, writes::limits::kReason);
  else v.MaxBytes("reason", r.reason, writes::limits::kReason);
  if (!v.ok()) return v.ToStatus();

  auto lease = Lease(deadline);
  if (!lease.ok()) return lease.status();
  auto& conn = **lease;
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (deadline && std::chrono::system_clock::now() >= *deadline) return absl::DeadlineExceededError("deadline exceeded");
    auto replies = conn.Pipeline({{"GET", store_.RequestKey(r.request_id)}, {"GET", store_.FindingKey(r.finding_id)}});
    if (!replies.ok()) return writes::StorageError(replies.status());
    const auto& rec = (*replies)[0];
    if (!rec.is_nil() && !rec.is_error()) {
      auto a = rec.str.find('\0');
      auto b = a == std::string::npos ? a : rec.str.find('\0', a + 1);
      if (b == std::string::npos) return absl::InternalError("storage: request record does not parse");
      if (rec.str.substr(0, a) != r.fingerprint) return writes::RequestIdReused(r.request_id);
      *event_id = rec.str.substr(a + 1, b - a - 1);
      if (!out->ParseFromString(rec.str.substr(b + 1))) return absl::InternalError("storage: request record does not parse");
      return absl::OkStatus();  // a retry: its effect happened once
    }
    const auto& raw = (*replies)[1];
    if (raw.is_error()) return writes::StorageError(absl::InternalError(raw.str));
    if (raw.is_nil()) return writes::NotFound("finding", r.finding_id);
    v1::Finding cur;
    if (auto s = store_.Parse(conn, r.finding_id, raw.str, &cur); !s.ok()) {
      return s.code() == absl::StatusCode::kDataLoss ? s : writes::StorageError(s);
    }
    uint64_t version = std::max<uint64_t>(cur.version(), 1);
    if (r.expected_version != 0 && r.expected_version != version) return writes::VersionMismatch(r.expected_version, version);
    auto from = cur.status() == v1::FINDING_STATUS_UNSPECIFIED ? v1::FINDING_STATUS_OPEN : cur.status();
    if (!Allowed(from, r.target)) {
      return writes::WrongState("finding", r.finding_id, v1::FindingStatus_Name(from),
                                Cat("cannot ", Verb(r.target), " (allowed: OPEN -> ACKNOWLEDGED -> RESOLVED | DISMISSED, "
                                                                "OPEN -> RESOLVED | DISMISSED)"));
    }
    v1::Finding next = cur;
    auto now = NowTs();
    next.set_version(version + 1);
    next.set_status(r.target);
    *next.mutable_updated_at() = now;
    auto* change = next.add_status_history();
    change->set_previous_status(from);
    change->set_status(r.target);
    *change->mutable_actor() = r.actor;
    change->set_reason(r.reason);
    *change->mutable_changed_at() = now;
    change->set_version(next.version());

    v1::FindingEvent ev;
    ev.set_id(Cat(next.id(), "@", next.version()));
    *ev.mutable_occurred_at() = now;
    ev.set_customer_key(next.customer_key());
    ev.set_schema_version(1);
    auto* sc = ev.mutable_status_changed();
    sc->set_finding_id(next.id());
    *sc->mutable_change() = *change;
    *sc->mutable_finding() = next;
    std::string ev_bytes = writes::SerializeDeterministic(ev);

    // The relay may publish it once the synchronous attempt below has surely given up.
    auto due = std::chrono::system_clock::now() + options_.publish_timeout + options_.relay_min_age;
    auto applied = store_.CompareAndSetStatus(
        conn, raw.str, next, r.request_id, RequestRecord(r.fingerprint, ev.id(), next), ev.id(), ev_bytes,
        std::chrono::duration_cast<std::chrono::milliseconds>(due.time_since_epoch()).count());
    if (!applied.ok()) return writes::StorageError(applied.status());
    if (!applied->has_value()) continue;  // changed meanwhile: read again (ABORTED if pinned)

    status_changes_->With({v1::FindingStatus_Name(r.target)}).Inc();
    // Publish now; if Kafka does not confirm in time the relay publishes it from the outbox.
    auto timeout = options_.publish_timeout;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::system_clock::now());
      timeout = std::max(1ms, std::min(timeout, left - 50ms));
    }
    if (auto s = Publish(ev, timeout); s.ok()) {
      (void)conn.Pipeline({{"HDEL", store_.OutboxKey(), ev.id()}, {"ZREM", store_.OutboxDueKey(), ev.id()}});
    } else {
      log::Warn("status change stored; its event will be relayed", {{"event_id", ev.id()}, {"error", s.ToString()}});
    }
    *out = std::move(next);
    *event_id = ev.id();
    return absl::OkStatus();
  }
  return absl::AbortedError(Cat("finding '", r.finding_id, "' changed concurrently too often; retry"));
}

absl::Status AlignmentApi::Publish(const v1::FindingEvent& ev, std::chrono::milliseconds timeout) {
  auto headers = kafka::ToHeaders(StatusCloudEvent(ev, options_.source));
  auto r = producer_.ProduceSync(options_.findings_topic, ev.customer_key(), writes::SerializeDeterministic(ev), headers,
                                 timeout);
  return r.ok() ? absl::OkStatus() : absl::UnavailableError("publishing status change: " + r.error_text);
}

void AlignmentApi::RelayLoop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.relay_interval, [&] { return stopping_.load(); });
      if (stopping_) return;
    }
    auto lease = pool_.Acquire(1000ms);
    if (!lease.ok()) continue;
    auto& conn = **lease;
    auto cutoff = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto due = conn.CommandOk({"ZRANGEBYSCORE", store_.OutboxDueKey(), "-inf", std::to_string(cutoff), "LIMIT", "0", "100"});
    if (!due.ok() || due->elements.empty()) continue;
    for (const auto& id : due->elements) {
      if (stopping_) return;
      auto bytes = conn.CommandOk({"HGET", store_.OutboxKey(), id.str});
      if (!bytes.ok()) break;
      v1::FindingEvent ev;
      if (bytes->is_nil() || !ev.ParseFromString(bytes->str)) {
        (void)conn.Command({"ZREM", store_.OutboxDueKey(), id.str});
        continue;
      }
      if (auto s = Publish(ev, options_.publish_timeout); s.ok()) {
        (void)conn.Pipeline({{"HDEL", store_.OutboxKey(), id.str}, {"ZREM", store_.OutboxDueKey(), id.str}});
        log::Info("status change event relayed", {{"event_id", id.str}});
      } else {
        log::Warn("status change relay failed; will retry", {{"event_id", id.str}, {"error", s.ToString()}});
        break;
      }
    }
  }
}

grpc::ServerUnaryReactor* AlignmentApi::AcknowledgeFinding(grpc::CallbackServerContext* ctx,
                                                           const v1::AcknowledgeFindingRequest* req,
                                                           v1::AcknowledgeFindingResponse* resp) {
  return Unary(ctx, "AcknowledgeFinding", true, [&](const Deadline& d) {
    return ChangeStatus({"AcknowledgeFinding", req->request_id(), req->actor(), req->has_actor(), req->finding_id(),
                         req->expected_version(), req->reason(), false, v1::FINDING_STATUS_ACKNOWLEDGED,
                         writes::RequestFingerprint(*req)},
                        d, resp->mutable_finding(), resp->mutable_event_id());
  });
}

grpc::ServerUnaryReactor* AlignmentApi::ResolveFinding(grpc::CallbackServerContext* ctx,
                                                       const v1::ResolveFindingRequest* req,
                                                       v1::ResolveFindingResponse* resp) {
  return Unary(ctx, "ResolveFinding", true, [&](const Deadline& d) {
    return ChangeStatus({"ResolveFinding", req->request_id(), req->actor(), req->has_actor(), req->finding_id(),
                         req->expected_version(), req->reason(), true, v1::FINDING_STATUS_RESOLVED,
                         writes::RequestFingerprint(*req)},
                        d, resp->mutable_finding(), resp->mutable_event_id());
  });
}

grpc::ServerUnaryReactor* AlignmentApi::DismissFinding(grpc::CallbackServerContext* ctx,
                                                       const v1::DismissFindingRequest* req,
                                                       v1::DismissFindingResponse* resp) {
  return Unary(ctx, "DismissFinding", true, [&](const Deadline& d) {
    return ChangeStatus({"DismissFinding", req->request_id(), req->actor(), req->has_actor(), req->finding_id(),
                         req->expected_version(), req->reason(), true, v1::FINDING_STATUS_DISMISSED,
                         writes::RequestFingerprint(*req)},
                        d, resp->mutable_finding(), resp->mutable_event_id());
  });
}

// ---- customer view --------------------------------------------------------------------------

grpc::ServerUnaryReactor* AlignmentApi::GetCustomerView(grpc::CallbackServerContext* ctx,
                                                        const v1::GetCustomerViewRequest* req, v1::CustomerView* resp) {
  return Unary(ctx, "GetCustomerView", false, [&](const Deadline& d) { return CustomerView(*req, d, resp); });
}

absl::Status AlignmentApi::CustomerView(const v1::GetCustomerViewRequest& req, const Deadline& deadline,
                                        v1::CustomerView* out) {
  writes::Validator v;
  std::string key = req.customer_key();
  if (key.empty() && req.has_identity()) {
    key = req.identity().customer_key();
    if (key.empty()) {
      v.Person("identity.person", req.identity().person(), false);
      if (v.ok()) key = writes::CustomerKeyFor(req.identity().person(), req.identity().account_id());
    }
    if (key.empty() && v.ok()) v.Add("identity", "does not resolve to a customer (give account_id, email or website)");
  } else if (key.empty()) {
    v.Add("customer_key", "required (or identity)");
  }
  v.MaxBytes("customer_key", req.customer_key(), 256);
  if (req.max_touches() > 200) v.Add("max_touches", Cat("must be 0..200, got ", req.max_touches()));
  if (!v.ok()) return v.ToStatus();
  uint32_t max_touches = req.max_touches() == 0 ? 20 : req.max_touches();

  bool known = false;
  if (options_.customer_view) {
    auto view = options_.customer_view(key, max_touches);
    if (!view.ok()) return writes::StorageError(view.status());
    if (view->has_value()) {
      *out = std::move(**view);
      known = true;
      if (out->recent_touches_size() > static_cast<int>(max_touches)) {
        out->mutable_recent_touches()->DeleteSubrange(max_touches, out->recent_touches_size() - max_touches);
      }
    }
  }
  out->set_customer_key(key);
  out->clear_open_findings();

  auto lease = Lease(deadline);
  if (!lease.ok()) return lease.status();
  auto& conn = **lease;
  // Open findings, newest first (bounded scan and size).
  size_t bytes = out->ByteSizeLong();
  std::optional<IndexPosition> pos;
  int scanned = 0;
  std::optional<v1::Finding> newest, oldest;
  while (scanned < 2000) {
    auto scan = store_.ScanIndex(conn, store_.CustomerIndexKey(key), 0, kMaxMs, pos, 200);
    if (!scan.ok()) return writes::StorageError(scan.status());
    std::vector<std::string> ids;
    for (const auto& [ms, id] : scan->items) ids.push_back(id);
    auto got = store_.GetMany(conn, ids);
    if (!got.ok()) return writes::StorageError(got.status());
    for (size_t i = 0; i < ids.size(); ++i) {
      pos = IndexPosition{scan->items[i].first, ids[i]};
      ++scanned;
      auto& f = (*got)[i];
      if (!f) continue;
      if (!newest) newest = *f;
      oldest = *f;
      auto st = f->status() == v1::FINDING_STATUS_UNSPECIFIED ? v1::FINDING_STATUS_OPEN : f->status();
      if (st != v1::FINDING_STATUS_OPEN && st != v1::FINDING_STATUS_ACKNOWLEDGED) continue;
      size_t size = f->ByteSizeLong() + 8;
      if (bytes + size > options_.max_response_bytes || out->open_findings_size() >= 200) continue;
      bytes += size;
      *out->add_open_findings() = std::move(*f);
    }
    if (scan->exhausted) break;
  }
  if (!known) {
    if (!newest) return writes::NotFound("customer", key);
    // What Redis knows without the engine: identity from the newest finding.
    const auto& c = newest->customer();
    out->set_account_id(c.account_id());
    out->set_display_name(!c.person().company().empty() ? c.person().company() : c.person().full_name());
    out->set_domain(c.person().website());
    if (oldest) *out->mutable_first_seen_at() = oldest->first_evidence_at();
    *out->mutable_as_of() = newest->last_evidence_at();
  }
  return absl::OkStatus();
}

// ---- scorecard -----------------------------------------------------------------------------

grpc::ServerUnaryReactor* AlignmentApi::GetScorecard(grpc::CallbackServerContext* ctx, const v1::GetScorecardRequest* req,
                                                     v1::Scorecard* resp) {
  return Unary(ctx, "GetScorecard", false, [&](const Deadline& d) { return Scorecard(*req, d, resp); });
}

// ---- playbook -------------------------------------------------------------------------------

grpc::ServerUnaryReactor* AlignmentApi::GetPlaybook(grpc::CallbackServerContext* ctx, const v1::GetPlaybookRequest* req,
                                                    v1::Playbook* resp) {
  return Unary(ctx, "GetPlaybook", false, [&](const Deadline& deadline) -> absl::Status {
    auto lease = Lease(deadline);
    if (!lease.ok()) return lease.status();
    auto pb = playbooks_.Get(**lease, req->version());
    if (!pb.ok()) return writes::StorageError(pb.status());
    if (!pb->has_value()) {
      if (req->version() == 0) return absl::NotFoundError("no playbook is installed");
      return absl::NotFoundError(Cat("playbook version ", req->version(), " not found (the last ",
                                     kPlaybookVersionsKept, " versions are kept)"));
    }
    *resp = std::move(**pb);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AlignmentApi::ValidatePlaybook(grpc::CallbackServerContext* ctx,
                                                         const v1::ValidatePlaybookRequest* req,
                                                         v1::ValidatePlaybookResponse* resp) {
  return Unary(ctx, "ValidatePlaybook", false, [&](const Deadline&) -> absl::Status {
    writes::Validator v;
    v.Required("yaml", req->yaml(), 1024 * 1024);
    if (!v.ok()) return v.ToStatus();
    auto load = engine::LoadPlaybook(req->yaml(), 1);
    resp->set_valid(load.ok());
    for (const auto& p : load.problems) *resp->add_problems() = ToProto(p);
    if (load.playbook) resp->set_declared_version(load.playbook->declared_version);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AlignmentApi::UpdatePlaybook(grpc::CallbackServerContext* ctx,
                                                       const v1::UpdatePlaybookRequest* req,
                                                       v1::UpdatePlaybookResponse* resp) {
  return Unary(ctx, "UpdatePlaybook", true, [&](const Deadline& deadline) -> absl::Status {
    writes::Validator v;
    v.RequestId(req->request_id());
    if (!req->has_actor()) v.Add("actor", "required (who installs the playbook)");
    else v.OptionalActor("actor", req->actor(), true);
    v.Required("yaml", req->yaml(), 1024 * 1024);
    if (!v.ok()) return v.ToStatus();
    auto load = engine::LoadPlaybook(req->yaml(), 1);
    if (!load.ok()) {
      std::string msg = "yaml: the playbook is invalid and was not installed (the version in force stays): ";
      int n = 0;
      for (const auto& p : load.problems) {
        if (!p.error) continue;
        if (n == 10) {
          msg += "; ... (ValidatePlaybook lists them all)";
          break;
        }
        msg += (n++ ? "; " : "") + p.ToString();
      }
      return absl::InvalidArgumentError(msg);
    }
    auto fp = writes::RequestFingerprint(*req);
    auto lease = Lease(deadline);
    if (!lease.ok()) return lease.status();
    auto& conn = **lease;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto rec = conn.CommandOk({"GET", playbooks_.RequestKey(req->request_id())});
      if (!rec.ok()) return writes::StorageError(rec.status());
      if (!rec->is_nil()) {
        auto bar = rec->str.find('\0');
        if (bar == std::string::npos || rec->str.substr(0, bar) != fp) return writes::RequestIdReused(req->request_id());
        auto pb = playbooks_.Get(conn, std::stoull(rec->str.substr(bar + 1)));
        if (!pb.ok()) return writes::StorageError(pb.status());
        if (pb->has_value()) *resp->mutable_playbook() = **pb;
        for (const auto& p : load.problems) *resp->add_problems() = ToProto(p);
        return absl::OkStatus();
      }
      auto cur = playbooks_.Current(conn);
      if (!cur.ok()) return writes::StorageError(cur.status());
      if (req->expected_version() != 0 && req->expected_version() != *cur) {
        return writes::VersionMismatch(req->expected_version(), *cur);
      }
      v1::Playbook pb;
      pb.set_declared_version(load.playbook->declared_version);
      pb.set_yaml(req->yaml());
      pb.set_sha256(Sha256Hex(req->yaml()));
      *pb.mutable_loaded_at() = NowTs();
      *pb.mutable_loaded_by() = req->actor();
      pb.set_source("api");
      std::string record = fp;
      record.push_back('\0');
      record += std::to_string(*cur + 1);
      auto r = playbooks_.Install(conn, pb, *cur, req->request_id(), record);
      if (!r.ok()) return writes::StorageError(r.status());
      if (!r->applied) continue;  // someone installed meanwhile: re-check (ABORTED if pinned)
      if (options_.on_playbook_installed) {
        load.playbook->version = r->current;
        options_.on_playbook_installed(*load.playbook);
      }
      *resp->mutable_playbook() = std::move(r->playbook);
      for (const auto& p : load.problems) *resp->add_problems() = ToProto(p);
      return absl::OkStatus();
    }
    return absl::AbortedError("the playbook changed concurrently too often; retry");
  });
}

}  // namespace concord::alignment::api
