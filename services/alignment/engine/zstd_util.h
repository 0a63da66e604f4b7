#pragma once
// What the cold store (in memory) and the Redis codec (dictionary_codec.h) share of zstd:
// owning pointers to its handles, and training a dictionary. zstd.h stays out of headers.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace concord::alignment::engine {

struct ZstdFree {
  void operator()(ZSTD_CCtx_s* p) const;
  void operator()(ZSTD_DCtx_s* p) const;
  void operator()(ZSTD_CDict_s* p) const;
  void operator()(ZSTD_DDict_s* p) const;
};
template <typename T>
using ZstdPtr = std::unique_ptr<T, ZstdFree>;

// A dictionary of at most `capacity` bytes trained on the samples (concatenated, with their
// sizes); empty when they are too few or too alike to learn from.
std::string TrainDictionary(std::string_view samples, const std::vector<size_t>& sizes, size_t capacity);

// Lowers the calling thread to the lowest priority: a training's CPU should not be taken from
// the threads on the events' path (nor from the broker beside them on a small machine).
void LowestPriority();

}  // namespace concord::alignment::engine
