#include "common/metrics/process_metrics.h"

#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/malloc/heap.h"

namespace concord::metrics {
namespace {

struct Gauges {
  Gauge* resident;
  Counter* cpu;
  std::shared_ptr<double> cpu_seen = std::make_shared<double>(0);  // seconds already counted
  Gauge* threads;
  Gauge* heap_allocated = nullptr;
  Gauge* heap_resident = nullptr;
};

void Collect(const Gauges& g) {
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (std::ifstream statm("/proc/self/statm"); statm) {
    long size = 0, resident = 0;
    if (statm >> size >> resident) g.resident->Set(static_cast<double>(resident) * page);
  }
  if (std::ifstream stat("/proc/self/stat"); stat) {
    std::string line;
    std::getline(stat, line);
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    long threads = 0;
    for (int i = 3; rest >> field; ++i) {  // field 3 is the state
      if (i == 14) utime = std::stoul(field);
      else if (i == 15) stime = std::stoul(field);
      else if (i == 20) {
        threads = std::stol(field);
        break;
      }
    }
    double cpu = static_cast<double>(utime + stime) / ticks;
    if (cpu > *g.cpu_seen) {  // a counter: it only goes up by what was used since the last scrape
      g.cpu->Inc(cpu - *g.cpu_seen);
      *g.cpu_seen = cpu;
    }
    g.threads->Set(static_cast<double>(threads));
  }
  if (g.heap_allocated) {
    if (auto s = heap::JemallocStats()) {
      g.heap_allocated->Set(static_cast<double>(s->allocated));
      g.heap_resident->Set(static_cast<double>(s->resident));
    }
  }
}

}  // namespace

void AddProcessMetrics(Registry& registry) {
  Gauges g{
      .resident = &registry.AddGauge("process_resident_memory_bytes", "Resident memory size in bytes").With({}),
      .cpu = &registry.AddCounter("process_cpu_seconds_total", "User and system CPU time spent in seconds").With({}),
      .threads = &registry.AddGauge("process_threads", "Threads in the process").With({}),
  };
  if (heap::JemallocStats()) {  // the binary runs on jemalloc (not, e.g., under the sanitizers)
    g.heap_allocated = &registry.AddGauge("concord_heap_allocated_bytes", "Bytes in live heap allocations (jemalloc)").With({});
    g.heap_resident = &registry.AddGauge("concord_heap_resident_bytes",
                                         "Resident bytes of the heap, including freed pages not yet returned (jemalloc)")
                          .With({});
  }
  Collect(g);
  registry.AddCollectHook([g] { Collect(g); });
}

}  // namespace concord::metrics
