// jemalloc's options for the service binaries (compiled into each binary that links
// concord::malloc; jemalloc reads this symbol at start, MALLOC_CONF still overrides it).
// background_thread: freed memory is returned to the system by jemalloc's own thread after
// its decay time (10 s), also while the service is idle. Without it pages are only purged on
// later allocations, so a burst (a backlog replayed, a large checkpoint) left its peak as the
// resident size for good: 240 MB after a 100k-event replay, 78 MB ten seconds later with it.
extern "C" {
const char* malloc_conf = "background_thread:true";
}
