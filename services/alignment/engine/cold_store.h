#pragma once
// Cold customers (Engine::SetMaxHotCustomers): each kept as its checkpoint bytes and the timer it
// has registered, in one block. The bytes are compressed with a zstd dictionary trained on the
// customers stored here: the checkpoints of one deployment share most of their strings (topics,
// actors, offer texts, products) and layout, so a ~1 KB checkpoint keeps ~350 bytes (random event
// ids and hashes are most of what is left). The dictionary is trained when kFirstTraining
// customers are stored, and again at 16x and 256x that many (the first ones may not be typical:
// after a start, customers seen only once); a customer keeps the dictionary it was compressed
// with until it is stored again. Training (~0.1 s) runs on a thread of its own, so the caller
// (the service's read loop) does not wait; until a dictionary is ready, and wherever compression
// does not help, bytes are kept as they are. Not thread-safe (the engine's lock covers it).
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_set.h>

#include "services/alignment/engine/util.h"
#include "services/alignment/engine/zstd_util.h"

namespace concord::alignment::engine {

class ColdStore {
 public:
  // What the engine reads of a cold customer without decoding it, kept beside the bytes: what
  // segment criteria select on (the interned industry, region and country, and the lifecycle
  // stage), so that a segment decodes only the cold customers in it; and the partition the
  // customer is checkpointed under (util.h: kNoPartition), in what was padding.
  struct Summary {
    uint32_t industry = 0, region = 0, country = 0;
    uint8_t stage = 0;
    uint16_t partition = kNoPartition;
  };

  // One stored customer: this header, then its key and its (compressed) checkpoint bytes.
  class Entry {
   public:
    std::string_view key() const { return {data(), key_size_}; }
    Micros timer_due;  // the timer registered in the engine for this customer (0 = none)
    Summary summary;

   private:
    friend class ColdStore;
    Entry(Micros due, const Summary& sum, size_t key_size, size_t stored_size, unsigned dict)
        : timer_due(due),
          summary(sum),
          key_size_(static_cast<uint32_t>(key_size)),
          stored_size_(static_cast<uint32_t>(stored_size)),
          dict_(dict) {}
    std::string_view stored() const { return {data() + key_size_, stored_size_}; }
    size_t block_bytes() const { return sizeof(Entry) + key_size_ + stored_size_; }
    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
    uint32_t key_size_;
    uint32_t stored_size_ : 29;
    uint32_t dict_ : 3;  // 0: as given; n: compressed with dictionary n - 1
  };

  static constexpr size_t kFirstTraining = 1000;
  static constexpr size_t kTrainingSamples = 2000;  // at most, evenly over the stored customers
  static constexpr size_t kDictionaryBytes = 4096;

  // train_in_background = false: trainings run in Put (tests: deterministic).
  explicit ColdStore(bool train_in_background = true);
  ~ColdStore();
  ColdStore(const ColdStore&) = delete;
  ColdStore& operator=(const ColdStore&) = delete;

  // Stores (or replaces) a customer's checkpoint and timer.
  void Put(std::string_view key, Micros timer_due, std::string_view checkpoint, const Summary& summary);
  void Put(std::string_view key, Micros timer_due, std::string_view checkpoint) { Put(key, timer_due, checkpoint, {}); }
  // The entry of a stored customer, or null.
  Entry* Find(std::string_view key) const;
  // Its checkpoint bytes, as given to Put, into *out.
  void Checkpoint(const Entry& e, std::string* out) const;
  // Removes a customer; returns whether it was stored, and its timer in *timer_due.
  bool Erase(std::string_view key, Micros* timer_due = nullptr);
  // Compresses up to n of the customers stored before the first dictionary arrived (each Put
  // does kCompressPerPut); false once none are left.
  bool CompressSome(size_t n);
  static constexpr size_t kCompressPerPut = 2;

  template <class F>  // f(Entry&) for every stored customer
  void ForEach(F&& f) {
    for (auto& e : entries_) f(*e);
  }
  template <class F>
  void ForEach(F&& f) const {
    for (const auto& e : entries_) f(static_cast<const Entry&>(*e));
  }

  size_t size() const { return entries_.size(); }
  size_t compressed() const { return compressed_; }
  // Bytes of the stored blocks (header, key, checkpoint bytes as kept), kept as they change.
  size_t stored_bytes() const { return stored_bytes_; }
  size_t dictionaries() const { return ddicts_.size(); }
  // Blocks until the trainings in the background are done, their dictionaries in use and
  // every customer stored before the first compressed with it (tests, benchmarks).
  void WaitForTraining();
  // Heap bytes: the blocks, the set's slots and the dictionaries with their contexts.
  size_t ApproxBytes() const;

 private:
  struct Delete {
    void operator()(Entry* e) const;
  };
  using Ptr = std::unique_ptr<Entry, Delete>;
  struct EntryKey {
    static std::string_view K(std::string_view k) { return k; }
    static std::string_view K(const Ptr& e) { return e->key(); }
  };
  struct Trained {
    ZstdPtr<ZSTD_CDict_s> cdict;
    ZstdPtr<ZSTD_DDict_s> ddict;
  };
  void Store(std::string_view key, Micros timer_due, std::string_view checkpoint, const Summary& summary);
  void StartTraining();
  void InstallIfTrained();
  void Install(Trained t);

  absl::flat_hash_set<Ptr, ByKey<EntryKey>, ByKey<EntryKey>> entries_;
  size_t compressed_ = 0;
  size_t stored_bytes_ = 0;
  std::string scratch_;
  const bool background_;
  size_t next_training_ = kFirstTraining;  // 0: no more
  int trainings_ = 0;
  std::future<Trained> training_;
  ZstdPtr<ZSTD_CCtx_s> cctx_;  // compresses with the newest dictionary
  ZstdPtr<ZSTD_CDict_s> cdict_;
  std::vector<ZstdPtr<ZSTD_DDict_s>> ddicts_;  // every dictionary trained (<= 3), oldest first
  mutable ZstdPtr<ZSTD_DCtx_s> dctx_;
  std::vector<std::string> uncompressed_;  // keys stored before the first dictionary (CompressSome)
  size_t uncompressed_at_ = 0;
};

}  // namespace concord::alignment::engine
