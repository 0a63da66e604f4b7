#include "services/alignment/dictionary_codec.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <zdict.h>  // ZDICT_getDictID
#include <zstd.h>

#include "common/logging/log.h"
#include "common/thread/thread_name.h"

namespace concord::alignment {

namespace {

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
// A finding or a checkpoint is at most a few tens of KiB; a frame claiming more is not one of ours.
constexpr unsigned long long kMaxValueBytes = 16ull << 20;

using engine::ZstdFree;
using engine::ZstdPtr;

std::chrono::milliseconds Backoff(int attempt) {
  return std::min((attempt + 1) * std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
}

std::optional<uint32_t> ParseId(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0) return std::nullopt;
  return v;
}

// The frame (dictionary id and size in its header), or the value itself when
// compression does not make them smaller: readers take both.
std::string CompressWith(ZSTD_CCtx* cctx, const ZSTD_CDict* cdict, std::string value) {
  std::string out(ZSTD_compressBound(value.size()), '\0');
  const size_t n = ZSTD_compress_usingCDict(cctx, out.data(), out.size(), value.data(), value.size(), cdict);
  if (ZSTD_isError(n) || n >= value.size()) return value;
  out.resize(n);
  return out;
}

}  // namespace

std::string DictionaryKey(std::string_view dict_prefix, uint32_t id) {
  return std::string(dict_prefix) + ":" + std::to_string(id);
}
std::string CurrentDictionaryKey(std::string_view dict_prefix) { return std::string(dict_prefix) + ":current"; }

bool IsCompressedValue(std::string_view stored) {
  return stored.size() >= sizeof kZstdMagic && std::equal(std::begin(kZstdMagic), std::end(kZstdMagic),
                                                          reinterpret_cast<const unsigned char*>(stored.data()));
}

// ------------------------------------------------------------------ read side

Dictionaries::Dictionaries(std::string prefix) : prefix_(std::move(prefix)) {}
Dictionaries::~Dictionaries() = default;

absl::StatusOr<std::shared_ptr<Dictionaries::Dictionary>> Dictionaries::Get(redis::Connection& conn,
                                                                                       uint32_t id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = dictionaries_.find(id); it != dictionaries_.end()) return it->second;
  }
  // Once per dictionary and process: outside the lock, a concurrent first reader may load it too.
  auto r = conn.CommandOk({"GET", DictionaryKey(prefix_, id)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return absl::DataLossError("dictionary " + prefix_ + ":" + std::to_string(id) + " is missing from Redis");
  auto d = std::make_shared<Dictionary>();
  d->bytes = std::move(r->str);
  d->ddict.reset(ZSTD_createDDict(d->bytes.data(), d->bytes.size()), ZstdFree{});
  if (!d->ddict) return absl::DataLossError("dictionary " + prefix_ + ":" + std::to_string(id) + " does not load");
  std::lock_guard lock(mu_);
  return dictionaries_.try_emplace(id, std::move(d)).first->second;
}

absl::Status Dictionaries::Decompress(redis::Connection& conn, std::string_view stored, std::string* out) {
  if (!IsCompressedValue(stored)) {
    out->assign(stored);
    return absl::OkStatus();
  }
  const uint32_t id = ZSTD_getDictID_fromFrame(stored.data(), stored.size());
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (id == 0 || size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > kMaxValueBytes) {
    return absl::DataLossError("a compressed value without its dictionary id or size");
  }
  auto dict = Get(conn, id);
  if (!dict.ok()) return dict.status();
  thread_local ZstdPtr<ZSTD_DCtx> dctx(ZSTD_createDCtx());
  out->resize(size);
  const size_t n =
      ZSTD_decompress_usingDDict(dctx.get(), out->data(), out->size(), stored.data(), stored.size(), (*dict)->ddict.get());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(std::string("a compressed value does not decompress: ") +
                               (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Dictionaries::CompressLike(redis::Connection& conn, std::string value,
                                                      std::string_view like) {
  if (!IsCompressedValue(like)) return value;
  auto dict = Get(conn, ZSTD_getDictID_fromFrame(like.data(), like.size()));
  if (!dict.ok()) return dict.status();
  std::shared_ptr<ZSTD_CDict_s> cdict;
  {
    std::lock_guard lock(mu_);
    if (!(*dict)->cdict) {
      (*dict)->cdict.reset(ZSTD_createCDict((*dict)->bytes.data(), (*dict)->bytes.size(), DictionaryCompressor::kLevel),
                           ZstdFree{});
    }
    cdict = (*dict)->cdict;
  }
  if (!cdict) return value;
  thread_local ZstdPtr<ZSTD_CCtx> cctx(ZSTD_createCCtx());
  return CompressWith(cctx.get(), cdict.get(), std::move(value));
}

// ------------------------------------------------------------------ write side

DictionaryCompressor::DictionaryCompressor(std::string dict_prefix, redis::Options redis, std::string what)
    : prefix_(std::move(dict_prefix)), what_(std::move(what)), redis_(std::move(redis)) {}

DictionaryCompressor::~DictionaryCompressor() { Stop(); }

void DictionaryCompressor::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
    collecting_ = !ready_.load();
  }
  thread_ = std::thread([this] {
    thread::SetName("align-dict");  // obtains or trains the compression dictionary
    Run();
  });
}

void DictionaryCompressor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DictionaryCompressor::WaitReady(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready_.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return ready_.load();
}

std::string DictionaryCompressor::Compress(std::string value) {
  if (!ready_.load(std::memory_order_acquire)) {
    std::unique_lock lock(mu_);
    if (collecting_ && samples_.size() < 4 * kSamples) {  // a failed training tries again on more
      samples_.push_back(value);
      if (samples_.size() % kSamples == 0) cv_.notify_all();
    }
    return value;
  }
  if (!cctx_) cctx_.reset(ZSTD_createCCtx());
  return CompressWith(cctx_.get(), cdict_.get(), std::move(value));
}

std::string DictionaryCompressor::Obtain(redis::Connection& conn) {
  auto stopping = [&](std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait, [&] { return stop_; });
  };
  // The deployment's current dictionary, if it has one: every instance and restart then
  // shares it, so Redis keeps one (a few KiB), not one per start.
  for (int attempt = 0;; ++attempt) {
    auto cur = conn.CommandOk({"GET", CurrentDictionaryKey(prefix_)});
    if (cur.ok() && !cur->is_nil()) {
      if (auto id = ParseId(cur->str)) {
        auto dict = conn.CommandOk({"GET", DictionaryKey(prefix_, *id)});
        if (dict.ok() && !dict->is_nil()) return dict->str;
        if (dict.ok()) {
          log::Warn("the current dictionary is missing; training a new one", {{"values", what_}, {"id", *id}});
          break;
        }
      } else {
        log::Warn("the current dictionary's id does not parse; training a new one",
                  {{"values", what_}, {"value", cur->str}});
        break;
      }
    } else if (cur.ok()) {
      break;  // none yet
    }
    if (stopping(Backoff(attempt))) return {};
  }
  // Train on the first values. Too little variety to learn from: again on more.
  for (size_t want = kSamples; want <= 4 * kSamples; want *= 2) {
    std::string joined;
    std::vector<size_t> sizes;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || samples_.size() >= want; });
      if (stop_) return {};
      for (const auto& s : samples_) {
        joined += s;
        sizes.push_back(s.size());
      }
    }
    const std::string dict = engine::TrainDictionary(joined, sizes, kDictionaryBytes);
    if (dict.empty()) {
      log::Info("dictionary not trained yet", {{"values", what_}, {"samples", sizes.size()}});
      continue;
    }
    const uint32_t id = ZDICT_getDictID(dict.data(), dict.size());
    // Stored before any value uses it. NX: an existing dictionary with the same id (the same
    // content, or a 1-in-2^31 collision) is kept, and adopted below.
    for (int attempt = 0;; ++attempt) {
      auto set = conn.Pipeline({{"SET", DictionaryKey(prefix_, id), dict, "NX"},
                                {"GET", DictionaryKey(prefix_, id)},
                                {"SET", CurrentDictionaryKey(prefix_), std::to_string(id), "NX"}});
      if (set.ok() && (*set)[1].type == redis::Reply::Type::kString) {
        log::Info("dictionary trained and stored",
                  {{"values", what_}, {"id", id}, {"bytes", (*set)[1].str.size()}, {"samples", sizes.size()}});
        return (*set)[1].str;
      }
      if (stopping(Backoff(attempt))) return {};
    }
  }
  log::Warn("values stay uncompressed in Redis: no dictionary could be trained on them",
            {{"values", what_}, {"samples", 4 * kSamples}});
  return {};
}

void DictionaryCompressor::Run() {
  if (ready_.load()) return;  // started again: the dictionary in use stays
  engine::LowestPriority();  // a training is ~0.1-1 s of CPU, not to be taken from the events' path
  redis::Connection conn(redis_);
  std::string dict = Obtain(conn);
  {
    std::lock_guard lock(mu_);
    collecting_ = false;
    std::vector<std::string>().swap(samples_);
  }
  if (dict.empty()) return;
  cdict_.reset(ZSTD_createCDict(dict.data(), dict.size(), kLevel));
  if (!cdict_) return;
  id_ = ZDICT_getDictID(dict.data(), dict.size());
  ready_.store(true, std::memory_order_release);
}

}  // namespace concord::alignment
