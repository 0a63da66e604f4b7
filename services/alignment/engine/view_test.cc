// Customer view, scorecard activity counters and the state format 5 (with format 1 to 4 restore).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "services/alignment/engine/engine.h"
#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine {
namespace {

using namespace testing;  // NOLINT
namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

const std::string kKey = "domain:acme.com";
constexpr int kFormat = 5;  // what SerializeCustomer writes

Micros Ts(const google::protobuf::Timestamp& t) { return ToMicros(t); }

std::vector<std::string> Ids(const std::vector<Finding>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.id());
  return out;
}

ev::Event Scored(Events& E, Micros at, int score) {
  auto e = E.Base(at, ev::TEAM_MARKETING, "system:scoring");
  auto* l = e.mutable_lead_scored()->mutable_lead();
  l->set_id("lead-1");
  l->set_score(score);
  auto* r = l->add_score_reasons();
  r->set_code("visited_pricing_page");
  r->set_description("Visited the pricing page 3 times");
  r->set_points(30);
  SetTimestamp(at, l->mutable_scored_at());
  return e;
}

// lead (with owner and industry), score, hand-off, accept, quote, campaign message,
// opportunity, duplicate contact.
std::vector<ev::Event> Journey(Events& E) {
  std::vector<ev::Event> v;
  auto lead = E.Lead(kT0, "lead-1", "Bob", "Smith", "bob@acme.com", "+14155550100");
  lead.mutable_lead_captured()->mutable_lead()->set_industry("Manufacturing");
  lead.mutable_lead_captured()->mutable_lead()->set_country("US");
  lead.mutable_lead_captured()->mutable_lead()->mutable_owner()->set_id("mkt-owner");
  v.push_back(lead);
  v.push_back(Scored(E, kT0 + 30 * kMinute, 72));
  v.push_back(E.HandOff(kT0 + kHour, "h-1"));
  auto accept = E.Accept(kT0 + 3 * kHour, "h-1", "rep-1");
  accept.mutable_handoff_accepted()->mutable_handoff()->mutable_owner()->set_id("rep-1");
  accept.mutable_handoff_accepted()->mutable_handoff()->mutable_owner()->set_team(ev::TEAM_SALES);
  v.push_back(accept);
  v.push_back(E.Quote(kT0 + 4 * kHour, "rep-1", "Q-1", "concord-pro", 49, 10.0));
  auto msg = E.Message(kT0 + 5 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Get 20% off Concord Pro.");
  msg.mutable_message_sent()->mutable_message()->set_campaign_id("cmp-spring");
  v.push_back(msg);
  auto opp = E.Opportunity(kT0 + 5 * kHour + 30 * kMinute, "opp-1", ev::OPPORTUNITY_STAGE_PROPOSAL);
  auto* o = opp.mutable_opportunity_created()->mutable_opportunity();
  o->set_name("Acme Pro rollout");
  o->mutable_owner()->set_id("rep-1");
  o->mutable_amount()->set_currency_code("USD");
  o->mutable_amount()->set_units(12000);
  o->mutable_close_date()->set_year(2026);
  o->mutable_close_date()->set_month(4);
  o->mutable_close_date()->set_day(30);
  v.push_back(opp);
  v.push_back(E.Contact(kT0 + 6 * kHour, "c-1", "Robert", "Smith", "rs@acme.com", "415-555-0100"));
  return v;
}

TEST(CustomerViewTest, RealisticJourney) {
  Engine engine(ExamplePlaybook());
  Events E;
  std::vector<Finding> found;
  for (const auto& e : Journey(E))
    for (auto& f : engine.Process(e, kPos)) found.push_back(f);
  EXPECT_EQ(Count(found, av::FINDING_TYPE_DUPLICATE_RECORD), 1);

  EXPECT_FALSE(engine.CustomerView("domain:unknown.com", 20).has_value());
  auto view = engine.CustomerView(kKey, 20, kT0 + 7 * kHour);
  ASSERT_TRUE(view.has_value());
  const av::CustomerView& v = *view;
  EXPECT_EQ(v.customer_key(), kKey);
  EXPECT_EQ(v.domain(), "acme.com");
  EXPECT_EQ(v.display_name(), "Acme");

  // stage and ownership: the opportunity moved the customer to sales
  EXPECT_EQ(v.lifecycle_stage(), ev::LIFECYCLE_STAGE_OPPORTUNITY);
  EXPECT_EQ(v.owning_team(), ev::TEAM_SALES);
  EXPECT_EQ(v.owner().id(), "rep-1");
  EXPECT_EQ(v.owner().team(), ev::TEAM_SALES);

  // lead score
  EXPECT_EQ(v.lead_score(), 72);
  ASSERT_EQ(v.score_reasons_size(), 1);
  EXPECT_EQ(v.score_reasons(0).code(), "visited_pricing_page");
  EXPECT_EQ(v.score_reasons(0).points(), 30);
  EXPECT_EQ(Ts(v.scored_at()), kT0 + 30 * kMinute);

  // hand-off
  const auto& h = v.handoff();
  EXPECT_EQ(h.handoff_id(), "h-1");
  EXPECT_EQ(h.lead_id(), "lead-1");
  EXPECT_EQ(h.status(), ev::HANDOFF_STATUS_ACCEPTED);
  EXPECT_EQ(Ts(h.handed_off_at()), kT0 + kHour);
  EXPECT_EQ(Ts(h.sla_due_at()), kT0 + 25 * kHour);
  EXPECT_EQ(Ts(h.accepted_at()), kT0 + 3 * kHour);
  EXPECT_EQ(Ts(h.first_touch_at()), kT0 + 4 * kHour);  // the quote
  EXPECT_FALSE(h.sla_breached());
  EXPECT_EQ(h.owner().id(), "rep-1");

  // opportunity
  ASSERT_EQ(v.open_opportunities_size(), 1);
  const auto& o = v.open_opportunities(0);
  EXPECT_EQ(o.opportunity_id(), "opp-1");
  EXPECT_EQ(o.name(), "Acme Pro rollout");
  EXPECT_EQ(o.stage(), ev::OPPORTUNITY_STAGE_PROPOSAL);
  EXPECT_EQ(o.amount().units(), 12000);
  EXPECT_EQ(o.amount().currency_code(), "USD");
  EXPECT_EQ(o.close_date().month(), 4);
  EXPECT_EQ(o.owner().id(), "rep-1");

  // touches: newest first, both teams
  ASSERT_EQ(v.recent_touches_size(), 2);
  EXPECT_EQ(v.recent_touches(0).team(), ev::TEAM_MARKETING);
  EXPECT_EQ(v.recent_touches(0).kind(), av::TOUCH_KIND_MESSAGE);
  EXPECT_EQ(v.recent_touches(0).purpose(), ev::MESSAGE_PURPOSE_PROMOTION);
  EXPECT_EQ(v.recent_touches(0).campaign_id(), "cmp-spring");
  EXPECT_EQ(v.recent_touches(0).actor().id(), "mkt-1");
  EXPECT_EQ(Ts(v.recent_touches(0).occurred_at()), kT0 + 5 * kHour);
  EXPECT_FALSE(v.recent_touches(0).summary().empty());
  EXPECT_EQ(v.recent_touches(1).team(), ev::TEAM_SALES);
  EXPECT_EQ(v.recent_touches(1).kind(), av::TOUCH_KIND_QUOTE);
  EXPECT_EQ(v.recent_touches(1).record_id(), "Q-1");
  EXPECT_EQ(Ts(v.last_touch_at()), kT0 + 5 * kHour);
  auto one = engine.CustomerView(kKey, 1, kT0 + 7 * kHour);
  ASSERT_EQ(one->recent_touches_size(), 1);
  EXPECT_EQ(one->recent_touches(0).kind(), av::TOUCH_KIND_MESSAGE);

  // live claims: the quote's price and discount, the email's 20 % off
  ASSERT_EQ(v.live_claims_size(), 3);
  int structured = 0, free_text = 0;
  for (const auto& c : v.live_claims()) {
    EXPECT_EQ(c.customer_key(), kKey);
    EXPECT_EQ(c.product(), "concord-pro");
    EXPECT_TRUE(c.has_valid_until());
    if (c.origin() == av::CLAIM_ORIGIN_STRUCTURED) {
      ++structured;
      EXPECT_EQ(c.team(), ev::TEAM_SALES);
      EXPECT_EQ(c.source_event_type(), "io.concord.sales.quote-issued.v1");
    } else {
      ++free_text;
      EXPECT_EQ(c.attribute(), av::CLAIM_ATTRIBUTE_DISCOUNT);
      EXPECT_EQ(c.span().field(), "message_sent.message.body");
      EXPECT_EQ(c.span().text(), "20% off");
      EXPECT_EQ(c.value().quantity().value(), 20);
    }
  }
  EXPECT_EQ(structured, 2);
  EXPECT_EQ(free_text, 1);
  // far in the future every claim has expired
  EXPECT_EQ(engine.CustomerView(kKey, 20, kT0 + 400 * kDay)->live_claims_size(), 0);

  // records: the lead and the duplicate contact are one person, with the why
  ASSERT_EQ(v.record_groups_size(), 1);
  const auto& g = v.record_groups(0);
  ASSERT_EQ(g.records_size(), 2);
  EXPECT_EQ(g.group_id(), "g-lead-lead-1");
  EXPECT_EQ(g.records(0).record_type(), av::RECORD_TYPE_LEAD);
  EXPECT_EQ(g.records(0).record_id(), "lead-1");
  EXPECT_EQ(g.records(0).match_score(), 1);
  EXPECT_EQ(g.records(0).team(), ev::TEAM_MARKETING);
  EXPECT_EQ(g.records(0).identity().email(), "bob@acme.com");
  EXPECT_EQ(g.records(1).record_type(), av::RECORD_TYPE_CONTACT);
  EXPECT_EQ(g.records(1).record_id(), "c-1");
  EXPECT_EQ(g.records(1).team(), ev::TEAM_SALES);
  EXPECT_EQ(g.records(1).identity().phone(), "+14155550100");
  EXPECT_GE(g.records(1).match_score(), 0.95);
  std::string reasons;
  for (const auto& r : g.records(1).match_reasons()) reasons += r + ";";
  EXPECT_NE(reasons.find("phone"), std::string::npos) << reasons;
  EXPECT_EQ(Ts(g.records(1).first_seen_at()), kT0 + 6 * kHour);

  EXPECT_EQ(Ts(v.first_seen_at()), kT0);
  EXPECT_EQ(Ts(v.as_of()), kT0 + 6 * kHour);
  EXPECT_EQ(v.open_findings_size(), 0);  // the API fills these
}

TEST(CustomerViewTest, ConvertedContactAndSeparatePeopleAndOwnerAssigned) {
  Engine engine(ExamplePlaybook());
  Events E;
  engine.Process(E.Lead(kT0, "lead-1", "Ann", "Lee", "ann@acme.com"), kPos);
  engine.Process(E.Contact(kT0 + kHour, "c-1", "Ann", "Lee", "ann.lee@acme.com", "", "lead-1"), kPos);
  engine.Process(E.Contact(kT0 + 2 * kHour, "c-2", "Zed", "Quorn", "zed@acme.com"), kPos);
  auto oa = E.Base(kT0 + 3 * kHour, ev::TEAM_SALES, "mgr-1");
  oa.mutable_owner_assigned()->set_record_type(ev::OWNED_RECORD_TYPE_ACCOUNT);
  oa.mutable_owner_assigned()->mutable_owner()->set_id("rep-7");
  engine.Process(oa, kPos);
  auto v = engine.CustomerView(kKey, 0);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->record_groups_size(), 2);
  ASSERT_EQ(v->record_groups(0).records_size(), 2);
  EXPECT_EQ(v->record_groups(0).records(1).match_reasons(0), "contact converted from lead lead-1");
  ASSERT_EQ(v->record_groups(1).records_size(), 1);
  EXPECT_EQ(v->record_groups(1).records(0).record_id(), "c-2");
  // lead stage: marketing owns it; its owner is unknown, so no owner (the sales rep is not it)
  EXPECT_EQ(v->owning_team(), ev::TEAM_MARKETING);
  EXPECT_FALSE(v->has_owner());
  EXPECT_FALSE(v->has_handoff());
}

// ---------------------------------------------------------------- scorecard activity

TEST(ScorecardActivityTest, CountsAndMedianTimeToAccept) {
  Engine engine(ExamplePlaybook());
  // Day 0 (kT0's day): three customers handed off; accepted after 1h, 2h and 5h.
  // A fourth is never accepted nor touched (breach at +24h, on day 1); a fifth is touched by
  // sales before its deadline (within SLA, not accepted).
  const Micros accept_after[] = {kHour, 2 * kHour, 5 * kHour};
  for (int i = 0; i < 3; ++i) {
    Events E("domain:c" + std::to_string(i) + ".com");
    engine.Process(E.HandOff(kT0, "h-" + std::to_string(i)), kPos);
    engine.Process(E.Accept(kT0 + accept_after[i], "h-" + std::to_string(i)), kPos);
    engine.Process(E.Call(kT0 + 6 * kHour, "rep-1", "We can do 10% off Concord Pro."), kPos);
    engine.Process(E.Call(kT0 + 7 * kHour, "rep-1"), kPos);  // same customer, same day
  }
  Events late("domain:late.com");
  engine.Process(late.HandOff(kT0, "h-late"), kPos);
  Events touched("domain:touched.com");
  engine.Process(touched.HandOff(kT0, "h-t"), kPos);
  engine.Process(touched.Call(kT0 + 2 * kHour, "rep-2"), kPos);
  // marketing on day 0 and day 1
  Events m("domain:c0.com");
  auto m1 = m.Message(kT0 + 8 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NURTURE, "Hi");
  auto m2 = m.Message(kT0 + kDay + kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_NURTURE, "Hi again");
  m1.set_id("mkt-message-1");  // ids distinct from the sales events of c0
  m2.set_id("mkt-message-2");
  engine.Process(m1, kPos);
  engine.Process(m2, kPos);
  engine.AdvanceTime(kT0 + 3 * kDay);  // the late one breaches at kT0 + 24h

  const Micros day0 = kT0 - 9 * kHour;  // 00:00 UTC of kT0's day
  auto all = engine.ScorecardActivity(ev::TEAM_UNSPECIFIED, day0, day0 + kDay);
  EXPECT_EQ(all.touches, 8u);  // 6 calls + 1 call (touched) + 1 message
  EXPECT_EQ(all.customers_touched, 4u);
  EXPECT_EQ(all.claims, 3u);
  EXPECT_EQ(all.handoffs_accepted, 3u);
  // deadlines are at kT0 + 24h: day 1
  EXPECT_EQ(all.handoffs_due, 0u);
  ASSERT_TRUE(all.median_time_to_accept);
  EXPECT_NEAR(static_cast<double>(*all.median_time_to_accept), static_cast<double>(2 * kHour), 0.03 * 2 * kHour);

  auto day1 = engine.ScorecardActivity(ev::TEAM_UNSPECIFIED, day0 + kDay, day0 + 2 * kDay);
  EXPECT_EQ(day1.handoffs_due, 5u);
  EXPECT_EQ(day1.handoffs_within_sla, 4u);  // 3 accepted + 1 touched; the late one breached
  EXPECT_EQ(day1.touches, 1u);
  EXPECT_FALSE(day1.median_time_to_accept);

  auto sales = engine.ScorecardActivity(ev::TEAM_SALES, day0, day0 + 2 * kDay);
  EXPECT_EQ(sales.touches, 7u);
  EXPECT_EQ(sales.customers_touched, 4u);
  EXPECT_EQ(sales.claims, 3u);
  EXPECT_EQ(sales.handoffs_due, 5u);
  EXPECT_EQ(sales.handoffs_within_sla, 4u);
  EXPECT_EQ(sales.handoffs_accepted, 3u);
  auto mkt = engine.ScorecardActivity(ev::TEAM_MARKETING, day0, day0 + 2 * kDay);
  EXPECT_EQ(mkt.touches, 2u);
  EXPECT_EQ(mkt.customers_touched, 2u);  // one customer on two days
  EXPECT_EQ(mkt.handoffs_due, 0u);
  EXPECT_FALSE(mkt.median_time_to_accept);

  // Period boundaries: a day counts when its 00:00 UTC is in [start, end).
  EXPECT_EQ(engine.ScorecardActivity(ev::TEAM_UNSPECIFIED, day0 + kHour, day0 + kDay).touches, 0u);

  // Segment by explicit list (from per-customer state): c0, c1 and an unknown key.
  ev::Segment seg;
  seg.mutable_customers()->add_customer_keys("domain:c0.com");
  seg.mutable_customers()->add_customer_keys("domain:c1.com");
  seg.mutable_customers()->add_customer_keys("domain:nobody.com");
  auto s = engine.ScorecardActivity(seg, day0, day0 + 2 * kDay);
  EXPECT_EQ(s.touches, 6u);  // 2 calls each + 2 marketing messages on c0
  EXPECT_EQ(s.customers_touched, 3u);  // c0 on two days, c1 on one
  EXPECT_EQ(s.handoffs_accepted, 2u);
  EXPECT_EQ(s.handoffs_due, 2u);
  EXPECT_EQ(s.handoffs_within_sla, 2u);
  ASSERT_TRUE(s.median_time_to_accept);
  EXPECT_EQ(*s.median_time_to_accept, (kHour + 2 * kHour) / 2);
  // Segment by criteria: lifecycle stage MQL (hand-off without acceptance) = late + touched.
  ev::Segment crit;
  crit.mutable_criteria()->add_lifecycle_stages(ev::LIFECYCLE_STAGE_MQL);
  auto c = engine.ScorecardActivity(crit, day0, day0 + 2 * kDay);
  EXPECT_EQ(c.handoffs_due, 2u);
  EXPECT_EQ(c.handoffs_within_sla, 1u);
  EXPECT_EQ(c.touches, 1u);

  // Counters survive serialize / restore; garbage is refused.
  std::string bytes = engine.SerializeActivity();
  Engine other(ExamplePlaybook());
  EXPECT_FALSE(other.RestoreActivity("garbage"));
  ASSERT_TRUE(other.RestoreActivity(bytes));
  auto again = other.ScorecardActivity(ev::TEAM_SALES, day0, day0 + 2 * kDay);
  EXPECT_EQ(again.touches, sales.touches);
  EXPECT_EQ(again.handoffs_within_sla, sales.handoffs_within_sla);
  EXPECT_EQ(again.median_time_to_accept, sales.median_time_to_accept);
  EXPECT_EQ(other.SerializeActivity(), bytes);
}

TEST(ScorecardActivityTest, ReplayAfterRestoreDoesNotDoubleCount) {
  Engine a(ExamplePlaybook());
  Events E;
  a.Process(E.HandOff(kT0, "h-1"), kPos);
  auto acc = E.Accept(kT0 + kHour, "h-1");
  auto call = E.Call(kT0 + 2 * kHour, "rep-1");
  a.Process(acc, kPos);
  a.Process(call, kPos);
  // checkpoint: customer state + counters, then the same events again (replayed tail)
  Engine b(ExamplePlaybook());
  ASSERT_TRUE(b.RestoreCustomer(kKey, a.SerializeCustomer(kKey)));
  ASSERT_TRUE(b.RestoreActivity(a.SerializeActivity()));
  b.Process(acc, kPos);
  b.Process(call, kPos);
  b.AdvanceTime(kT0 + 5 * kDay);
  auto s = b.ScorecardActivity(ev::TEAM_UNSPECIFIED, kT0 - 9 * kHour, kT0 + 5 * kDay);
  EXPECT_EQ(s.touches, 1u);
  EXPECT_EQ(s.handoffs_accepted, 1u);
  EXPECT_EQ(s.handoffs_due, 1u);
  EXPECT_EQ(s.handoffs_within_sla, 1u);
}

// ---------------------------------------------------------------- state format

TEST(StateFormatTest, RoundTripKeepsTheNewFields) {
  Engine a(ExamplePlaybook());
  Events E;
  for (const auto& e : Journey(E)) a.Process(e, kPos);
  std::string bytes = a.SerializeCustomer(kKey);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes[0], kFormat);
  Engine b(ExamplePlaybook());
  ASSERT_TRUE(b.RestoreCustomer(kKey, bytes));
  EXPECT_EQ(b.SerializeCustomer(kKey), bytes);
  auto va = a.CustomerView(kKey, 20, kT0 + 7 * kHour), vb = b.CustomerView(kKey, 20, kT0 + 7 * kHour);
  ASSERT_TRUE(va && vb);
  EXPECT_EQ(va->SerializeAsString(), vb->SerializeAsString());
  EXPECT_EQ(vb->owner().id(), "rep-1");
  EXPECT_EQ(vb->lead_score(), 72);
  EXPECT_EQ(vb->open_opportunities(0).name(), "Acme Pro rollout");
  EXPECT_EQ(vb->recent_touches(0).campaign_id(), "cmp-spring");
  EXPECT_EQ(Ts(vb->handoff().first_touch_at()), kT0 + 4 * kHour);
  // truncated bytes never decode
  EXPECT_FALSE(b.RestoreCustomer("x", bytes.substr(0, bytes.size() - 1)));
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// The bytes of testdata/<name> (a hex dump); empty if it cannot be read.
std::string Fixture(const std::string& name) {
  std::ifstream in(SourceDir() + "/services/alignment/engine/testdata/" + name);
  std::string hex;
  in >> hex;
  return FromHex(hex);
}

// testdata/state_v1_acme.hex: SerializeCustomer of the format-1 engine after lead, hand-off,
// accept, quote, opportunity, message and duplicate contact (kT0 .. kT0+7h).
TEST(StateFormatTest, RestoresFormat1Bytes) {
  std::string v1 = Fixture("state_v1_acme.hex");
  ASSERT_FALSE(v1.empty());
  ASSERT_EQ(v1[0], 1);
  Engine e(ExamplePlaybook());
  ASSERT_TRUE(e.RestoreCustomer(kKey, v1));
  auto v = e.CustomerView(kKey, 20, kT0 + 8 * kHour);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->lifecycle_stage(), ev::LIFECYCLE_STAGE_OPPORTUNITY);
  EXPECT_EQ(v->owning_team(), ev::TEAM_SALES);
  EXPECT_FALSE(v->has_owner());  // format 1 did not keep owners
  EXPECT_EQ(v->handoff().handoff_id(), "h-1");
  EXPECT_EQ(v->handoff().status(), ev::HANDOFF_STATUS_ACCEPTED);
  EXPECT_EQ(Ts(v->handoff().handed_off_at()), kT0 + kHour);
  EXPECT_EQ(Ts(v->handoff().accepted_at()), kT0 + 3 * kHour);
  EXPECT_EQ(v->recent_touches_size(), 2);
  EXPECT_EQ(v->live_claims_size(), 3);
  ASSERT_EQ(v->record_groups_size(), 1);
  EXPECT_EQ(v->record_groups(0).records_size(), 2);
  EXPECT_EQ(v->open_opportunities_size(), 1);
  EXPECT_EQ(Ts(v->first_seen_at()), kT0);
  // re-serialized as format 4; the SLA outcome of the decided hand-off is not counted again
  std::string v2 = e.SerializeCustomer(kKey);
  EXPECT_EQ(v2[0], kFormat);
  Engine f(ExamplePlaybook());
  ASSERT_TRUE(f.RestoreCustomer(kKey, v2));
  EXPECT_EQ(f.SerializeCustomer(kKey), v2);
  Events E;
  auto call = E.Call(kT0 + 9 * kHour, "rep-1");
  call.set_id("call-after-restore");  // not one of the fixture's event ids
  f.Process(call, kPos);
  f.AdvanceTime(kT0 + 5 * kDay);
  auto s = f.ScorecardActivity(ev::TEAM_UNSPECIFIED, kT0 - 9 * kHour, kT0 + 5 * kDay);
  EXPECT_EQ(s.handoffs_due, 0u);
  EXPECT_EQ(s.touches, 1u);
}

// testdata/state_v2_acme.hex: SerializeCustomer of the format-2 engine after Journey(E), with
// dedupe_ids = 0 (no event-id dedupe, so a replay reaches the detectors and only the raised-
// findings list keeps them from repeating). Format 2 remembers raised findings as Hash64 of
// their id, format 3 as raise keys: a restored format-2 state, and the same re-serialized as
// format 4, must behave like the engine that never stopped.
TEST(StateFormatTest, RestoresFormat2BytesAndItsRaisedFindings) {
  const std::string v2 = Fixture("state_v2_acme.hex");
  ASSERT_FALSE(v2.empty());
  ASSERT_EQ(v2[0], 2);
  Playbook pb = ExamplePlaybook();
  pb.dedupe_ids = 0;

  // the same journey processed by this engine: the reference
  Engine direct(pb);
  Events E1;
  const auto journey = Journey(E1);
  std::set<std::string> raised;
  for (const auto& e : journey)
    for (const auto& f : direct.Process(e, kPos)) raised.insert(f.id());
  ASSERT_EQ(raised.size(), 3u);

  Engine e(pb);
  ASSERT_TRUE(e.RestoreCustomer(kKey, v2));
  auto vd = direct.CustomerView(kKey, 20, kT0 + 7 * kHour), ve = e.CustomerView(kKey, 20, kT0 + 7 * kHour);
  ASSERT_TRUE(vd && ve);
  EXPECT_EQ(ve->SerializeAsString(), vd->SerializeAsString());
  const std::string again = e.SerializeCustomer(kKey);
  EXPECT_EQ(again[0], kFormat);
  Engine f(pb);
  ASSERT_TRUE(f.RestoreCustomer(kKey, again));
  EXPECT_EQ(f.SerializeCustomer(kKey), again);

  // replay the journey, then one new event, into all three
  auto call = E1.Call(kT0 + 8 * kHour, "rep-2");
  auto events = journey;
  events.push_back(call);
  size_t total = 0;
  for (const auto& ev : events) {
    auto want = Ids(direct.Process(ev, kPos));
    EXPECT_EQ(Ids(e.Process(ev, kPos)), want) << ev.id();
    EXPECT_EQ(Ids(f.Process(ev, kPos)), want) << ev.id();
    for (const auto& id : want) EXPECT_EQ(raised.count(id), 0u) << id;  // never raised twice
    total += want.size();
  }
  EXPECT_GT(total, 0u);  // the new call (ownership, duplicate outreach) is raised
}

// Restores `old` (SerializeCustomer of an older engine after Journey(E): the example playbook,
// event-id dedupe on), re-serializes it in the current format (at most max_ratio of the old
// size), and checks that both behave like the engine that never stopped, replayed events
// (deduplicated by event id) and new ones alike.
void ExpectRestoresLikeTheEngineThatNeverStopped(const std::string& old, int old_format, double max_ratio) {
  ASSERT_FALSE(old.empty());
  ASSERT_EQ(old[0], old_format);

  Engine direct(ExamplePlaybook());
  Events E1;
  const auto journey = Journey(E1);
  for (const auto& e : journey) direct.Process(e, kPos);

  Engine e(ExamplePlaybook());
  ASSERT_TRUE(e.RestoreCustomer(kKey, old));
  auto vd = direct.CustomerView(kKey, 20, kT0 + 7 * kHour), ve = e.CustomerView(kKey, 20, kT0 + 7 * kHour);
  ASSERT_TRUE(vd && ve);
  EXPECT_EQ(ve->SerializeAsString(), vd->SerializeAsString());
  const std::string now = e.SerializeCustomer(kKey);
  EXPECT_EQ(now[0], kFormat);
  EXPECT_LE(now.size(), old.size() * max_ratio) << "format " << old_format << ": " << old.size() << " bytes";
  Engine f(ExamplePlaybook());
  ASSERT_TRUE(f.RestoreCustomer(kKey, now));
  EXPECT_EQ(f.SerializeCustomer(kKey), now);
  auto vf = f.CustomerView(kKey, 20, kT0 + 7 * kHour);
  ASSERT_TRUE(vf);
  EXPECT_EQ(vf->SerializeAsString(), vd->SerializeAsString());

  // the journey again (deduplicated by event id), then new events: the same findings
  auto events = journey;
  events.push_back(E1.Call(kT0 + 8 * kHour, "rep-2"));
  events.push_back(E1.Message(kT0 + 9 * kHour, ev::TEAM_MARKETING, "mkt-2", ev::MESSAGE_PURPOSE_PROMOTION,
                              "Get 30% off Concord Pro."));
  size_t total = 0;
  for (const auto& ev : events) {
    auto want = Ids(direct.Process(ev, kPos));
    EXPECT_EQ(Ids(e.Process(ev, kPos)), want) << ev.id();
    EXPECT_EQ(Ids(f.Process(ev, kPos)), want) << ev.id();
    total += want.size();
  }
  EXPECT_GT(total, 0u);
  const EngineStats &sd = direct.stats(), &se = e.stats(), &sf = f.stats();
  EXPECT_EQ(se.duplicates, journey.size());  // every replayed event recognized
  EXPECT_EQ(sf.duplicates, journey.size());
  EXPECT_EQ(sd.duplicates, journey.size());
  auto timed = Ids(direct.AdvanceTime(kT0 + 10 * kDay));
  EXPECT_EQ(Ids(e.AdvanceTime(kT0 + 10 * kDay)), timed);
  EXPECT_EQ(Ids(f.AdvanceTime(kT0 + 10 * kDay)), timed);
}

// testdata/state_v3_acme.hex: the format-3 engine. Format 4 wrote the same fields in about half
// the bytes.
TEST(StateFormatTest, RestoresFormat3Bytes) {
  ExpectRestoresLikeTheEngineThatNeverStopped(Fixture("state_v3_acme.hex"), 3, 0.6);
}

// testdata/state_v4_acme.hex: the format-4 engine. Format 5 writes its dedupe ring's entries
// as references to the event table: one byte each instead of eight (815 -> 767 bytes here).
TEST(StateFormatTest, RestoresFormat4Bytes) {
  ExpectRestoresLikeTheEngineThatNeverStopped(Fixture("state_v4_acme.hex"), 4, 0.95);
}

// Checkpoints come back from Redis: damaged bytes are refused or restore to a state that
// checkpoints again (never a crash, an out-of-range event reference or a partial state).
TEST(StateFormatTest, DamagedBytesAreRefusedOrRoundTrip) {
  Engine a(ExamplePlaybook());
  Events E;
  for (const auto& e : Journey(E)) a.Process(e, kPos);
  a.Process(E.Message(kT0 + 7 * kHour, ev::TEAM_SALES, "rep-1", ev::MESSAGE_PURPOSE_FOLLOW_UP,
                      "Concord Pro is USD 45 per seat per month, delivery by 2026-04-15."),
            kPos);
  const std::string bytes = a.SerializeCustomer(kKey);
  ASSERT_EQ(bytes[0], kFormat);
  for (size_t n = 0; n < bytes.size(); ++n) {
    Engine b(ExamplePlaybook());
    EXPECT_FALSE(b.RestoreCustomer(kKey, bytes.substr(0, n))) << "prefix of " << n << " bytes";
  }
  size_t restored = 0;
  for (size_t i = 1; i < bytes.size(); ++i) {
    for (unsigned char x : {0x01, 0x80, 0xff}) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ x);
      Engine b(ExamplePlaybook());
      if (!b.RestoreCustomer(kKey, damaged)) continue;
      ++restored;
      const std::string again = b.SerializeCustomer(kKey);
      Engine c(ExamplePlaybook());
      ASSERT_TRUE(c.RestoreCustomer(kKey, again)) << "byte " << i;
      EXPECT_EQ(c.SerializeCustomer(kKey), again) << "byte " << i;
      (void)c.CustomerView(kKey, 20, kT0 + 8 * kHour);
    }
  }
  EXPECT_GT(restored, 0u);  // flipped bits in times, flags and text still decode
}

}  // namespace
}  // namespace concord::alignment::engine
