// Findings compressed in the real Redis: the dictionary is trained, stored and shared, and
// every stored form reads back as the finding that was written.
#include "services/alignment/dictionary_codec.h"

#include <random>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "common/testing/env.h"
#include "services/alignment/findings_store.h"

namespace concord::alignment {
namespace {

using namespace std::chrono_literals;
using concord::testenv::RedisOptions;
using concord::testenv::Unique;

// A finding like the detectors raise: templated texts around names, ids and times that vary.
v1::Finding MakeFinding(int i, std::mt19937_64& rng) {
  static const char* kNames[] = {"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov"};
  static const char* kCompanies[] = {"Initech", "Globex", "Umbrella", "Hooli", "Vandelay Industries"};
  auto hex = [&](int n) {
    std::string s;
    for (int k = 0; k < n; ++k) s.push_back("0123456789abcdef"[rng() % 16]);
    return s;
  };
  const std::string name = kNames[rng() % 5], company = kCompanies[rng() % 5];
  v1::Finding f;
  f.set_id("dup-outreach-" + hex(32));
  f.set_version(1);
  f.set_type(v1::FINDING_TYPE_DUPLICATE_OUTREACH);
  f.set_severity(v1::SEVERITY_MEDIUM);
  f.set_status(v1::FINDING_STATUS_OPEN);
  f.set_customer_key("acct:" + hex(12));
  f.mutable_customer()->mutable_person()->set_company(company);
  f.mutable_customer()->mutable_person()->set_full_name(name);
  f.set_title("Marketing and sales both reached out to " + name + " at " + company + " within 48h");
  f.set_summary("Marketing sent a nurture email and sales made a call to the same person within the playbook's "
                "48h window; the customer heard from two teams about the same offer.");
  f.set_recommended_action("Sales owns the conversation: pause the marketing sequence for this contact.");
  f.set_action_team(concord::events::v1::TEAM_MARKETING);
  for (int e = 0; e < 2; ++e) {
    auto* ev = f.add_evidence();
    ev->set_event_id(hex(8) + "-" + hex(4) + "-4" + hex(3) + "-8" + hex(3) + "-" + hex(12));
    ev->set_event_type(e == 0 ? "io.concord.marketing.email-sent.v1" : "io.concord.sales.call-logged.v1");
    ev->set_role(e == 0 ? "first_outreach" : "second_outreach");
    ev->set_record_id("lead-" + std::to_string(i));
    ev->mutable_occurred_at()->set_seconds(1790000000 + i * 7 + e);
    ev->set_description(e == 0 ? "Marketing emailed " + name : "Sales called " + name);
  }
  f.mutable_detected_at()->set_seconds(1790000000 + i * 7 + 2);
  (*f.mutable_details())["window"] = "48h";
  return f;
}

class DictionaryCodecTest : public ::testing::Test {
 protected:
  std::string prefix_ = Unique("concord:test:fcodec");
  std::string dicts_ = FindingsStore(prefix_).DictionaryPrefix();
  redis::Connection conn_{RedisOptions()};
  std::mt19937_64 rng_{7};

  // Feeds the first findings (stored as they are) until the compressor has its dictionary.
  void Train(DictionaryCompressor& c) {
    for (int i = 0; i < static_cast<int>(DictionaryCompressor::kSamples); ++i) {
      const std::string bytes = MakeFinding(i, rng_).SerializeAsString();
      ASSERT_EQ(c.Compress(bytes), bytes) << "no dictionary yet: stored as it is";
    }
    ASSERT_TRUE(c.WaitReady(30s));
  }
};

TEST_F(DictionaryCodecTest, TrainsStoresAndReadsBackThroughTheDictionary) {
  DictionaryCompressor c(dicts_, RedisOptions(), "finding");
  c.Start();
  Train(c);
  ASSERT_NE(c.dictionary_id(), 0u);
  // The dictionary is in Redis, and current, before anything uses it.
  auto current = conn_.CommandOk({"GET", CurrentDictionaryKey(dicts_)});
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->str, std::to_string(c.dictionary_id()));
  auto dict = conn_.CommandOk({"STRLEN", DictionaryKey(dicts_, c.dictionary_id())});
  ASSERT_TRUE(dict.ok());
  EXPECT_GT(dict->integer, 0);
  EXPECT_LE(dict->integer, static_cast<long long>(DictionaryCompressor::kDictionaryBytes));

  // A new finding, compressed to a fraction, reads back the same through a reader that has to
  // fetch the dictionary from Redis.
  size_t serialized = 0, stored = 0;
  FindingsStore reader(prefix_);
  for (int i = 5000; i < 5100; ++i) {
    const v1::Finding f = MakeFinding(i, rng_);
    const std::string bytes = f.SerializeAsString();
    const std::string out = c.Compress(bytes);
    ASSERT_TRUE(IsCompressedValue(out));
    serialized += bytes.size();
    stored += out.size();
    v1::Finding back;
    ASSERT_TRUE(reader.Parse(conn_, f.id(), out, &back).ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(f, back));
  }
  EXPECT_LT(stored * 2, serialized) << "compressed to " << stored << " of " << serialized << " bytes";
  c.Stop();
}

TEST_F(DictionaryCodecTest, ALaterInstanceTakesTheCurrentDictionaryWithoutTraining) {
  DictionaryCompressor first(dicts_, RedisOptions(), "finding");
  first.Start();
  Train(first);
  first.Stop();

  DictionaryCompressor second(dicts_, RedisOptions(), "finding");
  second.Start();
  ASSERT_TRUE(second.WaitReady(10s)) << "no samples given: it must have taken the stored dictionary";
  EXPECT_EQ(second.dictionary_id(), first.dictionary_id());
  const std::string bytes = MakeFinding(1, rng_).SerializeAsString();
  EXPECT_TRUE(IsCompressedValue(second.Compress(bytes)));
  auto keys = conn_.CommandOk({"KEYS", prefix_ + ":fdict:*"});
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->elements.size(), 2u) << "one dictionary and the current pointer";
}

TEST_F(DictionaryCodecTest, FindingsStoreReadsBothFormsAndReportsAMissingDictionary) {
  DictionaryCompressor c(dicts_, RedisOptions(), "finding");
  c.Start();
  Train(c);
  FindingsStore store(prefix_);
  const v1::Finding plain = MakeFinding(1, rng_), packed = MakeFinding(2, rng_);
  auto save = [&](const v1::Finding& f, std::string bytes) {
    ASSERT_TRUE(conn_.CommandOk({"SET", store.FindingKey(f.id()), std::move(bytes)}).ok());
  };
  save(plain, plain.SerializeAsString());  // as older versions, and the first findings, stored it
  save(packed, c.Compress(packed.SerializeAsString()));

  auto got = store.GetMany(conn_, {plain.id(), packed.id(), "missing"});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  ASSERT_TRUE((*got)[0] && (*got)[1]);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*(*got)[0], plain));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*(*got)[1], packed));
  EXPECT_FALSE((*got)[2]);

  // Without its dictionary a compressed finding is lost, and says which dictionary it needs
  // (a fresh store: the first one keeps what it loaded).
  ASSERT_TRUE(conn_.CommandOk({"DEL", DictionaryKey(dicts_, c.dictionary_id())}).ok());
  FindingsStore fresh(prefix_);
  auto lost = fresh.Get(conn_, packed.id());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(lost.status().message().find(std::to_string(c.dictionary_id())), std::string::npos) << lost.status();
  EXPECT_TRUE(fresh.Get(conn_, plain.id()).ok()) << "a serialized finding needs no dictionary";
  EXPECT_TRUE(store.Get(conn_, packed.id()).ok()) << "a store that loaded the dictionary keeps it";

  // Bytes that only look compressed: DATA_LOSS, not a crash.
  v1::Finding out;
  const std::string bogus = std::string("\x28\xB5\x2F\xFD", 4) + "not a frame";
  EXPECT_EQ(store.Parse(conn_, "bogus", bogus, &out).code(), absl::StatusCode::kDataLoss);
  c.Stop();
}

TEST_F(DictionaryCodecTest, AStatusChangeKeepsTheRecordsForm) {
  DictionaryCompressor c(dicts_, RedisOptions(), "finding");
  c.Start();
  Train(c);
  FindingsStore store(prefix_);
  for (bool compressed : {true, false}) {
    v1::Finding f = MakeFinding(compressed ? 10 : 11, rng_);
    const std::string before = compressed ? c.Compress(f.SerializeAsString()) : f.SerializeAsString();
    ASSERT_EQ(IsCompressedValue(before), compressed);
    ASSERT_TRUE(conn_.CommandOk({"SET", store.FindingKey(f.id()), before}).ok());
    f.set_status(v1::FINDING_STATUS_ACKNOWLEDGED);
    f.set_version(2);
    auto applied = store.CompareAndSetStatus(conn_, before, f, "", "", "evt-" + f.id(), "event", 0);
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_TRUE(applied->has_value()) << "the stored bytes were `before`";
    auto after = conn_.CommandOk({"GET", store.FindingKey(f.id())});
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(IsCompressedValue(after->str), compressed);
    auto got = store.Get(conn_, f.id());
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(**got, f));
  }
  c.Stop();
}

TEST_F(DictionaryCodecTest, WithoutRedisFindingsAreStoredAsTheyAre) {
  redis::Options nowhere = RedisOptions();
  nowhere.port = 1;  // nothing listens
  DictionaryCompressor c(dicts_, nowhere, "finding");
  c.Start();
  const std::string bytes = MakeFinding(1, rng_).SerializeAsString();
  EXPECT_EQ(c.Compress(bytes), bytes);
  EXPECT_FALSE(c.WaitReady(300ms));
  c.Stop();  // does not hang on the unreachable Redis
}

}  // namespace
}  // namespace concord::alignment
