// The marketing service over a real gRPC channel against the real Redis (and Kafka for the
// event tests) that scripts/infra runs. Each test has its own Redis prefix, so tests never see
// each other's data, and removes its keys at the end.
#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/grpc/server.h"
#include "common/kafka/cloudevents.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/outbox/relay.h"
#include "common/outbox/store.h"
#include "common/redis/redis.h"
#include "concord/marketing/v1/marketing.grpc.pb.h"
#include "services/marketing/marketing.h"
#include "services/marketing/service.h"

namespace concord::marketing {
namespace {

using concord::testenv::Brokers;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;

namespace ev = concord::events::v1;
using namespace std::chrono_literals;
using testing::HasSubstr;
using Stub = mv1::MarketingService::Stub;


ev::Actor Marketer(const std::string& id = "mkt-007") {
  ev::Actor a;
  a.set_id(id);
  a.set_display_name("Mia Marketer");
  a.set_kind(ev::ACTOR_KIND_PERSON);
  return a;
}

ev::Offer ProOffer(double discount = 20) {
  ev::Offer o;
  o.set_product("concord-pro");
  o.mutable_price()->set_currency_code("USD");
  o.mutable_price()->set_units(49);
  o.mutable_price()->set_nanos(990000000);
  o.set_billing_period(ev::BILLING_PERIOD_MONTHLY);
  o.set_discount_percent(discount);
  o.set_text("20% off Concord Pro for the first year");
  return o;
}

mv1::CreateCampaignRequest NewCampaign(const std::string& request_id) {
  mv1::CreateCampaignRequest r;
  r.set_request_id(request_id);
  *r.mutable_actor() = Marketer();
  r.set_name("Spring launch");
  r.set_description("Pro tier launch to software companies");
  r.set_channel(ev::CHANNEL_EMAIL);
  r.set_purpose(ev::MESSAGE_PURPOSE_PROMOTION);
  r.mutable_segment()->set_name("software");
  r.mutable_segment()->mutable_criteria()->add_industries("Software");
  *r.add_offers() = ProOffer();
  r.mutable_starts_at()->set_seconds(1767225600);
  r.mutable_ends_at()->set_seconds(1769904000);
  r.mutable_budget()->set_currency_code("USD");
  r.mutable_budget()->set_units(10000);
  return r;
}

mv1::CaptureLeadRequest NewLead(const std::string& request_id, const std::string& email,
                                const std::string& industry = "software") {
  mv1::CaptureLeadRequest r;
  r.set_request_id(request_id);
  *r.mutable_actor() = Marketer();
  r.mutable_person()->set_first_name("Jane");
  r.mutable_person()->set_last_name("Doe");
  r.mutable_person()->set_email(email);
  r.mutable_person()->set_phone("+1 415 555 0100");
  r.mutable_person()->set_company("Acme Inc");
  r.set_industry(industry);
  r.set_region("NA");
  r.set_country("us");
  r.set_source_channel(ev::CHANNEL_WEBINAR);
  return r;
}

class MarketingServiceTest : public testing::Test {
 protected:
  void SetUp() override { Start(Options()); }

  void Start(Options options) {
    prefix_ = Unique("concord:test:marketing");
    pool_ = std::make_unique<redis::Pool>(RedisOptions(), 4);
    ASSERT_TRUE(pool_->Ping().ok()) << "Redis must run (scripts/infra up)";
    store_ = std::make_unique<outbox::Store>(*pool_, prefix_);
    source_.team = ev::TEAM_MARKETING;
    source_.service = "marketing";
    source_.instance = Unique("test");
    source_.version = "test";
    source_.source = "/concord/marketing/" + source_.instance;
    source_.topic = kTopic;
    logic_ = std::make_unique<Marketing>(*store_, writes::EventFactory(source_), options);
    service_ = std::make_unique<MarketingService>(*logic_, registry_);
    grpcserver::ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<grpcserver::Server>(so);
    server_->AddService(service_.get(), MarketingService::service_full_name());
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = mv1::MarketingService::NewStub(channel_);
  }

  void TearDown() override {
    if (relay_) relay_->Stop(5s);
    if (server_) server_->Shutdown(1s);
    if (!pool_) return;
    auto lease = pool_->Acquire(1s);
    if (!lease.ok()) return;
    std::string cursor = "0";
    do {
      auto r = (*lease)->Command({"SCAN", cursor, "MATCH", prefix_ + ":*", "COUNT", "1000"});
      if (!r.ok() || r->elements.size() != 2) break;
      cursor = r->elements[0].str;
      std::vector<std::string> del = {"DEL"};
      for (const auto& k : r->elements[1].elements) del.push_back(k.str);
      if (del.size() > 1) (void)(*lease)->Command(del);
    } while (cursor != "0");
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
                    Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    return (stub_.get()->*method)(&ctx, req, resp);
  }

  // Calls that must succeed.
  mv1::CreateCampaignResponse CreateCampaign(const std::string& rid) {
    mv1::CreateCampaignResponse resp;
    auto s = Call(&Stub::CreateCampaign, NewCampaign(rid), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  ev::Campaign ActiveCampaign(const std::string& rid) {
    auto c = CreateCampaign(rid).campaign();
    mv1::LaunchCampaignRequest req;
    req.set_request_id(rid + "-launch");
    *req.mutable_actor() = Marketer();
    req.set_campaign_id(c.id());
    mv1::LaunchCampaignResponse resp;
    auto s = Call(&Stub::LaunchCampaign, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.campaign();
  }
  mv1::CaptureLeadResponse Capture(const mv1::CaptureLeadRequest& req) {
    mv1::CaptureLeadResponse resp;
    auto s = Call(&Stub::CaptureLead, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  template <typename Req>
  Req LeadWrite(const std::string& rid, const std::string& lead_id) {
    Req r;
    r.set_request_id(rid);
    *r.mutable_actor() = Marketer();
    r.set_lead_id(lead_id);
    return r;
  }

  // Every outbox record of this test's prefix: (key, value, headers, event id).
  struct Record {
    std::string key, value;
    kafka::Headers headers;
    std::string id;
  };
  std::vector<Record> Outbox() {
    std::vector<Record> out;
    auto lease = pool_->Acquire(1s);
    EXPECT_TRUE(lease.ok());
    auto r = (*lease)->Command({"XRANGE", store_->OutboxKey(), "-", "+"});
    EXPECT_TRUE(r.ok());
    for (const auto& entry : r->elements) {
      outbox::OutboxEvent e;
      EXPECT_TRUE(outbox::DecodeRecord(entry.elements[1].elements, &e));
      out.push_back({std::move(e.key), std::move(e.value), std::move(e.headers), std::move(e.event_id)});
    }
    return out;
  }
  int64_t OutboxLength() {
    auto n = store_->OutboxLength();
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }
  ev::Event LastEvent() {
    auto records = Outbox();
    ev::Event e;
    EXPECT_FALSE(records.empty());
    if (!records.empty()) {
      EXPECT_TRUE(e.ParseFromString(records.back().value));
    }
    return e;
  }

  std::string prefix_;
  metrics::Registry registry_;
  writes::EventSource source_;
  std::unique_ptr<redis::Pool> pool_;
  std::unique_ptr<outbox::Store> store_;
  std::unique_ptr<Marketing> logic_;
  std::unique_ptr<MarketingService> service_;
  std::unique_ptr<grpcserver::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<outbox::Relay> relay_;
};

void ExpectInvalid(const grpc::Status& s, const std::string& field) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(field + ":")) << "the message names the field";
}

// =============================================================================================
// Campaigns
// =============================================================================================

TEST_F(MarketingServiceTest, CampaignLifecycle) {
  auto created = CreateCampaign("r-create");
  const auto& c = created.campaign();
  EXPECT_THAT(c.id(), testing::StartsWith("cmp-"));
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(c.status(), ev::CAMPAIGN_STATUS_DRAFT);
  EXPECT_EQ(c.owner().id(), "mkt-007") << "owner defaults to the actor";
  EXPECT_EQ(c.owner().team(), ev::TEAM_MARKETING);
  EXPECT_EQ(c.created_by().id(), "mkt-007");
  EXPECT_TRUE(c.has_created_at());
  EXPECT_EQ(c.offers_size(), 1);
  EXPECT_FALSE(created.event_id().empty());
  auto e = LastEvent();
  EXPECT_EQ(e.id(), created.event_id());
  EXPECT_EQ(e.payload_case(), ev::Event::kCampaignCreated);
  EXPECT_EQ(e.aggregate_type(), ev::AGGREGATE_TYPE_CAMPAIGN);
  EXPECT_EQ(e.aggregate_version(), 1u);
  EXPECT_EQ(Outbox().back().key, "campaign:" + c.id()) << "campaign events: key campaign:<id>";

  mv1::UpdateCampaignRequest up;
  up.set_request_id("r-update");
  *up.mutable_actor() = Marketer();
  up.set_campaign_id(c.id());
  up.set_expected_version(1);
  up.set_name("Spring launch (EMEA)");
  up.mutable_offers()->add_offers()->set_product("concord-team");
  mv1::UpdateCampaignResponse upr;
  ASSERT_TRUE(Call(&Stub::UpdateCampaign, up, &upr).ok());
  EXPECT_EQ(upr.campaign().version(), 2u);
  EXPECT_EQ(upr.campaign().name(), "Spring launch (EMEA)");
  ASSERT_EQ(upr.campaign().offers_size(), 1);
  EXPECT_EQ(upr.campaign().offers(0).product(), "concord-team");
  EXPECT_EQ(upr.campaign().channel(), ev::CHANNEL_EMAIL) << "unset fields unchanged";
  e = LastEvent();
  EXPECT_EQ(e.payload_case(), ev::Event::kCampaignUpdated);
  EXPECT_THAT(e.campaign_updated().changed_fields(), testing::ElementsAre("name", "offers"));

  mv1::LaunchCampaignRequest launch;
  launch.set_request_id("r-launch");
  *launch.mutable_actor() = Marketer();
  launch.set_campaign_id(c.id());
  mv1::LaunchCampaignResponse lr;
  ASSERT_TRUE(Call(&Stub::LaunchCampaign, launch, &lr).ok());
  EXPECT_EQ(lr.campaign().status(), ev::CAMPAIGN_STATUS_ACTIVE);
  EXPECT_TRUE(lr.campaign().has_launched_at());
  EXPECT_EQ(lr.campaign().version(), 3u);
  EXPECT_EQ(LastEvent().payload_case(), ev::Event::kCampaignLaunched);

  launch.set_request_id("r-launch-again");
  auto s = Call(&Stub::LaunchCampaign, launch, &lr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("CAMPAIGN_STATUS_ACTIVE"));

  mv1::EndCampaignRequest end;
  end.set_request_id("r-end");
  *end.mutable_actor() = Marketer();
  end.set_campaign_id(c.id());
  end.set_reason("budget spent");
  mv1::EndCampaignResponse er;
  ASSERT_TRUE(Call(&Stub::EndCampaign, end, &er).ok());
  EXPECT_EQ(er.campaign().status(), ev::CAMPAIGN_STATUS_ENDED);
  EXPECT_EQ(er.campaign().end_reason(), "budget spent");
  EXPECT_EQ(LastEvent().payload_case(), ev::Event::kCampaignEnded);

  // An ended campaign refuses every change.
  end.set_request_id("r-end-again");
  EXPECT_EQ(Call(&Stub::EndCampaign, end, &er).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  launch.set_request_id("r-launch-ended");
  EXPECT_EQ(Call(&Stub::LaunchCampaign, launch, &lr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  up.set_request_id("r-update-ended");
  up.set_expected_version(0);
  EXPECT_EQ(Call(&Stub::UpdateCampaign, up, &upr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  mv1::GetCampaignRequest get;
  get.set_campaign_id(c.id());
  ev::Campaign got;
  ASSERT_TRUE(Call(&Stub::GetCampaign, get, &got).ok());
  EXPECT_EQ(got.status(), ev::CAMPAIGN_STATUS_ENDED);
  EXPECT_EQ(got.version(), 4u);
  EXPECT_EQ(OutboxLength(), 4) << "one event per accepted write, none for refused ones";
}

TEST_F(MarketingServiceTest, CampaignValidationNamesTheField) {
  struct Case {
    std::string field;
    std::function<void(mv1::CreateCampaignRequest&)> breaks;
  };
  std::vector<Case> cases = {
      {"request_id", [](auto& r) { r.clear_request_id(); }},
      {"request_id", [](auto& r) { r.set_request_id(std::string(129, 'r')); }},
      {"actor", [](auto& r) { r.clear_actor(); }},
      {"actor.id", [](auto& r) { r.mutable_actor()->clear_id(); }},
      {"actor.team", [](auto& r) { r.mutable_actor()->set_team(ev::TEAM_SALES); }},
      {"name", [](auto& r) { r.clear_name(); }},
      {"name", [](auto& r) { r.set_name(std::string(201, 'n')); }},
      {"description", [](auto& r) { r.set_description(std::string(4097, 'd')); }},
      {"channel", [](auto& r) { r.clear_channel(); }},
      {"segment", [](auto& r) { r.clear_segment(); }},
      {"segment", [](auto& r) { r.mutable_segment()->clear_criteria(); }},
      {"segment.criteria.countries[0]", [](auto& r) { r.mutable_segment()->mutable_criteria()->add_countries("USA"); }},
      {"offers[0].product", [](auto& r) { r.mutable_offers(0)->clear_product(); }},
      {"offers[0].price.currency_code", [](auto& r) { r.mutable_offers(0)->mutable_price()->set_currency_code("usd"); }},
      {"offers[0].discount_percent", [](auto& r) { r.mutable_offers(0)->set_discount_percent(120); }},
      {"offers", [](auto& r) { for (int i = 0; i < 20; ++i) *r.add_offers() = ProOffer(); }},
      {"ends_at", [](auto& r) { r.mutable_ends_at()->set_seconds(1); }},
      {"budget.nanos", [](auto& r) { r.mutable_budget()->set_nanos(-1); }},
      {"owner.team", [](auto& r) {
         r.mutable_owner()->set_id("rep-1");
         r.mutable_owner()->set_team(ev::TEAM_SALES);
       }},
  };
  int i = 0;
  for (const auto& c : cases) {
    auto req = NewCampaign("r-bad-" + std::to_string(i++));
    c.breaks(req);
    mv1::CreateCampaignResponse resp;
    SCOPED_TRACE(c.field);
    ExpectInvalid(Call(&Stub::CreateCampaign, req, &resp), c.field);
  }
  EXPECT_EQ(OutboxLength(), 0);

  // Several problems at once are all reported.
  auto req = NewCampaign("r-multi");
  req.clear_name();
  req.clear_channel();
  mv1::CreateCampaignResponse resp;
  auto s = Call(&Stub::CreateCampaign, req, &resp);
  EXPECT_THAT(s.error_message(), HasSubstr("name: required"));
  EXPECT_THAT(s.error_message(), HasSubstr("channel: required"));
}

TEST_F(MarketingServiceTest, UnknownIdsAreNotFound) {
  ev::Campaign c;
  mv1::GetCampaignRequest gc;
  gc.set_campaign_id("cmp-nope");
  auto s = Call(&Stub::GetCampaign, gc, &c);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("cmp-nope"));

  mv1::LaunchCampaignRequest launch;
  launch.set_request_id("r-1");
  *launch.mutable_actor() = Marketer();
  launch.set_campaign_id("cmp-nope");
  mv1::LaunchCampaignResponse lr;
  EXPECT_EQ(Call(&Stub::LaunchCampaign, launch, &lr).error_code(), grpc::StatusCode::NOT_FOUND);

  ev::Lead l;
  mv1::GetLeadRequest gl;
  gl.set_lead_id("lead-nope");
  EXPECT_EQ(Call(&Stub::GetLead, gl, &l).error_code(), grpc::StatusCode::NOT_FOUND);
  mv1::ScoreLeadResponse sr;
  auto score = LeadWrite<mv1::ScoreLeadRequest>("r-2", "lead-nope");
  score.set_score(10);
  EXPECT_EQ(Call(&Stub::ScoreLead, score, &sr).error_code(), grpc::StatusCode::NOT_FOUND);

  ev::OutboundMessage m;
  mv1::GetMessageRequest gm;
  gm.set_message_id("msg-nope");
  EXPECT_EQ(Call(&Stub::GetMessage, gm, &m).error_code(), grpc::StatusCode::NOT_FOUND);

  auto capture = NewLead("r-3", "jane@acme.com");
  capture.set_source_campaign_id("cmp-nope");
  mv1::CaptureLeadResponse cr;
  s = Call(&Stub::CaptureLead, capture, &cr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("source_campaign_id"));

  mv1::SendMessageRequest send;
  send.set_request_id("r-4");
  *send.mutable_actor() = Marketer();
  send.set_channel(ev::CHANNEL_SMS);
  send.set_body("hi");
  send.set_lead_id("lead-nope");
  mv1::SendMessageResponse smr;
  EXPECT_EQ(Call(&Stub::SendMessage, send, &smr).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(OutboxLength(), 0);
}

TEST_F(MarketingServiceTest, StaleExpectedVersionIsAborted) {
  auto c = CreateCampaign("r-create").campaign();
  mv1::UpdateCampaignRequest up;
  up.set_request_id("r-up-1");
  *up.mutable_actor() = Marketer();
  up.set_campaign_id(c.id());
  up.set_expected_version(1);
  up.set_description("first");
  mv1::UpdateCampaignResponse upr;
  ASSERT_TRUE(Call(&Stub::UpdateCampaign, up, &upr).ok());

  up.set_request_id("r-up-2");
  up.set_description("second, from a stale read");
  auto s = Call(&Stub::UpdateCampaign, up, &upr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("current version is 2"));

  auto lead = Capture(NewLead("r-lead", "jane@acme.com")).lead();
  auto q = LeadWrite<mv1::QualifyLeadRequest>("r-q", lead.id());
  q.set_expected_version(7);
  mv1::QualifyLeadResponse qr;
  EXPECT_EQ(Call(&Stub::QualifyLead, q, &qr).error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(OutboxLength(), 3);
}

TEST_F(MarketingServiceTest, RetriesWithTheSameRequestIdHaveTheirEffectOnce) {
  auto req = NewLead("r-capture", "jane@acme.com");
  auto first = Capture(req);
  auto again = Capture(req);
  EXPECT_EQ(again.lead().id(), first.lead().id());
  EXPECT_EQ(again.event_id(), first.event_id());
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString()) << "the same answer";
  EXPECT_EQ(OutboxLength(), 1) << "one event";

  // An update retried: the version moves once.
  auto score = LeadWrite<mv1::ScoreLeadRequest>("r-score", first.lead().id());
  score.set_score(40);
  mv1::ScoreLeadResponse s1, s2;
  ASSERT_TRUE(Call(&Stub::ScoreLead, score, &s1).ok());
  ASSERT_TRUE(Call(&Stub::ScoreLead, score, &s2).ok());
  EXPECT_EQ(s1.lead().version(), 2u);
  EXPECT_EQ(s2.SerializeAsString(), s1.SerializeAsString());
  EXPECT_EQ(OutboxLength(), 2);

  // A retry is answered even when the state has moved on since (it is not re-applied).
  auto q = LeadWrite<mv1::QualifyLeadRequest>("r-qualify", first.lead().id());
  mv1::QualifyLeadResponse q1, q2;
  ASSERT_TRUE(Call(&Stub::QualifyLead, q, &q1).ok());
  ASSERT_TRUE(Call(&Stub::QualifyLead, q, &q2).ok()) << "a replay, not FAILED_PRECONDITION";
  EXPECT_EQ(q2.event_id(), q1.event_id());

  // Same id, different content -> INVALID_ARGUMENT; nothing written.
  auto other = NewLead("r-capture", "john@acme.com");
  mv1::CaptureLeadResponse resp;
  auto s = Call(&Stub::CaptureLead, other, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("request_id"));
  // Same id on another method -> INVALID_ARGUMENT.
  auto reused = LeadWrite<mv1::ScoreLeadRequest>("r-capture", first.lead().id());
  reused.set_score(1);
  EXPECT_EQ(Call(&Stub::ScoreLead, reused, &s1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(OutboxLength(), 3);
}

TEST_F(MarketingServiceTest, ConcurrentRetriesOfOneRequestCommitOnce) {
  auto req = NewLead("r-race", "race@acme.com");
  std::vector<std::thread> threads;
  std::vector<mv1::CaptureLeadResponse> answers(8);
  std::vector<grpc::Status> statuses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { statuses[i] = Call(&Stub::CaptureLead, req, &answers[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(answers[i].lead().id(), answers[0].lead().id());
  }
  EXPECT_EQ(OutboxLength(), 1);
}

TEST_F(MarketingServiceTest, ConcurrentUnpinnedUpdatesAllApply) {
  auto lead = Capture(NewLead("r-lead", "jane@acme.com")).lead();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto score = LeadWrite<mv1::ScoreLeadRequest>("r-score-" + std::to_string(i), lead.id());
      score.set_score(10 * i);
      mv1::ScoreLeadResponse resp;
      if (Call(&Stub::ScoreLead, score, &resp).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  // Conflicts are retried internally; with 4 writers and 4 attempts each, all should land.
  mv1::GetLeadRequest get;
  get.set_lead_id(lead.id());
  ev::Lead got;
  ASSERT_TRUE(Call(&Stub::GetLead, get, &got).ok());
  EXPECT_EQ(got.version(), 1u + ok.load());
  EXPECT_EQ(OutboxLength(), 1 + ok.load());
  EXPECT_GE(ok.load(), 3);
}

TEST_F(MarketingServiceTest, ManyAsyncWritesInFlightAllLandInOrderPerLead) {
  // 16 clients x 10 leads, each captured, scored and qualified with pinned versions: the async
  // writes of all calls share the Store's pipeline, each call's steps stay in order.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string tag = std::to_string(t) + "-" + std::to_string(i);
        mv1::CaptureLeadResponse captured;
        if (!Call(&Stub::CaptureLead, NewLead("r-c-" + tag, "p" + tag + "@acme.com"), &captured).ok()) continue;
        auto score = LeadWrite<mv1::ScoreLeadRequest>("r-s-" + tag, captured.lead().id());
        score.set_score(60);
        score.set_expected_version(1);
        mv1::ScoreLeadResponse scored;
        if (!Call(&Stub::ScoreLead, score, &scored).ok() || scored.lead().version() != 2) continue;
        auto qualify = LeadWrite<mv1::QualifyLeadRequest>("r-q-" + tag, captured.lead().id());
        qualify.set_expected_version(2);
        mv1::QualifyLeadResponse qualified;
        if (!Call(&Stub::QualifyLead, qualify, &qualified).ok()) continue;
        if (qualified.lead().version() == 3 && qualified.lead().score() == 60) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_EQ(OutboxLength(), 3 * 160);
}

// =============================================================================================
// Leads
// =============================================================================================

TEST_F(MarketingServiceTest, LeadJourneyCaptureScoreQualifyHandOffRecycle) {
  auto campaign = CreateCampaign("r-cmp").campaign();
  auto capture = NewLead("r-capture", "Jane.Doe+webinar@Acme.com");
  capture.mutable_person()->set_website("https://www.acme.com/pricing");
  capture.set_source_campaign_id(campaign.id());
  auto captured = Capture(capture);
  const auto& lead = captured.lead();
  EXPECT_THAT(lead.id(), testing::StartsWith("lead-"));
  EXPECT_EQ(lead.version(), 1u);
  EXPECT_EQ(lead.customer_key(), "domain:acme.com");
  EXPECT_EQ(lead.person().email(), "Jane.Doe+webinar@Acme.com") << "raw identity kept";
  EXPECT_EQ(lead.status(), ev::LEAD_STATUS_NEW);
  EXPECT_EQ(lead.lifecycle_stage(), ev::LIFECYCLE_STAGE_LEAD);
  EXPECT_EQ(lead.country(), "US");
  EXPECT_EQ(lead.source_campaign_id(), campaign.id());
  auto e = LastEvent();
  EXPECT_EQ(e.payload_case(), ev::Event::kLeadCaptured);
  EXPECT_EQ(e.customer().customer_key(), "domain:acme.com");
  EXPECT_EQ(e.customer().lead_id(), lead.id());
  EXPECT_EQ(e.actor().team(), ev::TEAM_MARKETING);
  EXPECT_EQ(e.request_id(), "r-capture");
  EXPECT_EQ(Outbox().back().key, "domain:acme.com");

  auto score = LeadWrite<mv1::ScoreLeadRequest>("r-score", lead.id());
  score.set_score(85);
  auto* reason = score.add_reasons();
  reason->set_code("visited_pricing_page");
  reason->set_points(30);
  mv1::ScoreLeadResponse sr;
  ASSERT_TRUE(Call(&Stub::ScoreLead, score, &sr).ok());
  EXPECT_EQ(sr.lead().score(), 85);
  EXPECT_EQ(sr.lead().score_reasons_size(), 1);
  EXPECT_TRUE(sr.lead().has_scored_at());
  e = LastEvent();
  EXPECT_EQ(e.lead_scored().previous_score(), 0);
  EXPECT_EQ(e.aggregate_version(), 2u);

  auto handoff = LeadWrite<mv1::HandOffLeadRequest>("r-handoff-early", lead.id());
  mv1::HandOffLeadResponse hr;
  auto s = Call(&Stub::HandOffLead, handoff, &hr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "a NEW lead is not an MQL yet";
  EXPECT_THAT(s.error_message(), HasSubstr("LEAD_STATUS_NEW"));

  auto qualify = LeadWrite<mv1::QualifyLeadRequest>("r-qualify", lead.id());
  qualify.set_note("asked for a demo");
  mv1::QualifyLeadResponse qr;
  ASSERT_TRUE(Call(&Stub::QualifyLead, qualify, &qr).ok());
  EXPECT_EQ(qr.lead().status(), ev::LEAD_STATUS_MQL);
  EXPECT_EQ(qr.lead().lifecycle_stage(), ev::LIFECYCLE_STAGE_MQL);
  EXPECT_TRUE(qr.lead().has_qualified_at());
  e = LastEvent();
  EXPECT_EQ(e.lead_qualified().previous_status(), ev::LEAD_STATUS_NEW);
  EXPECT_EQ(e.lead_qualified().note(), "asked for a demo");

  qualify.set_request_id("r-qualify-again");
  EXPECT_EQ(Call(&Stub::QualifyLead, qualify, &qr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  handoff.set_request_id("r-handoff");
  handoff.mutable_suggested_owner()->set_id("rep-042");
  handoff.set_note("hot: budget approved");
  ASSERT_TRUE(Call(&Stub::HandOffLead, handoff, &hr).ok());
  EXPECT_EQ(hr.lead().status(), ev::LEAD_STATUS_HANDED_OFF);
  EXPECT_THAT(hr.lead().handoff().handoff_id(), testing::StartsWith("hof-"));
  EXPECT_EQ(hr.lead().handoff().suggested_owner().team(), ev::TEAM_SALES);
  EXPECT_EQ(hr.lead().handoff().handed_off_by().id(), "mkt-007");
  EXPECT_EQ(LastEvent().lead_handed_off().lead().handoff().handoff_id(), hr.lead().handoff().handoff_id());

  handoff.set_request_id("r-handoff-again");
  EXPECT_EQ(Call(&Stub::HandOffLead, handoff, &hr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  auto recycle = LeadWrite<mv1::RecycleLeadRequest>("r-recycle", lead.id());
  recycle.set_reason(ev::RECYCLE_REASON_REJECTED_BY_SALES);
  recycle.set_note("not ready until Q3");
  mv1::RecycleLeadResponse rr;
  ASSERT_TRUE(Call(&Stub::RecycleLead, recycle, &rr).ok());
  EXPECT_EQ(rr.lead().status(), ev::LEAD_STATUS_RECYCLED);
  EXPECT_EQ(rr.lead().lifecycle_stage(), ev::LIFECYCLE_STAGE_LEAD);
  EXPECT_EQ(rr.lead().recycle_count(), 1u);
  EXPECT_EQ(rr.lead().handoff().handoff_id(), hr.lead().handoff().handoff_id()) << "kept for history";
  EXPECT_EQ(LastEvent().lead_recycled().previous_status(), ev::LEAD_STATUS_HANDED_OFF);

  recycle.set_request_id("r-recycle-again");
  EXPECT_EQ(Call(&Stub::RecycleLead, recycle, &rr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  qualify.set_request_id("r-requalify");
  ASSERT_TRUE(Call(&Stub::QualifyLead, qualify, &qr).ok()) << "a recycled lead can be qualified again";
  EXPECT_EQ(LastEvent().lead_qualified().previous_status(), ev::LEAD_STATUS_RECYCLED);

  mv1::GetLeadRequest get;
  get.set_lead_id(lead.id());
  ev::Lead got;
  ASSERT_TRUE(Call(&Stub::GetLead, get, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), qr.lead().SerializeAsString());
  EXPECT_EQ(got.version(), 6u);
}

TEST_F(MarketingServiceTest, LeadValidationNamesTheField) {
  struct Case {
    std::string field;
    std::function<void(mv1::CaptureLeadRequest&)> breaks;
  };
  std::vector<Case> cases = {
      {"person", [](auto& r) { r.clear_person(); }},
      {"person.email", [](auto& r) {
         r.mutable_person()->clear_email();
         r.mutable_person()->clear_phone();
       }},
      {"person.email", [](auto& r) { r.mutable_person()->set_email("jane@"); }},
      {"person.phone", [](auto& r) { r.mutable_person()->set_phone("12"); }},
      {"person.first_name", [](auto& r) { r.mutable_person()->set_first_name(std::string(201, 'j')); }},
      {"person.website", [](auto& r) { r.mutable_person()->set_website("???"); }},
      {"country", [](auto& r) { r.set_country("USA"); }},
      {"lifecycle_stage", [](auto& r) { r.set_lifecycle_stage(ev::LIFECYCLE_STAGE_CUSTOMER); }},
      {"source_channel", [](auto& r) { r.set_source_channel(static_cast<ev::Channel>(99)); }},
      {"owner.team", [](auto& r) {
         r.mutable_owner()->set_id("rep-1");
         r.mutable_owner()->set_team(ev::TEAM_SALES);
       }},
  };
  int i = 0;
  for (const auto& c : cases) {
    auto req = NewLead("r-bad-" + std::to_string(i++), "jane@acme.com");
    c.breaks(req);
    mv1::CaptureLeadResponse resp;
    SCOPED_TRACE(c.field);
    ExpectInvalid(Call(&Stub::CaptureLead, req, &resp), c.field);
  }

  auto lead = Capture(NewLead("r-ok", "jane@acme.com")).lead();
  mv1::ScoreLeadResponse sr;
  auto score = LeadWrite<mv1::ScoreLeadRequest>("r-s1", lead.id());
  score.set_score(101);
  ExpectInvalid(Call(&Stub::ScoreLead, score, &sr), "score");
  score.set_score(50);
  for (int j = 0; j < 21; ++j) score.add_reasons()->set_code("c");
  ExpectInvalid(Call(&Stub::ScoreLead, score, &sr), "reasons");
  score.clear_reasons();
  score.add_reasons()->set_points(5);
  ExpectInvalid(Call(&Stub::ScoreLead, score, &sr), "reasons[0].code");
  score.clear_lead_id();
  score.clear_reasons();
  ExpectInvalid(Call(&Stub::ScoreLead, score, &sr), "lead_id");

  auto recycle = LeadWrite<mv1::RecycleLeadRequest>("r-rc", lead.id());
  mv1::RecycleLeadResponse rr;
  ExpectInvalid(Call(&Stub::RecycleLead, recycle, &rr), "reason");

  auto qualify = LeadWrite<mv1::QualifyLeadRequest>("r-q", lead.id());
  qualify.set_note(std::string(4097, 'n'));
  mv1::QualifyLeadResponse qr;
  ExpectInvalid(Call(&Stub::QualifyLead, qualify, &qr), "note");

  auto handoff = LeadWrite<mv1::HandOffLeadRequest>("r-h", lead.id());
  handoff.mutable_suggested_owner()->set_id("mkt-1");
  handoff.mutable_suggested_owner()->set_team(ev::TEAM_MARKETING);
  mv1::HandOffLeadResponse hr;
  ExpectInvalid(Call(&Stub::HandOffLead, handoff, &hr), "suggested_owner.team");
  EXPECT_EQ(OutboxLength(), 1);
}

TEST_F(MarketingServiceTest, UpdateLeadMovesTheCustomerKey) {
  auto lead = Capture(NewLead("r-capture", "jane@gmail.com")).lead();
  EXPECT_EQ(lead.customer_key(), "email:jane@gmail.com");

  auto up = LeadWrite<mv1::UpdateLeadRequest>("r-up", lead.id());
  up.set_expected_version(1);
  up.set_email("jane@globex.com");
  up.set_title("CTO");
  mv1::UpdateLeadResponse ur;
  ASSERT_TRUE(Call(&Stub::UpdateLead, up, &ur).ok());
  EXPECT_EQ(ur.lead().customer_key(), "domain:globex.com");
  EXPECT_EQ(ur.lead().person().first_name(), "Jane") << "unset fields unchanged";
  auto e = LastEvent();
  EXPECT_THAT(e.lead_updated().changed_fields(),
              testing::ElementsAre("customer_key", "person.email", "person.title"));
  EXPECT_EQ(Outbox().back().key, "domain:globex.com") << "published under the new key";

  // The lead is found under its new key.
  mv1::ListLeadsRequest list;
  list.set_customer_key("domain:globex.com");
  mv1::ListLeadsResponse lr;
  ASSERT_TRUE(Call(&Stub::ListLeads, list, &lr).ok());
  ASSERT_EQ(lr.leads_size(), 1);
  list.set_customer_key("email:jane@gmail.com");
  ASSERT_TRUE(Call(&Stub::ListLeads, list, &lr).ok());
  EXPECT_EQ(lr.leads_size(), 0);

  auto clear = LeadWrite<mv1::UpdateLeadRequest>("r-clear", lead.id());
  clear.set_email("");
  clear.set_phone("");
  auto s = Call(&Stub::UpdateLead, clear, &ur);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cannot both be empty"));

  auto nothing = LeadWrite<mv1::UpdateLeadRequest>("r-nothing", lead.id());
  ExpectInvalid(Call(&Stub::UpdateLead, nothing, &ur), "lead_id");
  EXPECT_EQ(OutboxLength(), 2);
}

TEST_F(MarketingServiceTest, ListLeadsFiltersAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto req = NewLead("r-" + std::to_string(i), "p" + std::to_string(i) + "@acme.com");
    if (i == 4) req.mutable_person()->set_company("Globex Corporation");
    ids.push_back(Capture(req).lead().id());
    std::this_thread::sleep_for(3ms);  // distinct created_at
  }
  auto q = LeadWrite<mv1::QualifyLeadRequest>("r-q", ids[1]);
  mv1::QualifyLeadResponse qr;
  ASSERT_TRUE(Call(&Stub::QualifyLead, q, &qr).ok());

  // Pages of 2, newest first, no duplicates, exact tokens.
  std::vector<std::string> seen;
  mv1::ListLeadsRequest list;
  list.set_page_size(2);
  int pages = 0;
  do {
    mv1::ListLeadsResponse resp;
    ASSERT_TRUE(Call(&Stub::ListLeads, list, &resp).ok());
    for (const auto& l : resp.leads()) seen.push_back(l.id());
    list.set_page_token(resp.next_page_token());
    ++pages;
  } while (!list.page_token().empty() && pages < 10);
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));

  mv1::ListLeadsResponse resp;
  mv1::ListLeadsRequest by_status;
  by_status.add_statuses(ev::LEAD_STATUS_MQL);
  ASSERT_TRUE(Call(&Stub::ListLeads, by_status, &resp).ok());
  ASSERT_EQ(resp.leads_size(), 1);
  EXPECT_EQ(resp.leads(0).id(), ids[1]);

  mv1::ListLeadsRequest by_email;
  by_email.set_email("P3+news@ACME.com");
  ASSERT_TRUE(Call(&Stub::ListLeads, by_email, &resp).ok());
  ASSERT_EQ(resp.leads_size(), 1);
  EXPECT_EQ(resp.leads(0).id(), ids[3]);

  mv1::ListLeadsRequest by_company;
  by_company.set_company("globex");
  by_company.set_page_size(1);
  ASSERT_TRUE(Call(&Stub::ListLeads, by_company, &resp).ok());
  ASSERT_EQ(resp.leads_size(), 1);
  EXPECT_EQ(resp.leads(0).id(), ids[4]);

  mv1::ListLeadsRequest bad;
  bad.set_page_size(501);
  ExpectInvalid(Call(&Stub::ListLeads, bad, &resp), "page_size");
  bad.set_page_size(0);
  bad.set_page_token("garbage");
  ExpectInvalid(Call(&Stub::ListLeads, bad, &resp), "page_token");
  bad.clear_page_token();
  bad.set_min_score(50);
  bad.set_max_score(10);
  ExpectInvalid(Call(&Stub::ListLeads, bad, &resp), "max_score");
}

TEST_F(MarketingServiceTest, ListCampaignsFilters) {
  auto a = CreateCampaign("r-a").campaign();
  auto b = ActiveCampaign("r-b");
  mv1::ListCampaignsRequest req;
  req.add_statuses(ev::CAMPAIGN_STATUS_ACTIVE);
  mv1::ListCampaignsResponse resp;
  ASSERT_TRUE(Call(&Stub::ListCampaigns, req, &resp).ok());
  ASSERT_EQ(resp.campaigns_size(), 1);
  EXPECT_EQ(resp.campaigns(0).id(), b.id());
  EXPECT_TRUE(resp.next_page_token().empty());

  mv1::ListCampaignsRequest by_product;
  by_product.set_product("concord-pro");
  ASSERT_TRUE(Call(&Stub::ListCampaigns, by_product, &resp).ok());
  EXPECT_EQ(resp.campaigns_size(), 2);
  by_product.set_product("concord-enterprise");
  ASSERT_TRUE(Call(&Stub::ListCampaigns, by_product, &resp).ok());
  EXPECT_EQ(resp.campaigns_size(), 0);

  mv1::ListCampaignsRequest bad;
  bad.add_channels(static_cast<ev::Channel>(77));
  ExpectInvalid(Call(&Stub::ListCampaigns, bad, &resp), "channels[0]");
}

// =============================================================================================
// Messages
// =============================================================================================

mv1::SendMessageRequest Message(const std::string& rid) {
  mv1::SendMessageRequest r;
  r.set_request_id(rid);
  *r.mutable_actor() = Marketer();
  r.set_channel(ev::CHANNEL_EMAIL);
  r.set_purpose(ev::MESSAGE_PURPOSE_PROMOTION);
  r.set_subject("20% off Concord Pro");
  r.set_body("Hi! Concord Pro is 20% off for the first year, with a 30-day free trial.");
  *r.add_offers() = ProOffer();
  return r;
}

TEST_F(MarketingServiceTest, SendToALeadAPersonAndASegment) {
  auto campaign = ActiveCampaign("r-cmp");
  auto jane = Capture(NewLead("r-jane", "jane@acme.com", "Software")).lead();
  auto john = Capture(NewLead("r-john", "john@globex.com", "software")).lead();
  auto mary = Capture(NewLead("r-mary", "mary@initech.com", "Banking")).lead();
  int64_t base = OutboxLength();

  auto to_lead = Message("r-m1");
  to_lead.set_campaign_id(campaign.id());
  to_lead.set_lead_id(jane.id());
  mv1::SendMessageResponse r1;
  ASSERT_TRUE(Call(&Stub::SendMessage, to_lead, &r1).ok());
  EXPECT_THAT(r1.message().id(), testing::StartsWith("msg-"));
  EXPECT_EQ(r1.message().recipient_count(), 1u);
  EXPECT_EQ(r1.message().person().customer_key(), "domain:acme.com");
  EXPECT_EQ(r1.message().person().lead_id(), jane.id());
  EXPECT_EQ(r1.message().sender().team(), ev::TEAM_MARKETING);
  ASSERT_EQ(r1.event_ids_size(), 1);
  auto e = LastEvent();
  EXPECT_EQ(e.id(), r1.event_ids(0));
  EXPECT_EQ(e.payload_case(), ev::Event::kMessageSent);
  EXPECT_EQ(e.message_sent().recipient().lead_id(), jane.id());
  EXPECT_EQ(e.aggregate_type(), ev::AGGREGATE_TYPE_MESSAGE);

  auto to_person = Message("r-m2");
  to_person.set_channel(ev::CHANNEL_PHONE);
  to_person.clear_subject();
  to_person.mutable_person()->set_contact_id("ct-9");
  to_person.mutable_person()->mutable_person()->set_phone("(415) 555-0199");
  mv1::SendMessageResponse r2;
  ASSERT_TRUE(Call(&Stub::SendMessage, to_person, &r2).ok());
  EXPECT_EQ(r2.message().person().customer_key(), "phone:+14155550199");
  EXPECT_EQ(Outbox().back().key, "phone:+14155550199");

  auto to_segment = Message("r-m3");
  to_segment.mutable_segment()->mutable_criteria()->add_industries("SOFTWARE");
  mv1::SendMessageResponse r3;
  ASSERT_TRUE(Call(&Stub::SendMessage, to_segment, &r3).ok());
  EXPECT_EQ(r3.message().recipient_count(), 2u);
  EXPECT_TRUE(r3.message().has_segment());
  ASSERT_EQ(r3.event_ids_size(), 2);
  auto records = Outbox();
  ASSERT_EQ(records.size(), static_cast<size_t>(base + 4));
  std::set<std::string> keys, deliveries;
  for (size_t i = records.size() - 2; i < records.size(); ++i) {
    ev::Event ev;
    ASSERT_TRUE(ev.ParseFromString(records[i].value));
    EXPECT_EQ(ev.message_sent().message().id(), r3.message().id());
    EXPECT_EQ(ev.customer().customer_key(), records[i].key);
    keys.insert(records[i].key);
    deliveries.insert(ev.message_sent().delivery_id());
  }
  EXPECT_EQ(keys, (std::set<std::string>{"domain:acme.com", "domain:globex.com"}));
  EXPECT_EQ(deliveries.size(), 2u);

  // An explicit customer list: the customer's leads, or the customer itself when none is known.
  auto to_list = Message("r-m4");
  to_list.mutable_segment()->mutable_customers()->add_customer_keys("domain:initech.com");
  to_list.mutable_segment()->mutable_customers()->add_customer_keys("domain:hooli.com");
  mv1::SendMessageResponse r4;
  ASSERT_TRUE(Call(&Stub::SendMessage, to_list, &r4).ok());
  EXPECT_EQ(r4.message().recipient_count(), 2u);
  records = Outbox();
  ev::Event first, second;
  ASSERT_TRUE(first.ParseFromString(records[records.size() - 2].value));
  ASSERT_TRUE(second.ParseFromString(records.back().value));
  EXPECT_EQ(first.message_sent().recipient().lead_id(), mary.id());
  EXPECT_EQ(second.message_sent().recipient().customer_key(), "domain:hooli.com");

  // Listing by lead finds direct and segment deliveries; by campaign only the campaign's.
  mv1::ListMessagesRequest by_lead;
  by_lead.set_lead_id(jane.id());
  mv1::ListMessagesResponse lr;
  ASSERT_TRUE(Call(&Stub::ListMessages, by_lead, &lr).ok());
  ASSERT_EQ(lr.messages_size(), 2);
  EXPECT_EQ(lr.messages(0).id(), r3.message().id());
  EXPECT_EQ(lr.messages(1).id(), r1.message().id());
  mv1::ListMessagesRequest by_campaign;
  by_campaign.set_campaign_id(campaign.id());
  ASSERT_TRUE(Call(&Stub::ListMessages, by_campaign, &lr).ok());
  ASSERT_EQ(lr.messages_size(), 1);
  mv1::ListMessagesRequest by_customer;
  by_customer.set_customer_key("domain:globex.com");
  ASSERT_TRUE(Call(&Stub::ListMessages, by_customer, &lr).ok());
  ASSERT_EQ(lr.messages_size(), 1);
  EXPECT_EQ(lr.messages(0).id(), r3.message().id());
  mv1::ListMessagesRequest by_channel;
  by_channel.add_channels(ev::CHANNEL_PHONE);
  ASSERT_TRUE(Call(&Stub::ListMessages, by_channel, &lr).ok());
  ASSERT_EQ(lr.messages_size(), 1);
  EXPECT_EQ(lr.messages(0).id(), r2.message().id());

  mv1::GetMessageRequest get;
  get.set_message_id(r3.message().id());
  ev::OutboundMessage got;
  ASSERT_TRUE(Call(&Stub::GetMessage, get, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), r3.message().SerializeAsString());
  (void)john;
}

TEST_F(MarketingServiceTest, SendMessageRules) {
  mv1::SendMessageResponse r;
  auto no_recipient = Message("r-1");
  ExpectInvalid(Call(&Stub::SendMessage, no_recipient, &r), "recipient");

  auto no_subject = Message("r-2");
  no_subject.clear_subject();
  no_subject.set_lead_id("lead-x");
  ExpectInvalid(Call(&Stub::SendMessage, no_subject, &r), "subject");

  auto long_body = Message("r-3");
  long_body.set_body(std::string(16385, 'b'));
  long_body.set_lead_id("lead-x");
  ExpectInvalid(Call(&Stub::SendMessage, long_body, &r), "body");

  auto long_subject = Message("r-3b");
  long_subject.set_subject(std::string(999, 's'));
  long_subject.set_lead_id("lead-x");
  ExpectInvalid(Call(&Stub::SendMessage, long_subject, &r), "subject");

  auto person = Message("r-4");
  person.mutable_person()->mutable_person()->set_first_name("Nobody");
  ExpectInvalid(Call(&Stub::SendMessage, person, &r), "person.person.email");

  auto draft = CreateCampaign("r-cmp").campaign();
  auto lead = Capture(NewLead("r-lead", "jane@acme.com")).lead();
  auto for_draft = Message("r-5");
  for_draft.set_campaign_id(draft.id());
  for_draft.set_lead_id(lead.id());
  auto s = Call(&Stub::SendMessage, for_draft, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("CAMPAIGN_STATUS_DRAFT"));

  auto nobody = Message("r-6");
  nobody.mutable_segment()->mutable_criteria()->add_industries("mining");
  s = Call(&Stub::SendMessage, nobody, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("no recipients"));
  EXPECT_EQ(OutboxLength(), 2);
}

TEST_F(MarketingServiceTest, SegmentSendsAreCapped) {
  TearDown();
  Options small;
  small.max_segment_recipients = 2;
  Start(small);
  for (int i = 0; i < 3; ++i) Capture(NewLead("r-" + std::to_string(i), "p" + std::to_string(i) + "@acme.com"));
  auto send = Message("r-send");
  send.mutable_segment()->mutable_criteria();  // every lead
  mv1::SendMessageResponse r;
  auto s = Call(&Stub::SendMessage, send, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("more than 2 recipients"));
  EXPECT_EQ(OutboxLength(), 3);
}

TEST_F(MarketingServiceTest, ExpiredDeadlineDoesNoWork) {
  auto past = std::chrono::system_clock::now() - 1s;
  auto r = logic_->CaptureLead(NewLead("r-late", "late@acme.com"), past);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(OutboxLength(), 0);

  // Over gRPC a deadline that passes is DEADLINE_EXCEEDED too.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 1ms);
  std::this_thread::sleep_for(5ms);
  mv1::CaptureLeadResponse resp;
  auto s = stub_->CaptureLead(&ctx, NewLead("r-late-2", "late@acme.com"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(MarketingServiceTest, RedisDownIsUnavailable) {
  redis::Options down = RedisOptions();
  down.port = 1;  // nothing listens there: connection refused
  down.connect_timeout = 200ms;
  redis::Pool pool(down, 1);
  outbox::Store store(pool, prefix_);
  Marketing logic(store, writes::EventFactory(source_));
  auto r = logic.CaptureLead(NewLead("r-down", "jane@acme.com"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  mv1::GetLeadRequest get;
  get.set_lead_id("lead-1");
  EXPECT_EQ(logic.GetLead(get).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MarketingServiceTest, MetricsCountRequestsByMethodAndCode) {
  Capture(NewLead("r-1", "jane@acme.com"));
  mv1::GetLeadRequest get;
  get.set_lead_id("lead-nope");
  ev::Lead l;
  (void)Call(&Stub::GetLead, get, &l);
  auto text = registry_.Render();
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_requests_total{service="marketing",method="CaptureLead",code="OK"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_requests_total{service="marketing",method="GetLead",code="NOT_FOUND"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_write_duration_seconds_count{service="marketing",method="CaptureLead"} 1)"));
}

// =============================================================================================
// Events on Kafka (the relay running against the real broker)
// =============================================================================================

class MarketingEventsTest : public MarketingServiceTest {
 protected:
  // A consumer of the real topic, positioned at its end before the test writes anything.
  std::unique_ptr<kafka::Consumer> TailConsumer() {
    kafka::ConsumerOptions o;
    o.brokers = Brokers();
    o.group_id = Unique("marketing-test");
    o.topics = {kTopic};
    o.auto_offset_reset = "latest";
    o.auto_commit = false;
    auto c = kafka::Consumer::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    auto consumer = std::move(*c);
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      (void)consumer->Poll(100ms);
      auto assigned = consumer->Assignment();
      if (assigned.empty()) continue;
      // Start at the current end of every partition: only this test's records matter.
      bool positioned = true;
      for (auto tp : assigned) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(consumer->handle(), tp.topic.c_str(), tp.partition, &lo, &hi, 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          positioned = false;
          break;
        }
        tp.offset = hi;
        positioned &= consumer->Seek(tp, 5s).ok();
      }
      if (positioned) return consumer;
    }
    ADD_FAILURE() << "consumer not positioned on " << kTopic;
    return consumer;
  }

  void StartRelay() {
    kafka::ProducerOptions po;
    po.brokers = Brokers();
    po.client_id = "marketing-test";
    auto p = kafka::Producer::Create(po);
    ASSERT_TRUE(p.ok()) << p.status();
    producer_ = std::move(*p);
    outbox::RelayOptions ro;
    ro.prefix = prefix_;
    ro.instance = source_.instance;
    relay_ = std::make_unique<outbox::Relay>(RedisOptions(), *producer_, ro);
    relay_->Start();
  }
};

TEST_F(MarketingEventsTest, EveryWriteIsOnTheTopicOnceWithKeyTypeAndHeaders) {
  auto consumer = TailConsumer();
  ASSERT_TRUE(consumer);
  StartRelay();

  struct Expected {
    std::string key, type, aggregate_id;
  };
  std::map<std::string, Expected> expected;  // by event id

  auto created = CreateCampaign("r-cmp");
  const auto& cid = created.campaign().id();
  expected[created.event_id()] = {"campaign:" + cid, "io.concord.marketing.campaign-created.v1", cid};
  mv1::LaunchCampaignRequest launch;
  launch.set_request_id("r-launch");
  *launch.mutable_actor() = Marketer();
  launch.set_campaign_id(cid);
  mv1::LaunchCampaignResponse lr;
  ASSERT_TRUE(Call(&Stub::LaunchCampaign, launch, &lr).ok());
  expected[lr.event_id()] = {"campaign:" + cid, "io.concord.marketing.campaign-launched.v1", cid};

  auto capture = NewLead("r-capture", "jane@acme.com");
  auto captured = Capture(capture);
  (void)Capture(capture);  // a retry: no second event
  const auto& lid = captured.lead().id();
  expected[captured.event_id()] = {"domain:acme.com", "io.concord.marketing.lead-captured.v1", lid};

  auto score = LeadWrite<mv1::ScoreLeadRequest>("r-score", lid);
  score.set_score(90);
  mv1::ScoreLeadResponse sr;
  ASSERT_TRUE(Call(&Stub::ScoreLead, score, &sr).ok());
  expected[sr.event_id()] = {"domain:acme.com", "io.concord.marketing.lead-scored.v1", lid};
  auto qualify = LeadWrite<mv1::QualifyLeadRequest>("r-qualify", lid);
  mv1::QualifyLeadResponse qr;
  ASSERT_TRUE(Call(&Stub::QualifyLead, qualify, &qr).ok());
  expected[qr.event_id()] = {"domain:acme.com", "io.concord.marketing.lead-qualified.v1", lid};
  auto handoff = LeadWrite<mv1::HandOffLeadRequest>("r-handoff", lid);
  mv1::HandOffLeadResponse hr;
  ASSERT_TRUE(Call(&Stub::HandOffLead, handoff, &hr).ok());
  expected[hr.event_id()] = {"domain:acme.com", "io.concord.marketing.lead-handed-off.v1", lid};

  auto other = Capture(NewLead("r-other", "bob@globex.com")).lead();
  (void)other;
  int64_t before_send = OutboxLength();
  (void)before_send;
  auto send = Message("r-send");
  send.set_campaign_id(cid);
  send.mutable_segment()->mutable_criteria()->add_industries("software");
  mv1::SendMessageResponse mr;
  ASSERT_TRUE(Call(&Stub::SendMessage, send, &mr).ok());
  ASSERT_EQ(mr.event_ids_size(), 2);
  for (const auto& id : mr.event_ids()) expected[id] = {"", "io.concord.marketing.message-sent.v1", mr.message().id()};

  // Everything committed must reach Kafka; then wait a little longer to catch duplicates.
  std::map<std::string, int> seen;
  std::set<std::string> message_keys;
  auto until = std::chrono::steady_clock::now() + 60s;
  std::optional<std::chrono::steady_clock::time_point> settle;
  while (std::chrono::steady_clock::now() < until && (!settle || std::chrono::steady_clock::now() < *settle)) {
    auto m = consumer->Poll(200ms);
    if (!m || m->error()) continue;
    auto ce = kafka::FromHeaders(m->headers());
    if (!ce.ok()) continue;  // not a CloudEvent (someone else's record)
    auto it = expected.find(ce->id);
    if (it == expected.end()) continue;  // another test's or service's event
    ++seen[ce->id];
    const auto& want = it->second;
    SCOPED_TRACE(want.type);
    ev::Event e;
    ASSERT_TRUE(e.ParseFromString(std::string(m->value())));
    EXPECT_EQ(e.id(), ce->id);
    EXPECT_EQ(ce->type, want.type);
    EXPECT_EQ(ce->source, source_.source);
    EXPECT_EQ(ce->subject, std::string(m->key()));
    EXPECT_EQ(ce->dataschema, "concord.events.v1.Event");
    EXPECT_EQ(ce->content_type, "application/protobuf");
    EXPECT_EQ(ce->time, kafka::Rfc3339(writes::FromTimestamp(e.occurred_at())));
    EXPECT_EQ(m->header("ce_specversion").value_or(""), "1.0");
    EXPECT_EQ(e.aggregate_id(), want.aggregate_id);
    EXPECT_EQ(e.producer().service(), "marketing");
    if (want.key.empty()) {
      EXPECT_EQ(std::string(m->key()), e.customer().customer_key());
      message_keys.insert(std::string(m->key()));
    } else {
      EXPECT_EQ(std::string(m->key()), want.key);
    }
    if (!settle && seen.size() == expected.size()) settle = std::chrono::steady_clock::now() + 3s;
  }
  EXPECT_EQ(seen.size(), expected.size()) << "every committed event reached the topic";
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "event " << id << " once";
  EXPECT_EQ(message_keys, (std::set<std::string>{"domain:acme.com", "domain:globex.com"}));

  // The relay emptied the outbox.
  auto drained = std::chrono::steady_clock::now() + 10s;
  while (OutboxLength() > 0 && std::chrono::steady_clock::now() < drained) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(OutboxLength(), 0);
}

TEST_F(MarketingEventsTest, EventsCommittedWhileNoRelayRanArePublishedLater) {
  // The write is acknowledged with no relay running (as if the process died right after
  // answering); a relay started later publishes it, once.
  auto consumer = TailConsumer();
  ASSERT_TRUE(consumer);
  auto captured = Capture(NewLead("r-capture", "late@initech.com"));
  EXPECT_EQ(OutboxLength(), 1);
  StartRelay();
  int seen = 0;
  auto until = std::chrono::steady_clock::now() + 30s;
  std::optional<std::chrono::steady_clock::time_point> settle;
  while (std::chrono::steady_clock::now() < until && (!settle || std::chrono::steady_clock::now() < *settle)) {
    auto m = consumer->Poll(200ms);
    if (!m || m->error()) continue;
    if (m->header("ce_id").value_or("") != captured.event_id()) continue;
    ++seen;
    EXPECT_EQ(std::string(m->key()), "domain:initech.com");
    if (!settle) settle = std::chrono::steady_clock::now() + 2s;
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace concord::marketing
