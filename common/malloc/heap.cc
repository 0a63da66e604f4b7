#include "common/malloc/heap.h"

#include <malloc.h>

#include <cstdint>
#include <new>

// Weak: null unless the binary links jemalloc (not under the sanitizers).
extern "C" {
int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) __attribute__((weak));
void* mallocx(size_t size, int flags) __attribute__((weak));
void sdallocx(void* ptr, size_t size, int flags) __attribute__((weak));
}

namespace concord::heap {

std::optional<Stats> JemallocStats() {
  if (!mallctl) return std::nullopt;
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  mallctl("epoch", &epoch, &len, &epoch, len);  // refreshes the statistics
  Stats s;
  len = sizeof(s.allocated);
  if (mallctl("stats.allocated", &s.allocated, &len, nullptr, 0) != 0) return std::nullopt;
  len = sizeof(s.resident);
  if (mallctl("stats.resident", &s.resident, &len, nullptr, 0) != 0) return std::nullopt;
  return s;
}

void ReleaseFreeMemory() {
  if (mallctl) {
    mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL
  } else {
    malloc_trim(0);
  }
}

namespace {
// mallocx flags for the long-lived arena (jemalloc.h's MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE),
// or 0 without jemalloc.
int LongLivedFlags() {
  static const int flags = [] {
    unsigned arena = 0;
    size_t len = sizeof(arena);
    if (!mallctl || !mallocx || !sdallocx || mallctl("arenas.create", &arena, &len, nullptr, 0) != 0) return 0;
    return static_cast<int>(((arena + 1) << 20) | (1 << 8));
  }();
  return flags;
}
}  // namespace

void* AllocateLongLived(size_t bytes) {
  if (const int flags = LongLivedFlags()) {
    if (void* p = mallocx(bytes, flags)) return p;
    throw std::bad_alloc();
  }
  return ::operator new(bytes);
}

void FreeLongLived(void* p, size_t bytes) {
  if (const int flags = LongLivedFlags()) {
    sdallocx(p, bytes, flags);
  } else {
    ::operator delete(p);
  }
}

}  // namespace concord::heap
