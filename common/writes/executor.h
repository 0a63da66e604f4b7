#pragma once
// A fixed pool of threads running queued tasks in order; the destructor runs what is queued,
// then joins. The services' RPC logic blocks on Redis, and gRPC's callback threads must not
// block (there are only a few of them: a blocked one stalls every call it would serve), so
// each call's work is handed to one of these workers.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace concord::writes {

class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  void Submit(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace concord::writes
