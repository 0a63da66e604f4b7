#include "services/alignment/engine/zstd_util.h"

#include <sys/resource.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

namespace concord::alignment::engine {

void ZstdFree::operator()(ZSTD_CCtx_s* p) const { ZSTD_freeCCtx(p); }
void ZstdFree::operator()(ZSTD_DCtx_s* p) const { ZSTD_freeDCtx(p); }
void ZstdFree::operator()(ZSTD_CDict_s* p) const { ZSTD_freeCDict(p); }
void ZstdFree::operator()(ZSTD_DDict_s* p) const { ZSTD_freeDDict(p); }

std::string TrainDictionary(std::string_view samples, const std::vector<size_t>& sizes, size_t capacity) {
  std::string dict(capacity, '\0');
  const size_t n =
      ZDICT_trainFromBuffer(dict.data(), dict.size(), samples.data(), sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) return {};
  dict.resize(n);
  return dict;
}

void LowestPriority() { setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19); }

}  // namespace concord::alignment::engine
