#include "common/thread/thread_name.h"

#include <pthread.h>

namespace concord::thread {

namespace {
constexpr size_t kMaxName = 15;  // the kernel's TASK_COMM_LEN, less the NUL
}

void SetName(std::string_view name) {
  const std::string n(name.substr(0, kMaxName));
  pthread_setname_np(pthread_self(), n.c_str());
}

std::string Name() {
  char buf[kMaxName + 1] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return "";
  return buf;
}

}  // namespace concord::thread
