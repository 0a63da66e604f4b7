#pragma once
// concord.marketing.v1.MarketingService over the gRPC callback API. Each handler first checks
// access (common/auth: the method table says which permission each RPC needs; a refusal is
// answered on the callback thread) and the call's deadline (already past -> DEADLINE_EXCEEDED
// without touching Redis). The campaign and lead writes then run asynchronously: validated on
// the callback thread, their Redis steps pipelined by the Store's I/O thread, which finishes
// the call from the last reply (no thread waits on Redis). Everything else (reads, lists,
// SendMessage, and a write whose rules must read another record) blocks on Redis, so it runs
// on a worker pool: gRPC's few callback threads must not block (one blocked there stalls every
// call it would serve). Either way concord_rpc_* metrics are recorded when the call finishes.

#include <string_view>

#include "common/auth/authorizer.h"
#include "common/writes/executor.h"
#include "common/writes/rpc_metrics.h"
#include "concord/marketing/v1/marketing.grpc.pb.h"
#include "services/marketing/marketing.h"

namespace concord::marketing {

class MarketingService final : public mv1::MarketingService::CallbackService {
 public:
  // `workers`: calls served at once (each holds a Redis connection at a time). `authz` (not
  // owned, may be null = no access control) is checked first by every handler.
  MarketingService(Marketing& logic, metrics::Registry& registry, int workers = 16,
                   auth::Authorizer* authz = nullptr);

  static constexpr const char* service_full_name() { return mv1::MarketingService::service_full_name(); }

  grpc::ServerUnaryReactor* CreateCampaign(grpc::CallbackServerContext* ctx, const mv1::CreateCampaignRequest* req,
                                           mv1::CreateCampaignResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateCampaign(grpc::CallbackServerContext* ctx, const mv1::UpdateCampaignRequest* req,
                                           mv1::UpdateCampaignResponse* resp) override;
  grpc::ServerUnaryReactor* LaunchCampaign(grpc::CallbackServerContext* ctx, const mv1::LaunchCampaignRequest* req,
                                           mv1::LaunchCampaignResponse* resp) override;
  grpc::ServerUnaryReactor* EndCampaign(grpc::CallbackServerContext* ctx, const mv1::EndCampaignRequest* req,
                                        mv1::EndCampaignResponse* resp) override;
  grpc::ServerUnaryReactor* GetCampaign(grpc::CallbackServerContext* ctx, const mv1::GetCampaignRequest* req,
                                        events::v1::Campaign* resp) override;
  grpc::ServerUnaryReactor* ListCampaigns(grpc::CallbackServerContext* ctx, const mv1::ListCampaignsRequest* req,
                                          mv1::ListCampaignsResponse* resp) override;

  grpc::ServerUnaryReactor* CaptureLead(grpc::CallbackServerContext* ctx, const mv1::CaptureLeadRequest* req,
                                        mv1::CaptureLeadResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateLead(grpc::CallbackServerContext* ctx, const mv1::UpdateLeadRequest* req,
                                       mv1::UpdateLeadResponse* resp) override;
  grpc::ServerUnaryReactor* ScoreLead(grpc::CallbackServerContext* ctx, const mv1::ScoreLeadRequest* req,
                                      mv1::ScoreLeadResponse* resp) override;
  grpc::ServerUnaryReactor* QualifyLead(grpc::CallbackServerContext* ctx, const mv1::QualifyLeadRequest* req,
                                        mv1::QualifyLeadResponse* resp) override;
  grpc::ServerUnaryReactor* HandOffLead(grpc::CallbackServerContext* ctx, const mv1::HandOffLeadRequest* req,
                                        mv1::HandOffLeadResponse* resp) override;
  grpc::ServerUnaryReactor* RecycleLead(grpc::CallbackServerContext* ctx, const mv1::RecycleLeadRequest* req,
                                        mv1::RecycleLeadResponse* resp) override;
  grpc::ServerUnaryReactor* GetLead(grpc::CallbackServerContext* ctx, const mv1::GetLeadRequest* req,
                                    events::v1::Lead* resp) override;
  grpc::ServerUnaryReactor* ListLeads(grpc::CallbackServerContext* ctx, const mv1::ListLeadsRequest* req,
                                      mv1::ListLeadsResponse* resp) override;

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* ctx, const mv1::SendMessageRequest* req,
                                        mv1::SendMessageResponse* resp) override;
  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* ctx, const mv1::GetMessageRequest* req,
                                       events::v1::OutboundMessage* resp) override;
  grpc::ServerUnaryReactor* ListMessages(grpc::CallbackServerContext* ctx, const mv1::ListMessagesRequest* req,
                                         mv1::ListMessagesResponse* resp) override;

 private:
  template <typename Resp, typename Fn>
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* ctx, std::string_view method, bool write, Resp* resp,
                                   Fn&& fn);
  // For the writes with an async form: no worker unless the write's rules must block.
  template <typename Resp, typename Fn>
  grpc::ServerUnaryReactor* HandleAsync(grpc::CallbackServerContext* ctx, std::string_view method, Resp* resp,
                                        Fn&& fn);
  bool Refused(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor, std::string_view method,
               bool write, std::chrono::steady_clock::time_point started);
  void Done(grpc::ServerUnaryReactor* reactor, std::string_view method, bool write, const grpc::Status& status,
            std::chrono::steady_clock::time_point started);

  Marketing& logic_;
  writes::RpcMetrics metrics_;
  auth::Authorizer* authz_;
  writes::Executor executor_;  // declared last: joined first, while everything it uses still exists
};

}  // namespace concord::marketing
