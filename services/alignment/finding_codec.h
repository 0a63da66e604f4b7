#pragma once
// Findings as Redis stores them: compressed with a zstd dictionary trained on the deployment's
// own findings. A finding is ~0.8 KB of protobuf, mostly the same templates, actors and event
// types from one finding to the next; plain zstd keeps ~65% of it, a 4 KiB dictionary ~17%.
// Findings are most of what the service keeps in Redis (its memory, AOF and rewrites).
//
// Stored value: either the serialized Finding itself (its first byte is field 1's tag, 0x0A:
// findings written before this, by an older version, or before the first dictionary) or a zstd
// frame (magic 28 B5 2F FD) whose header names its dictionary's id. Dictionaries live in Redis
// under <prefix>:fdict:<id> (never expire; a few KiB each), the one writers use under
// <prefix>:fdict:current. A dictionary is in Redis before any finding that needs it.

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

#include "common/redis/redis.h"
#include "concord/alignment/v1/alignment.pb.h"

struct ZSTD_CCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace concord::alignment {

// Key names: <prefix>:fdict:<id> and <prefix>:fdict:current.
std::string FindingDictionaryKey(std::string_view prefix, uint32_t id);
std::string CurrentFindingDictionaryKey(std::string_view prefix);

// Whether stored bytes are a compressed finding (a zstd frame), not a serialized one.
bool IsCompressedFinding(std::string_view stored);

// Read side: stored bytes -> Finding. Dictionaries are read from Redis on first use and kept.
// Thread-safe; one per process is enough (FindingsStore copies share theirs).
class FindingDictionaries {
 public:
  explicit FindingDictionaries(std::string prefix);
  ~FindingDictionaries();

  // DATA_LOSS when the bytes do not decode or their dictionary is missing; storage errors as
  // the connection reports them.
  absl::Status Parse(redis::Connection& conn, std::string_view stored, v1::Finding* out);
  // The decompressed (serialized) form; a serialized finding is copied as it is.
  absl::Status Decompress(redis::Connection& conn, std::string_view stored, std::string* out);
  // A new version of a stored finding in the same form as `like` (its stored bytes): compressed
  // with the same dictionary, or serialized. A status change keeps a record compressed.
  absl::StatusOr<std::string> StoreLike(redis::Connection& conn, std::string serialized, std::string_view like);

 private:
  struct FreeDDict {
    void operator()(ZSTD_DDict_s* p) const;
  };
  struct FreeCDict {
    void operator()(ZSTD_CDict_s* p) const;
  };
  struct Dictionary {
    std::string bytes;
    std::shared_ptr<ZSTD_DDict_s> ddict;
    std::shared_ptr<ZSTD_CDict_s> cdict;  // made on the first StoreLike
  };
  // The dictionary `id` (loaded from Redis the first time); DATA_LOSS when Redis lacks it.
  absl::StatusOr<std::shared_ptr<Dictionary>> Get(redis::Connection& conn, uint32_t id);

  std::string prefix_;
  std::mutex mu_;
  absl::flat_hash_map<uint32_t, std::shared_ptr<Dictionary>> dictionaries_;
};

// Write side: compresses findings once a dictionary is ready. At start its background thread
// takes the deployment's current dictionary from Redis; if there is none, it trains one on the
// first kSamples findings, stores it and makes it current. Until then findings are stored as
// they are. Compress is called from one thread (the checkpointer).
class FindingCompressor {
 public:
  static constexpr size_t kSamples = 1000;
  static constexpr size_t kDictionaryBytes = 4096;
  static constexpr int kLevel = 1;  // within 3% of level 3's size, at about twice the speed

  FindingCompressor(std::string prefix, redis::Options redis);
  ~FindingCompressor();
  FindingCompressor(const FindingCompressor&) = delete;
  FindingCompressor& operator=(const FindingCompressor&) = delete;

  void Start();
  void Stop();
  // The stored form of one serialized finding.
  std::string Compress(std::string serialized);
  // Blocks until a dictionary is in use (tests), at most `timeout`; whether one is.
  bool WaitReady(std::chrono::milliseconds timeout);
  // The id of the dictionary in use, 0 before there is one.
  uint32_t dictionary_id() const { return ready_.load() ? id_ : 0; }

 private:
  struct FreeCCtx {
    void operator()(ZSTD_CCtx_s* p) const;
  };
  struct FreeCDict {
    void operator()(ZSTD_CDict_s* p) const;
  };
  void Run();
  // The current dictionary from Redis, else one trained on the samples and stored; empty when
  // stopping.
  std::string Obtain(redis::Connection& conn);

  std::string prefix_;
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
  std::unique_ptr<ZSTD_CDict_s, FreeCDict> cdict_;
  std::unique_ptr<ZSTD_CCtx_s, FreeCCtx> cctx_;  // Compress's thread only
};

}  // namespace concord::alignment
