#pragma once
// A pipelining Redis client: one connection, one I/O thread. Callers on any thread hand it a
// group of commands and a callback; the group is written at once on the caller's thread (no
// hand-over), and the I/O thread reads the replies as they come (one read() serving every
// call it finds answered) and runs each group's callback. No caller thread sleeps on the
// socket (the blocking Call() is a thin wait on top, for code that must block).
//
// Auto-pipelining: while `max_flights` writes are unanswered, a new group is only appended to
// the output buffer, and the I/O thread writes everything gathered meanwhile as soon as a
// flight's replies are in (before it runs their callbacks). An idle connection writes at
// once, so a lone call waits for nothing; a busy one pays one write() and one Redis read per
// flight instead of per call (on loopback each write() also runs Redis' side of TCP and wakes
// it). A gathered group waits at most for one reply to come back.
//
// hiredis is used as a framer and parser only (a non-blocking redisContext: redisBufferWrite,
// redisBufferRead, redisReaderGetReply); the queue of callbacks is ours. redisAsyncContext was
// not used: it frees itself on a disconnect (which fights RAII ownership) and hiredis 0.14 has
// no connect timeout for it.
//
// Failures, as the blocking Connection reports them: UNAVAILABLE when Redis cannot be reached
// or the connection breaks, DEADLINE_EXCEEDED when a group's replies did not all arrive within
// command_timeout of sending it. Either way every group in flight on that connection fails (its
// protocol state is unknown) and the next group reconnects. An error *reply* (WRONGTYPE,
// NOSCRIPT...) is a Reply of type kError in its place; the other replies of the group are fine.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "common/redis/redis.h"

namespace concord::redis {

using Args = std::vector<std::string>;
using Replies = absl::StatusOr<std::vector<Reply>>;
// Runs on the I/O thread (or in the destructor's drain): keep it short and never block in it.
// It may Send() again (the next step of a call).
using RepliesCallback = std::function<void(Replies)>;

struct FdCloser {
  void operator()(int* fd) const;
};
using FdPtr = std::unique_ptr<int, FdCloser>;

class AsyncClient {
 public:
  // Writes on the socket that may be unanswered before new groups wait to be gathered (above).
  static constexpr size_t kDefaultMaxFlights = 1;
  explicit AsyncClient(Options options, size_t max_flights = kDefaultMaxFlights);
  // Stops taking work, lets what was sent finish (bounded by command_timeout) and joins.
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Sends the commands back to back (other callers' commands never come between them) and calls
  // `done` once with one Reply per command, or with the transport error.
  void Send(const std::vector<Args>& commands, RepliesCallback done);
  // One command (the commands are formatted at once: the arguments are not kept).
  void SendCommand(const Args& command, RepliesCallback done);

  // Blocking forms (not on the I/O thread: that is INTERNAL, it would wait for itself).
  Replies Call(const std::vector<Args>& commands);
  absl::StatusOr<Reply> Command(const Args& args);

  bool OnIoThread() const { return std::this_thread::get_id() == io_id_; }
  const Options& options() const { return options_; }

  // Counters for tests and diagnostics (I/O thread writes, anyone reads).
  uint64_t connects() const;
  // Groups written and writes made (groups / writes is how many calls shared a write()).
  // Shared, so that a metrics hook may still read them after the client is gone.
  struct Stats {
    std::atomic<uint64_t> groups_written{0}, writes{0};
  };
  std::shared_ptr<const Stats> stats() const { return stats_; }
  uint64_t groups_written() const { return stats_->groups_written; }
  uint64_t flights() const { return stats_->writes; }

 private:
  struct Group {
    std::string wire;  // the commands in RESP, back to back
    size_t commands = 0;
    std::vector<Reply> replies;
    RepliesCallback done;
    std::chrono::steady_clock::time_point deadline;  // set when written
  };

  void Enqueue(Group g);
  void Run();
  absl::Status Connect();
  // The rest with mu_ held.
  // Appends the group to the output buffer (gathered: not a flight yet, not written).
  void AppendLocked(Group g);
  absl::Status FlushGatheredLocked();  // what was appended becomes a flight, and is written
  absl::Status Flush();  // writes what is buffered, as far as the socket takes it
  absl::Status ReadRepliesLocked(std::deque<Group>& finished);
  std::deque<Group> DropLocked();  // closes; returns the groups in flight, to be failed

  const Options options_;
  const size_t max_flights_;
  FdPtr wake_;  // eventfd: a Send() to a sleeping I/O thread
  std::thread::id io_id_;

  // Callers write to the socket themselves (under mu_); the I/O thread connects, reads,
  // parses and runs the callbacks (outside mu_).
  mutable std::mutex mu_;
  ContextPtr ctx_;               // guarded by mu_ (connected and non-blocking, or null)
  std::deque<Group> in_flight_;  // guarded by mu_: written, in order
  std::deque<Group> queued_;     // guarded by mu_: waiting for a connection
  // guarded by mu_: per unanswered flight, its groups not yet answered (in_flight_'s order:
  // the flights' groups, then the `gathered_` ones appended but not handed to the socket).
  std::deque<size_t> flights_;
  size_t gathered_ = 0;
  bool broken_ = false;          // guarded by mu_: a caller's write failed; the I/O thread drops
  bool stop_ = false;            // guarded by mu_
  bool sleeping_ = false;        // guarded by mu_: the I/O thread is (about to be) in poll()
  uint64_t connects_ = 0;        // guarded by mu_

  const std::shared_ptr<Stats> stats_ = std::make_shared<Stats>();  // written under mu_

  std::thread thread_;  // last: started when everything above exists
};

}  // namespace concord::redis
