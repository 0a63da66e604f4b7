#include "services/alignment/finding_codec.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <zdict.h>
#include <zstd.h>

#include "common/logging/log.h"

namespace concord::alignment {

namespace {

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
// A finding is at most a few tens of KiB (50 evidence items, 4 KiB texts); a frame claiming
// more is not one of ours.
constexpr unsigned long long kMaxFindingBytes = 16ull << 20;

std::optional<uint32_t> ParseId(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0) return std::nullopt;
  return v;
}

// The frame (dictionary id and size in its header), or the serialized bytes themselves when
// compression does not make them smaller: readers take both.
std::string CompressWith(ZSTD_CCtx* cctx, const ZSTD_CDict* cdict, std::string serialized) {
  std::string out(ZSTD_compressBound(serialized.size()), '\0');
  const size_t n = ZSTD_compress_usingCDict(cctx, out.data(), out.size(), serialized.data(), serialized.size(), cdict);
  if (ZSTD_isError(n) || n >= serialized.size()) return serialized;
  out.resize(n);
  return out;
}

}  // namespace

std::string FindingDictionaryKey(std::string_view prefix, uint32_t id) {
  return std::string(prefix) + ":fdict:" + std::to_string(id);
}
std::string CurrentFindingDictionaryKey(std::string_view prefix) { return std::string(prefix) + ":fdict:current"; }

bool IsCompressedFinding(std::string_view stored) {
  return stored.size() >= sizeof kZstdMagic && std::equal(std::begin(kZstdMagic), std::end(kZstdMagic),
                                                          reinterpret_cast<const unsigned char*>(stored.data()));
}

// ------------------------------------------------------------------ read side

void FindingDictionaries::FreeDDict::operator()(ZSTD_DDict_s* p) const { ZSTD_freeDDict(p); }
void FindingDictionaries::FreeCDict::operator()(ZSTD_CDict_s* p) const { ZSTD_freeCDict(p); }

FindingDictionaries::FindingDictionaries(std::string prefix) : prefix_(std::move(prefix)) {}
FindingDictionaries::~FindingDictionaries() = default;

absl::StatusOr<std::shared_ptr<FindingDictionaries::Dictionary>> FindingDictionaries::Get(redis::Connection& conn,
                                                                                       uint32_t id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = dictionaries_.find(id); it != dictionaries_.end()) return it->second;
  }
  // Once per dictionary and process: outside the lock, a concurrent first reader may load it too.
  auto r = conn.CommandOk({"GET", FindingDictionaryKey(prefix_, id)});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return absl::DataLossError("finding dictionary " + std::to_string(id) + " is missing from Redis");
  auto d = std::make_shared<Dictionary>();
  d->bytes = std::move(r->str);
  d->ddict.reset(ZSTD_createDDict(d->bytes.data(), d->bytes.size()), FreeDDict{});
  if (!d->ddict) return absl::DataLossError("finding dictionary " + std::to_string(id) + " does not load");
  std::lock_guard lock(mu_);
  return dictionaries_.try_emplace(id, std::move(d)).first->second;
}

absl::Status FindingDictionaries::Decompress(redis::Connection& conn, std::string_view stored, std::string* out) {
  if (!IsCompressedFinding(stored)) {
    out->assign(stored);
    return absl::OkStatus();
  }
  const uint32_t id = ZSTD_getDictID_fromFrame(stored.data(), stored.size());
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (id == 0 || size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > kMaxFindingBytes) {
    return absl::DataLossError("a compressed finding without its dictionary id or size");
  }
  auto dict = Get(conn, id);
  if (!dict.ok()) return dict.status();
  struct FreeDCtx {
    void operator()(ZSTD_DCtx* p) const { ZSTD_freeDCtx(p); }
  };
  thread_local std::unique_ptr<ZSTD_DCtx, FreeDCtx> dctx(ZSTD_createDCtx());
  out->resize(size);
  const size_t n =
      ZSTD_decompress_usingDDict(dctx.get(), out->data(), out->size(), stored.data(), stored.size(), (*dict)->ddict.get());
  if (ZSTD_isError(n) || n != size) {
    return absl::DataLossError(std::string("a compressed finding does not decompress: ") +
                               (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FindingDictionaries::StoreLike(redis::Connection& conn, std::string serialized,
                                                           std::string_view like) {
  if (!IsCompressedFinding(like)) return serialized;
  auto dict = Get(conn, ZSTD_getDictID_fromFrame(like.data(), like.size()));
  if (!dict.ok()) return dict.status();
  std::shared_ptr<ZSTD_CDict_s> cdict;
  {
    std::lock_guard lock(mu_);
    if (!(*dict)->cdict) {
      (*dict)->cdict.reset(ZSTD_createCDict((*dict)->bytes.data(), (*dict)->bytes.size(), FindingCompressor::kLevel),
                           FreeCDict{});
    }
    cdict = (*dict)->cdict;
  }
  if (!cdict) return serialized;
  struct FreeCCtx {
    void operator()(ZSTD_CCtx* p) const { ZSTD_freeCCtx(p); }
  };
  thread_local std::unique_ptr<ZSTD_CCtx, FreeCCtx> cctx(ZSTD_createCCtx());
  return CompressWith(cctx.get(), cdict.get(), std::move(serialized));
}

absl::Status FindingDictionaries::Parse(redis::Connection& conn, std::string_view stored, v1::Finding* out) {
  if (!IsCompressedFinding(stored)) {
    if (!out->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
      return absl::DataLossError("a stored finding does not parse");
    }
    return absl::OkStatus();
  }
  thread_local std::string buf;
  if (auto s = Decompress(conn, stored, &buf); !s.ok()) return s;
  if (!out->ParseFromString(buf)) return absl::DataLossError("a compressed finding does not parse");
  return absl::OkStatus();
}

// ------------------------------------------------------------------ write side

void FindingCompressor::FreeCCtx::operator()(ZSTD_CCtx_s* p) const { ZSTD_freeCCtx(p); }
void FindingCompressor::FreeCDict::operator()(ZSTD_CDict_s* p) const { ZSTD_freeCDict(p); }

FindingCompressor::FindingCompressor(std::string prefix, redis::Options redis)
    : prefix_(std::move(prefix)), redis_(std::move(redis)) {}

FindingCompressor::~FindingCompressor() { Stop(); }

void FindingCompressor::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
    collecting_ = !ready_.load();
  }
  thread_ = std::thread([this] { Run(); });
}

void FindingCompressor::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool FindingCompressor::WaitReady(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready_.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return ready_.load();
}

std::string FindingCompressor::Compress(std::string serialized) {
  if (!ready_.load(std::memory_order_acquire)) {
    std::unique_lock lock(mu_);
    if (collecting_ && samples_.size() < 4 * kSamples) {  // a failed training tries again on more
      samples_.push_back(serialized);
      if (samples_.size() % kSamples == 0) cv_.notify_all();
    }
    return serialized;
  }
  if (!cctx_) cctx_.reset(ZSTD_createCCtx());
  return CompressWith(cctx_.get(), cdict_.get(), std::move(serialized));
}

std::string FindingCompressor::Obtain(redis::Connection& conn) {
  auto stopping = [&](std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait, [&] { return stop_; });
  };
  // The deployment's current dictionary, if it has one: every instance and restart then
  // shares it, so Redis keeps one (a few KiB), not one per start.
  for (int attempt = 0;; ++attempt) {
    auto cur = conn.CommandOk({"GET", CurrentFindingDictionaryKey(prefix_)});
    if (cur.ok() && !cur->is_nil()) {
      if (auto id = ParseId(cur->str)) {
        auto dict = conn.CommandOk({"GET", FindingDictionaryKey(prefix_, *id)});
        if (dict.ok() && !dict->is_nil()) return dict->str;
        if (dict.ok()) {
          log::Warn("the current finding dictionary is missing; training a new one", {{"id", *id}});
          break;
        }
      } else {
        log::Warn("the current finding dictionary's id does not parse; training a new one", {{"value", cur->str}});
        break;
      }
    } else if (cur.ok()) {
      break;  // none yet
    }
    if (stopping(std::min((attempt + 1) * std::chrono::milliseconds(200), std::chrono::milliseconds(2000)))) return {};
  }
  // Train on the first findings. Too little variety to learn from: again on more.
  for (size_t want = kSamples; want <= 4 * kSamples; want *= 2) {
    std::vector<std::string> samples;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || samples_.size() >= want; });
      if (stop_) return {};
      samples = samples_;
    }
    std::string joined;
    std::vector<size_t> sizes;
    for (const auto& s : samples) {
      joined += s;
      sizes.push_back(s.size());
    }
    std::string dict(kDictionaryBytes, '\0');
    const size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                           static_cast<unsigned>(sizes.size()));
    if (ZDICT_isError(n)) {
      log::Info("finding dictionary not trained yet", {{"samples", samples.size()}, {"error", ZDICT_getErrorName(n)}});
      continue;
    }
    dict.resize(n);
    const uint32_t id = ZDICT_getDictID(dict.data(), dict.size());
    // Stored before any finding uses it. NX: an existing dictionary with the same id (the same
    // content, or a 1-in-2^31 collision) is kept, and adopted below.
    for (int attempt = 0;; ++attempt) {
      auto set = conn.Pipeline({{"SET", FindingDictionaryKey(prefix_, id), dict, "NX"},
                                {"GET", FindingDictionaryKey(prefix_, id)},
                                {"SET", CurrentFindingDictionaryKey(prefix_), std::to_string(id), "NX"}});
      if (set.ok() && (*set)[1].type == redis::Reply::Type::kString) {
        log::Info("finding dictionary trained and stored", {{"id", id}, {"bytes", (*set)[1].str.size()}, {"samples", samples.size()}});
        return (*set)[1].str;
      }
      if (stopping(std::min((attempt + 1) * std::chrono::milliseconds(200), std::chrono::milliseconds(2000)))) return {};
    }
  }
  log::Warn("findings stay uncompressed in Redis: no dictionary could be trained on them", {{"samples", 4 * kSamples}});
  return {};
}

void FindingCompressor::Run() {
  if (ready_.load()) return;  // started again: the dictionary in use stays
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
