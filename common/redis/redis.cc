#include "common/redis/redis.h"

#include <cerrno>
#include <cstring>

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include <absl/strings/str_cat.h>
#include <hiredis/hiredis.h>

namespace concord::redis {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval ToTimeval(std::chrono::milliseconds ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

}  // namespace

Reply detail::FromHiredis(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(FromHiredis(r->element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
  }
  return out;
}

namespace {

void Append(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data());
}

}  // namespace

void ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

Connection::Connection(Options options) : options_(std::move(options)) {}

absl::Status Connection::Fail(std::string_view what) {
  bool timeout = ctx_ && ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
  std::string detail = ctx_ && ctx_->errstr[0] ? ctx_->errstr : "connection lost";
  ctx_.reset();  // the protocol state is unknown: reconnect on the next call
  std::string msg = "redis " + std::string(what) + " at " + options_.host + ":" + std::to_string(options_.port) + ": " + detail;
  return timeout ? absl::DeadlineExceededError(msg) : absl::UnavailableError(msg);
}

absl::Status Connection::EnsureConnected() {
  if (ctx_) return absl::OkStatus();
  timeval tv = ToTimeval(options_.connect_timeout);
  ContextPtr ctx(redisConnectWithTimeout(options_.host.c_str(), options_.port, tv));
  if (!ctx) return absl::ResourceExhaustedError("redis: cannot allocate a context");
  if (ctx->err) {
    return absl::UnavailableError(absl::StrCat("redis connect to ", options_.host, ":", options_.port, ": ", ctx->errstr));
  }
  timeval cmd = ToTimeval(options_.command_timeout);
  redisSetTimeout(ctx.get(), cmd);
  redisEnableKeepAlive(ctx.get());
  ctx_ = std::move(ctx);
  if (!options_.password.empty()) {
    auto r = Command({"AUTH", options_.password});
    if (!r.ok()) return r.status();
    if (r->is_error()) {
      ctx_.reset();
      return absl::UnauthenticatedError(absl::StrCat("redis AUTH refused: ", r->str));
    }
  }
  if (options_.db != 0) {
    auto r = Command({"SELECT", std::to_string(options_.db)});
    if (!r.ok()) return r.status();
    if (r->is_error()) {
      ctx_.reset();
      return absl::InvalidArgumentError(absl::StrCat("redis SELECT ", options_.db, ": ", r->str));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Reply> Connection::Command(const std::vector<std::string>& args) {
  if (auto s = EnsureConnected(); !s.ok()) return s;
  Append(ctx_.get(), args);
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) return Fail(args.empty() ? "command" : args[0]);
  ReplyPtr reply(static_cast<redisReply*>(raw));
  return detail::FromHiredis(reply.get());
}

absl::StatusOr<Reply> Connection::CommandOk(const std::vector<std::string>& args) {
  auto r = Command(args);
  if (r.ok() && r->is_error()) return absl::FailedPreconditionError(absl::StrCat("redis ", args[0], ": ", r->str));
  return r;
}

void detail::AppendNumber(char tag, size_t n, std::string& out) {
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n);
  out.push_back(tag);
  out.append(p, end);
  out.append("\r\n", 2);
}

void detail::AppendCommand(const std::vector<std::string>& args, std::string& out) {
  // RESP: *<argc>\r\n then $<len>\r\n<bytes>\r\n per argument.
  AppendNumber('*', args.size(), out);
  for (const auto& a : args) {
    AppendNumber('$', a.size(), out);
    out.append(a);
    out.append("\r\n", 2);
  }
}

absl::Status Connection::WriteAll(std::vector<iovec>& iov) {
  // Written straight to the socket: hiredis' output buffer would copy a large pipeline (a
  // checkpoint is megabytes) several times as it grows and move the rest after every partial
  // write. Its buffer is empty here: every call reads all its replies before returning.
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t n = ::writev(ctx_->fd, iov.data() + first, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
      std::string msg = "redis pipeline at " + options_.host + ":" + std::to_string(options_.port) + ": " + std::strerror(errno);
      ctx_.reset();
      return timeout ? absl::DeadlineExceededError(msg) : absl::UnavailableError(msg);
    }
    for (auto left = static_cast<size_t>(n); left > 0;) {  // past what was written
      iovec& v = iov[first];
      const size_t step = std::min(left, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + step;
      v.iov_len -= step;
      left -= step;
      if (v.iov_len == 0) ++first;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Reply>> Connection::Pipeline(const std::vector<std::vector<std::string>>& commands) {
  // The RESP framing and short arguments are built in wire_; longer arguments (a checkpoint's
  // customer states and findings, ~1 KB each) are sent from the caller's strings by writev,
  // not copied: copying a checkpoint into one buffer of megabytes (faulted in anew each time)
  // was ~4% of the alignment service's CPU in a replay.
  constexpr size_t kFlushBytes = 256 * 1024;
  constexpr size_t kByReference = 256;  // bytes from which an argument is not copied
  if (auto s = EnsureConnected(); !s.ok()) return s;
  wire_.clear();
  pieces_.clear();
  // Pending: all of wire_ plus the arguments referenced. wire_[owned_to, size()) is not in
  // pieces_ yet.
  size_t referenced = 0, owned_to = 0;
  const auto own = [&] {
    if (owned_to == wire_.size()) return;
    // Offsets, not pointers: wire_ may still move as it grows.
    pieces_.push_back({nullptr, owned_to, wire_.size() - owned_to});
    owned_to = wire_.size();
  };
  const auto flush = [&]() -> absl::Status {
    own();
    iov_.clear();
    for (const auto& p : pieces_) {
      iov_.push_back({const_cast<char*>(p.data ? p.data : wire_.data() + p.offset), p.size});
    }
    auto s = WriteAll(iov_);
    wire_.clear();
    pieces_.clear();
    referenced = owned_to = 0;
    return s;
  };
  for (const auto& c : commands) {
    detail::AppendNumber('*', c.size(), wire_);
    for (const auto& a : c) {
      detail::AppendNumber('$', a.size(), wire_);
      if (a.size() < kByReference) {
        wire_.append(a);
      } else {
        own();
        pieces_.push_back({a.data(), 0, a.size()});
        referenced += a.size();
      }
      wire_.append("\r\n", 2);
      // Also inside a command (an epoch's MSET has thousands of arguments): what is kept
      // between calls stays within 256 KiB and kMaxPieces.
      if (wire_.size() + referenced >= kFlushBytes || pieces_.size() + 1 >= kMaxPieces) {
        if (auto s = flush(); !s.ok()) return s;
      }
    }
  }
  if (auto s = flush(); !s.ok()) return s;
  std::vector<Reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) return Fail("pipeline");
    ReplyPtr reply(static_cast<redisReply*>(raw));
    out.push_back(detail::FromHiredis(reply.get()));
  }
  return out;
}

absl::Status Connection::Ping() {
  auto r = Command({"PING"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::UnavailableError(absl::StrCat("redis PING: ", r->str));
  return absl::OkStatus();
}

Pool::Pool(Options options, int size) : options_(std::move(options)) {
  for (int i = 0; i < size; ++i) idle_.push_back(std::make_unique<Connection>(options_));
}

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Release(std::move(conn_));
}

absl::StatusOr<Pool::Lease> Pool::Acquire(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !idle_.empty(); })) {
    return absl::ResourceExhaustedError("redis pool: no free connection within the timeout");
  }
  auto c = std::move(idle_.back());
  idle_.pop_back();
  return Lease(this, std::move(c));
}

void Pool::Release(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }
  cv_.notify_one();
}

absl::Status Pool::Ping() {
  auto lease = Acquire(options_.command_timeout);
  if (!lease.ok()) return lease.status();
  return (*lease)->Ping();
}

}  // namespace concord::redis
