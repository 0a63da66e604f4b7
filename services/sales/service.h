#pragma once
// concord.sales.v1.SalesService over the gRPC callback API. CreateAccount and UpdateAccount run
// asynchronously: validated on the callback thread, their Redis steps pipelined by the Store's
// I/O thread, which finishes the call from the last reply (a key-changing UpdateAccount, whose
// rules read the account's records, moves to a worker). Every other call is handed to a worker
// pool (the logic blocks on Redis; the gRPC callback threads must not). A call answers
// DEADLINE_EXCEEDED without doing anything when its deadline passed before it started, and is
// recorded by writes::RpcMetrics: concord_rpc_requests_total{service="sales",method,code},
// concord_rpc_write_duration_seconds / concord_rpc_read_duration_seconds{service,method}.

#include <functional>
#include <string>
#include <vector>

#include "common/auth/authorizer.h"
#include "common/metrics/metrics.h"
#include "common/writes/executor.h"
#include "common/writes/rpc_metrics.h"
#include "common/outbox/store.h"
#include "concord/sales/v1/sales.grpc.pb.h"
#include "services/sales/logic.h"

namespace concord::sales {

// X-macro over every RPC: X(Method, Request, Response).
// The writes with an async form (SalesLogic): served without a worker unless their rules must block.
#define CONCORD_SALES_ASYNC_RPCS(X)                                                          \
  X(CreateAccount, v1::CreateAccountRequest, v1::CreateAccountResponse)                      \
  X(UpdateAccount, v1::UpdateAccountRequest, v1::UpdateAccountResponse)

#define CONCORD_SALES_RPCS(X)                                                                \
  X(MergeAccounts, v1::MergeAccountsRequest, v1::MergeAccountsResponse)                      \
  X(GetAccount, v1::GetAccountRequest, events::v1::Account)                                  \
  X(ListAccounts, v1::ListAccountsRequest, v1::ListAccountsResponse)                         \
  X(CreateContact, v1::CreateContactRequest, v1::CreateContactResponse)                      \
  X(UpdateContact, v1::UpdateContactRequest, v1::UpdateContactResponse)                      \
  X(MergeContacts, v1::MergeContactsRequest, v1::MergeContactsResponse)                      \
  X(GetContact, v1::GetContactRequest, events::v1::Contact)                                  \
  X(ListContacts, v1::ListContactsRequest, v1::ListContactsResponse)                         \
  X(AcceptHandoff, v1::AcceptHandoffRequest, v1::AcceptHandoffResponse)                      \
  X(RejectHandoff, v1::RejectHandoffRequest, v1::RejectHandoffResponse)                      \
  X(AssignOwner, v1::AssignOwnerRequest, v1::AssignOwnerResponse)                            \
  X(LogActivity, v1::LogActivityRequest, v1::LogActivityResponse)                            \
  X(ListActivities, v1::ListActivitiesRequest, v1::ListActivitiesResponse)                   \
  X(IssueQuote, v1::IssueQuoteRequest, v1::IssueQuoteResponse)                               \
  X(ReviseQuote, v1::ReviseQuoteRequest, v1::ReviseQuoteResponse)                            \
  X(WithdrawQuote, v1::WithdrawQuoteRequest, v1::WithdrawQuoteResponse)                      \
  X(GetQuote, v1::GetQuoteRequest, events::v1::Quote)                                        \
  X(ListQuotes, v1::ListQuotesRequest, v1::ListQuotesResponse)                               \
  X(MakeCommitment, v1::MakeCommitmentRequest, v1::MakeCommitmentResponse)                   \
  X(ListCommitments, v1::ListCommitmentsRequest, v1::ListCommitmentsResponse)                \
  X(CreateOpportunity, v1::CreateOpportunityRequest, v1::CreateOpportunityResponse)          \
  X(UpdateOpportunityStage, v1::UpdateOpportunityStageRequest, v1::UpdateOpportunityStageResponse) \
  X(GetOpportunity, v1::GetOpportunityRequest, events::v1::Opportunity)                      \
  X(ListOpportunities, v1::ListOpportunitiesRequest, v1::ListOpportunitiesResponse)          \
  X(SendMessage, v1::SendMessageRequest, v1::SendMessageResponse)                            \
  X(ListMessages, v1::ListMessagesRequest, v1::ListMessagesResponse)

struct ServiceOptions {
  std::string instance;          // Producer.instance of the events (the instance id)
  std::string version;           // Producer.version (build version)
  std::string source;            // ce_source of the events
  std::string topic{kTopic};     // where the relay publishes them
  int workers = 16;              // calls served at once (each holds a Redis connection at a time)
  auth::Authorizer* authz = nullptr;  // access check before every call (not owned); null = none
};

class SalesService final : public v1::SalesService::CallbackService {
 public:
  SalesService(outbox::Store& store, ServiceOptions options, metrics::Registry& registry = metrics::Default());
  ~SalesService() override;

  SalesLogic& logic() { return logic_; }

#define CONCORD_SALES_DECLARE(Method, Req, Resp) \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const Req* req, Resp* resp) override;
  CONCORD_SALES_RPCS(CONCORD_SALES_DECLARE)
  CONCORD_SALES_ASYNC_RPCS(CONCORD_SALES_DECLARE)
#undef CONCORD_SALES_DECLARE

 private:
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* Serve(const char* method, grpc::CallbackServerContext* ctx, const Req* req, Resp* resp,
                                  absl::StatusOr<Resp> (SalesLogic::*fn)(const Req&, const Deadline&));
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* ServeAsync(const char* method, grpc::CallbackServerContext* ctx, const Req* req,
                                       Resp* resp,
                                       void (SalesLogic::*fn)(const Req&, const Deadline&, writes::Async<Resp>));
  bool Refused(const char* method, grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
               std::chrono::steady_clock::time_point started);
  void Finish(const char* method, grpc::ServerUnaryReactor* reactor, const absl::Status& status,
              std::chrono::steady_clock::time_point started);

  SalesLogic logic_;
  writes::RpcMetrics metrics_;
  auth::Authorizer* authz_;
  writes::Executor executor_;  // declared last: joined first, while everything it uses still exists
};

}  // namespace concord::sales
