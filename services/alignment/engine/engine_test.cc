#include "services/alignment/engine/engine.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "services/alignment/engine/test_util.h"

namespace concord::alignment::engine {
namespace {

using namespace testing;  // NOLINT
namespace ev = concord::events::v1;
namespace av = concord::alignment::v1;

TEST(EngineTest, SameEventTwiceDoesNothing) {
  Engine engine(ExamplePlaybook());
  Events E;
  {
    auto m = E.Message(kT0, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "20% off Concord Pro");
    auto q = E.Quote(kT0 + kHour, "rep-1", "Q-1", "concord-pro", 49, 10.0);
    engine.Process(m, kPos);
    EXPECT_FALSE(engine.Process(q, kPos).empty());
    EXPECT_TRUE(engine.Process(q, kPos).empty());
    EXPECT_EQ(engine.stats().duplicates, 1u);
  }
}

TEST(EngineTest, FindingIdIsDeterministic) {
  EXPECT_EQ(FindingId(av::FINDING_TYPE_CONFLICTING_CLAIM, "r", {"b#0", "a#1"}),
            FindingId(av::FINDING_TYPE_CONFLICTING_CLAIM, "r", {"a#1", "b#0"}));
  EXPECT_NE(FindingId(av::FINDING_TYPE_CONFLICTING_CLAIM, "r", {"a"}), FindingId(av::FINDING_TYPE_OFF_BOOK_CLAIM, "r", {"a"}));
  EXPECT_EQ(FindingId(av::FINDING_TYPE_CONFLICTING_CLAIM, "r", {"a"}).size(), 34u);
  // The external format, pinned (consumers dedupe by id across deploys): "f-" + the first 32
  // hex digits of SHA-256("1|r|a#1,b#0"), keys sorted and distinct.
  EXPECT_EQ(FindingId(av::FINDING_TYPE_CONFLICTING_CLAIM, "r", {"b#0", "a#1", "b#0"}), "f-07bd3b50b87a0d3821d59a82929d40e1");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

std::vector<ev::Event> Scenario() {
  Events E;
  std::vector<ev::Event> v;
  v.push_back(E.Lead(kT0, "lead-1", "Bob", "Smith", "bob@acme.com", "+14155550100"));
  v.push_back(E.HandOff(kT0 + kHour, "h-1"));
  v.push_back(E.Message(kT0 + 2 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION, "Get 20% off Concord Pro."));
  v.push_back(E.Contact(kT0 + 3 * kHour, "c-1", "Robert", "Smith", "rs@acme.com", "415-555-0100"));
  v.push_back(E.Quote(kT0 + 30 * kHour, "rep-1", "Q-1", "concord-pro", 49, 10.0));
  v.push_back(E.Opportunity(kT0 + 31 * kHour, "opp-1", ev::OPPORTUNITY_STAGE_NEGOTIATION));
  v.push_back(E.Message(kT0 + 32 * kHour, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_WIN_BACK, "Come back: 30% off Concord Pro"));
  return v;
}

std::vector<std::string> Ids(const std::vector<Finding>& fs) {
  std::vector<std::string> ids;
  for (const auto& f : fs) ids.push_back(f.id());
  return ids;
}

TEST(EngineTest, ReplayIsIdenticalAndCheckpointRestoreLosesNothing) {
  auto events = Scenario();
  // one run, straight through
  Engine a(ExamplePlaybook());
  std::vector<Finding> all_a;
  for (const auto& e : events)
    for (auto& f : a.Process(e, kPos)) all_a.push_back(f);
  for (auto& f : a.AdvanceTime(kT0 + 40 * kDay)) all_a.push_back(f);
  EXPECT_GE(all_a.size(), 6u);

  // the same with a checkpoint after event 3, a "restart" and a replay from event 2
  Engine b(ExamplePlaybook());
  std::vector<Finding> all_b;
  for (int i = 0; i < 4; ++i)
    for (auto& f : b.Process(events[i], kPos)) all_b.push_back(f);
  std::string bytes = b.SerializeCustomer("domain:acme.com");
  ASSERT_FALSE(bytes.empty());
  Engine c(ExamplePlaybook());
  ASSERT_TRUE(c.RestoreCustomer("domain:acme.com", bytes));
  EXPECT_EQ(c.customers(), 1u);
  EXPECT_EQ(c.SerializeCustomer("domain:acme.com"), bytes);
  for (size_t i = 2; i < events.size(); ++i)  // overlap: events 2 and 3 again
    for (auto& f : c.Process(events[i], kPos)) all_b.push_back(f);
  for (auto& f : c.AdvanceTime(kT0 + 40 * kDay)) all_b.push_back(f);
  auto ia = Ids(all_a), ib = Ids(all_b);
  std::sort(ia.begin(), ia.end());
  std::sort(ib.begin(), ib.end());
  EXPECT_EQ(ia, ib);
  EXPECT_EQ(std::unique(ib.begin(), ib.end()), ib.end());  // nothing repeated
}

TEST(EngineTest, SlaTimerSurvivesRestore) {
  Engine a(ExamplePlaybook());
  Events E;
  a.Process(E.HandOff(kT0, "h-1"), kPos);
  Engine b(ExamplePlaybook());
  ASSERT_TRUE(b.RestoreCustomer("domain:acme.com", a.SerializeCustomer("domain:acme.com")));
  EXPECT_EQ(b.NextTimer(), kT0 + 24 * kHour);
  EXPECT_EQ(Count(b.AdvanceTime(kT0 + 24 * kHour), av::FINDING_TYPE_HANDOFF_SLA_BREACH), 1);
}

TEST(EngineTest, RestoreRejectsGarbage) {
  Engine e(ExamplePlaybook());
  EXPECT_FALSE(e.RestoreCustomer("k", "garbage"));
  EXPECT_FALSE(e.RestoreCustomer("k", ""));
  EXPECT_EQ(e.customers(), 0u);
}

TEST(EngineTest, EventsWithoutCustomerAreIgnored) {
  Engine e(ExamplePlaybook());
  ev::Event x;
  x.set_id("x");
  EXPECT_TRUE(e.Process(x, kPos).empty());
  EXPECT_EQ(e.stats().ignored, 1u);
}

TEST(EngineTest, MemoryStaysBounded) {
  Engine e(ExamplePlaybook());
  for (int c = 0; c < 200; ++c) {
    Events E("domain:c" + std::to_string(c) + ".com");
    for (int i = 0; i < 50; ++i) {
      e.Process(E.Call(kT0 + i * kHour, "rep-" + std::to_string(i % 3), "We can do 10% off Concord Pro."), kPos);
      e.Process(E.Message(kT0 + i * kHour + 1, ev::TEAM_MARKETING, "mkt", ev::MESSAGE_PURPOSE_NEWSLETTER, "News"), kPos);
    }
  }
  EXPECT_EQ(e.customers(), 200u);
  size_t per = e.ApproxMemoryBytes() / e.customers();
  EXPECT_LT(per, 16 * 1024u) << per;  // heavy customers (100 events each) stay bounded
  RecordProperty("bytes_per_heavy_customer", static_cast<int>(per));
}

// ProcessEncoded writes each finding's wire bytes directly: the same bytes as the deterministic
// serialization of the finding Process builds (bench/engine_digest checks this on large mixes).
TEST(EngineTest, EncodedFindingsAreTheProtosBytes) {
  Engine a(ExamplePlaybook()), b(ExamplePlaybook());
  std::vector<Finding> protos;
  std::vector<EncodedFinding> encoded;
  auto events = Scenario();
  events.push_back(Events("domain:acme.com").Commitment(kT0 + 33 * kHour, "rep-2", "concord-pro", "offline mode"));
  events.back().set_id("commitment-event-with-a-long-id");  // not a UUID, longer than 16 bytes
  for (const auto& e : events) {
    for (auto& f : a.Process(e, kPos)) protos.push_back(f);
    b.ProcessEncoded(e, kPos, ToMicros(e.occurred_at()), &encoded);
  }
  for (auto& f : a.AdvanceTime(kT0 + 40 * kDay)) protos.push_back(f);
  b.AdvanceTimeEncoded(kT0 + 40 * kDay, &encoded);
  ASSERT_GE(protos.size(), 6u);
  ASSERT_EQ(protos.size(), encoded.size());
  int timer_driven = 0;  // findings measured from a deadline, not from their last evidence
  for (size_t i = 0; i < protos.size(); ++i) {
    EXPECT_EQ(encoded[i].bytes, SerializeDeterministic(protos[i])) << protos[i].DebugString();
    EXPECT_EQ(encoded[i].id, protos[i].id());
    EXPECT_EQ(encoded[i].customer_key, protos[i].customer_key());
    EXPECT_EQ(encoded[i].type, protos[i].type());
    EXPECT_EQ(encoded[i].last_evidence_at, ToMicros(protos[i].last_evidence_at()));
    const Micros latency_us = protos[i].detection_latency().seconds() * kSecond + protos[i].detection_latency().nanos() / 1000;
    EXPECT_EQ(encoded[i].complete_at, ToMicros(protos[i].detected_at()) - latency_us);
    if (encoded[i].complete_at != encoded[i].last_evidence_at) ++timer_driven;
    // The same layout from a proto (what fakes use), and a publisher's own detection time.
    EncodedFinding from_proto = ToEncoded(protos[i]);
    EXPECT_EQ(from_proto.bytes, encoded[i].bytes);
    EXPECT_EQ(from_proto.times_begin, encoded[i].times_begin);
    EXPECT_EQ(from_proto.times_end, encoded[i].times_end);
    EXPECT_EQ(from_proto.complete_at, encoded[i].complete_at);
    const Micros published = kT0 + 50 * kDay + 123457, latency = 3 * kSecond + 5;
    SetDetection(&encoded[i], published, latency);
    SetTimestamp(published, protos[i].mutable_detected_at());
    protos[i].mutable_detection_latency()->set_seconds(3);
    protos[i].mutable_detection_latency()->set_nanos(5000);
    EXPECT_EQ(encoded[i].bytes, SerializeDeterministic(protos[i])) << protos[i].DebugString();
    SetDetection(&encoded[i], published, 0);  // again, now with a zero latency (no field written)
    protos[i].clear_detection_latency();
    protos[i].mutable_detection_latency();
    EXPECT_EQ(encoded[i].bytes, SerializeDeterministic(protos[i]));
  }
  EXPECT_GT(timer_driven, 0) << "the scenario has SLA breaches";
}

// The per-customer event table drops the events nothing refers to any more (touches and claims
// evicted) and renumbers the rest; checkpoints and a restored engine see the same events.
TEST(EngineTest, EventTableDropsUnreferencedEvents) {
  Engine a(ExamplePlaybook());
  Events E;
  a.Process(E.Lead(kT0, "lead-1", "Bob", "Smith", "bob@acme.com"), kPos);
  a.Process(E.Accept(kT0 + kMinute, "h-1"), kPos);  // accepted before the hand-off is seen
  a.Process(E.HandOff(kT0 + 2 * kMinute, "h-1"), kPos);
  for (int i = 0; i < 60; ++i) {
    a.Process(E.Call(kT0 + i * kHour, "rep-" + std::to_string(i % 3), "We can do 1" + std::to_string(i % 10) + "% off Concord Pro."), kPos);
    a.Process(E.Message(kT0 + i * kHour + 1, ev::TEAM_MARKETING, "mkt", ev::MESSAGE_PURPOSE_PROMOTION, "Get 20% off Concord Pro"), kPos);
  }
  // 8 touches, 16 claims, a record, the hand-off and the stage: ~30 events kept of 123, not all
  // (the 123 alone would take 7,872 bytes; the table keeps up to half its size spare).
  EXPECT_LT(a.ApproxMemoryBytes(), 7000u);
  std::string bytes = a.SerializeCustomer("domain:acme.com");
  Engine b(ExamplePlaybook());
  ASSERT_TRUE(b.RestoreCustomer("domain:acme.com", bytes));
  EXPECT_EQ(b.SerializeCustomer("domain:acme.com"), bytes);
  for (int i = 60; i < 80; ++i) {
    auto call = E.Call(kT0 + i * kHour, "rep-" + std::to_string(i % 3), "We can do 1" + std::to_string(i % 10) + "% off Concord Pro.");
    auto fa = a.Process(call, kPos), fb = b.Process(call, kPos);
    ASSERT_EQ(fa.size(), fb.size());
    for (size_t k = 0; k < fa.size(); ++k) EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(fa[k], fb[k])) << k;
  }
  EXPECT_EQ(a.SerializeCustomer("domain:acme.com"), b.SerializeCustomer("domain:acme.com"));
}

// The engine keeps the input partition each customer is checkpointed under (the service has no
// map of its own): that of its latest event with a position, or the one it was restored from,
// hot or cold; EraseCustomersOf drops a revoked partition's customers and their timers.
TEST(EngineTest, KeepsEachCustomersPartitionHotOrCold) {
  Engine e(ExamplePlaybook());
  e.SetMaxHotCustomers(2);
  auto key = [](int c) { return "domain:p" + std::to_string(c) + ".com"; };
  for (int c = 0; c < 12; ++c) {
    Events E(key(c));
    e.Process(E.HandOff(kT0 + c, "h-" + std::to_string(c)), SourcePosition{"concord.sales.events.v1", c % 3, c});
  }
  EXPECT_GT(e.cold_customers(), 8u);
  EXPECT_GT(e.cold_bytes(), e.cold_customers() * 32);  // a 32-byte header, the key and the checkpoint each
  for (int c = 0; c < 12; ++c) EXPECT_EQ(e.CustomerPartition(key(c)), c % 3) << c;
  // A later event on another partition moves the customer there (decoded, then cold again).
  Events E0(key(0));
  e.Process(E0.Call(kT0 + kHour, "rep-1", "Hello"), SourcePosition{"concord.sales.events.v1", 7, 100});
  for (int c = 1; c < 6; ++c) e.Process(Events(key(c)).Call(kT0 + kHour + c, "rep-1", "Hi"), SourcePosition{"t", c % 3, c});
  EXPECT_EQ(e.CustomerPartition(key(0)), 7);
  EXPECT_EQ(e.CustomerPartition("domain:unknown.com"), -1);
  // An event without a position leaves it where it was.
  e.Process(E0.Call(kT0 + 2 * kHour, "rep-1", "Again"), SourcePosition{});
  EXPECT_EQ(e.CustomerPartition(key(0)), 7);

  // Restored customers keep the partition they were restored from, whether they go hot or
  // straight to the cold store (the decoded ones at the limit).
  Engine r(ExamplePlaybook());
  r.SetMaxHotCustomers(2);
  for (int c = 0; c < 12; ++c) ASSERT_TRUE(r.RestoreCustomer(key(c), e.SerializeCustomer(key(c)), 10 + c % 2));
  EXPECT_GT(r.cold_customers(), 8u);
  for (int c = 0; c < 12; ++c) EXPECT_EQ(r.CustomerPartition(key(c)), 10 + c % 2) << c;

  // Revoking partition 10 drops its six customers, hot and cold, and their SLA timers.
  EXPECT_EQ(r.EraseCustomersOf([](int32_t p) { return p == 10; }), 6u);
  EXPECT_EQ(r.customers(), 6u);
  for (int c = 0; c < 12; ++c) EXPECT_EQ(r.CustomerPartition(key(c)), c % 2 ? 11 : -1) << c;
  EXPECT_EQ(Count(r.AdvanceTime(kT0 + 2 * kDay), av::FINDING_TYPE_HANDOFF_SLA_BREACH), 6);
}

// Memory that follows activity: a period's call chooses the decoded customers unused since the
// previous call, however far below the limit; they park a few per event, or when asked.
TEST(EngineTest, CustomersIdleForAWholePeriodGoCold) {
  Engine e(ExamplePlaybook());
  e.SetMaxHotCustomers(1000);
  auto touch = [&](int c, int i) {
    Events E("domain:idle" + std::to_string(c) + ".com");
    e.Process(E.Call(kT0 + i, "rep-1", "Hello " + std::to_string(i)), kPos);
  };
  for (int c = 0; c < 10; ++c) touch(c, c);
  e.ChooseIdleCustomers();  // the first period starts: nothing has been idle for one yet
  EXPECT_FALSE(e.ParkChosen(100));
  EXPECT_EQ(e.cold_customers(), 0u);

  for (int c = 0; c < 5; ++c) touch(c, 100 + c);
  e.ChooseIdleCustomers();  // 5-9 were not used during the period
  touch(5, 200);            // used again before its turn: stays decoded; the event parks two
  EXPECT_EQ(e.cold_customers(), 2u);
  EXPECT_FALSE(e.ParkChosen(100));  // and the rest of 6-9
  EXPECT_EQ(e.cold_customers(), 4u);

  e.ChooseIdleCustomers();  // 0-4 were last used in the period before; 5 in this one
  EXPECT_TRUE(e.ParkChosen(2));
  EXPECT_EQ(e.cold_customers(), 6u);
  EXPECT_FALSE(e.ParkChosen(100));
  EXPECT_EQ(e.cold_customers(), 9u);
  EXPECT_EQ(e.customers(), 10u);
  touch(7, 300);  // a cold customer's next event decodes it
  EXPECT_EQ(e.cold_customers(), 8u);

  // Without a limit every customer stays decoded.
  Engine all(ExamplePlaybook());
  all.Process(Events("domain:a.com").Call(kT0, "rep-1", "Hi"), kPos);
  for (int i = 0; i < 3; ++i) {
    all.ChooseIdleCustomers();
    EXPECT_FALSE(all.ParkChosen(100));
  }
  EXPECT_EQ(all.cold_customers(), 0u);
}

TEST(EngineTest, ReplacePlaybookChangesTimers) {
  Engine e(ExamplePlaybook());
  Events E;
  e.Process(E.Opportunity(kT0, "opp-1", ev::OPPORTUNITY_STAGE_PROPOSAL), kPos);
  EXPECT_EQ(e.NextTimer(), kT0 + 14 * kDay);
  auto pb = ExamplePlaybook();
  pb.stalled_opportunity_days = 7;
  pb.version = 8;
  e.ReplacePlaybook(pb);
  EXPECT_EQ(e.NextTimer(), kT0 + 7 * kDay);
  auto f = e.AdvanceTime(kT0 + 7 * kDay);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].playbook_version(), 8u);
}

// Cold customers (SetMaxHotCustomers) are kept as checkpoint bytes and decoded on use: the same
// findings, timers, checkpoints, views and segment scorecards as with every customer decoded,
// in less memory. bench/engine_digest --max-hot checks the same on 290k findings.
TEST(EngineTest, ColdCustomersChangeNothingButMemory) {
  Engine all(ExamplePlaybook()), cold(ExamplePlaybook());
  cold.SetMaxHotCustomers(8);
  std::vector<std::string> keys;
  std::vector<std::string> found_all, found_cold;
  auto run = [&](Engine& e, std::vector<std::string>* ids, const ev::Event& x) {
    for (auto& f : e.Process(x, kPos)) ids->push_back(f.id());
  };
  // 40 customers one after another (each goes cold once the next ones arrive), a hand-off each
  // (an SLA timer per customer, armed while it is cold), then a quote for every other customer
  // in the order they were first seen: each is decoded again.
  std::vector<Events> builders;
  for (int c = 0; c < 40; ++c) {
    keys.push_back("domain:c" + std::to_string(c) + ".com");
    Events& E = builders.emplace_back(keys.back());
    for (const auto& x : {E.Lead(kT0 + c, "lead-" + std::to_string(c), "Bob", "Smith", "bob@c.com", "+14155550100"),
                          E.HandOff(kT0 + kHour + c, "h-" + std::to_string(c)),
                          E.Message(kT0 + 2 * kHour + c, ev::TEAM_MARKETING, "mkt-1", ev::MESSAGE_PURPOSE_PROMOTION,
                                    "Get 20% off Concord Pro.")}) {
      run(all, &found_all, x);
      run(cold, &found_cold, x);
    }
  }
  EXPECT_EQ(cold.customers(), 40u);
  EXPECT_GT(cold.cold_customers(), 30u);
  EXPECT_EQ(all.cold_customers(), 0u);
  EXPECT_EQ(cold.NextTimer(), all.NextTimer());
  for (int c = 1; c < 40; c += 4) {  // an opportunity (a stalled-opportunity timer) for some
    auto o = builders[c].Opportunity(kT0 + 3 * kHour + c, "opp-" + std::to_string(c), ev::OPPORTUNITY_STAGE_PROPOSAL);
    run(all, &found_all, o);
    run(cold, &found_cold, o);
  }
  for (int c = 0; c < 40; c += 2) {  // a quote (a sales touch) for every other customer
    auto q = builders[c].Quote(kT0 + 3 * kHour + c, "rep-1", "Q-" + std::to_string(c), "concord-pro", 49, 10.0);
    run(all, &found_all, q);
    run(cold, &found_cold, q);
  }
  EXPECT_FALSE(found_cold.empty());
  EXPECT_EQ(found_cold, found_all);
  EXPECT_EQ(cold.NextTimer(), all.NextTimer());  // the quotes' customers went warm: no SLA timer left
  // The SLA breaches fire for cold customers too (the accept SLA: 24 h after each hand-off; the
  // customers without a quote were never touched by sales).
  auto timed_all = all.AdvanceTime(kT0 + 2 * kDay), timed_cold = cold.AdvanceTime(kT0 + 2 * kDay);
  EXPECT_EQ(Count(timed_cold, av::FINDING_TYPE_HANDOFF_SLA_BREACH), 20);
  EXPECT_EQ(Ids(timed_cold), Ids(timed_all));
  EXPECT_LE(cold.customers() - cold.cold_customers(), 8u);
  EXPECT_EQ(cold.CustomerKeys(), all.CustomerKeys());
  for (const auto& k : keys) {
    EXPECT_EQ(cold.SerializeCustomer(k), all.SerializeCustomer(k)) << k;
    auto va = all.CustomerView(k, 0), vc = cold.CustomerView(k, 0);
    ASSERT_TRUE(va && vc) << k;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*va, *vc)) << k;
  }
  // Segments by criteria: a cold customer is decoded only when it is in the segment (its stage
  // and place are kept beside its bytes), so every stage is asked for on its own.
  uint64_t touches = 0;
  for (int stage = ev::LIFECYCLE_STAGE_SUBSCRIBER; stage <= ev::LIFECYCLE_STAGE_FORMER_CUSTOMER; ++stage) {
    ev::Segment seg;
    seg.mutable_criteria()->add_lifecycle_stages(static_cast<ev::LifecycleStage>(stage));
    auto sa = all.ScorecardActivity(seg, kT0 - kDay, kT0 + 90 * kDay), sc = cold.ScorecardActivity(seg, kT0 - kDay, kT0 + 90 * kDay);
    EXPECT_EQ(sc.touches, sa.touches) << stage;
    EXPECT_EQ(sc.customers_touched, sa.customers_touched) << stage;
    EXPECT_EQ(sc.handoffs_due, sa.handoffs_due) << stage;
    touches += sa.touches;
  }
  EXPECT_GT(touches, 0u);
  EXPECT_LT(cold.ApproxMemoryBytes(), all.ApproxMemoryBytes());
  // A playbook change re-arms the timers of cold customers too: once the first-touch SLAs have
  // fired, the stalled opportunities' (14 days, now 7).
  EXPECT_EQ(Ids(cold.AdvanceTime(kT0 + 3 * kDay)), Ids(all.AdvanceTime(kT0 + 3 * kDay)));
  auto pb = ExamplePlaybook();
  pb.stalled_opportunity_days = 7;
  pb.version = 8;
  all.ReplacePlaybook(pb);
  cold.ReplacePlaybook(pb);
  EXPECT_EQ(cold.NextTimer(), all.NextTimer());
  EXPECT_EQ(cold.NextTimer(), kT0 + 3 * kHour + 1 + 7 * kDay);
  // Erased and restored while cold.
  const std::string bytes = cold.SerializeCustomer(keys[0]);
  cold.EraseCustomer(keys[0]);
  EXPECT_EQ(cold.customers(), 39u);
  EXPECT_TRUE(cold.SerializeCustomer(keys[0]).empty());
  ASSERT_TRUE(cold.RestoreCustomer(keys[0], bytes));
  EXPECT_EQ(cold.SerializeCustomer(keys[0]), bytes);
  // Every timer went with its customer: none was left behind by a customer going cold or warm.
  for (const auto& k : keys) cold.EraseCustomer(k);
  EXPECT_EQ(cold.customers(), 0u);
  EXPECT_EQ(cold.NextTimer(), 0);
}

}  // namespace
}  // namespace concord::alignment::engine
