#include "services/marketing/service.h"

#include "common/logging/log.h"
#include "common/writes/status.h"

namespace concord::marketing {

MarketingService::MarketingService(Marketing& logic, metrics::Registry& registry, int workers,
                                   auth::Authorizer* authz)
    : logic_(logic), metrics_(registry, "marketing"), authz_(authz), executor_(workers) {}

template <typename Resp, typename Fn>
grpc::ServerUnaryReactor* MarketingService::Handle(grpc::CallbackServerContext* ctx, std::string_view method,
                                                   bool write, Resp* resp, Fn&& fn) {
  auto started = std::chrono::steady_clock::now();
  auto* reactor = ctx->DefaultReactor();
  Deadline deadline;
  auto raw = ctx->deadline();
  if (raw != std::chrono::system_clock::time_point::max()) deadline = raw;

  if (Refused(ctx, reactor, method, write, started)) return reactor;
  executor_.Submit([=, this, fn = std::forward<Fn>(fn)] {
    grpc::Status status;
    if (ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled before it started");
    } else if (deadline && std::chrono::system_clock::now() >= *deadline) {
      status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded before the call started");
    } else {
      absl::StatusOr<Resp> r = fn(deadline);
      if (r.ok()) {
        *resp = std::move(*r);
      } else {
        status = writes::ToGrpc(r.status());
      }
    }
    Done(reactor, method, write, status, started);
  });
  return reactor;
}

bool MarketingService::Refused(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
                               std::string_view method, bool write, std::chrono::steady_clock::time_point started) {
  if (!authz_) return false;
  // Refused on the callback thread (no Redis, no worker); logged and counted by the check.
  grpc::Status refused = authz_->Check(*ctx, service_full_name(), method);
  if (refused.ok()) return false;
  metrics_.Record(method, refused.error_code(), std::chrono::steady_clock::now() - started, write);
  reactor->Finish(refused);
  return true;
}

void MarketingService::Done(grpc::ServerUnaryReactor* reactor, std::string_view method, bool write,
                            const grpc::Status& status, std::chrono::steady_clock::time_point started) {
  auto code = status.error_code();
  if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNAVAILABLE ||
      code == grpc::StatusCode::UNKNOWN) {
    log::Error("call failed", {{"method", std::string(method)},
                               {"code", std::string(writes::CodeName(code))},
                               {"error", status.error_message()}});
  } else if (!status.ok()) {
    log::Debug("call refused", {{"method", std::string(method)},
                                {"code", std::string(writes::CodeName(code))},
                                {"error", status.error_message()}});
  }
  metrics_.Record(method, code, std::chrono::steady_clock::now() - started, write);
  reactor->Finish(status);
}

template <typename Resp, typename Fn>
grpc::ServerUnaryReactor* MarketingService::HandleAsync(grpc::CallbackServerContext* ctx, std::string_view method,
                                                        Resp* resp, Fn&& fn) {
  auto started = std::chrono::steady_clock::now();
  auto* reactor = ctx->DefaultReactor();
  Deadline deadline;
  auto raw = ctx->deadline();
  if (raw != std::chrono::system_clock::time_point::max()) deadline = raw;
  if (Refused(ctx, reactor, method, true, started)) return reactor;
  if (ctx->IsCancelled()) {
    Done(reactor, method, true, grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled before it started"),
         started);
    return reactor;
  }
  if (deadline && std::chrono::system_clock::now() >= *deadline) {
    Done(reactor, method, true,
         grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded before the call started"), started);
    return reactor;
  }
  writes::Async<Resp> async;
  async.offload = [this](std::function<void()> task) { executor_.Submit(std::move(task)); };
  async.done = [=, this](absl::StatusOr<Resp> r) {
    grpc::Status status;
    if (r.ok()) {
      *resp = std::move(*r);
    } else {
      status = writes::ToGrpc(r.status());
    }
    Done(reactor, method, true, status, started);
  };
  fn(deadline, std::move(async));
  return reactor;
}

#define CONCORD_MARKETING_RPC(Method, Req, Resp, write)                                                       \
  grpc::ServerUnaryReactor* MarketingService::Method(grpc::CallbackServerContext* ctx, const Req* req,          \
                                                     Resp* resp) {                                              \
    return Handle(ctx, #Method, write, resp, [this, req](Deadline d) { return logic_.Method(*req, d); });      \
  }

#define CONCORD_MARKETING_ASYNC_RPC(Method, Req, Resp)                                                       \
  grpc::ServerUnaryReactor* MarketingService::Method(grpc::CallbackServerContext* ctx, const Req* req,          \
                                                     Resp* resp) {                                              \
    return HandleAsync(ctx, #Method, resp,                                                                      \
                       [this, req](Deadline d, writes::Async<Resp> a) { logic_.Method(*req, d, std::move(a)); }); \
  }

CONCORD_MARKETING_ASYNC_RPC(CreateCampaign, mv1::CreateCampaignRequest, mv1::CreateCampaignResponse)
CONCORD_MARKETING_ASYNC_RPC(UpdateCampaign, mv1::UpdateCampaignRequest, mv1::UpdateCampaignResponse)
CONCORD_MARKETING_ASYNC_RPC(LaunchCampaign, mv1::LaunchCampaignRequest, mv1::LaunchCampaignResponse)
CONCORD_MARKETING_ASYNC_RPC(EndCampaign, mv1::EndCampaignRequest, mv1::EndCampaignResponse)
CONCORD_MARKETING_RPC(GetCampaign, mv1::GetCampaignRequest, events::v1::Campaign, false)
CONCORD_MARKETING_RPC(ListCampaigns, mv1::ListCampaignsRequest, mv1::ListCampaignsResponse, false)
CONCORD_MARKETING_ASYNC_RPC(CaptureLead, mv1::CaptureLeadRequest, mv1::CaptureLeadResponse)
CONCORD_MARKETING_ASYNC_RPC(UpdateLead, mv1::UpdateLeadRequest, mv1::UpdateLeadResponse)
CONCORD_MARKETING_ASYNC_RPC(ScoreLead, mv1::ScoreLeadRequest, mv1::ScoreLeadResponse)
CONCORD_MARKETING_ASYNC_RPC(QualifyLead, mv1::QualifyLeadRequest, mv1::QualifyLeadResponse)
CONCORD_MARKETING_ASYNC_RPC(HandOffLead, mv1::HandOffLeadRequest, mv1::HandOffLeadResponse)
CONCORD_MARKETING_ASYNC_RPC(RecycleLead, mv1::RecycleLeadRequest, mv1::RecycleLeadResponse)
CONCORD_MARKETING_RPC(GetLead, mv1::GetLeadRequest, events::v1::Lead, false)
CONCORD_MARKETING_RPC(ListLeads, mv1::ListLeadsRequest, mv1::ListLeadsResponse, false)
CONCORD_MARKETING_RPC(SendMessage, mv1::SendMessageRequest, mv1::SendMessageResponse, true)
CONCORD_MARKETING_RPC(GetMessage, mv1::GetMessageRequest, events::v1::OutboundMessage, false)
CONCORD_MARKETING_RPC(ListMessages, mv1::ListMessagesRequest, mv1::ListMessagesResponse, false)

#undef CONCORD_MARKETING_RPC
#undef CONCORD_MARKETING_ASYNC_RPC

}  // namespace concord::marketing
