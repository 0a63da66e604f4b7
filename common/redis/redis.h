#pragma once
// hiredis behind RAII: connect and command timeouts, reconnect on the next call after a
// failure, pipelining, and a small blocking pool.
//
// Transport problems come back as Status (UNAVAILABLE when Redis cannot be reached,
// DEADLINE_EXCEEDED when it did not answer in time); an error *reply* from Redis (WRONGTYPE,
// EXECABORT...) is a Reply of type kError, because inside a pipeline each command has its own.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <sys/uio.h>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

struct redisContext;
struct redisReply;

namespace concord::redis {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{1000};
};

struct Reply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
};

// A command's arguments, each moved in or built in place. A braced list ({"SET", key, bytes})
// copies every element, payloads included: use this where an argument is large.
template <class... Args>
std::vector<std::string> Cmd(Args&&... args) {
  std::vector<std::string> v;
  v.reserve(sizeof...(args));
  (v.emplace_back(std::forward<Args>(args)), ...);
  return v;
}

namespace detail {
// Appends one command in the Redis protocol (RESP) to `out`.
void AppendCommand(const std::vector<std::string>& args, std::string& out);
void AppendNumber(char tag, size_t n, std::string& out);  // RESP "<tag><n>\r\n"
Reply FromHiredis(const redisReply* r);  // deep copy: the hiredis reply can be freed after
}  // namespace detail

struct ContextDeleter {
  void operator()(redisContext* c) const;
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

class Connection {
 public:
  explicit Connection(Options options);

  // One command, arguments binary-safe.
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args);
  // Like Command, but an error reply becomes a FAILED_PRECONDITION status.
  absl::StatusOr<Reply> CommandOk(const std::vector<std::string>& args);
  // Sends every command, then reads every reply: one round trip.
  absl::StatusOr<std::vector<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);
  absl::Status Ping();

  bool connected() const { return ctx_ != nullptr; }

 private:
  absl::Status EnsureConnected();
  absl::Status Fail(std::string_view what);  // drops the broken context
  // To the socket, bypassing hiredis' buffer; the vectors are consumed (advanced) as written.
  absl::Status WriteAll(std::vector<iovec>& iov);

  Options options_;
  ContextPtr ctx_;
  // Pipeline's encoding, kept between calls and written out once 256 KiB or kMaxPieces are
  // pending: the RESP framing and short arguments in wire_, the rest by reference to the
  // caller's strings.
  struct Piece {
    const char* data;  // nullptr: wire_[offset, offset + size)
    size_t offset, size;
  };
  static constexpr size_t kMaxPieces = 1024;  // per writev batch
  std::string wire_;
  std::vector<Piece> pieces_;
  std::vector<iovec> iov_;
};

class Pool {
 public:
  Pool(Options options, int size);

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Waits up to timeout for a free connection; RESOURCE_EXHAUSTED when none frees up.
  absl::StatusOr<Lease> Acquire(std::chrono::milliseconds timeout);
  absl::Status Ping();
  const Options& options() const { return options_; }

 private:
  void Release(std::unique_ptr<Connection> c);

  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace concord::redis
