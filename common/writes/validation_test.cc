#include "common/writes/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/writes/customer.h"
#include "common/writes/status.h"

namespace concord::writes {
namespace {

namespace ev = concord::events::v1;
using testing::HasSubstr;

TEST(ValidatorTest, CollectsEveryViolationIntoOneInvalidArgument) {
  Validator v;
  v.Required("name", "", limits::kName);
  v.MaxBytes("description", std::string(5000, 'x'), limits::kDescription);
  EXPECT_FALSE(v.ok());
  auto s = v.ToGrpcStatus();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "name: required; description: at most 4096 bytes, got 5000");
  EXPECT_EQ(v.ToStatus().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidatorTest, OkWhenNothingIsWrong) {
  Validator v;
  EXPECT_TRUE(v.Required("name", "Spring launch", limits::kName));
  EXPECT_TRUE(v.MaxBytes("subject", std::string(998, 's'), limits::kSubject));
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(v.ToGrpcStatus().ok());
  EXPECT_TRUE(v.ToStatus().ok());
}

TEST(ValidatorTest, PrefixIsPrependedToEveryPath) {
  Validator v("person");
  v.Email("email", "not-an-email");
  ASSERT_EQ(v.violations().size(), 1u);
  EXPECT_EQ(v.violations()[0].field, "person.email");
}

TEST(ValidatorTest, RequiredTrimsWhitespace) {
  Validator v;
  EXPECT_FALSE(v.Required("name", "   \t", limits::kName));
  EXPECT_THAT(v.Message(), HasSubstr("name: required"));
}

TEST(ValidatorTest, SizeLimitsAreInclusive) {
  Validator v;
  EXPECT_TRUE(v.MaxBytes("body", std::string(limits::kBody, 'b'), limits::kBody));
  EXPECT_FALSE(v.MaxBytes("body", std::string(limits::kBody + 1, 'b'), limits::kBody));
  EXPECT_TRUE(v.Required("name", std::string(200, 'n'), limits::kName));
  EXPECT_FALSE(v.Required("name", std::string(201, 'n'), limits::kName));
  EXPECT_EQ(v.Message(), "body: at most 16384 bytes, got 16385; name: at most 200 bytes, got 201");
}

TEST(ValidatorTest, RequestId) {
  Validator v;
  EXPECT_TRUE(v.RequestId("r-1"));
  EXPECT_TRUE(v.RequestId(std::string(128, 'r')));
  EXPECT_TRUE(v.ok());
  EXPECT_FALSE(v.RequestId(""));
  EXPECT_FALSE(v.RequestId(std::string(129, 'r')));
  EXPECT_FALSE(v.RequestId("has space"));
  ASSERT_EQ(v.violations().size(), 3u);
  for (const auto& x : v.violations()) EXPECT_EQ(x.field, "request_id");
  EXPECT_THAT(v.violations()[0].why, HasSubstr("required"));
  EXPECT_THAT(v.violations()[1].why, HasSubstr("at most 128 bytes"));
}

TEST(ValidatorTest, IdsAreAtMost64Bytes) {
  Validator v;
  EXPECT_TRUE(v.RequiredId("lead_id", "lead-1"));
  EXPECT_FALSE(v.RequiredId("lead_id", ""));
  EXPECT_FALSE(v.OptionalId("campaign_id", std::string(65, 'c')));
  EXPECT_TRUE(v.OptionalId("campaign_id", ""));
  EXPECT_EQ(v.Message(), "lead_id: required; campaign_id: at most 64 bytes, got 65");
}

TEST(ValidatorTest, EmailAndPhone) {
  Validator v;
  EXPECT_TRUE(v.Email("email", "jane@acme.com"));
  EXPECT_TRUE(v.Email("email", ""));
  EXPECT_FALSE(v.Email("email", "", /*required=*/true));
  EXPECT_FALSE(v.Email("email", "jane@"));
  EXPECT_TRUE(v.Phone("phone", "+1 (415) 555-0100"));
  EXPECT_FALSE(v.Phone("phone", "12"));
  ASSERT_EQ(v.violations().size(), 3u);
  EXPECT_EQ(v.violations()[0].why, "required");
  EXPECT_THAT(v.violations()[1].why, HasSubstr("not a valid email address: 'jane@'"));
  EXPECT_THAT(v.violations()[2].why, HasSubstr("not a valid phone number"));
}

TEST(ValidatorTest, PersonNeedsEmailOrPhone) {
  ev::PersonIdentity p;
  p.set_first_name("Jane");
  Validator v;
  EXPECT_FALSE(v.Person("person", p, /*require_contact=*/true));
  EXPECT_EQ(v.Message(), "person.email: email or phone is required");

  p.set_phone("+44 20 7946 0958");
  Validator ok;
  EXPECT_TRUE(ok.Person("person", p, true));

  p.set_website("not a domain at all");
  p.set_company(std::string(201, 'c'));
  Validator bad;
  EXPECT_FALSE(bad.Person("person", p, true));
  EXPECT_THAT(bad.Message(), HasSubstr("person.company: at most 200 bytes"));
  EXPECT_THAT(bad.Message(), HasSubstr("person.website: no domain"));
}

TEST(ValidatorTest, Actor) {
  ev::Actor a;
  Validator missing;
  EXPECT_FALSE(missing.Actor("actor", a, /*present=*/false, ev::TEAM_MARKETING));
  EXPECT_THAT(missing.Message(), HasSubstr("actor: required"));

  Validator no_id;
  EXPECT_FALSE(no_id.Actor("actor", a, true, ev::TEAM_MARKETING));
  EXPECT_EQ(no_id.Message(), "actor.id: required");

  a.set_id("mkt-007");
  Validator ok;
  EXPECT_TRUE(ok.Actor("actor", a, true, ev::TEAM_MARKETING));
  a.set_team(ev::TEAM_MARKETING);
  EXPECT_TRUE(ok.Actor("actor", a, true, ev::TEAM_MARKETING));

  a.set_team(ev::TEAM_SALES);
  Validator other_team;
  EXPECT_FALSE(other_team.Actor("actor", a, true, ev::TEAM_MARKETING));
  EXPECT_EQ(other_team.Message(), "actor.team: must be unset or TEAM_MARKETING, got TEAM_SALES");
}

TEST(ValidatorTest, OptionalActorRestrictsTeams) {
  ev::Actor a;
  Validator absent;
  EXPECT_TRUE(absent.OptionalActor("suggested_owner", a, false, {ev::TEAM_SALES}));
  a.set_team(ev::TEAM_MARKETING);
  Validator v;
  EXPECT_FALSE(v.OptionalActor("suggested_owner", a, true, {ev::TEAM_SALES}));
  EXPECT_EQ(v.Message(),
            "suggested_owner.id: required when set; suggested_owner.team: must be unset or TEAM_SALES, got "
            "TEAM_MARKETING");
}

TEST(ValidatorTest, MoneyCurrencyAndSign) {
  ev::Money m;
  m.set_currency_code("USD");
  m.set_units(49);
  m.set_nanos(990000000);
  Validator ok;
  EXPECT_TRUE(ok.Money("price", m));

  Validator v;
  m.set_currency_code("usd");
  EXPECT_FALSE(v.Money("price", m));
  EXPECT_EQ(v.Message(), "price.currency_code: must be 3 upper-case letters (ISO 4217), got 'usd'");

  Validator sign;
  m.set_currency_code("EUR");
  m.set_nanos(-5);
  EXPECT_FALSE(sign.Money("price", m));
  EXPECT_EQ(sign.Message(), "price.nanos: must have the same sign as units");

  Validator range;
  m.set_nanos(1000000000);
  EXPECT_FALSE(range.Money("price", m));
  EXPECT_THAT(range.Message(), HasSubstr("price.nanos: must be in -999999999..999999999"));

  Validator neg;
  m.set_units(-1);
  m.set_nanos(0);
  EXPECT_TRUE(Validator().Money("x", m));
  EXPECT_FALSE(neg.Money("price", m, /*non_negative=*/true));
  EXPECT_EQ(neg.Message(), "price: must not be negative");

  Validator missing;
  EXPECT_FALSE(missing.Money("budget", ev::Money()));
  EXPECT_THAT(missing.Message(), HasSubstr("budget.currency_code: required"));
}

TEST(ValidatorTest, PercentAndRanges) {
  Validator v;
  EXPECT_TRUE(v.Percent("discount_percent", 0));
  EXPECT_TRUE(v.Percent("discount_percent", 100));
  EXPECT_FALSE(v.Percent("discount_percent", 100.5));
  EXPECT_FALSE(v.Percent("discount_percent", -1));
  EXPECT_FALSE(v.Percent("discount_percent", std::nan("")));
  EXPECT_TRUE(v.IntRange("score", 100, 0, 100));
  EXPECT_FALSE(v.IntRange("score", 101, 0, 100));
  EXPECT_EQ(v.violations().size(), 4u);
  EXPECT_EQ(v.violations().back().why, "must be in 0..100, got 101");
}

TEST(ValidatorTest, TimestampsAndOrder) {
  google::protobuf::Timestamp a, b;
  a.set_seconds(1700000000);
  b.set_seconds(1700000001);
  Validator v;
  EXPECT_TRUE(v.Timestamp("starts_at", a));
  EXPECT_TRUE(v.TimeOrder("starts_at", &a, "ends_at", &b));
  EXPECT_TRUE(v.TimeOrder("starts_at", &a, "ends_at", nullptr));
  EXPECT_FALSE(v.TimeOrder("starts_at", &b, "ends_at", &a));
  EXPECT_FALSE(v.TimeOrder("starts_at", &a, "ends_at", &a));
  google::protobuf::Timestamp bad;
  bad.set_seconds(300000000000LL);
  EXPECT_FALSE(v.Timestamp("ends_at", bad));
  bad.set_seconds(0);
  bad.set_nanos(-1);
  EXPECT_FALSE(v.Timestamp("ends_at", bad));
  ASSERT_EQ(v.violations().size(), 4u);
  EXPECT_EQ(v.violations()[0].field, "ends_at");
  EXPECT_EQ(v.violations()[0].why, "must be after starts_at");
}

TEST(ValidatorTest, Dates) {
  ev::Date d;
  d.set_year(2024);
  d.set_month(2);
  d.set_day(29);
  Validator v;
  EXPECT_TRUE(v.Date("delivery_date", d));
  d.set_year(2023);
  EXPECT_FALSE(v.Date("delivery_date", d));
  d.set_month(13);
  EXPECT_FALSE(v.Date("delivery_date", d));
  EXPECT_EQ(v.violations().size(), 2u);
}

TEST(ValidatorTest, Enums) {
  Validator v;
  EXPECT_TRUE(v.Enum("channel", ev::CHANNEL_EMAIL, ev::Channel_IsValid, true));
  EXPECT_TRUE(v.Enum("purpose", 0, ev::MessagePurpose_IsValid, false));
  EXPECT_FALSE(v.Enum("channel", ev::CHANNEL_UNSPECIFIED, ev::Channel_IsValid, true));
  EXPECT_FALSE(v.Enum("channel", 999, ev::Channel_IsValid, false));
  EXPECT_EQ(v.Message(), "channel: required (must not be *_UNSPECIFIED); channel: unknown value 999");
}

TEST(ValidatorTest, Offers) {
  google::protobuf::RepeatedPtrField<ev::Offer> offers;
  auto* o = offers.Add();
  o->set_product("concord-pro");
  o->set_discount_percent(20);
  o->mutable_price()->set_currency_code("USD");
  o->mutable_price()->set_units(49);
  Validator ok;
  EXPECT_TRUE(ok.Offers("offers", offers));

  auto* bad = offers.Add();
  bad->set_discount_percent(120);
  bad->set_trial_days(5000);
  bad->mutable_valid_from()->set_seconds(20);
  bad->mutable_valid_until()->set_seconds(10);
  Validator v;
  EXPECT_FALSE(v.Offers("offers", offers));
  EXPECT_EQ(v.Message(),
            "offers[1].product: required; offers[1].discount_percent: must be a percentage in 0..100, got 120; "
            "offers[1].trial_days: must be in 0..3650, got 5000; offers[1].valid_until: must be after "
            "offers[1].valid_from");

  for (int i = 0; i < 20; ++i) offers.Add()->set_product("p");
  Validator many;
  EXPECT_FALSE(many.Offers("offers", offers));
  EXPECT_EQ(many.Message(), "offers: at most 20 entries, got 22");
}

TEST(ValidatorTest, Segments) {
  ev::Segment s;
  Validator none;
  EXPECT_FALSE(none.Segment("segment", s));
  EXPECT_EQ(none.Message(), "segment: exactly one of criteria or customers is required");

  s.mutable_criteria()->add_industries("software");
  s.mutable_criteria()->add_countries("USA");
  s.mutable_criteria()->add_lifecycle_stages(ev::LIFECYCLE_STAGE_UNSPECIFIED);
  Validator v;
  EXPECT_FALSE(v.Segment("segment", s));
  EXPECT_THAT(v.Message(), HasSubstr("segment.criteria.countries[0]: must be an ISO 3166-1 alpha-2 code"));
  EXPECT_THAT(v.Message(), HasSubstr("segment.criteria.lifecycle_stages[0]: required"));

  ev::Segment list;
  list.mutable_customers();
  Validator empty;
  EXPECT_FALSE(empty.Segment("segment", list));
  EXPECT_EQ(empty.Message(), "segment.customers.customer_keys: at least one customer key is required");
  list.mutable_customers()->add_customer_keys("domain:acme.com");
  EXPECT_TRUE(Validator().Segment("segment", list));
}

TEST(ValidatorTest, ScoreReasons) {
  google::protobuf::RepeatedPtrField<ev::ScoreReason> r;
  auto* a = r.Add();
  a->set_code("visited_pricing_page");
  a->set_points(30);
  EXPECT_TRUE(Validator().ScoreReasons("reasons", r));
  auto* b = r.Add();
  b->set_points(101);
  Validator v;
  EXPECT_FALSE(v.ScoreReasons("reasons", r));
  EXPECT_EQ(v.Message(), "reasons[1].code: required; reasons[1].points: must be in -100..100, got 101");
}

TEST(PageSizeTest, DefaultsAndLimits) {
  int n = -1;
  EXPECT_TRUE(CheckPageSize(0, &n).ok());
  EXPECT_EQ(n, 50);
  EXPECT_TRUE(CheckPageSize(500, &n).ok());
  EXPECT_EQ(n, 500);
  auto s = CheckPageSize(501, &n);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "page_size: must be 0 (default 50) to 500, got 501");
  EXPECT_FALSE(CheckPageSize(-1, &n).ok());
}

TEST(StatusTest, Conventions) {
  EXPECT_EQ(NotFound("lead", "lead-1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(NotFound("lead", "lead-1").message(), "lead 'lead-1' not found");
  auto pre = WrongState("campaign", "c-1", "CAMPAIGN_STATUS_ENDED", "cannot launch");
  EXPECT_EQ(pre.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(pre.message(), "campaign 'c-1' is CAMPAIGN_STATUS_ENDED: cannot launch");
  auto ab = VersionMismatch(3, 4);
  EXPECT_EQ(ab.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(ab.message()), HasSubstr("current version is 4"));
  auto reused = RequestIdReused("r-1");
  EXPECT_EQ(reused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reused.message()), HasSubstr("request_id: 'r-1' was already used"));
}

TEST(StatusTest, StorageErrorsMapToRetryableCodes) {
  EXPECT_EQ(StorageError(absl::UnavailableError("redis down")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StorageError(absl::ResourceExhaustedError("pool")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StorageError(absl::DeadlineExceededError("slow")).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StorageError(absl::FailedPreconditionError("ERR script")).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(StorageError(absl::InvalidArgumentError("x")).code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(StorageError(absl::OkStatus()).ok());
}

TEST(StatusTest, ToGrpcKeepsCodeAndMessage) {
  auto s = ToGrpc(absl::AbortedError("expected_version 1 but the current version is 2"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(s.error_message(), "expected_version 1 but the current version is 2");
  EXPECT_EQ(ToGrpc(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpc(absl::FailedPreconditionError("x")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpc(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpc(absl::DeadlineExceededError("x")).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
}

TEST(CustomerKeyTest, DomainEmailPhoneFallbacks) {
  ev::PersonIdentity p;
  p.set_email("Jane.Doe@Acme.com");
  EXPECT_EQ(CustomerKeyFor(p), "domain:acme.com");
  p.set_email("jane.doe+x@gmail.com");
  EXPECT_EQ(CustomerKeyFor(p), "email:janedoe@gmail.com");
  EXPECT_EQ(CustomerKeyFor(p, "A-1"), "account:A-1");
  ev::PersonIdentity phone_only;
  phone_only.set_phone("(415) 555-0100");
  EXPECT_EQ(CustomerKeyFor(phone_only), "phone:+14155550100");
  EXPECT_EQ(CustomerKeyFor(ev::PersonIdentity()), "");
}

}  // namespace
}  // namespace concord::writes
