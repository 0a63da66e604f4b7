#include "services/alignment/engine/cold_store.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <new>
#include <utility>

#include <zstd.h>

#include "common/malloc/heap.h"
#include "common/thread/thread_name.h"

namespace concord::alignment::engine {
namespace {

// Level -3 (fast): ~2.5% more bytes than level 1 in 60% of the time (1.8 vs 2.9 us a 1 KB checkpoint).
constexpr int kLevel = -3;

[[noreturn]] void Die(const char* what, const char* why) {
  // Only a bug or corrupted memory gets here: the store decodes only what it encoded.
  std::fprintf(stderr, "alignment engine: cold store: %s: %s\n", what, why);
  std::abort();
}
[[noreturn]] void Die(const char* what, size_t code) { Die(what, ZSTD_getErrorName(code)); }

}  // namespace

void ColdStore::Delete::operator()(Entry* e) const {
  const size_t bytes = e->block_bytes();
  e->~Entry();
  heap::FreeLongLived(e, bytes);
}

static_assert(sizeof(ColdStore::Entry) == 32, "the partition sits in what was the summary's padding");

ColdStore::ColdStore(bool train_in_background) : background_(train_in_background) {}
ColdStore::~ColdStore() = default;  // waits for a training still running (std::async's future)

void ColdStore::Put(std::string_view key, Micros timer_due, std::string_view checkpoint, const Summary& summary) {
  InstallIfTrained();
  Store(key, timer_due, checkpoint, summary);
  CompressSome(kCompressPerPut);
}

void ColdStore::Store(std::string_view key, Micros timer_due, std::string_view checkpoint, const Summary& summary) {
  std::string_view stored = checkpoint;
  unsigned dict = 0;
  if (cdict_) {
    scratch_.resize(ZSTD_compressBound(checkpoint.size()));
    const size_t n = ZSTD_compress2(cctx_.get(), scratch_.data(), scratch_.size(), checkpoint.data(), checkpoint.size());
    if (ZSTD_isError(n)) Die("compress", n);
    if (n < checkpoint.size()) {
      stored = std::string_view(scratch_.data(), n);
      dict = static_cast<unsigned>(ddicts_.size());
    }
  }
  Erase(key);
  // Blocks live until the customer's next event, often minutes or days: apart from the read
  // thread's short-lived allocations (records, events held for the merge) of the same sizes.
  void* block = heap::AllocateLongLived(sizeof(Entry) + key.size() + stored.size());
  Ptr e(new (block) Entry(timer_due, summary, key.size(), stored.size(), dict));
  std::memcpy(e->data(), key.data(), key.size());
  std::memcpy(e->data() + key.size(), stored.data(), stored.size());
  compressed_ += dict != 0;
  stored_bytes_ += e->block_bytes();
  entries_.insert(std::move(e));
  if (next_training_ && entries_.size() >= next_training_ && !training_.valid()) StartTraining();
}

ColdStore::Entry* ColdStore::Find(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->get();
}

void ColdStore::Checkpoint(const Entry& e, std::string* out) const {
  const std::string_view s = e.stored();
  if (e.dict_ == 0) {
    out->assign(s);
    return;
  }
  const unsigned long long size = ZSTD_getFrameContentSize(s.data(), s.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) Die("frame", "no content size");
  out->resize(size);
  const size_t n = ZSTD_decompress_usingDDict(dctx_.get(), out->data(), out->size(), s.data(), s.size(),
                                              ddicts_[e.dict_ - 1].get());
  if (ZSTD_isError(n)) Die("decompress", n);
  if (n != size) Die("decompress", "size differs from the frame's");
}

bool ColdStore::Erase(std::string_view key, Micros* timer_due) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  if (timer_due) *timer_due = (*it)->timer_due;
  compressed_ -= (*it)->dict_ != 0;
  stored_bytes_ -= (*it)->block_bytes();
  entries_.erase(it);
  return true;
}

size_t ColdStore::ApproxBytes() const {
  size_t n = entries_.capacity() * (sizeof(Ptr) + 1);
  for (const auto& e : entries_) n += e->block_bytes();
  for (const auto& d : ddicts_) n += ZSTD_sizeof_DDict(d.get());
  if (cdict_) n += ZSTD_sizeof_CDict(cdict_.get()) + ZSTD_sizeof_CCtx(cctx_.get()) + ZSTD_sizeof_DCtx(dctx_.get());
  return n;
}

void ColdStore::StartTraining() {
  // Next time at 16x as many customers; three dictionaries at most (an entry's dict_ has room
  // for seven).
  next_training_ = trainings_ < 2 ? next_training_ * 16 : 0;
  ++trainings_;
  // Samples: at most kTrainingSamples, evenly over the stored customers (in hash order, which
  // has nothing to do with age), copied for the training.
  auto samples = std::make_shared<std::string>();
  auto sizes = std::make_shared<std::vector<size_t>>();
  std::string one;
  const size_t step = std::max<size_t>(1, entries_.size() / kTrainingSamples);
  size_t i = 0;
  for (const auto& e : entries_) {
    if (i++ % step != 0) continue;
    Checkpoint(*e, &one);
    samples->append(one);
    sizes->push_back(one.size());
  }
  auto train = [samples, sizes, background = background_]() -> Trained {
    // ~0.1 s of CPU, not taken from the caller's thread.
    if (background) {
      thread::SetName("cold-train");
      LowestPriority();
    }
    const std::string dict = TrainDictionary(*samples, *sizes, kDictionaryBytes);
    Trained t;
    if (dict.empty()) return t;  // too little to learn from: as before
    t.cdict.reset(ZSTD_createCDict(dict.data(), dict.size(), kLevel));
    t.ddict.reset(ZSTD_createDDict(dict.data(), dict.size()));
    return t;
  };
  if (background_) {
    training_ = std::async(std::launch::async, std::move(train));
  } else {
    Install(train());
  }
}

void ColdStore::InstallIfTrained() {
  if (training_.valid() && training_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) Install(training_.get());
}

void ColdStore::WaitForTraining() {
  // Compressing what was stored before the first dictionary may start the next training.
  while (training_.valid()) {
    Install(training_.get());
    while (CompressSome(SIZE_MAX)) {
    }
  }
}

bool ColdStore::CompressSome(size_t n) {
  if (uncompressed_.empty()) return false;  // every Put asks
  std::string one;
  for (; n > 0 && uncompressed_at_ < uncompressed_.size(); --n) {
    const Entry* e = Find(uncompressed_[uncompressed_at_]);
    if (e && e->dict_ == 0) {  // not erased or stored again since
      Checkpoint(*e, &one);
      Store(uncompressed_[uncompressed_at_], e->timer_due, one, Summary(e->summary));  // a copy: Store replaces e
    }
    ++uncompressed_at_;
  }
  if (uncompressed_at_ < uncompressed_.size()) return true;
  std::vector<std::string>().swap(uncompressed_);
  uncompressed_at_ = 0;
  return false;
}

void ColdStore::Install(Trained t) {
  if (!t.cdict || !t.ddict) return;
  if (!cctx_) cctx_.reset(ZSTD_createCCtx());
  if (!dctx_) dctx_.reset(ZSTD_createDCtx());
  if (!cctx_ || !dctx_) throw std::bad_alloc();
  cdict_ = std::move(t.cdict);
  ddicts_.push_back(std::move(t.ddict));
  // The frame keeps its content size (the decoder sizes its output from it) and leaves out the
  // checksum and the dictionary id: 4-8 bytes a customer; an entry records its dictionary.
  for (auto [param, value] : {std::pair{ZSTD_c_compressionLevel, kLevel}, std::pair{ZSTD_c_dictIDFlag, 0},
                              std::pair{ZSTD_c_checksumFlag, 0}, std::pair{ZSTD_c_contentSizeFlag, 1}}) {
    if (const size_t r = ZSTD_CCtx_setParameter(cctx_.get(), param, value); ZSTD_isError(r)) Die("parameter", r);
  }
  if (const size_t r = ZSTD_CCtx_refCDict(cctx_.get(), cdict_.get()); ZSTD_isError(r)) Die("dictionary", r);
  // With the first dictionary, the customers stored so far are compressed too, a few per later
  // Put (CompressSome): by the time a training on a busy machine is done, thousands may have
  // been stored, and compressing them at once (~2.5 us each) held the caller's next events up
  // by tens of milliseconds. Later dictionaries apply from each customer's next Put.
  if (ddicts_.size() > 1) return;
  uncompressed_.reserve(entries_.size());
  for (const auto& e : entries_)
    if (e->dict_ == 0) uncompressed_.emplace_back(e->key());
}

}  // namespace concord::alignment::engine
