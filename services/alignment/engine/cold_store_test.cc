#include "services/alignment/engine/cold_store.h"

#include <random>

#include <gtest/gtest.h>

namespace concord::alignment::engine {
namespace {

// A checkpoint-like blob: shared strings (what a dictionary learns) around random ids.
std::string Blob(std::mt19937_64& rng, int i) {
  std::string s = "\x04concord.marketing.events.v1|concord.sales.events.v1|mkt-auto|rep-" + std::to_string(i % 50);
  for (int k = 0; k < 10; ++k) {
    uint64_t id[2] = {rng(), rng()};
    s.append(reinterpret_cast<const char*>(id), sizeof id);
    s += "|Spring offer: get 20% off Concord Pro with a 30-day free trial.|dana@customer" + std::to_string(i) + ".com";
  }
  return s;
}

TEST(ColdStoreTest, EveryCheckpointComesBackAsStoredThroughTrainings) {
  ColdStore store(/*train_in_background=*/false);
  std::mt19937_64 rng(7);
  std::vector<std::string> blobs;
  size_t raw = 0;
  auto check_all = [&] {
    std::string out;
    for (size_t i = 0; i < blobs.size(); ++i) {
      const ColdStore::Entry* e = store.Find("k" + std::to_string(i));
      ASSERT_NE(e, nullptr) << i;
      EXPECT_EQ(e->timer_due, static_cast<Micros>(i)) << i;
      store.Checkpoint(*e, &out);
      ASSERT_EQ(out, blobs[i]) << i;
    }
  };
  for (int i = 0; i < 17000; ++i) {
    blobs.push_back(Blob(rng, i));
    raw += blobs.back().size();
    store.Put("k" + std::to_string(i), i, blobs.back());
    if (i == ColdStore::kFirstTraining - 2) {
      EXPECT_EQ(store.dictionaries(), 0u);
      EXPECT_EQ(store.compressed(), 0u);
      size_t blocks = 0;  // uncompressed yet: header, key and bytes as given
      for (int k = 0; k <= i; ++k) blocks += sizeof(ColdStore::Entry) + ("k" + std::to_string(k)).size() + blobs[k].size();
      EXPECT_EQ(store.stored_bytes(), blocks);
      check_all();
    }
    if (i == ColdStore::kFirstTraining) {
      // Trained when the kFirstTraining-th customer was stored; those stored before are
      // compressed with it a few per later Put (kCompressPerPut, and the one stored).
      EXPECT_EQ(store.dictionaries(), 1u);
      EXPECT_EQ(store.compressed(), 1 + 2 * ColdStore::kCompressPerPut);
      check_all();
    }
    if (i == ColdStore::kFirstTraining + 400) {
      EXPECT_LT(store.compressed(), store.size());
      check_all();
    }
    if (i == ColdStore::kFirstTraining + 600) {
      EXPECT_FALSE(store.CompressSome(0));
      EXPECT_EQ(store.compressed(), store.size());
      check_all();
    }
  }
  // A second dictionary at 16x; the customers compressed with the first still decode.
  EXPECT_EQ(store.dictionaries(), 2u);
  EXPECT_EQ(store.compressed(), store.size());
  check_all();
  EXPECT_LT(store.ApproxBytes(), raw / 2) << "raw " << raw;
  EXPECT_LT(store.stored_bytes(), store.ApproxBytes());  // the blocks, without the set and the dictionaries
  // Replaced, erased.
  store.Put("k5", 99, "short");
  const size_t with_k5 = store.stored_bytes();
  std::string out;
  store.Checkpoint(*store.Find("k5"), &out);
  EXPECT_EQ(out, "short");
  Micros due = 0;
  EXPECT_TRUE(store.Erase("k5", &due));
  EXPECT_EQ(due, 99);
  EXPECT_EQ(store.Find("k5"), nullptr);
  EXPECT_EQ(store.stored_bytes(), with_k5 - (sizeof(ColdStore::Entry) + 2 + 5));  // "short" is kept as it is
  EXPECT_FALSE(store.Erase("k5"));
  EXPECT_EQ(store.size(), 16999u);
}

// Random bytes do not compress: kept as they are (except the few the dictionary holds copies of).
TEST(ColdStoreTest, BytesThatDoNotCompressAreKeptAsTheyAre) {
  ColdStore store(/*train_in_background=*/false);
  std::mt19937_64 rng(11);
  std::vector<std::string> blobs;
  for (int i = 0; i < 1500; ++i) {
    std::string s(64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    blobs.push_back(s);
    store.Put("k" + std::to_string(i), 0, s);
  }
  EXPECT_EQ(store.dictionaries(), 1u);
  EXPECT_LT(store.compressed(), 150u);  // a 4 KiB dictionary holds at most 64 of these 64-byte blobs
  std::string out;
  for (int i = 0; i < 1500; ++i) {
    store.Checkpoint(*store.Find("k" + std::to_string(i)), &out);
    ASSERT_EQ(out, blobs[i]);
  }
}

// The service's store trains in the background: the caller goes on storing meanwhile, and
// nothing stored before, during or after the training is lost.
TEST(ColdStoreTest, TrainingInTheBackgroundLosesNothing) {
  ColdStore store;
  std::mt19937_64 rng(3);
  std::vector<std::string> blobs;
  for (int i = 0; i < 1500; ++i) {
    blobs.push_back(Blob(rng, i));
    store.Put("k" + std::to_string(i), i, blobs.back());
  }
  store.WaitForTraining();
  EXPECT_EQ(store.dictionaries(), 1u);
  EXPECT_EQ(store.compressed(), store.size());  // those stored meanwhile were compressed when it arrived
  std::string out;
  for (int i = 0; i < 1500; ++i) {
    store.Checkpoint(*store.Find("k" + std::to_string(i)), &out);
    ASSERT_EQ(out, blobs[i]) << i;
  }
}

}  // namespace
}  // namespace concord::alignment::engine
