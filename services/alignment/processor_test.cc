// The streaming loop against the real broker and Redis, with a small fake engine so the
// test is about delivery: dead letters, exactly-once findings, restore after a restart.
#include "services/alignment/processor.h"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "common/testing/env.h"

#include "common/kafka/admin.h"
#include "common/kafka/cloudevents.h"
#include "services/alignment/engine_adapter.h"

namespace concord::alignment {
namespace {

using concord::testenv::Brokers;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;

using namespace std::chrono_literals;
using google::protobuf::util::TimeUtil;


// Records the event times in the order the engine is given them.
class OrderEngine : public EnginePort {
 public:
  void Process(const events::v1::Event& e, const v1::SourcePosition&, std::vector<engine::EncodedFinding>*) override {
    std::lock_guard lock(mu_);
    times_.push_back(e.occurred_at().seconds());
  }
  void AdvanceTime(std::chrono::system_clock::time_point, std::vector<engine::EncodedFinding>*) override {}
  std::vector<Checkpoint> TakeDirty() override { return {}; }
  absl::Status Restore(const std::string&, std::string_view, int32_t) override { return absl::OkStatus(); }
  void DropPartitions(const std::set<int32_t>&) override {}
  size_t customers() const override { return 0; }
  std::vector<int64_t> times() {
    std::lock_guard lock(mu_);
    return times_;
  }

 private:
  std::mutex mu_;
  std::vector<int64_t> times_;
};

// Counts events per customer; raises one finding when a customer reaches its 2nd event.
class CountingEngine : public EnginePort {
 public:
  void Process(const events::v1::Event& e, const v1::SourcePosition& pos, std::vector<engine::EncodedFinding>* out) override {
    const auto& key = e.customer().customer_key();
    partition_[key] = pos.partition();
    if (!seen_.insert(e.id()).second) return;
    ++events;
    dirty_.insert(key);
    if (++counts_[key] != 2) return;
    v1::Finding f;
    f.set_id("second-touch:" + key);
    f.set_type(v1::FINDING_TYPE_DUPLICATE_OUTREACH);
    f.set_customer_key(key);
    // Timer-like: detectable (a deadline) an hour after its last evidence.
    *f.mutable_detected_at() = e.occurred_at();
    *f.mutable_last_evidence_at() = e.occurred_at();
    f.mutable_last_evidence_at()->set_seconds(e.occurred_at().seconds() - 3600);
    f.set_playbook_rule("counting");
    out->push_back(engine::ToEncoded(f));
  }
  void AdvanceTime(std::chrono::system_clock::time_point, std::vector<engine::EncodedFinding>*) override {}
  std::atomic<int> events{0};  // distinct events run through the engine (read from the test thread)
  std::vector<Checkpoint> TakeDirty() override {
    std::vector<Checkpoint> out;
    for (const auto& key : dirty_)
      if (auto it = partition_.find(key); it != partition_.end()) out.push_back({key, it->second, std::to_string(counts_[key])});
    dirty_.clear();
    return out;
  }
  absl::Status Restore(const std::string& key, std::string_view bytes, int32_t partition) override {
    counts_[key] = std::stoi(std::string(bytes));
    partition_[key] = partition;
    return absl::OkStatus();
  }
  void DropPartitions(const std::set<int32_t>& partitions) override {
    std::erase_if(partition_, [&](const auto& kv) {
      if (!partitions.contains(kv.second)) return false;
      counts_.erase(kv.first);
      return true;
    });
  }
  size_t customers() const override { return counts_.size(); }

  std::map<std::string, int> counts_;
  std::map<std::string, int32_t> partition_;  // of each customer's latest event (as the engine keeps it)
  std::set<std::string> seen_;
  std::set<std::string> dirty_;
};

// Checkpoints of a realistic size (a few hundred bytes, mostly the same words), so that a
// dictionary compresses them.
class WordyEngine : public CountingEngine {
 public:
  std::vector<Checkpoint> TakeDirty() override {
    auto out = CountingEngine::TakeDirty();
    for (auto& c : out) c.bytes = Prefix(c.key) + " " + *c.bytes;
    return out;
  }
  absl::Status Restore(const std::string& key, std::string_view bytes, int32_t partition) override {
    const auto at = bytes.rfind(' ');
    if (at == std::string_view::npos || bytes.substr(0, at) != Prefix(key)) return absl::DataLossError("not wordy");
    return CountingEngine::Restore(key, bytes.substr(at + 1), partition);
  }
  static std::string Prefix(const std::string& key) {
    return "checkpoint of " + key + ": events seen from marketing and sales, touches, claims, identity records, " +
           "open opportunities, hand-offs and their deadlines, suppressed findings; events counted:";
  }
};

// A timer: one finding from AdvanceTime a second after the first event (whose epoch is sealed
// by then: the finding is alone in its epoch).
class TimerEngine : public CountingEngine {
 public:
  void AdvanceTime(std::chrono::system_clock::time_point now, std::vector<engine::EncodedFinding>* out) override {
    if (events == 0 || fired_) return;
    if (first_seen_ == std::chrono::system_clock::time_point{}) first_seen_ = now;
    if (now - first_seen_ < std::chrono::seconds(1)) return;
    fired_ = true;
    v1::Finding f;
    f.set_id("timer:sla");
    f.set_type(v1::FINDING_TYPE_HANDOFF_SLA_BREACH);
    f.set_customer_key("domain:timer.com");
    *f.mutable_detected_at() = TimeUtil::MicrosecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count());
    *f.mutable_last_evidence_at() = f.detected_at();
    out->push_back(engine::ToEncoded(f));
  }
  bool fired_ = false;
  std::chrono::system_clock::time_point first_seen_{};
};

class ProcessorTest : public testing::Test {
 protected:
  void SetUp() override {
    admin_ = std::move(*kafka::Admin::Create(Brokers()));
    suffix_ = Unique("t");
    options_.brokers = Brokers();
    options_.group_id = "g-" + suffix_;
    options_.input_topics = {"concord.test.mkt." + suffix_, "concord.test.sales." + suffix_};
    options_.findings_topic = "concord.test.findings." + suffix_;
    options_.dlq_topic = "concord.test.dlq." + suffix_;
    options_.redis_prefix = "concord:test:alignment:" + suffix_;
    options_.limits.max_record_bytes = 64 * 1024;
    for (const auto& t : options_.input_topics) ASSERT_TRUE(admin_->CreateTopic(t, 3).ok());
    ASSERT_TRUE(admin_->CreateTopic(options_.findings_topic, 3).ok());
    ASSERT_TRUE(admin_->CreateTopic(options_.dlq_topic, 1).ok());
    producer_ = std::move(*kafka::Producer::Create({.brokers = Brokers()}));
  }
  void TearDown() override {
    for (const auto& t : options_.input_topics) (void)admin_->DeleteTopic(t);
    (void)admin_->DeleteTopic(options_.findings_topic);
    (void)admin_->DeleteTopic(options_.dlq_topic);
  }

  void ProduceEvent(int topic, const std::string& customer, const std::string& id) {
    events::v1::Event e;
    e.set_id(id);
    e.mutable_occurred_at()->set_seconds(std::time(nullptr));
    e.mutable_customer()->set_customer_key(customer);
    e.mutable_message_sent();
    auto headers = kafka::ToHeaders({id, "/test", "io.concord.test.v1", "", customer, "concord.events.v1.Event"});
    ASSERT_TRUE(producer_->ProduceSync(options_.input_topics[topic], customer, e.SerializeAsString(), headers, 10s).ok());
  }
  // One event without waiting for its delivery (Flush waits for all).
  void ProduceAsync(int topic, const std::string& customer, const std::string& id, int64_t at_seconds) {
    events::v1::Event e;
    e.set_id(id);
    e.mutable_occurred_at()->set_seconds(at_seconds);
    e.mutable_customer()->set_customer_key(customer);
    e.mutable_message_sent();
    auto headers = kafka::ToHeaders({id, "/test", "io.concord.test.v1", "", customer, "concord.events.v1.Event"});
    ASSERT_TRUE(producer_->Produce(options_.input_topics[topic], customer, e.SerializeAsString(), headers,
                                   [](const kafka::DeliveryResult&) {}).ok());
  }
  // Many events at once (one flush), dated `at(i)`.
  void ProduceMany(int topic, const std::string& customer, const std::string& prefix, int n,
                   const std::function<int64_t(int)>& at_seconds) {
    for (int i = 0; i < n; ++i) ProduceAsync(topic, customer, prefix + std::to_string(i), at_seconds(i));
    ASSERT_TRUE(producer_->Flush(30s).ok());
  }
  void ProduceRaw(int topic, const std::string& key, const std::string& value, const kafka::Headers& h = {}) {
    ASSERT_TRUE(producer_->ProduceSync(options_.input_topics[topic], key, value, h, 10s).ok());
  }

  // Reads a topic from the start until `want` records, then 2 s more to catch extras.
  std::vector<kafka::Headers> ReadAll(const std::string& topic, size_t want, std::vector<std::string>* values = nullptr) {
    auto c = std::move(*kafka::Consumer::Create({.brokers = Brokers(), .group_id = Unique("reader"), .topics = {topic}}));
    std::vector<kafka::Headers> out;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    auto quiet = std::chrono::steady_clock::time_point::max();
    while (std::chrono::steady_clock::now() < std::min(deadline, quiet)) {
      auto m = c->Poll(100ms);
      if (m && !m->error()) {
        out.push_back(m->headers());
        if (values) values->emplace_back(m->value());
      }
      if (out.size() >= want && quiet == std::chrono::steady_clock::time_point::max()) {
        quiet = std::chrono::steady_clock::now() + 2s;
      }
    }
    return out;
  }
  // The findings topic holds `n` records, all with different ids: nothing lost, nothing twice.
  void ExpectEachFindingOnce(size_t n) {
    auto findings = ReadAll(options_.findings_topic, n);
    std::set<std::string> ids;
    for (const auto& h : findings) {
      for (const auto& [k, v] : h) {
        if (k == "ce_id") ids.insert(v);
      }
    }
    EXPECT_EQ(findings.size(), n);
    EXPECT_EQ(ids.size(), n);
  }
  bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds wait = 30s) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (cond()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::unique_ptr<kafka::Admin> admin_;
  std::unique_ptr<kafka::Producer> producer_;
  std::string suffix_;
  ProcessorOptions options_;
};

std::string Header(const kafka::Headers& h, const std::string& key) {
  for (const auto& [k, v] : h) {
    if (k == key) return v;
  }
  return "";
}

TEST_F(ProcessorTest, PoisonRecordsGoToTheDeadLetterTopicAndProcessingGoesOn) {
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  ProduceEvent(0, "domain:a.com", "e1");
  ProduceRaw(0, "domain:a.com", std::string("\xff\x00garbage", 9));  // undecodable bytes
  events::v1::Event unknown;
  unknown.set_id("e-unknown");
  unknown.mutable_customer()->set_customer_key("domain:a.com");
  unknown.mutable_occurred_at()->set_seconds(1);
  std::string bytes = unknown.SerializeAsString() + std::string("\xba\x3e\x02\x08\x01", 5);
  ProduceRaw(1, "domain:a.com", bytes,
             kafka::ToHeaders({"e-unknown", "/test", "io.concord.test.v2", "", "domain:a.com", "concord.events.v1.Event"}));
  ProduceRaw(1, "domain:a.com", std::string(100 * 1024, 'x'));  // oversized
  ProduceEvent(1, "domain:a.com", "e2");  // after the poison: still processed

  std::vector<std::string> values;
  auto dlq = ReadAll(options_.dlq_topic, 3, &values);
  ASSERT_EQ(dlq.size(), 3u);
  std::set<std::string> reasons;
  for (const auto& h : dlq) {
    reasons.insert(Header(h, "dlq_reason"));
    EXPECT_FALSE(Header(h, "dlq_topic").empty());
    EXPECT_FALSE(Header(h, "dlq_offset").empty());
  }
  EXPECT_NE(std::find(values.begin(), values.end(), std::string("\xff\x00garbage", 9)), values.end())
      << "the original bytes are kept";
  std::string all;
  for (const auto& r : reasons) all += r + "\n";
  EXPECT_NE(all.find("ce_specversion"), std::string::npos) << all;
  EXPECT_NE(all.find("no payload this service knows"), std::string::npos) << all;
  EXPECT_NE(all.find("exceeds the limit"), std::string::npos) << all;

  std::vector<std::string> raised;
  auto findings = ReadAll(options_.findings_topic, 1, &raised);
  ASSERT_EQ(findings.size(), 1u) << "e1 and e2 are both processed";
  EXPECT_EQ(Header(findings[0], "ce_type"), "io.concord.alignment.finding-raised.v1");
  EXPECT_EQ(Header(findings[0], "ce_id"), "raised:second-touch:domain:a.com");
  EXPECT_EQ(Header(findings[0], "ce_subject"), "domain:a.com");
  // Detected = published: the writer stamps its own time into the engine's bytes; the fields
  // around the stamped ones are intact.
  v1::FindingEvent event;
  ASSERT_TRUE(event.ParseFromString(raised[0]));
  const auto& f = event.raised();
  EXPECT_EQ(f.id(), "second-touch:domain:a.com");
  EXPECT_EQ(f.playbook_rule(), "counting");
  EXPECT_EQ(TimeUtil::ToString(f.detected_at()), TimeUtil::ToString(event.occurred_at()));
  EXPECT_EQ(TimeUtil::ToString(f.detected_at()), Header(findings[0], "ce_time"));
  // Measured from when it became detectable (its deadline), not from the last evidence an hour
  // before: at most the few seconds this test takes.
  EXPECT_GE(f.detected_at().seconds(), f.last_evidence_at().seconds() + 3600);
  EXPECT_GE(f.detection_latency().seconds(), 0);
  EXPECT_LT(f.detection_latency().seconds(), 60) << TimeUtil::ToString(f.detection_latency());
  p.Stop();
  EXPECT_EQ(p.dead_lettered(), 3u);
}

TEST_F(ProcessorTest, RestartRestoresStateAndNeverRepeatsAFinding) {
  // Ten customers, each with one event before the restart and one after: the second
  // event's finding needs the state from before the restart.
  {
    CountingEngine engine;
    Processor p(options_, RedisOptions(), *producer_, engine);
    ASSERT_TRUE(p.Start().ok());
    for (int i = 0; i < 10; ++i) ProduceEvent(i % 2, "domain:c" + std::to_string(i) + ".com", "a" + std::to_string(i));
    ASSERT_TRUE(WaitFor([&] { return p.processed() == 10; }));
    // Read is not processed: an event may still be held for the cross-topic merge, and a stop
    // forgets held events (the next owner reads them), so wait until the engine has run all ten.
    ASSERT_TRUE(WaitFor([&] { return engine.events == 10; }));
    p.Stop();
    EXPECT_EQ(p.findings_published(), 0u);
  }
  // Replay a window already processed (as after a crash before the Kafka commit): the
  // second instance must resume at the checkpoint and raise each finding once.
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < 10; ++i) ProduceEvent((i + 1) % 2, "domain:c" + std::to_string(i) + ".com", "b" + std::to_string(i));
  ASSERT_TRUE(WaitFor([&] { return p.findings_published() == 10; })) << p.findings_published();
  EXPECT_EQ(p.processed(), 10u) << "only the tail after the checkpoint is read";
  p.Stop();
  ExpectEachFindingOnce(10);
}

// What an earlier owner of the partitions left in Redis (see Processor::HandoverKey).
enum class EarlierOwner {
  kCrashed,       // it held them and never handed them over: "owned"
  kOlderVersion,  // it checkpointed them without marking them (offsets, no handover field)
};
void PrintTo(EarlierOwner o, std::ostream* os) { *os << (o == EarlierOwner::kCrashed ? "crashed" : "older version"); }

class ProcessorReplayTest : public ProcessorTest, public testing::WithParamInterface<EarlierOwner> {
 protected:
  // The store already has these customers' findings, as if an earlier run had published them.
  void StoreFindingsOf(std::initializer_list<std::string> customers) {
    FindingsStore store(options_.redis_prefix);
    std::vector<std::vector<std::string>> cmds;
    for (const std::string& customer : customers) {
      const std::string id = "second-touch:" + customer;  // ToSave holds views
      std::vector<FindingsStore::ToSave> one;
      one.push_back({id, customer, 1, "stored"});
      for (auto& c : store.SaveCommands(std::move(one))) cmds.push_back(std::move(c));
    }
    ASSERT_TRUE(redis_.Pipeline(cmds).ok());
  }
  // HSET of one key with `value` in every input partition's field (3 partitions per topic).
  void SetAllPartitions(const std::string& key, const std::string& value) {
    std::vector<std::string> hset = {"HSET", key};
    for (const auto& t : options_.input_topics) {
      for (int p = 0; p < 3; ++p) {
        hset.push_back(t + ":" + std::to_string(p));
        hset.push_back(value);
      }
    }
    ASSERT_TRUE(redis_.CommandOk(hset).ok());
  }
  // One instance from start to a clean stop, once it has published `n` findings.
  void RunUntilPublished(uint64_t n) {
    CountingEngine engine;
    Processor p(options_, RedisOptions(), *producer_, engine);
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(WaitFor([&] { return p.findings_published() == n; })) << p.findings_published();
    p.Stop();  // clean: everything published is checkpointed, the partitions are handed over
  }
  std::map<std::string, std::string> Hash(const std::string& key) {
    std::map<std::string, std::string> out;
    auto r = redis_.Command({"HGETALL", key});
    EXPECT_TRUE(r.ok()) << r.status();
    for (size_t i = 0; r.ok() && i + 1 < r->elements.size(); i += 2) out[r->elements[i].str] = r->elements[i + 1].str;
    return out;
  }
  std::string OffsetsKey() const { return options_.redis_prefix + ":offsets:" + options_.group_id; }
  std::string HandoverKey() const { return options_.redis_prefix + ":handover:" + options_.group_id; }
  redis::Connection redis_{RedisOptions()};
};

TEST_P(ProcessorReplayTest, OnlyFindingsAnEarlierOwnerMayHavePublishedAskTheStore) {
  StoreFindingsOf({"domain:old.com", "domain:new.com"});
  switch (GetParam()) {
    case EarlierOwner::kCrashed: SetAllPartitions(HandoverKey(), "owned"); break;
    case EarlierOwner::kOlderVersion: SetAllPartitions(OffsetsKey(), "0"); break;
  }
  // Written before the processor starts: below the partitions' end at assignment, so the
  // earlier owner may have processed them. Their finding is checked, found, and not published
  // again.
  ProduceEvent(0, "domain:old.com", "o1");
  ProduceEvent(1, "domain:old.com", "o2");
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return engine.events == 2; }));
  // Past the end at assignment: no earlier owner can have seen them, so the finding goes out
  // without asking the store (which, here, would have said "published").
  ProduceEvent(0, "domain:new.com", "n1");
  ProduceEvent(1, "domain:new.com", "n2");
  ASSERT_TRUE(WaitFor([&] { return p.findings_published() == 1; })) << p.findings_published();
  p.Stop();
  auto findings = ReadAll(options_.findings_topic, 1);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(Header(findings[0], "ce_id"), "raised:second-touch:domain:new.com");
}

INSTANTIATE_TEST_SUITE_P(EarlierOwners, ProcessorReplayTest,
                         testing::Values(EarlierOwner::kCrashed, EarlierOwner::kOlderVersion),
                         [](const testing::TestParamInfo<EarlierOwner>& info) {
                           return std::string(info.param == EarlierOwner::kCrashed ? "Crashed" : "OlderVersion");
                         });

TEST(HandedOverAtTest, OnlyAMarkThatMatchesTheCheckpointTellsWhereTheLastOwnerStopped) {
  const auto nil = redis::Reply{.type = redis::Reply::Type::kNil};
  const auto str = [](std::string s) { return redis::Reply{.type = redis::Reply::Type::kString, .str = std::move(s)}; };
  EXPECT_EQ(HandedOverAt(nil, nil), 0) << "never held";
  EXPECT_EQ(HandedOverAt(str("42"), str("42")), 42) << "handed over at its checkpoint";
  EXPECT_EQ(HandedOverAt(nil, str("0")), 0) << "handed over before its first checkpoint";
  EXPECT_EQ(HandedOverAt(str("42"), str("owned")), std::nullopt) << "held, or crashed holding it";
  EXPECT_EQ(HandedOverAt(nil, str("owned")), std::nullopt) << "crashed before its first checkpoint";
  EXPECT_EQ(HandedOverAt(str("42"), nil), std::nullopt) << "checkpointed by a version without the mark";
  EXPECT_EQ(HandedOverAt(str("50"), str("42")), std::nullopt) << "checkpointed further by an owner that did not mark it";
  EXPECT_EQ(HandedOverAt(str("7"), str("0")), std::nullopt);
  EXPECT_EQ(HandedOverAt(str("x"), str("x")), std::nullopt) << "not a number";
}

TEST_F(ProcessorReplayTest, ABacklogNoOwnerCanHavePublishedAsksTheStoreNothing) {
  // The store says "published" for every customer here; a check would keep the finding back.
  StoreFindingsOf({"domain:a.com", "domain:b.com"});
  // A new group over a backlog (a first deployment, a backfill): no instance ever held it.
  ProduceEvent(0, "domain:a.com", "a1");
  ProduceEvent(1, "domain:a.com", "a2");
  RunUntilPublished(1);
  auto at = Hash(OffsetsKey());
  auto mark = Hash(HandoverKey());
  ASSERT_EQ(mark.size(), 6u) << "every assigned partition";
  for (const auto& [field, value] : mark) EXPECT_EQ(value, at.contains(field) ? at[field] : "0") << field;
  // A backlog that arrived after the handover: below the end at the next assignment, but
  // above where the last owner stopped.
  ProduceEvent(0, "domain:b.com", "b1");
  ProduceEvent(1, "domain:b.com", "b2");
  RunUntilPublished(1);
  std::set<std::string> ids;
  for (const auto& h : ReadAll(options_.findings_topic, 2)) ids.insert(Header(h, "ce_id"));
  EXPECT_EQ(ids, (std::set<std::string>{"raised:second-touch:domain:a.com", "raised:second-touch:domain:b.com"}));
}

// What keeps a partition "owned" at its handover: an epoch finished without its checkpoint.
TEST_F(ProcessorTest, AWriterSaysWhenAnEpochWentWithoutItsCheckpoint) {
  const WriterOptions wo{.findings_topic = options_.findings_topic,
                         .dlq_topic = options_.dlq_topic,
                         .redis_prefix = options_.redis_prefix,
                         .offsets_key = options_.redis_prefix + ":offsets:w"};
  const NextOffsets at = {{{options_.input_topics[0], 0}, 5}};
  {
    Writer w(wo, RedisOptions(), *producer_, nullptr);
    w.Start();
    w.Seal({}, at);
    w.Flush();
    EXPECT_FALSE(w.dropped()) << "written";
    w.Seal({}, at, /*discard=*/true);  // partitions lost
    w.Flush();
    EXPECT_TRUE(w.dropped());
    w.ForgetDropped();  // a new assignment
    w.Seal({}, at);
    w.Flush();
    EXPECT_FALSE(w.dropped());
    w.Stop();
  }
  // Redis gone at shutdown: the checkpoint is given up after a few attempts.
  redis::Options nowhere = RedisOptions();
  nowhere.port = 1;
  nowhere.connect_timeout = 100ms;
  Writer w(wo, nowhere, *producer_, nullptr);
  w.Start();
  w.Stopping();
  w.Seal({}, at);
  w.Flush();
  EXPECT_TRUE(w.dropped());
  w.Stop();
}

TEST_F(ProcessorTest, EpochsBeyondTheMemoryBoundWaitAndNothingIsLost) {
  // A bound of one byte: every seal waits until the epoch before it is checkpointed. The read
  // thread is held back, never stuck, and every finding still goes out once.
  options_.max_sealed_bytes = 1;
  options_.checkpoint_interval = 1ms;
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < 60; ++i) {
    std::string customer = "domain:m" + std::to_string(i) + ".com";
    ProduceEvent(0, customer, "m1-" + std::to_string(i));
    ProduceEvent(1, customer, "m2-" + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] { return p.findings_published() == 60; })) << p.findings_published();
  p.Stop();
  ExpectEachFindingOnce(60);
  // What the bound counts comes back out: nothing in flight once everything is checkpointed.
  const std::string text = metrics::Default().Render();
  const std::string gauge = "\nconcord_alignment_inflight_bytes ";
  const size_t at = text.rfind(gauge);  // this writer's (the last registered)
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_EQ(text.substr(at + gauge.size(), text.find('\n', at + 1) - at - gauge.size()), "0");
  EXPECT_NE(text.find("\nconcord_alignment_inflight_wait_seconds_total "), std::string::npos);
}

TEST_F(ProcessorTest, FindingsAreStoredCompressedOnceTheFirstOnesTrainedADictionary) {
  // The first DictionaryCompressor::kSamples findings are stored as they are and train the
  // deployment's dictionary; the later ones are compressed with it. All of them read back.
  const int n = static_cast<int>(DictionaryCompressor::kSamples) + 300;
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    const std::string customer = "domain:z" + std::to_string(i) + ".example.com";
    ProduceAsync(0, customer, "z1-" + std::to_string(i), std::time(nullptr));
    ProduceAsync(1, customer, "z2-" + std::to_string(i), std::time(nullptr));
    ids.push_back("second-touch:" + customer);
    if (i == static_cast<int>(DictionaryCompressor::kSamples)) {
      // The rest after the dictionary is in use: the findings before it trained it.
      ASSERT_TRUE(producer_->Flush(30s).ok());
      ASSERT_TRUE(WaitFor([&] {
        auto cur = redis::Connection(RedisOptions()).Command({"GET", CurrentDictionaryKey(FindingsStore(options_.redis_prefix).DictionaryPrefix())});
        return cur.ok() && !cur->is_nil();
      }, 60s));
    }
  }
  ASSERT_TRUE(producer_->Flush(30s).ok());
  ASSERT_TRUE(WaitFor([&] { return p.findings_published() == static_cast<uint64_t>(n); }, 60s)) << p.findings_published();
  p.Stop();

  redis::Connection conn(RedisOptions());
  FindingsStore store(options_.redis_prefix);
  std::vector<std::string> mget = {"MGET"};
  for (const auto& id : ids) mget.push_back(store.FindingKey(id));
  auto raw = conn.CommandOk(mget);
  ASSERT_TRUE(raw.ok());
  int compressed = 0;
  for (const auto& r : raw->elements) compressed += IsCompressedValue(r.str) ? 1 : 0;
  EXPECT_GT(compressed, 0);
  EXPECT_LT(compressed, n) << "the first ones trained the dictionary and are stored as they are";
  auto got = store.GetMany(conn, ids);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE((*got)[i]) << ids[i];
    EXPECT_EQ((*got)[i]->id(), ids[i]);
  }
  const std::string text = metrics::Default().Render();
  EXPECT_NE(text.find("concord_alignment_finding_bytes_total{form=\"stored\"}"), std::string::npos);
}

TEST_F(ProcessorTest, CheckpointsAreStoredCompressedAndRestoredFromEitherForm) {
  // One event per customer: the first DictionaryCompressor::kSamples checkpoints train the
  // checkpoint dictionary, the later ones are stored compressed. After a restart, each
  // customer's second event raises its finding only if its checkpoint (either form) came back.
  const int n = static_cast<int>(DictionaryCompressor::kSamples) + 200;
  auto customer = [](int i) { return "domain:w" + std::to_string(i) + ".example.com"; };
  {
    WordyEngine engine;
    Processor p(options_, RedisOptions(), *producer_, engine);
    ASSERT_TRUE(p.Start().ok());
    for (int i = 0; i < n; ++i) {
      ProduceAsync(i % 2, customer(i), "w1-" + std::to_string(i), std::time(nullptr));
      if (i == static_cast<int>(DictionaryCompressor::kSamples)) {
        ASSERT_TRUE(producer_->Flush(30s).ok());
        ASSERT_TRUE(WaitFor([&] {
          auto cur = redis::Connection(RedisOptions())
                         .Command({"GET", CurrentDictionaryKey(CheckpointDictionaryPrefix(options_.redis_prefix))});
          return cur.ok() && !cur->is_nil();
        }, 60s));
      }
    }
    ASSERT_TRUE(producer_->Flush(30s).ok());
    ASSERT_TRUE(WaitFor([&] { return engine.events == n; }, 60s)) << engine.events;
    p.Stop();  // the last epoch is checkpointed
  }
  redis::Connection conn(RedisOptions());
  auto keys = conn.CommandOk({"KEYS", options_.redis_prefix + ":state:*"});
  ASSERT_TRUE(keys.ok());
  int compressed = 0, stored = 0;
  for (const auto& k : keys->elements) {
    auto vals = conn.CommandOk({"HVALS", k.str});
    ASSERT_TRUE(vals.ok());
    for (const auto& v : vals->elements) {
      ++stored;
      compressed += IsCompressedValue(v.str) ? 1 : 0;
    }
  }
  EXPECT_EQ(stored, n);
  EXPECT_GT(compressed, 0);
  EXPECT_LT(compressed, n) << "the first ones trained the dictionary and are stored as they are";

  WordyEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < n; ++i) ProduceAsync((i + 1) % 2, customer(i), "w2-" + std::to_string(i), std::time(nullptr));
  ASSERT_TRUE(producer_->Flush(30s).ok());
  ASSERT_TRUE(WaitFor([&] { return p.findings_published() == static_cast<uint64_t>(n); }, 60s)) << p.findings_published();
  p.Stop();
}

TEST_F(ProcessorTest, ABacklogIsMergedInEventTimeOrderWhenOneTopicRunsAhead) {
  // One customer's backlog: marketing has an event every 10 s, sales one every second, so each
  // fetch of marketing covers ten times more event time and its events wait for sales'. With
  // room for only 60 held events, order was given up once they piled up; now the partition
  // that runs ahead is paused at 20 and resumed at 10, and nothing goes out of order.
  options_.max_batch = 10;
  options_.held_per_partition = 20;
  options_.held_limit = 60;
  const int64_t t0 = std::time(nullptr) - 86400;
  ProduceMany(0, "domain:order.com", "m-", 150, [&](int i) { return t0 + 10 * i + 5; });
  ProduceMany(1, "domain:order.com", "s-", 1500, [&](int i) { return t0 + i; });
  OrderEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return engine.times().size() == 1650; }, 60s)) << engine.times().size();
  p.Stop();
  const auto times = engine.times();
  size_t backwards = 0;
  for (size_t i = 1; i < times.size(); ++i) backwards += times[i] < times[i - 1];
  EXPECT_EQ(backwards, 0u) << "events run before an earlier one of the other topic";
}

TEST_F(ProcessorTest, AnEventDatedAheadOfTheClockWaitsOnlyTheGrace) {
  // A producer whose clock runs an hour fast: its event is not held until that hour has passed.
  CountingEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  ProduceMany(0, "domain:skew.com", "f-", 1, [](int) { return std::time(nullptr) + 3600; });
  EXPECT_TRUE(WaitFor([&] { return engine.events == 1; }, 15s));
  p.Stop();
}

TEST_F(ProcessorTest, ATimerFindingIsCheckpointedWithoutWaitingForTheNextEvent) {
  // A finding raised by a timer while no record comes: published at once, and its epoch sealed
  // and checkpointed at the interval (it waited for the next record, so the findings store and
  // the metric missed it, and a restart published it again).
  TimerEngine engine;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  ProduceEvent(0, "domain:timer.com", "t1");
  EXPECT_TRUE(WaitFor([&] { return p.findings_published() == 1; }, 20s)) << p.findings_published();
  p.Stop();
  ExpectEachFindingOnce(1);
}

// Memory follows activity: once the input goes quiet, the decoded customers go cold within one
// to two idle periods, far below the --hot-customers limit, and the next event decodes its
// customer again.
TEST_F(ProcessorTest, AQuietInstanceKeepsItsCustomersCold) {
  EngineAdapter engine(engine::DefaultPlaybook());
  engine.SetMaxHotCustomers(1000);
  options_.hot_idle = 300ms;
  Processor p(options_, RedisOptions(), *producer_, engine);
  ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < 10; ++i) ProduceEvent(i % 2, "domain:q" + std::to_string(i) + ".com", "q" + std::to_string(i));
  ASSERT_TRUE(WaitFor([&] { return engine.customers() == 10; }));
  EXPECT_TRUE(WaitFor([&] { return engine.cold_customers() == 10; }, 10s)) << engine.cold_customers();
  ProduceEvent(0, "domain:q0.com", "q-again");
  EXPECT_TRUE(WaitFor([&] { return engine.cold_customers() == 9; }, 10s)) << engine.cold_customers();
  EXPECT_TRUE(WaitFor([&] { return engine.cold_customers() == 10; }, 10s)) << engine.cold_customers();
  EXPECT_EQ(engine.customers(), 10u);
  p.Stop();
}

}  // namespace
}  // namespace concord::alignment
