#include "common/redis/async_client.h"
#include "common/thread/thread_name.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <optional>

#include <absl/strings/str_cat.h>
#include <hiredis/hiredis.h>

namespace concord::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A blocking command on a still-blocking context (AUTH, SELECT while connecting).
absl::StatusOr<Reply> BlockingCommand(redisContext* ctx, const Args& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data())));
  if (!r) return absl::UnavailableError(absl::StrCat("redis ", args[0], ": ", ctx->errstr));
  return detail::FromHiredis(r.get());
}

}  // namespace

void FdCloser::operator()(int* fd) const {
  if (*fd >= 0) ::close(*fd);
  delete fd;
}

AsyncClient::AsyncClient(Options options, size_t max_flights)
    : options_(std::move(options)),
      max_flights_(std::max<size_t>(1, max_flights)),
      wake_(new int(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))) {
  thread_ = std::thread([this] { Run(); });
  io_id_ = thread_.get_id();
}

AsyncClient::~AsyncClient() {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    wake = sleeping_;
    sleeping_ = false;
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(*wake_, &one, sizeof one);
  }
  thread_.join();
}

uint64_t AsyncClient::connects() const {
  std::lock_guard lock(mu_);
  return connects_;
}

void AsyncClient::Send(const std::vector<Args>& commands, RepliesCallback done) {
  Group g;
  // RESP formatted on the caller's thread (keeps the I/O thread's turn short).
  for (const auto& c : commands) detail::AppendCommand(c, g.wire);
  g.commands = commands.size();
  g.done = std::move(done);
  Enqueue(std::move(g));
}

void AsyncClient::SendCommand(const Args& command, RepliesCallback done) {
  Group g;
  detail::AppendCommand(command, g.wire);
  g.commands = 1;
  g.done = std::move(done);
  Enqueue(std::move(g));
}

void AsyncClient::Enqueue(Group g) {
  g.replies.reserve(g.commands);
  if (g.commands == 0) {
    g.done(std::vector<Reply>());
    return;
  }
  bool wake = false;
  {
    std::unique_lock lock(mu_);
    if (stop_) {
      // Only the destructor sets stop_: a Send racing with it is the caller's bug; answer anyway.
      lock.unlock();
      g.done(absl::UnavailableError("redis client is shutting down"));
      return;
    }
    if (ctx_ && queued_.empty() && !broken_) {
      // Connected: written on the caller's thread, at once (no hand-over to the I/O thread,
      // which only reads), or gathered behind an unanswered flight, whose reply wakes the I/O
      // thread to write it. The I/O thread is woken only when it must change what it waits
      // for: bytes the socket did not take, a broken socket. Not for a first group in flight:
      // the reply wakes it, and an idle I/O thread sleeps at most command_timeout, so it still
      // sees this group's deadline (one wake-up less per call at low load).
      AppendLocked(std::move(g));
      const bool write_now = flights_.size() < max_flights_;
      if (write_now && !FlushGatheredLocked().ok()) broken_ = true;
      wake = broken_ || (write_now && ctx_->obuf[0] != '\0');
    } else {
      queued_.push_back(std::move(g));  // the I/O thread connects first
      wake = true;
    }
    wake = wake && sleeping_;
    if (wake) sleeping_ = false;
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(*wake_, &one, sizeof one);
  }
}

void AsyncClient::AppendLocked(Group g) {
  redisAppendFormattedCommand(ctx_.get(), g.wire.data(), g.wire.size());
  g.wire = std::string();
  g.deadline = std::chrono::steady_clock::now() + options_.command_timeout;  // from the call, not the write
  in_flight_.push_back(std::move(g));
  ++gathered_;
}

absl::Status AsyncClient::FlushGatheredLocked() {
  if (gathered_ > 0) {
    flights_.push_back(gathered_);
    stats_->groups_written += gathered_;
    ++stats_->writes;
    gathered_ = 0;
  }
  return Flush();
}

Replies AsyncClient::Call(const std::vector<Args>& commands) {
  if (OnIoThread()) return absl::InternalError("redis: blocking call on the client's own I/O thread");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Replies> result;
  Send(commands, [&](Replies r) {
    std::lock_guard lock(mu);
    result = std::move(r);
    cv.notify_one();  // under the lock: `cv` lives on the waiter's stack
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

absl::StatusOr<Reply> AsyncClient::Command(const Args& args) {
  auto r = Call({args});
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

absl::Status AsyncClient::Connect() {
  ContextPtr ctx(redisConnectWithTimeout(options_.host.c_str(), options_.port, ToTimeval(options_.connect_timeout)));
  if (!ctx) return absl::ResourceExhaustedError("redis: cannot allocate a context");
  if (ctx->err) {
    return absl::UnavailableError(absl::StrCat("redis connect to ", options_.host, ":", options_.port, ": ", ctx->errstr));
  }
  redisSetTimeout(ctx.get(), ToTimeval(options_.command_timeout));
  redisEnableKeepAlive(ctx.get());
  if (!options_.password.empty()) {
    auto r = BlockingCommand(ctx.get(), {"AUTH", options_.password});
    if (!r.ok()) return r.status();
    if (r->is_error()) return absl::UnauthenticatedError(absl::StrCat("redis AUTH refused: ", r->str));
  }
  if (options_.db != 0) {
    auto r = BlockingCommand(ctx.get(), {"SELECT", std::to_string(options_.db)});
    if (!r.ok()) return r.status();
    if (r->is_error()) return absl::InvalidArgumentError(absl::StrCat("redis SELECT ", options_.db, ": ", r->str));
  }
  // From here on hiredis only buffers and parses: reads and writes return EAGAIN instead of
  // waiting, and poll() below says when to retry.
  int flags = ::fcntl(ctx->fd, F_GETFL);
  if (flags < 0 || ::fcntl(ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::UnavailableError("redis: cannot make the socket non-blocking");
  }
  ctx->flags &= ~REDIS_BLOCK;
  std::lock_guard lock(mu_);
  ctx_ = std::move(ctx);
  broken_ = false;
  ++connects_;
  return absl::OkStatus();
}

std::deque<AsyncClient::Group> AsyncClient::DropLocked() {
  ctx_.reset();  // the protocol state is unknown: the next group reconnects
  broken_ = false;
  flights_.clear();
  gathered_ = 0;
  std::deque<Group> failed;
  failed.swap(in_flight_);
  return failed;
}

absl::Status AsyncClient::Flush() {
  int done = 0;
  if (redisBufferWrite(ctx_.get(), &done) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("redis write to ", options_.host, ":", options_.port, ": ",
                                               ctx_->errstr[0] ? ctx_->errstr : "connection lost"));
  }
  return absl::OkStatus();
}

absl::Status AsyncClient::ReadRepliesLocked(std::deque<Group>& finished) {
  if (redisBufferRead(ctx_.get()) != REDIS_OK) {
    return absl::UnavailableError(absl::StrCat("redis read from ", options_.host, ":", options_.port, ": ",
                                               ctx_->errstr[0] ? ctx_->errstr : "connection lost"));
  }
  while (true) {
    void* raw = nullptr;
    if (redisReaderGetReply(ctx_->reader, &raw) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis: protocol error: ", ctx_->reader->errstr));
    }
    if (raw == nullptr) return absl::OkStatus();
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (in_flight_.empty()) return absl::UnavailableError("redis: a reply nobody asked for");
    Group& g = in_flight_.front();
    g.replies.push_back(detail::FromHiredis(reply.get()));
    if (g.replies.size() == g.commands) {
      finished.push_back(std::move(g));
      in_flight_.pop_front();
      if (!flights_.empty() && --flights_.front() == 0) flights_.pop_front();
    }
  }
}

void AsyncClient::Run() {
  thread::SetName("redis-io");
  while (true) {
    std::deque<Group> finished;  // answered: their callbacks run after the lock is released
    std::deque<Group> failed;
    absl::Status failure;
    bool connect = false;
    pollfd fds[2] = {{*wake_, POLLIN, 0}, {-1, POLLIN, 0}};
    int timeout_ms = -1;
    {
      std::lock_guard lock(mu_);
      if (stop_ && queued_.empty() && in_flight_.empty()) return;
      if (broken_) {
        failure = absl::UnavailableError(absl::StrCat("redis write to ", options_.host, ":", options_.port, ": ",
                                                      ctx_->errstr[0] ? ctx_->errstr : "connection lost"));
        failed = DropLocked();
      } else if (!queued_.empty() && !ctx_) {
        connect = true;
      } else {
        if (ctx_) {
          fds[1].fd = ctx_->fd;
          // hiredis still holds bytes the socket did not take (obuf is an sds string; RESP
          // never starts with a NUL).
          if (ctx_->obuf[0] != '\0') fds[1].events |= POLLOUT;
        }
        if (!in_flight_.empty()) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(in_flight_.front().deadline -
                                                                            std::chrono::steady_clock::now());
          timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count() + 1));
        } else if (ctx_) {
          // A group written while we sleep does not wake us (Enqueue): its deadline is at
          // least command_timeout away, so waking by then is soon enough to check it.
          timeout_ms = static_cast<int>(options_.command_timeout.count());
        }
        sleeping_ = true;  // from here a caller that needs us writes the eventfd
      }
    }
    if (!failed.empty() || !failure.ok()) {
      for (auto& g : failed) g.done(failure);
      continue;
    }
    if (connect) {
      absl::Status s = Connect();  // blocking, bounded by connect_timeout; callers queue meanwhile
      std::lock_guard lock(mu_);
      if (!s.ok()) {
        failed.swap(queued_);
        failure = s;
      } else {
        while (!queued_.empty()) {
          AppendLocked(std::move(queued_.front()));
          queued_.pop_front();
        }
        if (!FlushGatheredLocked().ok()) broken_ = true;  // one flight
      }
      // (released before the callbacks run)
    }
    if (connect) {
      for (auto& g : failed) g.done(failure);
      continue;
    }

    int n = ::poll(fds, 2, timeout_ms);
    {
      std::lock_guard lock(mu_);
      sleeping_ = false;
      if (n < 0 && errno != EINTR) continue;
      if (fds[0].revents & POLLIN) {
        uint64_t v;
        (void)!::read(*wake_, &v, sizeof v);
      }
      // The fd polled may belong to a context dropped meanwhile: only act on the current one.
      if (ctx_ && ctx_->fd == fds[1].fd) {
        if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
          if (auto s = ReadRepliesLocked(finished); !s.ok()) {
            failure = s;
            failed = DropLocked();
          }
        }
        // A flight landed: what was gathered meanwhile goes now, before the callbacks run. (A
        // POLLOUT flush writes the gathered bytes too, so they become a flight as well.)
        const bool gathered_due = gathered_ > 0 && flights_.size() < max_flights_;
        if (ctx_ && ((fds[1].revents & POLLOUT) || gathered_due)) {
          if (auto s = FlushGatheredLocked(); !s.ok()) {
            failure = s;
            failed = DropLocked();
          }
        }
      }
      if (ctx_ && !in_flight_.empty() && std::chrono::steady_clock::now() >= in_flight_.front().deadline) {
        failure = absl::DeadlineExceededError(absl::StrCat("redis at ", options_.host, ":", options_.port,
                                                           ": no reply within ", options_.command_timeout.count(),
                                                           " ms"));
        auto more = DropLocked();
        for (auto& g : more) failed.push_back(std::move(g));
      }
    }
    for (auto& g : finished) g.done(std::move(g.replies));  // may Send() the call's next step
    for (auto& g : failed) g.done(failure);
  }
}

}  // namespace concord::redis
