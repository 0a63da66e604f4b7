#pragma once
// The process's own gauges, read at each scrape: resident memory, CPU time, threads, and, when
// the binary runs on jemalloc (concord::malloc), the heap's live and resident bytes. Resident
// minus heap resident is code, stacks and what is mapped outside malloc; heap resident minus
// allocated is the allocator's slack (freed pages not yet returned).

#include "common/metrics/metrics.h"

namespace concord::metrics {

void AddProcessMetrics(Registry& registry);

}  // namespace concord::metrics
