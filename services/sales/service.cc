#include "services/sales/service.h"

#include <absl/status/status.h>

#include "common/logging/log.h"
#include "common/writes/status.h"
#include "common/writes/write.h"

namespace concord::sales {

SalesService::SalesService(outbox::Store& store, ServiceOptions options, metrics::Registry& registry)
    : logic_(store, writes::EventSource{.team = events::v1::TEAM_SALES,
                                        .service = "sales",
                                        .instance = options.instance,
                                        .version = options.version,
                                        .source = options.source,
                                        .topic = options.topic}),
      metrics_(registry, "sales"),
      authz_(options.authz),
      executor_(options.workers) {}

SalesService::~SalesService() = default;

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* SalesService::Serve(const char* method, grpc::CallbackServerContext* ctx, const Req* req,
                                              Resp* resp,
                                              absl::StatusOr<Resp> (SalesLogic::*fn)(const Req&, const Deadline&)) {
  auto* reactor = ctx->DefaultReactor();
  const auto started = std::chrono::steady_clock::now();
  Deadline deadline;
  if (auto dl = ctx->deadline(); dl != std::chrono::system_clock::time_point::max()) deadline = dl;
  if (Refused(method, ctx, reactor, started)) return reactor;
  executor_.Submit([=, this] {
    absl::Status status;
    if (ctx->IsCancelled()) {
      status = absl::CancelledError("the call was cancelled before it started");
    } else if (auto s = writes::CheckDeadline(deadline); !s.ok()) {
      status = s;
    } else {
      auto result = (logic_.*fn)(*req, deadline);
      if (result.ok()) {
        *resp = std::move(*result);
      } else {
        status = result.status();
      }
    }
    Finish(method, reactor, status, started);
  });
  return reactor;
}

bool SalesService::Refused(const char* method, grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                           std::chrono::steady_clock::time_point started) {
  if (!authz_) return false;
  // Refused on the callback thread (no Redis, no worker); logged and counted by the check.
  grpc::Status refused = authz_->Check(*ctx, v1::SalesService::service_full_name(), method);
  if (refused.ok()) return false;
  const std::string_view name(method);
  const bool read = name.rfind("Get", 0) == 0 || name.rfind("List", 0) == 0;
  metrics_.Record(name, refused.error_code(), std::chrono::steady_clock::now() - started, !read);
  reactor->Finish(refused);
  return true;
}

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* SalesService::ServeAsync(const char* method, grpc::CallbackServerContext* ctx,
                                                   const Req* req, Resp* resp,
                                                   void (SalesLogic::*fn)(const Req&, const Deadline&,
                                                                          writes::Async<Resp>)) {
  auto* reactor = ctx->DefaultReactor();
  const auto started = std::chrono::steady_clock::now();
  Deadline deadline;
  if (auto dl = ctx->deadline(); dl != std::chrono::system_clock::time_point::max()) deadline = dl;
  if (Refused(method, ctx, reactor, started)) return reactor;
  if (ctx->IsCancelled()) {
    Finish(method, reactor, absl::CancelledError("the call was cancelled before it started"), started);
    return reactor;
  }
  if (auto s = writes::CheckDeadline(deadline); !s.ok()) {
    Finish(method, reactor, s, started);
    return reactor;
  }
  writes::Async<Resp> async;
  async.offload = [this](std::function<void()> task) { executor_.Submit(std::move(task)); };
  async.done = [=, this](absl::StatusOr<Resp> result) {
    absl::Status status;
    if (result.ok()) {
      *resp = std::move(*result);
    } else {
      status = result.status();
    }
    Finish(method, reactor, status, started);
  };
  (logic_.*fn)(*req, deadline, std::move(async));
  return reactor;
}

void SalesService::Finish(const char* method, grpc::ServerUnaryReactor* reactor, const absl::Status& status,
                          std::chrono::steady_clock::time_point started) {
  const std::string_view name(method);
  const bool read = name.rfind("Get", 0) == 0 || name.rfind("List", 0) == 0;
  grpc::Status answer = writes::ToGrpc(status);
  metrics_.Record(name, answer.error_code(), std::chrono::steady_clock::now() - started, !read);
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      log::Error("call failed", {{"method", method}, {"status", status.ToString()}});
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      log::Warn("call failed", {{"method", method}, {"status", status.ToString()}});
      break;
    default:
      break;
  }
  reactor->Finish(answer);
}

#define CONCORD_SALES_DEFINE(Method, Req, Resp)                                                           \
  grpc::ServerUnaryReactor* SalesService::Method(grpc::CallbackServerContext* ctx, const Req* req, Resp* resp) { \
    return Serve<Req, Resp>(#Method, ctx, req, resp, &SalesLogic::Method);                                  \
  }
CONCORD_SALES_RPCS(CONCORD_SALES_DEFINE)
#undef CONCORD_SALES_DEFINE

#define CONCORD_SALES_DEFINE_ASYNC(Method, Req, Resp)                                                     \
  grpc::ServerUnaryReactor* SalesService::Method(grpc::CallbackServerContext* ctx, const Req* req, Resp* resp) { \
    return ServeAsync<Req, Resp>(#Method, ctx, req, resp, &SalesLogic::Method);                             \
  }
CONCORD_SALES_ASYNC_RPCS(CONCORD_SALES_DEFINE_ASYNC)
#undef CONCORD_SALES_DEFINE_ASYNC

}  // namespace concord::sales
