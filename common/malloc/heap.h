#pragma once
// The allocator, asked what it holds and to give back what it holds beyond live data. Whichever
// allocator the binary runs on: jemalloc (concord::malloc) is reached through mallctl, found at
// run time, so that libraries need not link it; otherwise (glibc, or a sanitizer's) malloc_trim.

#include <cstddef>
#include <optional>

namespace concord::heap {

// jemalloc's bytes in live allocations and resident bytes of the heap (freed pages not yet
// returned included), refreshed now; nullopt when the binary does not run on jemalloc.
struct Stats {
  size_t allocated = 0;
  size_t resident = 0;
};
std::optional<Stats> JemallocStats();

// Returns the calling thread's cache of freed blocks to its arena and every arena's freed pages
// to the system now, instead of over jemalloc's decay time (10 s). For a thread that has just
// freed a lot and goes quiet: memory that would be returned anyway is returned before, e.g.,
// a pod's memory is next sampled. Costs a few page faults when allocation picks up again.
void ReleaseFreeMemory();

// Blocks that live long (minutes to days) but are allocated among a busy thread's short-lived
// ones: kept in a jemalloc arena of their own, without a thread cache, so that they do not end
// up one or two to a slab across slabs that the short-lived allocations then free (such slabs
// stay resident for their sake). Thread-safe. Free with the size allocated.
void* AllocateLongLived(size_t bytes);
void FreeLongLived(void* p, size_t bytes);

}  // namespace concord::heap
