#pragma once
// Values Redis keeps compressed with a zstd dictionary trained on the deployment's own values:
// the alignment service's finding records (~1 KB of protobuf, mostly the same templates, actors
// and event types: plain zstd keeps ~65%, a 4 KiB dictionary ~30%) and its customer
// checkpoints (~1 KB: event ids, topics, actors, offers). They are most of what it keeps in
// Redis, and of its AOF and rewrites.
//
// A stored value is either the value itself (a serialized Finding starts with field 1's tag,
// 0x0A; a checkpoint with its format byte: values written by older versions, or before the
// first dictionary) or a zstd frame (magic 28 B5 2F FD) whose header names its dictionary.
// Dictionaries live in Redis under <dict prefix>:<id> (never expire; a few KiB each), the one
// writers use under <dict prefix>:current. A dictionary is in Redis before any value needs it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "common/redis/redis.h"
#include "services/alignment/engine/zstd_util.h"

namespace concord::alignment {

// Key names: <dict prefix>:<id> and <dict prefix>:current.
std::string DictionaryKey(std::string_view dict_prefix, uint32_t id);
std::string CurrentDictionaryKey(std::string_view dict_prefix);

// Whether stored bytes are compressed (a zstd frame), not the value itself.
bool IsCompressedValue(std::string_view stored);

// Read side. Dictionaries are read from Redis on first use and kept. Thread-safe.
class Dictionaries {
 public:
  explicit Dictionaries(std::string dict_prefix);
  ~Dictionaries();

  // The value itself: decompressed, or copied when it was not compressed. DATA_LOSS when the
  // bytes do not decode or their dictionary is missing; storage errors as the connection
  // reports them.
  absl::Status Decompress(redis::Connection& conn, std::string_view stored, std::string* out);
  // A new version of a stored value in the same form as `like` (its stored bytes): compressed
  // with the same dictionary, or as it is. (A finding's status change keeps it compressed.)
  absl::StatusOr<std::string> CompressLike(redis::Connection& conn, std::string value, std::string_view like);

 private:
  struct Dictionary {
    std::string bytes;
    std::shared_ptr<ZSTD_DDict_s> ddict;
    std::shared_ptr<ZSTD_CDict_s> cdict;  // made on the first CompressLike
  };
  // The dictionary `id` (loaded from Redis the first time); DATA_LOSS when Redis lacks it.
  absl::StatusOr<std::shared_ptr<Dictionary>> Get(redis::Connection& conn, uint32_t id);

  std::string prefix_;
  std::mutex mu_;
  absl::flat_hash_map<uint32_t, std::shared_ptr<Dictionary>> dictionaries_;
};

// Write side: compresses values once a dictionary is ready. At start its background thread
// takes the deployment's current dictionary from Redis; if there is none, it trains one on the
// first kSamples values, stores it and makes it current. Until then values are stored as they
// are. Compress is called from one thread (the alignment writer's checkpointer).
class DictionaryCompressor {
 public:
  static constexpr size_t kSamples = 1000;
  static constexpr size_t kDictionaryBytes = 4096;
  static constexpr int kLevel = 1;  // within 3% of level 3's size, at about twice the speed

  // `what` names the values in logs ("finding", "checkpoint").
  DictionaryCompressor(std::string dict_prefix, redis::Options redis, std::string what);
  ~DictionaryCompressor();
  DictionaryCompressor(const DictionaryCompressor&) = delete;
  DictionaryCompressor& operator=(const DictionaryCompressor&) = delete;

  void Start();
  void Stop();
  // The stored form of one value.
  std::string Compress(std::string value);
  // Blocks until a dictionary is in use (tests), at most `timeout`; whether one is.
  bool WaitReady(std::chrono::milliseconds timeout);
  // The id of the dictionary in use, 0 before there is one.
  uint32_t dictionary_id() const { return ready_.load() ? id_ : 0; }

 private:
  void Run();
  // The current dictionary from Redis, else one trained on the samples and stored; empty when
  // stopping.
  std::string Obtain(redis::Connection& conn);

  std::string prefix_, what_;
  redis::Options redis_;
  std::thread thread_;

  std::mutex mu_;  // samples_, collecting_, stop_
  std::condition_variable cv_;
  std::vector<std::string> samples_;
  bool collecting_ = false;  // until the background thread has a dictionary or gave up
  bool stop_ = false;

  // Set by the background thread before ready_; read by Compress after it.
  std::atomic<bool> ready_{false};
  uint32_t id_ = 0;
  engine::ZstdPtr<ZSTD_CDict_s> cdict_;
  engine::ZstdPtr<ZSTD_CCtx_s> cctx_;  // Compress's thread only
};

}  // namespace concord::alignment
