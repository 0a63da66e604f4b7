#include "common/redis/redis.h"

#include <cerrno>
#include <cstring>

#include <unistd.h>

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

void detail::AppendCommand(const std::vector<std::string>& args, std::string& out) {
  // RESP: *<argc>\r\n then $<len>\r\n<bytes>\r\n per argument.
  auto number = [&out](char tag, size_t n) {
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
  };
  number('*', args.size());
  for (const auto& a : args) {
    number('$', a.size());
    out.append(a);
    out.append("\r\n", 2);
  }
}

absl::Status Connection::WriteAll(std::string_view bytes) {
  // Written straight to the socket: hiredis' output buffer would copy a large pipeline (a
  // checkpoint is megabytes) several times as it grows and move the rest after every partial
  // write. Its buffer is empty here: every call reads all its replies before returning.
  while (!bytes.empty()) {
    ssize_t n = ::write(ctx_->fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
      std::string msg = "redis pipeline at " + options_.host + ":" + std::to_string(options_.port) + ": " + std::strerror(errno);
      ctx_.reset();
      return timeout ? absl::DeadlineExceededError(msg) : absl::UnavailableError(msg);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Reply>> Connection::Pipeline(const std::vector<std::vector<std::string>>& commands) {
  constexpr size_t kPipelineChunk = 256 * 1024;
  if (auto s = EnsureConnected(); !s.ok()) return s;
  wire_.clear();
  for (const auto& c : commands) {
    detail::AppendCommand(c, wire_);
    if (wire_.size() >= kPipelineChunk) {
      if (auto s = WriteAll(wire_); !s.ok()) return s;
      wire_.clear();
    }
  }
  if (auto s = WriteAll(wire_); !s.ok()) return s;
  if (wire_.capacity() > 4 * kPipelineChunk) std::string().swap(wire_);  // one huge command: not kept
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
