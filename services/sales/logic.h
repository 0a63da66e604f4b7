#pragma once
// The sales service's logic, one method per RPC, independent of gRPC: validate, read, check
// the state rules, write the entity + idempotency record + index + event in one commit
// (writes::VersionedWrite over outbox::Store). The gRPC layer (service.h) runs these on its
// worker pool and maps the status.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <absl/status/statusor.h>
#include <google/protobuf/timestamp.pb.h>

#include "common/outbox/store.h"
#include "common/writes/envelope.h"
#include "common/writes/write.h"
#include "common/writes/write_async.h"
#include "concord/events/v1/events.pb.h"
#include "concord/sales/v1/sales.pb.h"

namespace concord::sales {

using Deadline = std::optional<std::chrono::system_clock::time_point>;

inline constexpr std::string_view kTopic = "concord.sales.events.v1";

// Most related records (contacts, quotes, opportunities) one MergeAccounts or key-changing
// UpdateAccount moves in its commit; beyond it the call is FAILED_PRECONDITION.
inline constexpr int kMaxCascade = 1000;

class SalesLogic {
 public:
  // `source`: team, service, instance, version, ce_source and topic of the events.
  SalesLogic(outbox::Store& store, writes::EventSource source);

  // Accounts.
  absl::StatusOr<v1::CreateAccountResponse> CreateAccount(const v1::CreateAccountRequest& r, const Deadline& d);
  absl::StatusOr<v1::UpdateAccountResponse> UpdateAccount(const v1::UpdateAccountRequest& r, const Deadline& d);
  // Async forms of the two (same behaviour; `async.done` is called once, usually on the Store's
  // I/O thread, and `r` must live until then; see common/writes/write_async.h). The blocking
  // forms above wait for them.
  void CreateAccount(const v1::CreateAccountRequest& r, const Deadline& d, writes::Async<v1::CreateAccountResponse> async);
  void UpdateAccount(const v1::UpdateAccountRequest& r, const Deadline& d, writes::Async<v1::UpdateAccountResponse> async);
  absl::StatusOr<v1::MergeAccountsResponse> MergeAccounts(const v1::MergeAccountsRequest& r, const Deadline& d);
  absl::StatusOr<events::v1::Account> GetAccount(const v1::GetAccountRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListAccountsResponse> ListAccounts(const v1::ListAccountsRequest& r, const Deadline& d);
  // Contacts.
  absl::StatusOr<v1::CreateContactResponse> CreateContact(const v1::CreateContactRequest& r, const Deadline& d);
  absl::StatusOr<v1::UpdateContactResponse> UpdateContact(const v1::UpdateContactRequest& r, const Deadline& d);
  absl::StatusOr<v1::MergeContactsResponse> MergeContacts(const v1::MergeContactsRequest& r, const Deadline& d);
  absl::StatusOr<events::v1::Contact> GetContact(const v1::GetContactRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListContactsResponse> ListContacts(const v1::ListContactsRequest& r, const Deadline& d);
  // Hand-offs and ownership.
  absl::StatusOr<v1::AcceptHandoffResponse> AcceptHandoff(const v1::AcceptHandoffRequest& r, const Deadline& d);
  absl::StatusOr<v1::RejectHandoffResponse> RejectHandoff(const v1::RejectHandoffRequest& r, const Deadline& d);
  absl::StatusOr<v1::AssignOwnerResponse> AssignOwner(const v1::AssignOwnerRequest& r, const Deadline& d);
  // Activities.
  absl::StatusOr<v1::LogActivityResponse> LogActivity(const v1::LogActivityRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListActivitiesResponse> ListActivities(const v1::ListActivitiesRequest& r, const Deadline& d);
  // Quotes.
  absl::StatusOr<v1::IssueQuoteResponse> IssueQuote(const v1::IssueQuoteRequest& r, const Deadline& d);
  absl::StatusOr<v1::ReviseQuoteResponse> ReviseQuote(const v1::ReviseQuoteRequest& r, const Deadline& d);
  absl::StatusOr<v1::WithdrawQuoteResponse> WithdrawQuote(const v1::WithdrawQuoteRequest& r, const Deadline& d);
  absl::StatusOr<events::v1::Quote> GetQuote(const v1::GetQuoteRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListQuotesResponse> ListQuotes(const v1::ListQuotesRequest& r, const Deadline& d);
  // Commitments.
  absl::StatusOr<v1::MakeCommitmentResponse> MakeCommitment(const v1::MakeCommitmentRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListCommitmentsResponse> ListCommitments(const v1::ListCommitmentsRequest& r, const Deadline& d);
  // Opportunities.
  absl::StatusOr<v1::CreateOpportunityResponse> CreateOpportunity(const v1::CreateOpportunityRequest& r,
                                                                  const Deadline& d);
  absl::StatusOr<v1::UpdateOpportunityStageResponse> UpdateOpportunityStage(
      const v1::UpdateOpportunityStageRequest& r, const Deadline& d);
  absl::StatusOr<events::v1::Opportunity> GetOpportunity(const v1::GetOpportunityRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListOpportunitiesResponse> ListOpportunities(const v1::ListOpportunitiesRequest& r,
                                                                  const Deadline& d);
  // Outbound messages.
  absl::StatusOr<v1::SendMessageResponse> SendMessage(const v1::SendMessageRequest& r, const Deadline& d);
  absl::StatusOr<v1::ListMessagesResponse> ListMessages(const v1::ListMessagesRequest& r, const Deadline& d);

 private:
  // A stored record and the version it was read at.
  template <typename T>
  struct Loaded {
    T entity;
    uint64_t version = 0;
  };

  // NOT_FOUND ("account 'x' not found") when missing; storage errors mapped.
  template <typename T>
  absl::StatusOr<Loaded<T>> Load(std::string_view type, const std::string& id);
  template <typename T>
  absl::StatusOr<std::optional<Loaded<T>>> Find(std::string_view type, const std::string& id);
  // What every Get RPC does: check the id field and the deadline, load, stamp the version.
  template <typename T>
  absl::StatusOr<T> GetRecord(std::string_view field, const std::string& id, std::string_view type, const Deadline& d);

  // Every id in an index (oldest last), at most `limit` + 1 of them.
  absl::StatusOr<std::vector<std::string>> IndexMembers(const std::string& index_name, int limit);

  // Adds `entity` (already changed, read at `read_version`) to the commit as version + 1.
  template <typename T, typename R>
  void Rewrite(writes::Changes<R>& out, std::string_view type, T& entity, uint64_t read_version);

  outbox::IndexAdd Index(const std::string& name, const google::protobuf::Timestamp& at, const std::string& id) const;

  // Builds an event, queues its outbox record and returns its id.
  template <typename R>
  std::string Emit(writes::Changes<R>& out, const writes::EventSpec& spec,
                   const std::function<void(events::v1::Event&)>& payload);

  // Points every contact, quote and opportunity of account `from_id` at `to` (account id and
  // customer key), in the same commit. FAILED_PRECONDITION beyond kMaxCascade records.
  template <typename R>
  absl::Status Relink(const std::string& from_id, const events::v1::Account& to,
                      const google::protobuf::Timestamp& now, writes::Changes<R>& out);

  // Hand-offs may be new to sales: runs VersionedWrite as a create when the hand-off does
  // not exist yet, as an update otherwise (a concurrent first write makes it an update).
  template <typename R>
  absl::StatusOr<R> WriteHandoff(const std::string& handoff_id, const std::string& request_id,
                                 const std::string& fingerprint, uint64_t expected_version, const Deadline& d,
                                 const writes::Mutation<events::v1::Handoff, R>& mutate);

  template <typename Entity, typename R>
  absl::StatusOr<R> AssignTo(const v1::AssignOwnerRequest& r, const Deadline& d, std::string_view type,
                             const std::string& id);

  // Who a hand-off, activity, commitment or message concerns, from the linked records or the
  // identity given.
  struct Party {
    std::optional<Loaded<events::v1::Account>> account;
    std::optional<Loaded<events::v1::Contact>> contact;
    std::optional<Loaded<events::v1::Opportunity>> opportunity;
  };
  absl::StatusOr<events::v1::CustomerRef> ResolveCustomer(const Party& p, const events::v1::CustomerRef* given,
                                                          std::string_view given_field);

  outbox::Store& store_;
  writes::EventFactory events_;
};

}  // namespace concord::sales
