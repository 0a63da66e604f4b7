#include "common/grpc/signals.h"

#include <signal.h>
#include <pthread.h>

namespace concord::grpcserver {
namespace {
sigset_t TermSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TermSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket must not kill the process
}

int WaitForTerminationSignal() {
  sigset_t set = TermSet();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace concord::grpcserver
