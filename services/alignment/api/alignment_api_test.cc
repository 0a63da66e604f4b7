// AlignmentService over a real gRPC channel, with real Redis (a unique key prefix) and a real
// Kafka broker (a unique findings topic). Findings are seeded the way the processor stores
// them: FindingsStore::SaveCommands.
#include "services/alignment/api/alignment_api.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/kafka/admin.h"
#include "common/kafka/cloudevents.h"
#include "common/kafka/consumer.h"

namespace concord::alignment::api {
namespace {

using concord::testenv::Brokers;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::string Header(const kafka::Headers& h, const std::string& key) {
  for (const auto& [k, v] : h) {
    if (k == key) return v;
  }
  return "";
}

class AlignmentApiTest : public testing::Test {
 protected:
  void SetUp() override {
    suffix_ = Unique("t");
    admin_ = std::move(*kafka::Admin::Create(Brokers()));
    topic_ = "concord.test.api.findings." + suffix_;
    ASSERT_TRUE(admin_->CreateTopic(topic_, 1).ok());
    producer_ = std::move(*kafka::Producer::Create({.brokers = Brokers()}));
    pool_ = std::make_unique<redis::Pool>(RedisOptions(), 4);
    conn_ = std::make_unique<redis::Connection>(RedisOptions());
    prefix_ = "concord:test:api:" + suffix_;
    store_ = std::make_unique<FindingsStore>(prefix_);
    AlignmentApiOptions o;
    o.redis_prefix = prefix_;
    o.findings_topic = topic_;
    o.watch_block = 200ms;
    o.heartbeat_interval = 1000ms;
    o.relay_interval = 200ms;
    o.relay_min_age = 500ms;
    o.on_playbook_installed = [this](const engine::Playbook& pb) { installed_version_ = pb.version; };
    api_ = std::make_unique<AlignmentApi>(o, *pool_, *producer_, metrics::Default());
    ASSERT_TRUE(api_->Start().ok());
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(api_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
    stub_ = v1::AlignmentService::NewStub(channel);
  }
  void TearDown() override {
    api_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
    server_.reset();
    api_.reset();
    auto keys = conn_->Command({"KEYS", prefix_ + ":*"});
    if (keys.ok()) {
      for (const auto& k : keys->elements) (void)conn_->Command({"DEL", k.str});
    }
    (void)admin_->DeleteTopic(topic_);
  }

  v1::Finding Seed(const std::string& id, const std::string& customer, v1::FindingType type, v1::Severity sev,
                   events::v1::Team team, int64_t detected_ms) {
    v1::Finding f = Make(id, customer, type, sev, team, detected_ms);
    auto cmds = store_->SaveCommands(f);
    auto r = conn_->Pipeline(cmds);
    EXPECT_TRUE(r.ok());
    return f;
  }
  static v1::Finding Make(const std::string& id, const std::string& customer, v1::FindingType type, v1::Severity sev,
                          events::v1::Team team, int64_t detected_ms) {
    v1::Finding f;
    f.set_id(id);
    f.set_version(1);
    f.set_type(type);
    f.set_severity(sev);
    f.set_status(v1::FINDING_STATUS_OPEN);
    f.set_customer_key(customer);
    f.mutable_customer()->set_customer_key(customer);
    f.mutable_customer()->mutable_person()->set_company("Company of " + customer);
    f.set_title("finding " + id);
    auto* e = f.add_evidence();
    e->set_event_id("ev-" + id);
    e->set_team(team);
    e->set_claim_id("ev-" + id + "#0");
    *f.mutable_detected_at() = TimeUtil::MillisecondsToTimestamp(detected_ms);
    *f.mutable_first_evidence_at() = TimeUtil::MillisecondsToTimestamp(detected_ms - 1000);
    *f.mutable_last_evidence_at() = TimeUtil::MillisecondsToTimestamp(detected_ms - 10);
    return f;
  }

  grpc::Status List(const v1::FindingFilter& filter, int page_size, const std::string& token,
                    v1::ListFindingsResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::ListFindingsRequest req;
    *req.mutable_filter() = filter;
    req.set_page_size(page_size);
    req.set_page_token(token);
    return stub_->ListFindings(&ctx, req, resp);
  }
  std::vector<std::string> ListAll(const v1::FindingFilter& filter, int page_size, int* pages = nullptr) {
    std::vector<std::string> ids;
    std::string token;
    int n = 0;
    do {
      v1::ListFindingsResponse resp;
      auto s = List(filter, page_size, token, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& f : resp.findings()) ids.push_back(f.id());
      token = resp.next_page_token();
      ++n;
    } while (!token.empty() && n < 100);
    if (pages) *pages = n;
    return ids;
  }

  events::v1::Actor Rep() {
    events::v1::Actor a;
    a.set_id("rep-7");
    a.set_team(events::v1::TEAM_SALES);
    a.set_kind(events::v1::ACTOR_KIND_PERSON);
    return a;
  }

  std::vector<std::pair<kafka::Headers, std::string>> ReadTopic(size_t want) {
    auto c = std::move(*kafka::Consumer::Create({.brokers = Brokers(), .group_id = Unique("reader"), .topics = {topic_}}));
    std::vector<std::pair<kafka::Headers, std::string>> out;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    auto quiet = std::chrono::steady_clock::time_point::max();
    while (std::chrono::steady_clock::now() < std::min(deadline, quiet)) {
      auto m = c->Poll(100ms);
      if (m && !m->error()) out.emplace_back(m->headers(), std::string(m->key()) + "\n" + std::string(m->value()));
      if (out.size() >= want && quiet == std::chrono::steady_clock::time_point::max()) {
        quiet = std::chrono::steady_clock::now() + 1500ms;
      }
    }
    return out;
  }

  std::string suffix_, topic_, prefix_;
  std::unique_ptr<kafka::Admin> admin_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<redis::Pool> pool_;
  std::unique_ptr<redis::Connection> conn_;
  std::unique_ptr<FindingsStore> store_;
  std::unique_ptr<AlignmentApi> api_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AlignmentService::Stub> stub_;
  int port_ = 0;
  std::atomic<uint64_t> installed_version_{0};
};

TEST_F(AlignmentApiTest, ListFiltersPaginatesNewestFirstAndGivesAWatchCursor) {
  int64_t t0 = NowMs() - 60000;
  for (int i = 0; i < 7; ++i) {
    bool a = i < 5;
    Seed("f" + std::to_string(i), a ? "domain:a.com" : "domain:b.com",
         i % 2 ? v1::FINDING_TYPE_CONFLICTING_CLAIM : v1::FINDING_TYPE_DUPLICATE_OUTREACH,
         i == 3 ? v1::SEVERITY_HIGH : v1::SEVERITY_LOW, i % 3 ? events::v1::TEAM_SALES : events::v1::TEAM_MARKETING,
         t0 + (i < 4 ? i * 1000 : 4000));  // f4, f5, f6 share one millisecond: ties
  }
  int pages = 0;
  auto all = ListAll({}, 2, &pages);
  EXPECT_EQ(all, (std::vector<std::string>{"f6", "f5", "f4", "f3", "f2", "f1", "f0"}));
  EXPECT_EQ(pages, 4);

  v1::FindingFilter by_customer;
  by_customer.set_customer_key("domain:b.com");
  EXPECT_EQ(ListAll(by_customer, 1), (std::vector<std::string>{"f6", "f5"}));
  v1::FindingFilter by_type;
  by_type.add_types(v1::FINDING_TYPE_CONFLICTING_CLAIM);
  EXPECT_EQ(ListAll(by_type, 50), (std::vector<std::string>{"f5", "f3", "f1"}));
  v1::FindingFilter by_sev;
  by_sev.add_severities(v1::SEVERITY_HIGH);
  by_sev.add_severities(v1::SEVERITY_CRITICAL);
  EXPECT_EQ(ListAll(by_sev, 50), (std::vector<std::string>{"f3"}));
  v1::FindingFilter by_team;
  by_team.set_team(events::v1::TEAM_MARKETING);
  EXPECT_EQ(ListAll(by_team, 2), (std::vector<std::string>{"f6", "f3", "f0"}));
  v1::FindingFilter by_time;
  *by_time.mutable_detected_after() = TimeUtil::MillisecondsToTimestamp(t0 + 1000);
  *by_time.mutable_detected_before() = TimeUtil::MillisecondsToTimestamp(t0 + 3000);
  EXPECT_EQ(ListAll(by_time, 50), (std::vector<std::string>{"f2", "f1"}));
  v1::FindingFilter by_status;
  by_status.add_statuses(v1::FINDING_STATUS_RESOLVED);
  EXPECT_TRUE(ListAll(by_status, 50).empty());

  v1::ListFindingsResponse resp;
  ASSERT_TRUE(List({}, 0, "", &resp).ok());
  EXPECT_EQ(resp.findings_size(), 7);
  EXPECT_TRUE(resp.next_page_token().empty());
  auto last = conn_->CommandOk({"XREVRANGE", store_->FeedKey(), "+", "-", "COUNT", "1"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(resp.watch_cursor(), last->elements[0].elements[0].str);

  auto s = List({}, 900, "", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_size"), std::string::npos) << s.error_message();
  s = List({}, 10, "garbage!", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << s.error_message();
  v1::FindingFilter bad;
  bad.add_types(static_cast<v1::FindingType>(99));
  s = List(bad, 10, "", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("filter.types[0]"), std::string::npos) << s.error_message();
}

// The processor stores an epoch's findings in one transaction, batched: one MSET, one ZADD of
// the time index, one ZADD per customer, an XADD each. They read back as findings stored one by one.
TEST_F(AlignmentApiTest, FindingsStoredAsOneBatchAreListedFoundAndOnTheFeedInOrder) {
  const int64_t t0 = NowMs() - 60000;
  const std::vector<std::pair<std::string, std::string>> batch = {
      {"b0", "domain:a.com"}, {"b1", "domain:b.com"}, {"b2", "domain:a.com"}, {"b3", "domain:c.com"}, {"b4", "domain:a.com"}};
  std::vector<v1::Finding> made;
  std::vector<FindingsStore::ToSave> save;
  for (size_t i = 0; i < batch.size(); ++i) {
    made.push_back(Make(batch[i].first, batch[i].second, v1::FINDING_TYPE_DUPLICATE_OUTREACH, v1::SEVERITY_LOW,
                        events::v1::TEAM_SALES, t0 + static_cast<int64_t>(i) * 1000));
  }
  for (size_t i = 0; i < made.size(); ++i) {  // views into `made`, complete by now
    save.push_back({made[i].id(), made[i].customer_key(), t0 + static_cast<int64_t>(i) * 1000, made[i].SerializeAsString()});
  }
  auto cmds = store_->SaveCommands(std::move(save));
  ASSERT_EQ(cmds.size(), 1u + 1u + 3u + 5u);  // MSET, ZADD all, a ZADD per customer, an XADD each
  EXPECT_EQ(cmds[0][0], "MSET");
  EXPECT_EQ(cmds[0].size(), 1u + 2u * 5u);
  EXPECT_EQ(cmds[2], (std::vector<std::string>{"ZADD", store_->CustomerIndexKey("domain:a.com"), std::to_string(t0), "b0",
                                               std::to_string(t0 + 2000), "b2", std::to_string(t0 + 4000), "b4"}));
  cmds.insert(cmds.begin(), {"MULTI"});
  cmds.push_back({"EXEC"});
  auto replies = conn_->Pipeline(cmds);
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->back().elements.size(), 10u);
  for (const auto& r : replies->back().elements) EXPECT_FALSE(r.is_error()) << r.str;

  EXPECT_EQ(ListAll({}, 2), (std::vector<std::string>{"b4", "b3", "b2", "b1", "b0"}));
  v1::FindingFilter by_customer;
  by_customer.set_customer_key("domain:a.com");
  EXPECT_EQ(ListAll(by_customer, 2), (std::vector<std::string>{"b4", "b2", "b0"}));
  by_customer.set_customer_key("domain:c.com");
  EXPECT_EQ(ListAll(by_customer, 2), (std::vector<std::string>{"b3"}));
  auto got = store_->Get(*conn_, "b1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->SerializeAsString(), made[1].SerializeAsString());
  auto feed = store_->ReadFeed(*conn_, "0-0", 10, 0);
  ASSERT_TRUE(feed.ok());
  std::vector<std::string> order;
  for (const auto& e : *feed) {
    EXPECT_EQ(e.kind, "raised");
    order.push_back(e.finding_id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"b0", "b1", "b2", "b3", "b4"}));

  // What a replay asks before publishing: ids none of which, some of which, and no ids.
  auto none = store_->Exists(*conn_, {"zz", "yy"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, (std::vector<bool>{false, false}));
  auto some = store_->Exists(*conn_, {"b1", "zz", "b4"});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (std::vector<bool>{true, false, true}));
  auto asked = store_->Exists(*conn_, {});
  ASSERT_TRUE(asked.ok());
  EXPECT_TRUE(asked->empty());
}

TEST_F(AlignmentApiTest, GetFindingAndNotFound) {
  auto f = Seed("f-get", "domain:a.com", v1::FINDING_TYPE_OFF_BOOK_CLAIM, v1::SEVERITY_MEDIUM, events::v1::TEAM_SALES, NowMs());
  grpc::ClientContext ctx;
  v1::GetFindingRequest req;
  req.set_finding_id("f-get");
  v1::Finding got;
  ASSERT_TRUE(stub_->GetFinding(&ctx, req, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), f.SerializeAsString());
  grpc::ClientContext ctx2;
  req.set_finding_id("nope");
  auto s = stub_->GetFinding(&ctx2, req, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx3;
  req.set_finding_id("");
  s = stub_->GetFinding(&ctx3, req, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("finding_id"), std::string::npos);
}

TEST_F(AlignmentApiTest, StatusTransitionsAreCheckedVersionedAndPublished) {
  Seed("f-s", "domain:s.com", v1::FINDING_TYPE_CONFLICTING_CLAIM, v1::SEVERITY_HIGH, events::v1::TEAM_SALES, NowMs());
  auto ack = [&](const std::string& rid, bool actor, uint64_t expected, v1::AcknowledgeFindingResponse* out) {
    grpc::ClientContext ctx;
    v1::AcknowledgeFindingRequest req;
    req.set_request_id(rid);
    if (actor) *req.mutable_actor() = Rep();
    req.set_finding_id("f-s");
    req.set_expected_version(expected);
    req.set_reason("looking into it");
    return stub_->AcknowledgeFinding(&ctx, req, out);
  };
  auto resolve = [&](const std::string& rid, const std::string& reason, uint64_t expected, v1::ResolveFindingResponse* out) {
    grpc::ClientContext ctx;
    v1::ResolveFindingRequest req;
    req.set_request_id(rid);
    *req.mutable_actor() = Rep();
    req.set_finding_id("f-s");
    req.set_expected_version(expected);
    req.set_reason(reason);
    return stub_->ResolveFinding(&ctx, req, out);
  };
  v1::AcknowledgeFindingResponse a;
  auto s = ack("r1", false, 0, &a);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("actor"), std::string::npos) << s.error_message();
  v1::ResolveFindingResponse r;
  s = resolve("r2", "", 0, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("reason"), std::string::npos) << s.error_message();

  ASSERT_TRUE(ack("r3", true, 1, &a).ok());
  EXPECT_EQ(a.finding().version(), 2u);
  EXPECT_EQ(a.finding().status(), v1::FINDING_STATUS_ACKNOWLEDGED);
  ASSERT_EQ(a.finding().status_history_size(), 1);
  EXPECT_EQ(a.finding().status_history(0).actor().id(), "rep-7");
  EXPECT_EQ(a.event_id(), "f-s@2");

  v1::AcknowledgeFindingResponse again;
  ASSERT_TRUE(ack("r3", true, 1, &again).ok()) << "a retry has its effect once";
  EXPECT_EQ(again.event_id(), "f-s@2");
  EXPECT_EQ(again.finding().version(), 2u);

  s = ack("r4", true, 0, &a);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  s = resolve("r5", "fixed the quote", 1, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  ASSERT_TRUE(resolve("r6", "fixed the quote", 2, &r).ok());
  EXPECT_EQ(r.finding().status(), v1::FINDING_STATUS_RESOLVED);
  EXPECT_EQ(r.finding().version(), 3u);

  grpc::ClientContext ctx;
  v1::DismissFindingRequest d;
  d.set_request_id("r7");
  *d.mutable_actor() = Rep();
  d.set_finding_id("f-s");
  d.set_reason("false positive");
  v1::DismissFindingResponse dr;
  s = stub_->DismissFinding(&ctx, d, &dr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  auto records = ReadTopic(2);
  ASSERT_EQ(records.size(), 2u);
  std::vector<std::string> ids;
  for (const auto& [h, kv] : records) {
    EXPECT_EQ(Header(h, "ce_type"), "io.concord.alignment.finding-status-changed.v1");
    EXPECT_EQ(Header(h, "ce_subject"), "domain:s.com");
    EXPECT_EQ(Header(h, "ce_dataschema"), "concord.alignment.v1.FindingEvent");
    ids.push_back(Header(h, "ce_id"));
    auto nl = kv.find('\n');
    EXPECT_EQ(kv.substr(0, nl), "domain:s.com");
    v1::FindingEvent ev;
    ASSERT_TRUE(ev.ParseFromString(kv.substr(nl + 1)));
    EXPECT_EQ(ev.id(), Header(h, "ce_id"));
    EXPECT_TRUE(ev.has_status_changed());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"f-s@2", "f-s@3"}));
  auto outbox = conn_->CommandOk({"HLEN", store_->OutboxKey()});
  ASSERT_TRUE(outbox.ok());
  EXPECT_EQ(outbox->integer, 0) << "published events leave the outbox";
}

// Reads a watch stream on its own thread.
class Watcher {
 public:
  Watcher(v1::AlignmentService::Stub& stub, v1::WatchFindingsRequest req) {
    reader_ = stub.WatchFindings(&ctx_, req);
    thread_ = std::thread([this] {
      v1::WatchFindingsResponse m;
      while (reader_->Read(&m)) {
        std::lock_guard lock(mu_);
        got_.push_back(m);
      }
      auto st = reader_->Finish();
      {
        std::lock_guard lock(mu_);
        status_ = st;
      }
      done_ = true;
    });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  void Cancel() { ctx_.TryCancel(); }
  bool WaitFor(const std::function<bool(const std::vector<v1::WatchFindingsResponse>&)>& cond,
               std::chrono::milliseconds wait = 10s) {
    auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      {
        std::lock_guard lock(mu_);
        if (cond(got_)) return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  std::vector<v1::WatchFindingsResponse> events() {
    std::lock_guard lock(mu_);
    std::vector<v1::WatchFindingsResponse> out;
    for (const auto& m : got_) {
      if (m.has_event()) out.push_back(m);
    }
    return out;
  }
  std::vector<v1::WatchFindingsResponse> all() {
    std::lock_guard lock(mu_);
    return got_;
  }
  bool done() { return done_.load(); }
  grpc::Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchFindingsResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<v1::WatchFindingsResponse> got_;
  grpc::Status status_;
  std::atomic<bool> done_{false};
};

size_t CountEvents(const std::vector<v1::WatchFindingsResponse>& v) {
  size_t n = 0;
  for (const auto& m : v) n += m.has_event();
  return n;
}

TEST_F(AlignmentApiTest, WatchDeliversLiveFindingsAndAResumedWatchWhatItMissed) {
  Seed("old", "domain:w.com", v1::FINDING_TYPE_DUPLICATE_OUTREACH, v1::SEVERITY_LOW, events::v1::TEAM_SALES, NowMs());
  v1::WatchFindingsRequest req;
  req.mutable_filter()->set_customer_key("domain:w.com");
  std::string cursor;
  {
    Watcher w(*stub_, req);
    ASSERT_TRUE(w.WaitFor([](const auto& v) { return !v.empty(); })) << "heartbeat right after the call starts";
    EXPECT_TRUE(w.all()[0].has_heartbeat());
    Seed("other", "domain:other.com", v1::FINDING_TYPE_DUPLICATE_OUTREACH, v1::SEVERITY_LOW, events::v1::TEAM_SALES, NowMs());
    Seed("live", "domain:w.com", v1::FINDING_TYPE_CONFLICTING_CLAIM, v1::SEVERITY_HIGH, events::v1::TEAM_SALES, NowMs());
    ASSERT_TRUE(w.WaitFor([](const auto& v) { return CountEvents(v) >= 1; }));
    auto evs = w.events();
    ASSERT_EQ(evs.size(), 1u) << "the finding from before the watch and the other customer's are not sent";
    EXPECT_EQ(evs[0].event().raised().id(), "live");
    EXPECT_EQ(evs[0].event().id(), "raised:live");
    cursor = evs[0].cursor();
    ASSERT_TRUE(w.WaitFor([](const auto& v) { return v.size() >= 3; }, 3s)) << "heartbeats while idle";
  }
  // While away: the finding is acknowledged and another one is raised.
  {
    grpc::ClientContext ctx;
    v1::AcknowledgeFindingRequest a;
    a.set_request_id("ack-live");
    *a.mutable_actor() = Rep();
    a.set_finding_id("live");
    v1::AcknowledgeFindingResponse ar;
    ASSERT_TRUE(stub_->AcknowledgeFinding(&ctx, a, &ar).ok());
  }
  Seed("missed", "domain:w.com", v1::FINDING_TYPE_OFF_BOOK_CLAIM, v1::SEVERITY_MEDIUM, events::v1::TEAM_MARKETING, NowMs());
  req.set_resume_cursor(cursor);
  Watcher w(*stub_, req);
  ASSERT_TRUE(w.WaitFor([](const auto& v) { return CountEvents(v) >= 2; }));
  auto evs = w.events();
  ASSERT_EQ(evs.size(), 2u);
  ASSERT_TRUE(evs[0].event().has_status_changed());
  EXPECT_EQ(evs[0].event().id(), "live@2");
  EXPECT_EQ(evs[0].event().status_changed().finding().status(), v1::FINDING_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(evs[0].event().status_changed().change().actor().id(), "rep-7");
  EXPECT_EQ(evs[1].event().raised().id(), "missed");
  EXPECT_LT(FeedId::Parse(evs[0].cursor()), FeedId::Parse(evs[1].cursor()));
  // And live ones after the catch-up.
  Seed("after", "domain:w.com", v1::FINDING_TYPE_OFF_BOOK_CLAIM, v1::SEVERITY_MEDIUM, events::v1::TEAM_MARKETING, NowMs());
  ASSERT_TRUE(w.WaitFor([](const auto& v) { return CountEvents(v) >= 3; }));
  EXPECT_EQ(w.events()[2].event().raised().id(), "after");
  EXPECT_EQ(api_->active_watchers(), 1);
}

TEST_F(AlignmentApiTest, WatchFromATrimmedCursorIsOutOfRangeAndCancellationEndsTheStream) {
  for (int i = 0; i < 5; ++i) Seed("t" + std::to_string(i), "domain:t.com", v1::FINDING_TYPE_DUPLICATE_RECORD, v1::SEVERITY_LOW, events::v1::TEAM_SALES, NowMs());
  auto first = conn_->CommandOk({"XRANGE", store_->FeedKey(), "-", "+", "COUNT", "1"});
  ASSERT_TRUE(first.ok());
  std::string old_cursor = first->elements[0].elements[0].str;
  ASSERT_TRUE(conn_->CommandOk({"XTRIM", store_->FeedKey(), "MAXLEN", "=", "2"}).ok());
  v1::WatchFindingsRequest req;
  req.set_resume_cursor(old_cursor);
  {
    Watcher w(*stub_, req);
    ASSERT_TRUE(w.WaitFor([&](const auto&) { return w.done(); }, 5s));
    EXPECT_EQ(w.status().error_code(), grpc::StatusCode::OUT_OF_RANGE) << w.status().error_message();
  }
  req.set_resume_cursor("not-a-cursor");
  {
    Watcher w(*stub_, req);
    ASSERT_TRUE(w.WaitFor([&](const auto&) { return w.done(); }, 5s));
    EXPECT_EQ(w.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  req.clear_resume_cursor();
  {
    Watcher w(*stub_, req);
    ASSERT_TRUE(w.WaitFor([](const auto& v) { return !v.empty(); }));
    EXPECT_EQ(api_->active_watchers(), 1);
    w.Cancel();
    ASSERT_TRUE(w.WaitFor([&](const auto&) { return w.done(); }, 3s));
  }
  auto until = std::chrono::steady_clock::now() + 3s;
  while (api_->active_watchers() != 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(api_->active_watchers(), 0) << "the worker ends promptly after cancellation";

  // Server shutdown ends open streams promptly with UNAVAILABLE.
  Watcher w(*stub_, req);
  ASSERT_TRUE(w.WaitFor([](const auto& v) { return !v.empty(); }));
  auto t = std::chrono::steady_clock::now();
  api_->Shutdown();
  ASSERT_TRUE(w.WaitFor([&](const auto&) { return w.done(); }, 3s));
  EXPECT_EQ(w.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(std::chrono::steady_clock::now() - t, 2s);
}

TEST_F(AlignmentApiTest, PlaybookGetValidateUpdate) {
  grpc::ClientContext c0;
  v1::Playbook pb;
  EXPECT_EQ(stub_->GetPlaybook(&c0, {}, &pb).error_code(), grpc::StatusCode::NOT_FOUND);

  const std::string bad =
      "version: 2\nwindows:\n  duplicate_outreach: soon\nownership:\n  stages:\n    opportunity: finance\n";
  grpc::ClientContext c1;
  v1::ValidatePlaybookRequest vr;
  vr.set_yaml(bad);
  v1::ValidatePlaybookResponse vresp;
  ASSERT_TRUE(stub_->ValidatePlaybook(&c1, vr, &vresp).ok());
  EXPECT_FALSE(vresp.valid());
  ASSERT_GE(vresp.problems_size(), 2);
  EXPECT_EQ(vresp.problems(0).line(), 3u);
  EXPECT_EQ(vresp.problems(0).level(), v1::PlaybookProblem::LEVEL_ERROR);

  const char* src = std::getenv("CONCORD_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : ".") + "/services/alignment/playbook.example.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string good = ss.str();
  ASSERT_FALSE(good.empty());

  auto update = [&](const std::string& rid, const std::string& yaml, uint64_t expected, v1::UpdatePlaybookResponse* out) {
    grpc::ClientContext ctx;
    v1::UpdatePlaybookRequest u;
    u.set_request_id(rid);
    *u.mutable_actor() = Rep();
    u.set_yaml(yaml);
    u.set_expected_version(expected);
    return stub_->UpdatePlaybook(&ctx, u, out);
  };
  v1::UpdatePlaybookResponse ur;
  ASSERT_TRUE(update("p1", good, 0, &ur).ok());
  EXPECT_EQ(ur.playbook().version(), 1u);
  EXPECT_EQ(ur.playbook().source(), "api");
  EXPECT_EQ(ur.playbook().sha256().size(), 64u);
  EXPECT_EQ(installed_version_.load(), 1u);

  auto s = update("p2", bad, 0, &ur);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("line 3: windows.duplicate_outreach"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("line 6"), std::string::npos) << s.error_message();
  s = update("p3", good + "\n# v2\n", 7, &ur);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);

  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->GetPlaybook(&c2, {}, &pb).ok());
  EXPECT_EQ(pb.version(), 1u) << "the bad version was refused; the old one stays";
  EXPECT_EQ(pb.yaml(), good);

  ASSERT_TRUE(update("p4", good + "\n# v2\n", 1, &ur).ok());
  EXPECT_EQ(ur.playbook().version(), 2u);
  grpc::ClientContext c3;
  v1::GetPlaybookRequest g;
  g.set_version(1);
  ASSERT_TRUE(stub_->GetPlaybook(&c3, g, &pb).ok());
  EXPECT_EQ(pb.version(), 1u);
  grpc::ClientContext c4;
  g.set_version(9);
  EXPECT_EQ(stub_->GetPlaybook(&c4, g, &pb).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(AlignmentApiTest, CustomerViewAndScorecardFromStoredFindings) {
  int64_t now = NowMs();
  Seed("c1", "domain:cv.com", v1::FINDING_TYPE_DUPLICATE_OUTREACH, v1::SEVERITY_LOW, events::v1::TEAM_SALES, now - 3000);
  Seed("c2", "domain:cv.com", v1::FINDING_TYPE_CONFLICTING_CLAIM, v1::SEVERITY_HIGH, events::v1::TEAM_MARKETING, now - 2000);
  Seed("c0", "domain:cv.com", v1::FINDING_TYPE_CONFLICTING_CLAIM, v1::SEVERITY_HIGH, events::v1::TEAM_MARKETING,
       now - 8LL * 24 * 3600 * 1000);  // previous period
  {
    grpc::ClientContext ctx;
    v1::DismissFindingRequest d;
    d.set_request_id("d1");
    *d.mutable_actor() = Rep();
    d.set_finding_id("c1");
    d.set_reason("same rep, one call");
    v1::DismissFindingResponse dr;
    ASSERT_TRUE(stub_->DismissFinding(&ctx, d, &dr).ok());
  }
  grpc::ClientContext c1;
  v1::GetCustomerViewRequest req;
  req.set_customer_key("domain:cv.com");
  v1::CustomerView view;
  ASSERT_TRUE(stub_->GetCustomerView(&c1, req, &view).ok());
  ASSERT_EQ(view.open_findings_size(), 2);
  EXPECT_EQ(view.open_findings(0).id(), "c2");
  EXPECT_EQ(view.open_findings(1).id(), "c0");
  EXPECT_EQ(view.display_name(), "Company of domain:cv.com");
  grpc::ClientContext c2;
  req.set_customer_key("domain:unknown.com");
  EXPECT_EQ(stub_->GetCustomerView(&c2, req, &view).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c3;
  req.clear_customer_key();
  EXPECT_EQ(stub_->GetCustomerView(&c3, req, &view).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext c4;
  v1::GetScorecardRequest sr;
  sr.mutable_scope()->mutable_segment()->mutable_customers()->add_customer_keys("domain:cv.com");
  v1::Scorecard sc;
  ASSERT_TRUE(stub_->GetScorecard(&c4, sr, &sc).ok());
  EXPECT_EQ(sc.current().findings_raised(), 2u);
  EXPECT_EQ(sc.previous().findings_raised(), 1u);
  EXPECT_EQ(sc.current().duplicate_work_rate().numerator(), 1u);
  EXPECT_EQ(sc.current().conflicting_claim_rate().numerator(), 1u);
  uint64_t high = 0;
  for (const auto& s : sc.current().open_findings_by_severity()) {
    if (s.severity() == v1::SEVERITY_HIGH) high = s.count();
  }
  EXPECT_EQ(high, 2u);
  EXPECT_EQ(sc.current().open_findings_by_severity_size(), 5);
  EXPECT_EQ(sc.current().findings_by_type_size(), 7);
  ASSERT_GE(sc.trends_size(), 5);
  grpc::ClientContext c5;
  sr.mutable_scope()->set_team(events::v1::TEAM_SALES);
  ASSERT_TRUE(stub_->GetScorecard(&c5, sr, &sc).ok());
  EXPECT_EQ(sc.current().findings_raised(), 1u);
  grpc::ClientContext c6;
  *sr.mutable_start_time() = TimeUtil::MillisecondsToTimestamp(now);
  *sr.mutable_end_time() = TimeUtil::MillisecondsToTimestamp(now - 1000);
  EXPECT_EQ(stub_->GetScorecard(&c6, sr, &sc).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AlignmentApiTest, DeadlineAlreadyPassedIsDeadlineExceeded) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() - 1s);
  v1::ListFindingsResponse resp;
  auto s = stub_->ListFindings(&ctx, {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace
}  // namespace concord::alignment::api
