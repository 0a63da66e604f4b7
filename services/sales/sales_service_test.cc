// SalesService in-process on 127.0.0.1:0 over a real gRPC channel, against the real Redis (a
// unique key prefix per test) and, for the event tests, the real Kafka broker with the real
// outbox relay. Every RPC: happy path, validation errors naming the field, NOT_FOUND,
// FAILED_PRECONDITION, ABORTED on a stale expected_version, idempotent retries (same answer,
// one event) and a reused request_id.
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/kafka/cloudevents.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/outbox/relay.h"
#include "common/outbox/store.h"
#include "common/redis/redis.h"
#include "concord/sales/v1/sales.grpc.pb.h"
#include "services/sales/service.h"

namespace concord::sales {
namespace {

namespace ev = concord::events::v1;
using google::protobuf::Timestamp;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;
using testing::HasSubstr;
using Stub = v1::SalesService::Stub;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string Unique(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  return prefix + "-" + std::to_string(rng());
}

redis::Options RedisOptions() {
  redis::Options o;
  o.port = std::stoi(Env("CONCORD_REDIS_PORT", "6379"));
  return o;
}

ev::Actor Rep(const std::string& id = "rep-1") {
  ev::Actor a;
  a.set_id(id);
  a.set_display_name("Rep " + id);
  return a;
}

Timestamp FromNow(int64_t seconds) { return TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(seconds); }

ev::Money Usd(int64_t units, int32_t nanos = 0) {
  ev::Money m;
  m.set_currency_code("USD");
  m.set_units(units);
  m.set_nanos(nanos);
  return m;
}

template <typename Req>
void Stamp(Req& r) {
  r.set_request_id(Unique("req"));
  *r.mutable_actor() = Rep();
}

// Status matchers with the message in the failure output.
#define EXPECT_CODE(status, code_)                                                              \
  do {                                                                                          \
    auto _s = (status);                                                                         \
    EXPECT_EQ(_s.error_code(), grpc::StatusCode::code_) << _s.error_message();                   \
  } while (0)
#define ASSERT_OK(status)                                                                 \
  do {                                                                                    \
    auto _s = (status);                                                                   \
    ASSERT_TRUE(_s.ok()) << _s.error_code() << ": " << _s.error_message();                \
  } while (0)

class SalesServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    pool_ = std::make_unique<redis::Pool>(RedisOptions(), 8);
    ASSERT_TRUE(pool_->Ping().ok()) << "Redis is not running (scripts/infra up)";
    prefix_ = Unique("concord:test:sales");
    store_ = std::make_unique<outbox::Store>(*pool_, prefix_);
    service_ = std::make_unique<SalesService>(
        *store_, ServiceOptions{.instance = "test-0", .version = "test", .source = "/concord/sales/test-0", .workers = 4},
        registry_);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::SalesService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    service_.reset();
    // Remove this test's keys.
    redis::Connection c(RedisOptions());
    std::string cursor = "0";
    do {
      auto r = c.Command({"SCAN", cursor, "MATCH", prefix_ + ":*", "COUNT", "1000"});
      if (!r.ok() || r->elements.size() != 2) break;
      cursor = r->elements[0].str;
      std::vector<std::string> del = {"DEL"};
      for (const auto& k : r->elements[1].elements) del.push_back(k.str);
      if (del.size() > 1) (void)c.Command(del);
    } while (cursor != "0");
  }

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
                    Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return (stub_.get()->*method)(&ctx, req, resp);
  }

  template <typename Req, typename Resp>
  Resp Ok(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req) {
    Resp resp;
    auto s = Call(method, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    return resp;
  }

  // INVALID_ARGUMENT whose message names `field` ("field: why").
  template <typename Req, typename Resp>
  void ExpectInvalid(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
                     const std::string& field) {
    Resp resp;
    auto s = Call(method, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(field + ": ")) << "request: " << req.ShortDebugString();
  }

  int64_t Outbox() {
    auto n = store_->OutboxLength();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  // The same request twice: the same answer and one event; then the same request_id with other
  // content: INVALID_ARGUMENT naming request_id. Returns the first response.
  template <typename Req, typename Resp>
  Resp ExpectIdempotent(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
                        const std::type_identity_t<std::function<void(Req&)>>& change) {
    int64_t before = Outbox();
    Resp first = Ok(method, req);
    EXPECT_EQ(Outbox(), before + 1) << "one event per accepted write";
    Resp again = Ok(method, req);
    EXPECT_TRUE(MessageDifferencer::Equals(first, again))
        << "retry answered differently:\n" << first.DebugString() << "\nvs\n" << again.DebugString();
    EXPECT_EQ(Outbox(), before + 1) << "a retry must not publish again";
    Req other = req;
    change(other);
    ExpectInvalid(method, other, "request_id");
    EXPECT_EQ(Outbox(), before + 1);
    return first;
  }

  // Fixtures built through the API.
  ev::Account NewAccount(const std::string& name = "Acme", const std::string& website = "https://www.acme.com") {
    v1::CreateAccountRequest r;
    Stamp(r);
    r.set_name(name);
    r.set_website(website);
    r.set_industry("Manufacturing");
    r.set_region("EMEA");
    r.set_country("de");
    return Ok(&Stub::CreateAccount, r).account();
  }
  ev::Contact NewContact(const std::string& account_id, const std::string& email = "jane.doe@acme.com") {
    v1::CreateContactRequest r;
    Stamp(r);
    r.mutable_person()->set_first_name("Jane");
    r.mutable_person()->set_last_name("Doe");
    r.mutable_person()->set_email(email);
    r.mutable_person()->set_phone("(415) 555-0100");
    r.set_account_id(account_id);
    return Ok(&Stub::CreateContact, r).contact();
  }
  ev::Opportunity NewOpportunity(const std::string& account_id) {
    v1::CreateOpportunityRequest r;
    Stamp(r);
    r.set_account_id(account_id);
    r.set_name("Acme platform deal");
    *r.mutable_amount() = Usd(120000);
    return Ok(&Stub::CreateOpportunity, r).opportunity();
  }
  v1::IssueQuoteRequest QuoteRequest(const std::string& account_id) {
    v1::IssueQuoteRequest r;
    Stamp(r);
    r.set_account_id(account_id);
    r.set_currency_code("USD");
    auto* l = r.add_line_items();
    l->set_product("concord-pro");
    *l->mutable_list_price() = Usd(100);
    *l->mutable_unit_price() = Usd(90);
    l->set_quantity(10);
    l->set_discount_percent(5);
    l->set_billing_period(ev::BILLING_PERIOD_MONTHLY);
    r.mutable_terms()->set_contract_term_months(12);
    r.mutable_terms()->set_payment_terms(ev::PAYMENT_TERMS_NET_30);
    *r.mutable_valid_until() = FromNow(30 * 86400);
    return r;
  }
  ev::Quote NewQuote(const std::string& account_id) { return Ok(&Stub::IssueQuote, QuoteRequest(account_id)).quote(); }

  metrics::Registry registry_;
  std::unique_ptr<redis::Pool> pool_;
  std::string prefix_;
  std::unique_ptr<outbox::Store> store_;
  std::unique_ptr<SalesService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<Stub> stub_;
};

// ---- accounts ---------------------------------------------------------------------------------

TEST_F(SalesServiceTest, CreateAccount) {
  v1::CreateAccountRequest r;
  Stamp(r);
  r.set_name("Acme GmbH");
  r.set_website("https://www.Acme.com/pricing");
  r.set_country("de");
  auto resp = ExpectIdempotent(&Stub::CreateAccount, r, [](auto& o) { o.set_name("Other"); });
  const auto& a = resp.account();
  EXPECT_THAT(a.id(), testing::StartsWith("acct-"));
  EXPECT_EQ(a.version(), 1u);
  EXPECT_EQ(a.domain(), "acme.com");
  EXPECT_EQ(a.customer_key(), "domain:acme.com");  // identity::CustomerKey: domain first
  EXPECT_EQ(a.country(), "DE");
  EXPECT_EQ(a.lifecycle_stage(), ev::LIFECYCLE_STAGE_SQL);
  EXPECT_EQ(a.owner().id(), "rep-1");
  EXPECT_EQ(a.owner().team(), ev::TEAM_SALES);
  EXPECT_EQ(a.status(), ev::RECORD_STATUS_ACTIVE);
  EXPECT_FALSE(resp.event_id().empty());

  // Without a website the key comes from the account id.
  v1::CreateAccountRequest bare;
  Stamp(bare);
  bare.set_name("No Web Ltd");
  auto b = Ok(&Stub::CreateAccount, bare).account();
  EXPECT_EQ(b.customer_key(), "account:" + b.id());

  auto bad = [&](const std::string& field, const std::function<void(v1::CreateAccountRequest&)>& f) {
    v1::CreateAccountRequest x = r;
    x.set_request_id(Unique("req"));
    f(x);
    ExpectInvalid(&Stub::CreateAccount, x, field);
  };
  bad("request_id", [](auto& x) { x.clear_request_id(); });
  bad("request_id", [](auto& x) { x.set_request_id(std::string(129, 'r')); });
  bad("actor", [](auto& x) { x.clear_actor(); });
  bad("actor.id", [](auto& x) { x.mutable_actor()->clear_id(); });
  bad("actor.team", [](auto& x) { x.mutable_actor()->set_team(ev::TEAM_MARKETING); });
  bad("name", [](auto& x) { x.clear_name(); });
  bad("name", [](auto& x) { x.set_name(std::string(201, 'n')); });
  bad("website", [](auto& x) { x.set_website("not a website"); });
  bad("country", [](auto& x) { x.set_country("Germany"); });
  bad("industry", [](auto& x) { x.set_industry(std::string(201, 'i')); });
  bad("lifecycle_stage", [](auto& x) { x.set_lifecycle_stage(static_cast<ev::LifecycleStage>(99)); });
  bad("owner.team", [](auto& x) {
    *x.mutable_owner() = Rep("mkt-1");
    x.mutable_owner()->set_team(ev::TEAM_MARKETING);
  });
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_requests_total{service="sales",method="CreateAccount",code="OK"} 3)"));
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_requests_total{service="sales",method="CreateAccount",code="INVALID_ARGUMENT"} 13)"));
  EXPECT_THAT(text, HasSubstr(R"(concord_rpc_write_duration_seconds_count{service="sales",method="CreateAccount"} 16)"));
}

TEST_F(SalesServiceTest, UpdateAccount) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  ASSERT_EQ(c.customer_key(), "domain:acme.com");
  v1::UpdateAccountRequest r;
  Stamp(r);
  r.set_account_id(a.id());
  r.set_expected_version(1);
  r.set_website("acme-industries.com");
  r.set_employee_count(500);
  auto resp = ExpectIdempotent(&Stub::UpdateAccount, r, [](auto& o) { o.set_employee_count(7); });
  EXPECT_EQ(resp.account().version(), 2u);
  EXPECT_EQ(resp.account().domain(), "acme-industries.com");
  EXPECT_EQ(resp.account().customer_key(), "domain:acme-industries.com");
  EXPECT_EQ(resp.account().employee_count(), 500u);
  // The contact follows the account's new key.
  v1::GetContactRequest gc;
  gc.set_contact_id(c.id());
  auto c2 = Ok(&Stub::GetContact, gc);
  EXPECT_EQ(c2.customer_key(), "domain:acme-industries.com");
  EXPECT_EQ(c2.version(), 2u);

  // Stale version -> ABORTED naming the current one.
  v1::UpdateAccountRequest stale = r;
  stale.set_request_id(Unique("req"));
  stale.set_expected_version(1);
  v1::UpdateAccountResponse out;
  auto s = Call(&Stub::UpdateAccount, stale, &out);
  EXPECT_CODE(s, ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("current version is 2"));
  // Unknown id -> NOT_FOUND.
  v1::UpdateAccountRequest missing = r;
  missing.set_request_id(Unique("req"));
  missing.set_account_id("acct-missing");
  missing.set_expected_version(0);
  EXPECT_CODE(Call(&Stub::UpdateAccount, missing, &out), NOT_FOUND);
  // Validation.
  v1::UpdateAccountRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_name("");
  ExpectInvalid(&Stub::UpdateAccount, x, "name");
  x = r;
  x.set_request_id(Unique("req"));
  x.clear_account_id();
  ExpectInvalid(&Stub::UpdateAccount, x, "account_id");
  x = r;
  x.set_request_id(Unique("req"));
  x.set_country("XYZ");
  ExpectInvalid(&Stub::UpdateAccount, x, "country");
}

TEST_F(SalesServiceTest, MergeAccounts) {
  auto survivor = NewAccount("Acme", "acme.com");
  auto dup = NewAccount("ACME Inc", "acme-inc.com");
  auto contact = NewContact(dup.id(), "joe@acme-inc.com");
  auto opp = NewOpportunity(dup.id());
  v1::MergeAccountsRequest r;
  Stamp(r);
  r.set_survivor_account_id(survivor.id());
  r.add_merged_account_ids(dup.id());
  r.set_expected_version(1);
  r.set_reason("same company");
  auto resp = ExpectIdempotent(&Stub::MergeAccounts, r, [](auto& o) { o.set_reason("other"); });
  EXPECT_EQ(resp.survivor().version(), 2u);
  EXPECT_THAT(resp.survivor().merged_from_ids(), testing::ElementsAre(dup.id()));

  v1::GetAccountRequest g;
  g.set_account_id(dup.id());
  auto merged = Ok(&Stub::GetAccount, g);
  EXPECT_EQ(merged.status(), ev::RECORD_STATUS_MERGED);
  EXPECT_EQ(merged.merged_into_id(), survivor.id());
  EXPECT_EQ(merged.customer_key(), "domain:acme-inc.com");  // the old key, now an alias
  v1::GetContactRequest gc;
  gc.set_contact_id(contact.id());
  auto moved = Ok(&Stub::GetContact, gc);
  EXPECT_EQ(moved.account_id(), survivor.id());
  EXPECT_EQ(moved.customer_key(), survivor.customer_key());
  v1::GetOpportunityRequest go;
  go.set_opportunity_id(opp.id());
  EXPECT_EQ(Ok(&Stub::GetOpportunity, go).account_id(), survivor.id());

  // A merged account is read-only.
  v1::UpdateAccountRequest u;
  Stamp(u);
  u.set_account_id(dup.id());
  u.set_name("x");
  v1::UpdateAccountResponse uo;
  EXPECT_CODE(Call(&Stub::UpdateAccount, u, &uo), FAILED_PRECONDITION);
  // Merging it again: FAILED_PRECONDITION; unknown: NOT_FOUND; stale: ABORTED.
  v1::MergeAccountsResponse out;
  auto other = NewAccount("Other", "other.com");
  v1::MergeAccountsRequest again;
  Stamp(again);
  again.set_survivor_account_id(other.id());
  again.add_merged_account_ids(dup.id());
  EXPECT_CODE(Call(&Stub::MergeAccounts, again, &out), FAILED_PRECONDITION);
  again.set_request_id(Unique("req"));
  again.set_merged_account_ids(0, "acct-missing");
  EXPECT_CODE(Call(&Stub::MergeAccounts, again, &out), NOT_FOUND);
  again.set_request_id(Unique("req"));
  again.set_merged_account_ids(0, survivor.id());
  again.set_expected_version(9);
  EXPECT_CODE(Call(&Stub::MergeAccounts, again, &out), ABORTED);
  // Validation.
  v1::MergeAccountsRequest x = r;
  x.set_request_id(Unique("req"));
  x.clear_merged_account_ids();
  ExpectInvalid(&Stub::MergeAccounts, x, "merged_account_ids");
  x.add_merged_account_ids(survivor.id());
  ExpectInvalid(&Stub::MergeAccounts, x, "merged_account_ids[0]");
  x.clear_merged_account_ids();
  x.add_merged_account_ids("a");
  x.add_merged_account_ids("a");
  ExpectInvalid(&Stub::MergeAccounts, x, "merged_account_ids[1]");
  x.clear_merged_account_ids();
  for (int i = 0; i < 11; ++i) x.add_merged_account_ids("a" + std::to_string(i));
  ExpectInvalid(&Stub::MergeAccounts, x, "merged_account_ids");
  x = r;
  x.set_request_id(Unique("req"));
  x.clear_survivor_account_id();
  ExpectInvalid(&Stub::MergeAccounts, x, "survivor_account_id");
}

TEST_F(SalesServiceTest, GetAndListAccounts) {
  // Newest first by created_at (ms), ties by id: space the creations out.
  auto a = NewAccount("Acme", "acme.com");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto b = NewAccount("Globex", "globex.com");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto c = NewAccount("Acme Labs", "acmelabs.io");
  v1::GetAccountRequest g;
  g.set_account_id(a.id());
  auto got = Ok(&Stub::GetAccount, g);
  EXPECT_TRUE(MessageDifferencer::Equals(got, a));
  g.set_account_id("acct-nope");
  ev::Account out;
  EXPECT_CODE(Call(&Stub::GetAccount, g, &out), NOT_FOUND);
  g.clear_account_id();
  ExpectInvalid(&Stub::GetAccount, g, "account_id");

  v1::ListAccountsRequest l;
  l.set_name("acme");
  auto page = Ok(&Stub::ListAccounts, l);
  ASSERT_EQ(page.accounts_size(), 2);
  EXPECT_EQ(page.accounts(0).id(), c.id());  // newest first
  EXPECT_EQ(page.accounts(1).id(), a.id());
  // Paging: one at a time.
  l.set_page_size(1);
  auto p1 = Ok(&Stub::ListAccounts, l);
  ASSERT_EQ(p1.accounts_size(), 1);
  ASSERT_FALSE(p1.next_page_token().empty());
  l.set_page_token(p1.next_page_token());
  auto p2 = Ok(&Stub::ListAccounts, l);
  ASSERT_EQ(p2.accounts_size(), 1);
  EXPECT_EQ(p2.accounts(0).id(), a.id());
  l.set_page_token(p2.next_page_token());
  if (!p2.next_page_token().empty()) {
    EXPECT_EQ(Ok(&Stub::ListAccounts, l).accounts_size(), 0);
  }
  // Domain filter is normalized.
  v1::ListAccountsRequest d;
  d.set_domain("https://www.Globex.com");
  auto byd = Ok(&Stub::ListAccounts, d);
  ASSERT_EQ(byd.accounts_size(), 1);
  EXPECT_EQ(byd.accounts(0).id(), b.id());
  // Limits.
  v1::ListAccountsRequest big;
  big.set_page_size(501);
  ExpectInvalid(&Stub::ListAccounts, big, "page_size");
  v1::ListAccountsRequest tok;
  tok.set_page_token("garbage");
  ExpectInvalid(&Stub::ListAccounts, tok, "page_token");
  v1::ListAccountsRequest st;
  st.add_statuses(static_cast<ev::RecordStatus>(42));
  ExpectInvalid(&Stub::ListAccounts, st, "statuses[0]");
}

// ---- contacts ---------------------------------------------------------------------------------

TEST_F(SalesServiceTest, CreateContact) {
  auto a = NewAccount();
  v1::CreateContactRequest r;
  Stamp(r);
  r.mutable_person()->set_full_name("Sam Smith");
  r.mutable_person()->set_phone("+44 20 7946 0958");
  r.set_account_id(a.id());
  r.set_source_lead_id("lead-9");
  auto resp = ExpectIdempotent(&Stub::CreateContact, r, [](auto& o) { o.mutable_person()->set_title("CTO"); });
  EXPECT_EQ(resp.contact().person().phone(), "+442079460958");
  EXPECT_EQ(resp.contact().customer_key(), a.customer_key());
  EXPECT_EQ(resp.contact().source_lead_id(), "lead-9");

  // Without an account: the key from the email (free mail) or its domain.
  v1::CreateContactRequest solo;
  Stamp(solo);
  solo.mutable_person()->set_email("Jane.Doe+x@gmail.com");
  EXPECT_EQ(Ok(&Stub::CreateContact, solo).contact().customer_key(), "email:janedoe@gmail.com");
  v1::CreateContactRequest phone_only;
  Stamp(phone_only);
  phone_only.mutable_person()->set_phone("415 555 0199");
  EXPECT_EQ(Ok(&Stub::CreateContact, phone_only).contact().customer_key(), "phone:+14155550199");

  v1::CreateContactResponse out;
  v1::CreateContactRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_account_id("acct-missing");
  EXPECT_CODE(Call(&Stub::CreateContact, x, &out), NOT_FOUND);
  auto bad = [&](const std::string& field, const std::function<void(v1::CreateContactRequest&)>& f) {
    v1::CreateContactRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::CreateContact, y, field);
  };
  bad("person", [](auto& y) { y.clear_person(); });
  bad("person.email", [](auto& y) { y.mutable_person()->clear_phone(); });
  bad("person.email", [](auto& y) { y.mutable_person()->set_email("not-an-email"); });
  bad("person.phone", [](auto& y) { y.mutable_person()->set_phone("12"); });
  bad("person.first_name", [](auto& y) { y.mutable_person()->set_first_name(std::string(201, 'x')); });
  bad("person.website", [](auto& y) { y.mutable_person()->set_website("???"); });
  bad("account_id", [](auto& y) { y.set_account_id(std::string(65, 'a')); });
}

TEST_F(SalesServiceTest, UpdateContact) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  v1::UpdateContactRequest r;
  Stamp(r);
  r.set_contact_id(c.id());
  r.set_expected_version(1);
  r.set_title("VP Engineering");
  r.set_account_id("");  // unlink: key from the email's domain
  r.set_email("jane@acme.org");
  auto resp = ExpectIdempotent(&Stub::UpdateContact, r, [](auto& o) { o.set_title("CEO"); });
  EXPECT_EQ(resp.contact().person().title(), "VP Engineering");
  EXPECT_EQ(resp.contact().account_id(), "");
  EXPECT_EQ(resp.contact().customer_key(), "domain:acme.org");
  EXPECT_EQ(resp.contact().version(), 2u);

  v1::UpdateContactResponse out;
  v1::UpdateContactRequest x = r;
  x.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::UpdateContact, x, &out), ABORTED);
  x.set_request_id(Unique("req"));
  x.set_contact_id("contact-missing");
  EXPECT_CODE(Call(&Stub::UpdateContact, x, &out), NOT_FOUND);
  x = r;
  x.set_request_id(Unique("req"));
  x.set_expected_version(0);
  x.set_email("");
  x.set_phone("");
  ExpectInvalid(&Stub::UpdateContact, x, "email");
  x.clear_phone();
  x.set_email("bad@");
  ExpectInvalid(&Stub::UpdateContact, x, "email");
  x = r;
  x.set_request_id(Unique("req"));
  x.set_phone("1");
  ExpectInvalid(&Stub::UpdateContact, x, "phone");
}

TEST_F(SalesServiceTest, MergeContactsAndGetList) {
  auto a = NewAccount();
  auto keep = NewContact(a.id(), "jane@acme.com");
  auto dup = NewContact(a.id(), "j.doe@acme.com");
  v1::MergeContactsRequest r;
  Stamp(r);
  r.set_survivor_contact_id(keep.id());
  r.add_merged_contact_ids(dup.id());
  r.set_reason("same person");
  auto resp = ExpectIdempotent(&Stub::MergeContacts, r, [](auto& o) { o.set_reason("x"); });
  EXPECT_THAT(resp.survivor().merged_from_ids(), testing::ElementsAre(dup.id()));
  v1::GetContactRequest g;
  g.set_contact_id(dup.id());
  auto merged = Ok(&Stub::GetContact, g);
  EXPECT_EQ(merged.status(), ev::RECORD_STATUS_MERGED);
  EXPECT_EQ(merged.merged_into_id(), keep.id());
  v1::MergeContactsResponse out;
  v1::MergeContactsRequest again = r;
  again.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::MergeContacts, again, &out), FAILED_PRECONDITION);
  again.set_request_id(Unique("req"));
  again.set_merged_contact_ids(0, "contact-missing");
  EXPECT_CODE(Call(&Stub::MergeContacts, again, &out), NOT_FOUND);
  again.set_request_id(Unique("req"));
  again.set_expected_version(1);
  EXPECT_CODE(Call(&Stub::MergeContacts, again, &out), ABORTED);
  v1::MergeContactsRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_merged_contact_ids(0, keep.id());
  ExpectInvalid(&Stub::MergeContacts, x, "merged_contact_ids[0]");

  // Lists: ACTIVE only by default; filters.
  v1::ListContactsRequest l;
  l.set_account_id(a.id());
  auto page = Ok(&Stub::ListContacts, l);
  ASSERT_EQ(page.contacts_size(), 1);
  EXPECT_EQ(page.contacts(0).id(), keep.id());
  l.add_statuses(ev::RECORD_STATUS_MERGED);
  l.add_statuses(ev::RECORD_STATUS_ACTIVE);
  EXPECT_EQ(Ok(&Stub::ListContacts, l).contacts_size(), 2);
  v1::ListContactsRequest e;
  e.set_email("JANE@acme.com ");
  auto bye = Ok(&Stub::ListContacts, e);
  ASSERT_EQ(bye.contacts_size(), 1);
  EXPECT_EQ(bye.contacts(0).id(), keep.id());
  v1::ListContactsRequest n;
  n.set_name("jan");
  n.set_customer_key(a.customer_key());
  EXPECT_EQ(Ok(&Stub::ListContacts, n).contacts_size(), 1);
  v1::ListContactsRequest badmail;
  badmail.set_email("nope");
  ExpectInvalid(&Stub::ListContacts, badmail, "email");
  g.set_contact_id("contact-missing");
  ev::Contact c;
  EXPECT_CODE(Call(&Stub::GetContact, g, &c), NOT_FOUND);
}

// ---- hand-offs and owners -------------------------------------------------------------------------

TEST_F(SalesServiceTest, AcceptHandoff) {
  v1::AcceptHandoffRequest r;
  Stamp(r);
  r.set_handoff_id(Unique("handoff"));
  r.set_lead_id("lead-1");
  r.mutable_customer()->mutable_person()->set_email("kim@initech.com");
  r.mutable_customer()->mutable_person()->set_full_name("Kim");
  *r.mutable_owner() = Rep("rep-7");
  r.set_note("looks great");
  auto resp = ExpectIdempotent(&Stub::AcceptHandoff, r, [](auto& o) { o.set_note("other"); });
  const auto& h = resp.handoff();
  EXPECT_EQ(h.status(), ev::HANDOFF_STATUS_ACCEPTED);
  EXPECT_EQ(h.version(), 1u);
  EXPECT_EQ(h.customer().customer_key(), "domain:initech.com");
  EXPECT_EQ(h.customer().lead_id(), "lead-1");
  EXPECT_EQ(h.owner().id(), "rep-7");
  EXPECT_EQ(h.decided_by().id(), "rep-1");

  v1::AcceptHandoffResponse out;
  v1::AcceptHandoffRequest again = r;
  again.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::AcceptHandoff, again, &out), FAILED_PRECONDITION);  // already accepted
  // Rejecting an accepted hand-off is refused too.
  v1::RejectHandoffRequest rej;
  Stamp(rej);
  rej.set_handoff_id(r.handoff_id());
  rej.set_lead_id("lead-1");
  rej.set_reason(ev::HANDOFF_REJECT_REASON_NOT_READY);
  v1::RejectHandoffResponse rout;
  EXPECT_CODE(Call(&Stub::RejectHandoff, rej, &rout), FAILED_PRECONDITION);

  // A linked account gives the key; a stale version is ABORTED; an unknown one is ABORTED too.
  auto a = NewAccount("Initrode", "initrode.com");
  v1::AcceptHandoffRequest linked;
  Stamp(linked);
  linked.set_handoff_id(Unique("handoff"));
  linked.set_lead_id("lead-2");
  linked.set_account_id(a.id());
  auto lh = Ok(&Stub::AcceptHandoff, linked).handoff();
  EXPECT_EQ(lh.customer().customer_key(), a.customer_key());
  EXPECT_EQ(lh.account_id(), a.id());
  v1::AcceptHandoffRequest stale;
  Stamp(stale);
  stale.set_handoff_id(Unique("handoff"));
  stale.set_lead_id("lead-3");
  stale.set_expected_version(2);
  stale.mutable_customer()->mutable_person()->set_email("x@y.com");
  EXPECT_CODE(Call(&Stub::AcceptHandoff, stale, &out), ABORTED);
  v1::AcceptHandoffRequest nf = linked;
  nf.set_request_id(Unique("req"));
  nf.set_handoff_id(Unique("handoff"));
  nf.set_account_id("acct-missing");
  EXPECT_CODE(Call(&Stub::AcceptHandoff, nf, &out), NOT_FOUND);

  auto bad = [&](const std::string& field, const std::function<void(v1::AcceptHandoffRequest&)>& f) {
    v1::AcceptHandoffRequest y = r;
    y.set_request_id(Unique("req"));
    y.set_handoff_id(Unique("handoff"));
    f(y);
    ExpectInvalid(&Stub::AcceptHandoff, y, field);
  };
  bad("handoff_id", [](auto& y) { y.clear_handoff_id(); });
  bad("lead_id", [](auto& y) { y.clear_lead_id(); });
  bad("customer", [](auto& y) { y.clear_customer(); });  // first time: identity required
  bad("customer.person.email", [](auto& y) { y.mutable_customer()->mutable_person()->set_email("@@"); });
  bad("note", [](auto& y) { y.set_note(std::string(4097, 'n')); });
  bad("owner.team", [](auto& y) { y.mutable_owner()->set_team(ev::TEAM_MARKETING); });
}

TEST_F(SalesServiceTest, RejectHandoffThenAcceptIsRefused) {
  v1::RejectHandoffRequest r;
  Stamp(r);
  r.set_handoff_id(Unique("handoff"));
  r.set_lead_id("lead-4");
  r.mutable_customer()->mutable_person()->set_phone("+1 415 555 0123");
  r.set_reason(ev::HANDOFF_REJECT_REASON_NO_BUDGET);
  r.set_note("no budget this year");
  auto resp = ExpectIdempotent(&Stub::RejectHandoff, r, [](auto& o) { o.set_reason(ev::HANDOFF_REJECT_REASON_OTHER); });
  EXPECT_EQ(resp.handoff().status(), ev::HANDOFF_STATUS_REJECTED);
  EXPECT_EQ(resp.handoff().reject_reason(), ev::HANDOFF_REJECT_REASON_NO_BUDGET);
  EXPECT_EQ(resp.handoff().customer().customer_key(), "phone:+14155550123");

  v1::AcceptHandoffRequest acc;
  Stamp(acc);
  acc.set_handoff_id(r.handoff_id());
  acc.set_lead_id("lead-4");
  v1::AcceptHandoffResponse out;
  auto s = Call(&Stub::AcceptHandoff, acc, &out);
  EXPECT_CODE(s, FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("rejected"));
  // A different lead for the same hand-off id.
  v1::RejectHandoffRequest other = r;
  other.set_request_id(Unique("req"));
  other.set_lead_id("lead-5");
  v1::RejectHandoffResponse rout;
  EXPECT_CODE(Call(&Stub::RejectHandoff, other, &rout), FAILED_PRECONDITION);

  auto bad = [&](const std::string& field, const std::function<void(v1::RejectHandoffRequest&)>& f) {
    v1::RejectHandoffRequest y = r;
    y.set_request_id(Unique("req"));
    y.set_handoff_id(Unique("handoff"));
    f(y);
    ExpectInvalid(&Stub::RejectHandoff, y, field);
  };
  bad("reason", [](auto& y) { y.clear_reason(); });
  bad("note", [](auto& y) {
    y.set_reason(ev::HANDOFF_REJECT_REASON_OTHER);
    y.clear_note();
  });
  bad("customer", [](auto& y) { y.clear_customer(); });
}

TEST_F(SalesServiceTest, AssignOwner) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  auto o = NewOpportunity(a.id());
  v1::AcceptHandoffRequest h;
  Stamp(h);
  h.set_handoff_id(Unique("handoff"));
  h.set_lead_id("lead-1");
  h.set_account_id(a.id());
  auto handoff = Ok(&Stub::AcceptHandoff, h).handoff();

  v1::AssignOwnerRequest r;
  Stamp(r);
  r.set_account_id(a.id());
  *r.mutable_owner() = Rep("rep-2");
  r.set_expected_version(1);
  auto resp = ExpectIdempotent(&Stub::AssignOwner, r, [](auto& x) { x.mutable_owner()->set_id("rep-3"); });
  EXPECT_EQ(resp.account().owner().id(), "rep-2");
  EXPECT_EQ(resp.account().owner().team(), ev::TEAM_SALES);
  for (auto set : std::vector<std::function<void(v1::AssignOwnerRequest&)>>{
           [&](auto& x) { x.set_contact_id(c.id()); }, [&](auto& x) { x.set_opportunity_id(o.id()); },
           [&](auto& x) { x.set_handoff_id(handoff.id()); }}) {
    v1::AssignOwnerRequest x;
    Stamp(x);
    *x.mutable_owner() = Rep("rep-4");
    set(x);
    auto out = Ok(&Stub::AssignOwner, x);
    EXPECT_NE(out.record_case(), v1::AssignOwnerResponse::RECORD_NOT_SET);
  }
  v1::ListOpportunitiesRequest lo;
  lo.set_owner_id("rep-4");
  EXPECT_EQ(Ok(&Stub::ListOpportunities, lo).opportunities_size(), 1);

  v1::AssignOwnerResponse out;
  v1::AssignOwnerRequest x = r;
  x.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::AssignOwner, x, &out), ABORTED);
  x.set_request_id(Unique("req"));
  x.set_handoff_id("handoff-unknown");
  x.set_expected_version(0);
  EXPECT_CODE(Call(&Stub::AssignOwner, x, &out), NOT_FOUND);
  // A closed opportunity cannot change owner.
  v1::UpdateOpportunityStageRequest close;
  Stamp(close);
  close.set_opportunity_id(o.id());
  close.set_stage(ev::OPPORTUNITY_STAGE_CLOSED_LOST);
  close.set_close_reason(ev::CLOSE_REASON_PRICE);
  Ok(&Stub::UpdateOpportunityStage, close);
  x.set_request_id(Unique("req"));
  x.set_opportunity_id(o.id());
  EXPECT_CODE(Call(&Stub::AssignOwner, x, &out), FAILED_PRECONDITION);

  v1::AssignOwnerRequest y;
  Stamp(y);
  *y.mutable_owner() = Rep("rep-2");
  ExpectInvalid(&Stub::AssignOwner, y, "target");
  y.set_account_id(a.id());
  y.clear_owner();
  ExpectInvalid(&Stub::AssignOwner, y, "owner");
  *y.mutable_owner() = Rep("mkt-1");
  y.mutable_owner()->set_team(ev::TEAM_MARKETING);
  ExpectInvalid(&Stub::AssignOwner, y, "owner.team");
}

// ---- activities ---------------------------------------------------------------------------------

TEST_F(SalesServiceTest, LogAndListActivities) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  auto o = NewOpportunity(a.id());
  v1::LogActivityRequest r;
  Stamp(r);
  r.set_kind(ev::ACTIVITY_KIND_CALL);
  r.add_contact_ids(c.id());
  r.set_opportunity_id(o.id());
  *r.mutable_occurred_at() = FromNow(-3600);
  *r.mutable_duration() = TimeUtil::SecondsToDuration(900);
  r.set_subject("Discovery call");
  r.set_outcome(ev::ACTIVITY_OUTCOME_CONNECTED);
  r.set_notes("Promised 15% off if they sign this month");
  auto resp = ExpectIdempotent(&Stub::LogActivity, r, [](auto& x) { x.set_notes("other"); });
  const auto& act = resp.activity();
  EXPECT_EQ(act.direction(), ev::ACTIVITY_DIRECTION_OUTBOUND);
  EXPECT_EQ(act.customer().customer_key(), a.customer_key());
  EXPECT_EQ(act.account_id(), a.id());
  EXPECT_EQ(act.actor().team(), ev::TEAM_SALES);

  // With a person only (no record yet).
  v1::LogActivityRequest p;
  Stamp(p);
  p.set_kind(ev::ACTIVITY_KIND_EMAIL);
  p.mutable_customer()->mutable_person()->set_email("bob@umbrella.com");
  EXPECT_EQ(Ok(&Stub::LogActivity, p).activity().customer().customer_key(), "domain:umbrella.com");

  v1::LogActivityResponse out;
  v1::LogActivityRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_contact_ids(0, "contact-missing");
  EXPECT_CODE(Call(&Stub::LogActivity, x, &out), NOT_FOUND);
  auto bad = [&](const std::string& field, const std::function<void(v1::LogActivityRequest&)>& f) {
    v1::LogActivityRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::LogActivity, y, field);
  };
  bad("kind", [](auto& y) { y.clear_kind(); });
  bad("occurred_at", [](auto& y) { *y.mutable_occurred_at() = FromNow(2 * 86400); });
  bad("duration", [](auto& y) { *y.mutable_duration() = TimeUtil::SecondsToDuration(25 * 3600); });
  bad("subject", [](auto& y) { y.set_subject(std::string(999, 's')); });
  bad("notes", [](auto& y) { y.set_notes(std::string(16385, 'n')); });
  bad("contact_ids", [](auto& y) {
    for (int i = 0; i < 21; ++i) y.add_contact_ids("c" + std::to_string(i));
  });
  bad("contact_ids[1]", [&](auto& y) { y.add_contact_ids(c.id()); });
  bad("account_id", [](auto& y) {
    y.clear_contact_ids();
    y.clear_opportunity_id();
  });
  bad("customer", [](auto& y) {
    y.clear_contact_ids();
    y.clear_opportunity_id();
    y.set_lead_id("lead-only");
  });

  v1::ListActivitiesRequest l;
  l.set_account_id(a.id());
  l.add_kinds(ev::ACTIVITY_KIND_CALL);
  auto page = Ok(&Stub::ListActivities, l);
  ASSERT_EQ(page.activities_size(), 1);
  EXPECT_EQ(page.activities(0).id(), act.id());
  l.set_contact_id(c.id());
  *l.mutable_occurred_after() = FromNow(-60);
  EXPECT_EQ(Ok(&Stub::ListActivities, l).activities_size(), 0);
  v1::ListActivitiesRequest bl;
  *bl.mutable_occurred_after() = FromNow(0);
  *bl.mutable_occurred_before() = FromNow(-10);
  ExpectInvalid(&Stub::ListActivities, bl, "occurred_before");
}

// ---- quotes -------------------------------------------------------------------------------------

TEST_F(SalesServiceTest, IssueQuote) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  auto o = NewOpportunity(a.id());
  auto r = QuoteRequest(a.id());
  r.set_contact_id(c.id());
  r.set_opportunity_id(o.id());
  auto* l2 = r.add_line_items();
  l2->set_product("onboarding");
  *l2->mutable_list_price() = Usd(1999, 990000000);
  *l2->mutable_unit_price() = Usd(1999, 990000000);
  l2->set_quantity(1);
  auto resp = ExpectIdempotent(&Stub::IssueQuote, r, [](auto& x) { x.set_notes("changed"); });
  const auto& q = resp.quote();
  EXPECT_EQ(q.status(), ev::QUOTE_STATUS_ISSUED);
  EXPECT_EQ(q.revision(), 1u);
  ASSERT_EQ(q.line_items_size(), 2);
  EXPECT_EQ(q.line_items(0).line_id(), "line-1");
  EXPECT_EQ(q.line_items(1).line_id(), "line-2");
  // 90 * 10 * 0.95 = 855.00; + 1999.99
  EXPECT_EQ(q.line_items(0).net_amount().units(), 855);
  EXPECT_EQ(q.total().units(), 2854);
  EXPECT_EQ(q.total().nanos(), 990000000);
  EXPECT_EQ(q.list_total().units(), 2999);
  EXPECT_EQ(q.list_total().nanos(), 990000000);
  EXPECT_EQ(q.discount_total().units(), 145);
  EXPECT_EQ(q.customer().customer_key(), a.customer_key());
  EXPECT_EQ(q.customer().contact_id(), c.id());
  EXPECT_TRUE(q.has_valid_from());

  v1::IssueQuoteResponse out;
  v1::IssueQuoteRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_account_id("acct-missing");
  EXPECT_CODE(Call(&Stub::IssueQuote, x, &out), NOT_FOUND);
  auto other = NewAccount("Other", "other.com");
  x = r;
  x.set_request_id(Unique("req"));
  x.set_account_id(other.id());
  ExpectInvalid(&Stub::IssueQuote, x, "contact_id");
  auto bad = [&](const std::string& field, const std::function<void(v1::IssueQuoteRequest&)>& f) {
    v1::IssueQuoteRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::IssueQuote, y, field);
  };
  bad("account_id", [](auto& y) { y.clear_account_id(); });
  bad("currency_code", [](auto& y) { y.set_currency_code("usd"); });
  bad("line_items", [](auto& y) { y.clear_line_items(); });
  bad("line_items", [](auto& y) {
    for (int i = 0; i < 100; ++i) *y.add_line_items() = y.line_items(0);
  });
  bad("line_items[0].product", [](auto& y) { y.mutable_line_items(0)->clear_product(); });
  bad("line_items[0].list_price", [](auto& y) { y.mutable_line_items(0)->clear_list_price(); });
  bad("line_items[0].unit_price", [](auto& y) { *y.mutable_line_items(0)->mutable_unit_price() = Usd(-1); });
  bad("line_items[0].unit_price.currency_code",
      [](auto& y) { y.mutable_line_items(0)->mutable_unit_price()->set_currency_code("EUR"); });
  bad("line_items[0].unit_price.nanos", [](auto& y) { *y.mutable_line_items(0)->mutable_unit_price() = Usd(1, -5); });
  bad("line_items[0].list_price", [](auto& y) { *y.mutable_line_items(0)->mutable_list_price() = Usd(2'000'000'000'000); });
  bad("line_items[0].quantity", [](auto& y) { y.mutable_line_items(0)->set_quantity(0); });
  bad("line_items[0].quantity", [](auto& y) { y.mutable_line_items(0)->set_quantity(1'000'001); });
  bad("line_items[0].discount_percent", [](auto& y) { y.mutable_line_items(0)->set_discount_percent(100.5); });
  bad("line_items[0].description", [](auto& y) { y.mutable_line_items(0)->set_description(std::string(1025, 'd')); });
  bad("terms.contract_term_months", [](auto& y) { y.mutable_terms()->set_contract_term_months(121); });
  bad("terms.delivery_date", [](auto& y) {
    auto* d = y.mutable_terms()->mutable_delivery_date();
    d->set_year(2026);
    d->set_month(2);
    d->set_day(30);
  });
  bad("terms.text", [](auto& y) { y.mutable_terms()->set_text(std::string(4097, 't')); });
  bad("valid_until", [](auto& y) { y.clear_valid_until(); });
  bad("valid_until", [](auto& y) { *y.mutable_valid_until() = FromNow(-10); });
  bad("valid_until", [](auto& y) { *y.mutable_valid_from() = FromNow(40 * 86400); });
  bad("notes", [](auto& y) { y.set_notes(std::string(16385, 'n')); });
  // A closed opportunity takes no new quote.
  v1::UpdateOpportunityStageRequest close;
  Stamp(close);
  close.set_opportunity_id(o.id());
  close.set_stage(ev::OPPORTUNITY_STAGE_CLOSED_WON);
  close.set_close_reason(ev::CLOSE_REASON_PRODUCT_FIT);
  Ok(&Stub::UpdateOpportunityStage, close);
  x = r;
  x.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::IssueQuote, x, &out), FAILED_PRECONDITION);
}

TEST_F(SalesServiceTest, ReviseAndWithdrawQuote) {
  auto a = NewAccount();
  auto q = NewQuote(a.id());
  v1::ReviseQuoteRequest r;
  Stamp(r);
  r.set_quote_id(q.id());
  r.set_expected_version(1);
  auto* keep = r.add_line_items();
  *keep = q.line_items(0);
  keep->set_discount_percent(20);
  auto* add = r.add_line_items();
  add->set_product("support");
  *add->mutable_list_price() = Usd(50);
  *add->mutable_unit_price() = Usd(50);
  add->set_quantity(1);
  r.mutable_terms()->set_contract_term_months(24);
  *r.mutable_valid_until() = FromNow(10 * 86400);
  r.set_revision_note("bigger discount for 2 years");
  auto resp = ExpectIdempotent(&Stub::ReviseQuote, r, [](auto& x) { x.set_revision_note("x"); });
  const auto& rq = resp.quote();
  EXPECT_EQ(rq.revision(), 2u);
  EXPECT_EQ(rq.version(), 2u);
  EXPECT_EQ(rq.line_items(0).line_id(), "line-1");  // kept
  EXPECT_EQ(rq.line_items(1).line_id(), "line-2");  // new
  EXPECT_EQ(rq.line_items(0).net_amount().units(), 720);  // 900 * 0.8
  EXPECT_EQ(rq.total().units(), 770);

  v1::ReviseQuoteResponse out;
  v1::ReviseQuoteRequest x = r;
  x.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::ReviseQuote, x, &out), ABORTED);
  x.set_request_id(Unique("req"));
  x.set_quote_id("quote-missing");
  x.set_expected_version(0);
  EXPECT_CODE(Call(&Stub::ReviseQuote, x, &out), NOT_FOUND);
  x = r;
  x.set_request_id(Unique("req"));
  x.set_expected_version(0);
  x.mutable_line_items(1)->mutable_list_price()->set_currency_code("EUR");
  x.mutable_line_items(1)->mutable_unit_price()->set_currency_code("EUR");
  ExpectInvalid(&Stub::ReviseQuote, x, "line_items[1].list_price.currency_code");
  x = r;
  x.set_request_id(Unique("req"));
  x.clear_line_items();
  ExpectInvalid(&Stub::ReviseQuote, x, "line_items");
  x = r;
  x.set_request_id(Unique("req"));
  x.set_revision_note(std::string(4097, 'r'));
  ExpectInvalid(&Stub::ReviseQuote, x, "revision_note");

  v1::WithdrawQuoteRequest w;
  Stamp(w);
  w.set_quote_id(q.id());
  w.set_expected_version(2);
  w.set_reason("customer went with annual plan");
  auto wr = ExpectIdempotent(&Stub::WithdrawQuote, w, [](auto& y) { y.set_reason("y"); });
  EXPECT_EQ(wr.quote().status(), ev::QUOTE_STATUS_WITHDRAWN);
  // Withdrawn: revise and withdraw are FAILED_PRECONDITION.
  x = r;
  x.set_request_id(Unique("req"));
  x.set_expected_version(0);
  auto s = Call(&Stub::ReviseQuote, x, &out);
  EXPECT_CODE(s, FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("withdrawn"));
  v1::WithdrawQuoteResponse wout;
  w.set_request_id(Unique("req"));
  w.set_expected_version(0);
  EXPECT_CODE(Call(&Stub::WithdrawQuote, w, &wout), FAILED_PRECONDITION);
  w.set_request_id(Unique("req"));
  w.set_quote_id("quote-missing");
  EXPECT_CODE(Call(&Stub::WithdrawQuote, w, &wout), NOT_FOUND);
  w.set_request_id(Unique("req"));
  w.set_reason(std::string(4097, 'r'));
  ExpectInvalid(&Stub::WithdrawQuote, w, "reason");
  w.clear_quote_id();
  w.clear_reason();
  ExpectInvalid(&Stub::WithdrawQuote, w, "quote_id");
}

TEST_F(SalesServiceTest, ExpiredQuoteCannotBeRevisedOrWithdrawn) {
  auto a = NewAccount();
  auto r = QuoteRequest(a.id());
  *r.mutable_valid_until() = FromNow(1);
  auto q = Ok(&Stub::IssueQuote, r).quote();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  v1::GetQuoteRequest g;
  g.set_quote_id(q.id());
  EXPECT_EQ(Ok(&Stub::GetQuote, g).status(), ev::QUOTE_STATUS_EXPIRED);
  v1::ListQuotesRequest l;
  l.set_account_id(a.id());
  l.add_statuses(ev::QUOTE_STATUS_EXPIRED);
  EXPECT_EQ(Ok(&Stub::ListQuotes, l).quotes_size(), 1);
  v1::ReviseQuoteRequest rv;
  Stamp(rv);
  rv.set_quote_id(q.id());
  *rv.add_line_items() = r.line_items(0);
  *rv.mutable_valid_until() = FromNow(86400);
  v1::ReviseQuoteResponse out;
  auto s = Call(&Stub::ReviseQuote, rv, &out);
  EXPECT_CODE(s, FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("expired"));
  v1::WithdrawQuoteRequest w;
  Stamp(w);
  w.set_quote_id(q.id());
  v1::WithdrawQuoteResponse wout;
  EXPECT_CODE(Call(&Stub::WithdrawQuote, w, &wout), FAILED_PRECONDITION);
}

TEST_F(SalesServiceTest, GetAndListQuotes) {
  auto a = NewAccount();
  auto b = NewAccount("B", "b.com");
  auto q1 = NewQuote(a.id());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto r2 = QuoteRequest(a.id());
  r2.mutable_line_items(0)->set_product("concord-enterprise");
  auto q2 = Ok(&Stub::IssueQuote, r2).quote();
  NewQuote(b.id());
  v1::GetQuoteRequest g;
  g.set_quote_id(q1.id());
  EXPECT_TRUE(MessageDifferencer::Equals(Ok(&Stub::GetQuote, g), q1));
  g.set_quote_id("quote-missing");
  ev::Quote out;
  EXPECT_CODE(Call(&Stub::GetQuote, g, &out), NOT_FOUND);
  v1::ListQuotesRequest l;
  l.set_account_id(a.id());
  auto page = Ok(&Stub::ListQuotes, l);
  ASSERT_EQ(page.quotes_size(), 2);
  EXPECT_EQ(page.quotes(0).id(), q2.id());
  l.set_product("concord-enterprise");
  ASSERT_EQ(Ok(&Stub::ListQuotes, l).quotes_size(), 1);
  v1::ListQuotesRequest p;
  p.set_product("concord-pro");
  p.set_customer_key(a.customer_key());
  EXPECT_EQ(Ok(&Stub::ListQuotes, p).quotes_size(), 1);
  p.add_statuses(ev::QUOTE_STATUS_WITHDRAWN);
  EXPECT_EQ(Ok(&Stub::ListQuotes, p).quotes_size(), 0);
}

// ---- commitments -------------------------------------------------------------------------------

TEST_F(SalesServiceTest, MakeAndListCommitments) {
  auto a = NewAccount();
  auto o = NewOpportunity(a.id());
  v1::MakeCommitmentRequest r;
  Stamp(r);
  r.set_kind(ev::COMMITMENT_KIND_FEATURE);
  r.set_opportunity_id(o.id());
  r.set_product("concord-pro");
  r.set_feature("SAML single sign-on");
  r.mutable_due_date()->set_year(2030);
  r.mutable_due_date()->set_month(3);
  r.mutable_due_date()->set_day(31);
  r.set_text("SSO will ship by end of Q1");
  r.set_channel(ev::CHANNEL_PHONE);
  auto resp = ExpectIdempotent(&Stub::MakeCommitment, r, [](auto& x) { x.set_feature("SCIM"); });
  EXPECT_EQ(resp.commitment().customer().customer_key(), a.customer_key());
  EXPECT_EQ(resp.commitment().account_id(), a.id());
  EXPECT_EQ(resp.commitment().made_by().id(), "rep-1");

  v1::MakeCommitmentRequest conc;
  Stamp(conc);
  conc.set_kind(ev::COMMITMENT_KIND_CONCESSION);
  conc.set_account_id(a.id());
  conc.mutable_concession()->set_product("concord-pro");
  conc.mutable_concession()->set_discount_percent(25);
  auto made = Ok(&Stub::MakeCommitment, conc).commitment();
  EXPECT_EQ(made.product(), "concord-pro");

  v1::MakeCommitmentResponse out;
  v1::MakeCommitmentRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_activity_id("activity-missing");
  EXPECT_CODE(Call(&Stub::MakeCommitment, x, &out), NOT_FOUND);
  auto bad = [&](const std::string& field, const std::function<void(v1::MakeCommitmentRequest&)>& f) {
    v1::MakeCommitmentRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::MakeCommitment, y, field);
  };
  bad("kind", [](auto& y) { y.clear_kind(); });
  bad("feature", [](auto& y) { y.clear_feature(); });
  bad("due_date", [](auto& y) {
    y.set_kind(ev::COMMITMENT_KIND_DATE);
    y.clear_due_date();
  });
  bad("concession", [](auto& y) { y.set_kind(ev::COMMITMENT_KIND_CONCESSION); });
  bad("concession.discount_percent", [](auto& y) {
    y.set_kind(ev::COMMITMENT_KIND_CONCESSION);
    y.mutable_concession()->set_product("p");
    y.mutable_concession()->set_discount_percent(120);
  });
  bad("text", [](auto& y) {
    y.set_kind(ev::COMMITMENT_KIND_OTHER);
    y.clear_text();
  });
  bad("made_at", [](auto& y) { *y.mutable_made_at() = FromNow(3600); });
  bad("valid_until", [](auto& y) {
    *y.mutable_made_at() = FromNow(-100);
    *y.mutable_valid_until() = FromNow(-200);
  });
  bad("account_id", [](auto& y) { y.clear_opportunity_id(); });

  v1::ListCommitmentsRequest l;
  l.set_account_id(a.id());
  EXPECT_EQ(Ok(&Stub::ListCommitments, l).commitments_size(), 2);
  l.add_kinds(ev::COMMITMENT_KIND_CONCESSION);
  auto page = Ok(&Stub::ListCommitments, l);
  ASSERT_EQ(page.commitments_size(), 1);
  EXPECT_EQ(page.commitments(0).id(), made.id());
  v1::ListCommitmentsRequest bp;
  bp.set_page_size(-1);
  ExpectInvalid(&Stub::ListCommitments, bp, "page_size");
}

// ---- opportunities -----------------------------------------------------------------------------

TEST_F(SalesServiceTest, CreateOpportunity) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  v1::CreateOpportunityRequest r;
  Stamp(r);
  r.set_account_id(a.id());
  r.set_name("Acme expansion");
  r.set_primary_contact_id(c.id());
  r.set_stage(ev::OPPORTUNITY_STAGE_PROPOSAL);
  *r.mutable_amount() = Usd(50000);
  r.mutable_close_date()->set_year(2030);
  r.mutable_close_date()->set_month(6);
  r.mutable_close_date()->set_day(30);
  auto resp = ExpectIdempotent(&Stub::CreateOpportunity, r, [](auto& x) { x.set_name("x"); });
  EXPECT_EQ(resp.opportunity().stage(), ev::OPPORTUNITY_STAGE_PROPOSAL);
  EXPECT_EQ(resp.opportunity().customer().customer_key(), a.customer_key());
  EXPECT_EQ(resp.opportunity().customer().contact_id(), c.id());

  v1::CreateOpportunityResponse out;
  v1::CreateOpportunityRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_handoff_id("handoff-missing");
  EXPECT_CODE(Call(&Stub::CreateOpportunity, x, &out), NOT_FOUND);
  auto bad = [&](const std::string& field, const std::function<void(v1::CreateOpportunityRequest&)>& f) {
    v1::CreateOpportunityRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::CreateOpportunity, y, field);
  };
  bad("account_id", [](auto& y) { y.clear_account_id(); });
  bad("name", [](auto& y) { y.clear_name(); });
  bad("stage", [](auto& y) { y.set_stage(ev::OPPORTUNITY_STAGE_CLOSED_WON); });
  bad("amount", [](auto& y) { *y.mutable_amount() = Usd(-5); });
  bad("amount.currency_code", [](auto& y) { y.mutable_amount()->clear_currency_code(); });
  bad("close_date", [](auto& y) { y.mutable_close_date()->set_month(13); });
}

TEST_F(SalesServiceTest, OpportunityStages) {
  auto a = NewAccount();
  auto o = NewOpportunity(a.id());
  EXPECT_EQ(o.stage(), ev::OPPORTUNITY_STAGE_DISCOVERY);
  v1::UpdateOpportunityStageRequest r;
  Stamp(r);
  r.set_opportunity_id(o.id());
  r.set_expected_version(1);
  r.set_stage(ev::OPPORTUNITY_STAGE_NEGOTIATION);
  *r.mutable_amount() = Usd(150000);
  auto resp = ExpectIdempotent(&Stub::UpdateOpportunityStage, r, [](auto& x) { *x.mutable_amount() = Usd(1); });
  EXPECT_EQ(resp.opportunity().stage(), ev::OPPORTUNITY_STAGE_NEGOTIATION);
  EXPECT_EQ(resp.opportunity().amount().units(), 150000);

  v1::UpdateOpportunityStageResponse out;
  v1::UpdateOpportunityStageRequest x = r;
  x.set_request_id(Unique("req"));
  EXPECT_CODE(Call(&Stub::UpdateOpportunityStage, x, &out), ABORTED);
  x.set_request_id(Unique("req"));
  x.set_opportunity_id("opportunity-missing");
  x.set_expected_version(0);
  EXPECT_CODE(Call(&Stub::UpdateOpportunityStage, x, &out), NOT_FOUND);
  // Back to proposal is allowed while open.
  v1::UpdateOpportunityStageRequest back;
  Stamp(back);
  back.set_opportunity_id(o.id());
  back.set_stage(ev::OPPORTUNITY_STAGE_PROPOSAL);
  Ok(&Stub::UpdateOpportunityStage, back);
  // Close won; then nothing changes any more.
  v1::UpdateOpportunityStageRequest won;
  Stamp(won);
  won.set_opportunity_id(o.id());
  won.set_stage(ev::OPPORTUNITY_STAGE_CLOSED_WON);
  won.set_close_reason(ev::CLOSE_REASON_PRODUCT_FIT);
  won.set_close_note("signed");
  auto closed = Ok(&Stub::UpdateOpportunityStage, won).opportunity();
  EXPECT_TRUE(closed.has_closed_at());
  EXPECT_TRUE(closed.has_close_date());
  v1::UpdateOpportunityStageRequest after = back;
  after.set_request_id(Unique("req"));
  auto s = Call(&Stub::UpdateOpportunityStage, after, &out);
  EXPECT_CODE(s, FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("closed"));

  auto bad = [&](const std::string& field, const std::function<void(v1::UpdateOpportunityStageRequest&)>& f) {
    v1::UpdateOpportunityStageRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::UpdateOpportunityStage, y, field);
  };
  bad("stage", [](auto& y) { y.clear_stage(); });
  bad("close_reason", [](auto& y) { y.set_stage(ev::OPPORTUNITY_STAGE_CLOSED_LOST); });
  bad("close_reason", [](auto& y) { y.set_close_reason(ev::CLOSE_REASON_PRICE); });
  bad("close_note", [](auto& y) { y.set_close_note("only when closing"); });
  bad("competitor", [](auto& y) { y.set_competitor(std::string(201, 'c')); });

  v1::GetOpportunityRequest g;
  g.set_opportunity_id(o.id());
  EXPECT_EQ(Ok(&Stub::GetOpportunity, g).stage(), ev::OPPORTUNITY_STAGE_CLOSED_WON);
  g.set_opportunity_id("opportunity-missing");
  ev::Opportunity go;
  EXPECT_CODE(Call(&Stub::GetOpportunity, g, &go), NOT_FOUND);
  v1::ListOpportunitiesRequest l;
  l.set_account_id(a.id());
  l.add_stages(ev::OPPORTUNITY_STAGE_CLOSED_WON);
  EXPECT_EQ(Ok(&Stub::ListOpportunities, l).opportunities_size(), 1);
  l.clear_stages();
  l.add_stages(ev::OPPORTUNITY_STAGE_DISCOVERY);
  EXPECT_EQ(Ok(&Stub::ListOpportunities, l).opportunities_size(), 0);
  v1::ListOpportunitiesRequest dates;
  dates.mutable_close_after()->set_year(2000);
  dates.mutable_close_after()->set_month(1);
  dates.mutable_close_after()->set_day(1);
  dates.set_account_id(a.id());
  EXPECT_EQ(Ok(&Stub::ListOpportunities, dates).opportunities_size(), 1);
}

// ---- messages ---------------------------------------------------------------------------------

TEST_F(SalesServiceTest, SendAndListMessages) {
  auto a = NewAccount();
  auto c = NewContact(a.id());
  v1::SendMessageRequest r;
  Stamp(r);
  r.set_channel(ev::CHANNEL_EMAIL);
  r.set_purpose(ev::MESSAGE_PURPOSE_PROPOSAL);
  r.set_subject("Your proposal");
  r.set_body("Hi Jane, 10% off the first year as discussed.");
  auto* offer = r.add_offers();
  offer->set_product("concord-pro");
  offer->set_discount_percent(10);
  r.set_contact_id(c.id());
  auto resp = ExpectIdempotent(&Stub::SendMessage, r, [](auto& x) { x.set_body("other"); });
  const auto& m = resp.message();
  EXPECT_EQ(m.person().contact_id(), c.id());
  EXPECT_EQ(m.person().customer_key(), a.customer_key());
  EXPECT_EQ(m.sender().team(), ev::TEAM_SALES);
  EXPECT_EQ(m.recipient_count(), 1u);

  v1::SendMessageRequest p;
  Stamp(p);
  p.set_channel(ev::CHANNEL_SMS);
  p.set_body("Call me back?");
  p.mutable_person()->mutable_person()->set_phone("+1 (212) 555-0142");
  EXPECT_EQ(Ok(&Stub::SendMessage, p).message().person().customer_key(), "phone:+12125550142");

  v1::SendMessageResponse out;
  v1::SendMessageRequest x = r;
  x.set_request_id(Unique("req"));
  x.set_contact_id("contact-missing");
  EXPECT_CODE(Call(&Stub::SendMessage, x, &out), NOT_FOUND);
  auto bad = [&](const std::string& field, const std::function<void(v1::SendMessageRequest&)>& f) {
    v1::SendMessageRequest y = r;
    y.set_request_id(Unique("req"));
    f(y);
    ExpectInvalid(&Stub::SendMessage, y, field);
  };
  bad("channel", [](auto& y) { y.clear_channel(); });
  bad("subject", [](auto& y) { y.clear_subject(); });
  bad("body", [](auto& y) { y.clear_body(); });
  bad("body", [](auto& y) { y.set_body(std::string(16385, 'b')); });
  bad("offers[0].product", [](auto& y) { y.mutable_offers(0)->clear_product(); });
  bad("offers", [](auto& y) {
    for (int i = 0; i < 20; ++i) *y.add_offers() = y.offers(0);
  });
  bad("recipient", [](auto& y) { y.clear_contact_id(); });
  bad("person.person.email", [](auto& y) { y.mutable_person()->mutable_person()->set_full_name("No Address"); });

  v1::ListMessagesRequest l;
  l.set_contact_id(c.id());
  auto page = Ok(&Stub::ListMessages, l);
  ASSERT_EQ(page.messages_size(), 1);
  EXPECT_EQ(page.messages(0).id(), m.id());
  l.add_channels(ev::CHANNEL_SMS);
  EXPECT_EQ(Ok(&Stub::ListMessages, l).messages_size(), 0);
  v1::ListMessagesRequest s;
  s.set_sender_id("rep-1");
  EXPECT_EQ(Ok(&Stub::ListMessages, s).messages_size(), 2);
}

// ---- concurrency --------------------------------------------------------------------------------

TEST_F(SalesServiceTest, ConcurrentUpdatesWithoutVersionAllApply) {
  auto a = NewAccount();
  auto o = NewOpportunity(a.id());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      v1::UpdateOpportunityStageRequest r;
      Stamp(r);
      r.set_opportunity_id(o.id());
      r.set_stage(ev::OPPORTUNITY_STAGE_PROPOSAL);
      *r.mutable_amount() = Usd(1000 + i);
      v1::UpdateOpportunityStageResponse out;
      grpc::ClientContext ctx;
      if (stub_->UpdateOpportunityStage(&ctx, r, &out).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  v1::GetOpportunityRequest g;
  g.set_opportunity_id(o.id());
  auto now = Ok(&Stub::GetOpportunity, g);
  // Every success is one version; conflicts beyond the retries are ABORTED, never lost.
  EXPECT_EQ(now.version(), 1u + ok.load());
  EXPECT_GE(ok.load(), 1);
}

// ---- events on Kafka -------------------------------------------------------------------------------

class SalesEventsTest : public SalesServiceTest {};

TEST_F(SalesEventsTest, EveryWriteIsOnTheTopicOnceWithKeyTypeAndHeaders) {
  const std::string brokers = Env("CONCORD_KAFKA_BROKERS", "127.0.0.1:9092");
  auto producer = kafka::Producer::Create({.brokers = brokers, .client_id = "sales-events-test"});
  ASSERT_TRUE(producer.ok()) << producer.status();
  outbox::Relay relay(RedisOptions(), **producer, {.prefix = prefix_, .instance = "test-relay"});
  relay.Start();

  // One write of each kind; remember (event id -> expected key, type).
  struct Expect {
    std::string key, type;
  };
  std::map<std::string, Expect> want;
  auto remember = [&](const std::string& id, const std::string& key, const std::string& type) {
    ASSERT_FALSE(id.empty());
    want[id] = {key, "io.concord.sales." + type + ".v1"};
  };
  v1::CreateAccountRequest ca;
  Stamp(ca);
  ca.set_name("Events Inc");
  ca.set_website("events-inc.com");
  auto acc = Ok(&Stub::CreateAccount, ca);
  remember(acc.event_id(), "domain:events-inc.com", "account-created");
  v1::UpdateAccountRequest ua;
  Stamp(ua);
  ua.set_account_id(acc.account().id());
  ua.set_industry("Software");
  remember(Ok(&Stub::UpdateAccount, ua).event_id(), "domain:events-inc.com", "account-updated");
  auto other = NewAccount("Events Dup", "events-dup.com");
  v1::MergeAccountsRequest ma;
  Stamp(ma);
  ma.set_survivor_account_id(acc.account().id());
  ma.add_merged_account_ids(other.id());
  remember(Ok(&Stub::MergeAccounts, ma).event_id(), "domain:events-inc.com", "account-merged");
  v1::CreateContactRequest cc;
  Stamp(cc);
  cc.mutable_person()->set_email("ann@events-inc.com");
  cc.set_account_id(acc.account().id());
  auto con = Ok(&Stub::CreateContact, cc);
  remember(con.event_id(), "domain:events-inc.com", "contact-created");
  v1::UpdateContactRequest uc;
  Stamp(uc);
  uc.set_contact_id(con.contact().id());
  uc.set_title("CFO");
  remember(Ok(&Stub::UpdateContact, uc).event_id(), "domain:events-inc.com", "contact-updated");
  auto con2 = NewContact(acc.account().id(), "ann.b@events-inc.com");
  v1::MergeContactsRequest mc;
  Stamp(mc);
  mc.set_survivor_contact_id(con.contact().id());
  mc.add_merged_contact_ids(con2.id());
  remember(Ok(&Stub::MergeContacts, mc).event_id(), "domain:events-inc.com", "contact-merged");
  v1::AcceptHandoffRequest ah;
  Stamp(ah);
  ah.set_handoff_id(Unique("handoff"));
  ah.set_lead_id("lead-e");
  ah.mutable_customer()->mutable_person()->set_email("lee@lead-co.com");
  remember(Ok(&Stub::AcceptHandoff, ah).event_id(), "domain:lead-co.com", "handoff-accepted");
  v1::RejectHandoffRequest rh;
  Stamp(rh);
  rh.set_handoff_id(Unique("handoff"));
  rh.set_lead_id("lead-f");
  rh.mutable_customer()->mutable_person()->set_email("max@gmail.com");
  rh.set_reason(ev::HANDOFF_REJECT_REASON_NOT_A_FIT);
  remember(Ok(&Stub::RejectHandoff, rh).event_id(), "email:max@gmail.com", "handoff-rejected");
  v1::AssignOwnerRequest ao;
  Stamp(ao);
  ao.set_account_id(acc.account().id());
  *ao.mutable_owner() = Rep("rep-9");
  remember(Ok(&Stub::AssignOwner, ao).event_id(), "domain:events-inc.com", "owner-assigned");
  v1::LogActivityRequest la;
  Stamp(la);
  la.set_kind(ev::ACTIVITY_KIND_MEETING);
  la.set_account_id(acc.account().id());
  remember(Ok(&Stub::LogActivity, la).event_id(), "domain:events-inc.com", "activity-logged");
  auto opp = Ok(&Stub::CreateOpportunity, [&] {
    v1::CreateOpportunityRequest r;
    Stamp(r);
    r.set_account_id(acc.account().id());
    r.set_name("Events deal");
    return r;
  }());
  remember(opp.event_id(), "domain:events-inc.com", "opportunity-created");
  v1::UpdateOpportunityStageRequest us;
  Stamp(us);
  us.set_opportunity_id(opp.opportunity().id());
  us.set_stage(ev::OPPORTUNITY_STAGE_PROPOSAL);
  remember(Ok(&Stub::UpdateOpportunityStage, us).event_id(), "domain:events-inc.com", "opportunity-stage-changed");
  auto quote = Ok(&Stub::IssueQuote, QuoteRequest(acc.account().id()));
  remember(quote.event_id(), "domain:events-inc.com", "quote-issued");
  v1::ReviseQuoteRequest rq;
  Stamp(rq);
  rq.set_quote_id(quote.quote().id());
  *rq.add_line_items() = quote.quote().line_items(0);
  *rq.mutable_valid_until() = FromNow(86400);
  remember(Ok(&Stub::ReviseQuote, rq).event_id(), "domain:events-inc.com", "quote-revised");
  v1::WithdrawQuoteRequest wq;
  Stamp(wq);
  wq.set_quote_id(quote.quote().id());
  remember(Ok(&Stub::WithdrawQuote, wq).event_id(), "domain:events-inc.com", "quote-withdrawn");
  v1::MakeCommitmentRequest mk;
  Stamp(mk);
  mk.set_kind(ev::COMMITMENT_KIND_OTHER);
  mk.set_account_id(acc.account().id());
  mk.set_text("We will send the security whitepaper");
  remember(Ok(&Stub::MakeCommitment, mk).event_id(), "domain:events-inc.com", "commitment-made");
  v1::SendMessageRequest sm;
  Stamp(sm);
  sm.set_channel(ev::CHANNEL_EMAIL);
  sm.set_subject("Hello");
  sm.set_body("Following up");
  sm.set_contact_id(con.contact().id());
  remember(Ok(&Stub::SendMessage, sm).event_id(), "domain:events-inc.com", "message-sent");
  // A retry publishes nothing more.
  Ok(&Stub::SendMessage, sm);
  ASSERT_EQ(want.size(), 17u);

  kafka::ConsumerOptions co;
  co.brokers = brokers;
  co.group_id = Unique("sales-events-test");
  co.topics = {std::string(kTopic)};
  co.auto_commit = false;
  auto consumer = kafka::Consumer::Create(co);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  std::map<std::string, int> seen;
  std::set<std::string> found;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  // Read to the end of the topic (earliest): everything of ours, and count duplicates.
  int idle = 0;
  while (std::chrono::steady_clock::now() < deadline && (found.size() < want.size() || idle < 10)) {
    auto m = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!m || m->error()) {
      if (found.size() == want.size()) ++idle;
      continue;
    }
    auto id = m->header("ce_id");
    if (!id || !want.count(*id)) continue;
    ++seen[*id];
    found.insert(*id);
    const auto& w = want[*id];
    EXPECT_EQ(m->key(), w.key) << *id;
    auto ce = kafka::FromHeaders(m->headers());
    ASSERT_TRUE(ce.ok()) << ce.status();
    EXPECT_EQ(ce->type, w.type);
    EXPECT_EQ(ce->source, "/concord/sales/test-0");
    EXPECT_EQ(ce->subject, w.key);
    EXPECT_EQ(ce->dataschema, "concord.events.v1.Event");
    EXPECT_EQ(ce->content_type, "application/protobuf");
    EXPECT_FALSE(ce->time.empty());
    ev::Event e;
    ASSERT_TRUE(e.ParseFromString(std::string(m->value())));
    EXPECT_EQ(e.id(), *id);
    EXPECT_EQ(e.customer().customer_key(), w.key);
    EXPECT_EQ(e.producer().team(), ev::TEAM_SALES);
    EXPECT_EQ(e.producer().service(), "sales");
    EXPECT_EQ(e.schema_version(), 1u);
    EXPECT_FALSE(e.request_id().empty());
    EXPECT_GE(e.aggregate_version(), 1u);
    EXPECT_EQ(kafka::Rfc3339(std::chrono::system_clock::time_point(
                  std::chrono::seconds(e.occurred_at().seconds()) + std::chrono::nanoseconds(e.occurred_at().nanos()))),
              ce->time);
  }
  relay.Stop(std::chrono::seconds(5));
  for (const auto& [id, w] : want) {
    EXPECT_EQ(seen[id], 1) << w.type << " " << id << " seen " << seen[id] << " times";
  }
  auto left = store_->OutboxLength();
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, 0) << "everything relayed leaves the outbox";
}

}  // namespace
}  // namespace concord::sales
