#pragma once
// Marketing's system of record (concord.marketing.v1.MarketingService): campaigns, leads and
// outbound messages. `Marketing` is the logic without gRPC (validation, state rules, the
// idempotent write through the outbox Store, events); `MarketingService` (service.h) adapts it
// to the gRPC callback API. See README.md in this directory for the rules.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include <absl/status/statusor.h>

#include "common/outbox/store.h"
#include "common/writes/envelope.h"
#include "common/writes/write_async.h"
#include "concord/marketing/v1/marketing.pb.h"

namespace concord::marketing {

namespace mv1 = concord::marketing::v1;

inline constexpr const char* kTopic = "concord.marketing.events.v1";
inline constexpr const char* kStorePrefix = "concord:marketing";

struct Options {
  // Recipients of one segment send; more is FAILED_PRECONDITION (marketing.proto: 10000).
  int max_segment_recipients = 10000;
  // Total bytes of the events of one send (one MessageSent per recipient, each carrying the
  // message); more is FAILED_PRECONDITION ("split the segment"). Keeps one Redis commit sane.
  size_t max_send_event_bytes = 32u << 20;
  // Leads read at most to resolve one criteria segment; more is FAILED_PRECONDITION.
  int max_segment_scan = 200000;
};

using Deadline = std::optional<std::chrono::system_clock::time_point>;

class Marketing {
 public:
  // `events` must have team TEAM_MARKETING and the marketing topic.
  Marketing(outbox::Store& store, writes::EventFactory events, Options options = {});

  // Campaigns.
  absl::StatusOr<mv1::CreateCampaignResponse> CreateCampaign(const mv1::CreateCampaignRequest& req, Deadline d = {});
  void CreateCampaign(const mv1::CreateCampaignRequest& req, Deadline d, writes::Async<mv1::CreateCampaignResponse> async);
  absl::StatusOr<mv1::UpdateCampaignResponse> UpdateCampaign(const mv1::UpdateCampaignRequest& req, Deadline d = {});
  void UpdateCampaign(const mv1::UpdateCampaignRequest& req, Deadline d, writes::Async<mv1::UpdateCampaignResponse> async);
  absl::StatusOr<mv1::LaunchCampaignResponse> LaunchCampaign(const mv1::LaunchCampaignRequest& req, Deadline d = {});
  void LaunchCampaign(const mv1::LaunchCampaignRequest& req, Deadline d, writes::Async<mv1::LaunchCampaignResponse> async);
  absl::StatusOr<mv1::EndCampaignResponse> EndCampaign(const mv1::EndCampaignRequest& req, Deadline d = {});
  void EndCampaign(const mv1::EndCampaignRequest& req, Deadline d, writes::Async<mv1::EndCampaignResponse> async);
  absl::StatusOr<events::v1::Campaign> GetCampaign(const mv1::GetCampaignRequest& req, Deadline d = {});
  absl::StatusOr<mv1::ListCampaignsResponse> ListCampaigns(const mv1::ListCampaignsRequest& req, Deadline d = {});

  // Leads.
  absl::StatusOr<mv1::CaptureLeadResponse> CaptureLead(const mv1::CaptureLeadRequest& req, Deadline d = {});
  void CaptureLead(const mv1::CaptureLeadRequest& req, Deadline d, writes::Async<mv1::CaptureLeadResponse> async);
  absl::StatusOr<mv1::UpdateLeadResponse> UpdateLead(const mv1::UpdateLeadRequest& req, Deadline d = {});
  void UpdateLead(const mv1::UpdateLeadRequest& req, Deadline d, writes::Async<mv1::UpdateLeadResponse> async);
  absl::StatusOr<mv1::ScoreLeadResponse> ScoreLead(const mv1::ScoreLeadRequest& req, Deadline d = {});
  void ScoreLead(const mv1::ScoreLeadRequest& req, Deadline d, writes::Async<mv1::ScoreLeadResponse> async);
  absl::StatusOr<mv1::QualifyLeadResponse> QualifyLead(const mv1::QualifyLeadRequest& req, Deadline d = {});
  void QualifyLead(const mv1::QualifyLeadRequest& req, Deadline d, writes::Async<mv1::QualifyLeadResponse> async);
  absl::StatusOr<mv1::HandOffLeadResponse> HandOffLead(const mv1::HandOffLeadRequest& req, Deadline d = {});
  void HandOffLead(const mv1::HandOffLeadRequest& req, Deadline d, writes::Async<mv1::HandOffLeadResponse> async);
  absl::StatusOr<mv1::RecycleLeadResponse> RecycleLead(const mv1::RecycleLeadRequest& req, Deadline d = {});
  void RecycleLead(const mv1::RecycleLeadRequest& req, Deadline d, writes::Async<mv1::RecycleLeadResponse> async);
  absl::StatusOr<events::v1::Lead> GetLead(const mv1::GetLeadRequest& req, Deadline d = {});
  absl::StatusOr<mv1::ListLeadsResponse> ListLeads(const mv1::ListLeadsRequest& req, Deadline d = {});

  // Outbound messages.
  absl::StatusOr<mv1::SendMessageResponse> SendMessage(const mv1::SendMessageRequest& req, Deadline d = {});
  absl::StatusOr<events::v1::OutboundMessage> GetMessage(const mv1::GetMessageRequest& req, Deadline d = {});
  absl::StatusOr<mv1::ListMessagesResponse> ListMessages(const mv1::ListMessagesRequest& req, Deadline d = {});

  // The writes above also come in an async form (same behaviour; `async.done` is called once,
  // usually on the Store's I/O thread, and `req` must live until then; see write_async.h).
  // The blocking form waits for it.

  outbox::Store& store() { return store_; }

 private:
  template <typename Entity>
  absl::StatusOr<Entity> Read(std::string_view type, const std::string& id);
  absl::StatusOr<std::vector<events::v1::CustomerRef>> ResolveSegment(const events::v1::Segment& segment, Deadline d);

  outbox::Store& store_;
  writes::EventFactory events_;
  Options options_;
};

}  // namespace concord::marketing
