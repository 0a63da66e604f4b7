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

  if (authz_) {
    // Refused on the callback thread (no Redis, no worker); logged and counted by the check.
    if (grpc::Status refused = authz_->Check(*ctx, service_full_name(), method); !refused.ok()) {
      metrics_.Record(method, refused.error_code(), std::chrono::steady_clock::now() - started, write);
      reactor->Finish(refused);
      return reactor;
    }
  }
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
  });
  return reactor;
}

#define CONCORD_MARKETING_RPC(Method, Req, Resp, write)                                                       \
  grpc::ServerUnaryReactor* MarketingService::Method(grpc::CallbackServerContext* ctx, const Req* req,          \
                                                     Resp* resp) {                                              \
    return Handle(ctx, #Method, write, resp, [this, req](Deadline d) { return logic_.Method(*req, d); });      \
  }

CONCORD_MARKETING_RPC(CreateCampaign, mv1::CreateCampaignRequest, mv1::CreateCampaignResponse, true)
CONCORD_MARKETING_RPC(UpdateCampaign, mv1::UpdateCampaignRequest, mv1::UpdateCampaignResponse, true)
CONCORD_MARKETING_RPC(LaunchCampaign, mv1::LaunchCampaignRequest, mv1::LaunchCampaignResponse, true)
CONCORD_MARKETING_RPC(EndCampaign, mv1::EndCampaignRequest, mv1::EndCampaignResponse, true)
CONCORD_MARKETING_RPC(GetCampaign, mv1::GetCampaignRequest, events::v1::Campaign, false)
CONCORD_MARKETING_RPC(ListCampaigns, mv1::ListCampaignsRequest, mv1::ListCampaignsResponse, false)
CONCORD_MARKETING_RPC(CaptureLead, mv1::CaptureLeadRequest, mv1::CaptureLeadResponse, true)
CONCORD_MARKETING_RPC(UpdateLead, mv1::UpdateLeadRequest, mv1::UpdateLeadResponse, true)
CONCORD_MARKETING_RPC(ScoreLead, mv1::ScoreLeadRequest, mv1::ScoreLeadResponse, true)
CONCORD_MARKETING_RPC(QualifyLead, mv1::QualifyLeadRequest, mv1::QualifyLeadResponse, true)
CONCORD_MARKETING_RPC(HandOffLead, mv1::HandOffLeadRequest, mv1::HandOffLeadResponse, true)
CONCORD_MARKETING_RPC(RecycleLead, mv1::RecycleLeadRequest, mv1::RecycleLeadResponse, true)
CONCORD_MARKETING_RPC(GetLead, mv1::GetLeadRequest, events::v1::Lead, false)
CONCORD_MARKETING_RPC(ListLeads, mv1::ListLeadsRequest, mv1::ListLeadsResponse, false)
CONCORD_MARKETING_RPC(SendMessage, mv1::SendMessageRequest, mv1::SendMessageResponse, true)
CONCORD_MARKETING_RPC(GetMessage, mv1::GetMessageRequest, events::v1::OutboundMessage, false)
CONCORD_MARKETING_RPC(ListMessages, mv1::ListMessagesRequest, mv1::ListMessagesResponse, false)

#undef CONCORD_MARKETING_RPC

}  // namespace concord::marketing
