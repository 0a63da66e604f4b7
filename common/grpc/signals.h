#pragma once
// SIGTERM/SIGINT as an ordinary event: the signals are blocked in every thread and a single
// thread waits for them with sigwait, so shutdown runs as normal code, not in a handler.

#include <chrono>

namespace concord::grpcserver {

// Call first thing in main(), before any thread starts (threads inherit the mask).
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT; returns the signal number.
int WaitForTerminationSignal();

}  // namespace concord::grpcserver
