#pragma once
// What every concordctl command shares: the global options, channels to the three
// services, deadlines, output (tables or protobuf JSON) and the errors that end a command.

#include <chrono>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include "concord/events/v1/common.pb.h"

namespace concord::ctl {

struct GlobalOptions {
  std::string alignment = "127.0.0.1:50053";
  std::string marketing = "127.0.0.1:50051";
  std::string sales = "127.0.0.1:50052";
  std::string timeout = "5s";
  bool json = false;
  std::string actor;
  // Transport security and credentials (the same for the three services).
  bool tls = false;         // TLS with the system's CA roots (implied by the options below)
  std::string tls_ca;       // PEM CA bundle that signed the servers' certificates
  std::string tls_cert;     // PEM client certificate (mutual TLS), with tls_key
  std::string tls_key;
  std::string tls_server_name;  // the name to verify instead of the address's host
  std::string token;        // bearer token sent as "authorization: Bearer <token>"
};

// A failed call: printed as "concordctl: <CODE>: <message>", exit code from the status.
struct CallError : std::runtime_error {
  grpc::Status status;
  explicit CallError(grpc::Status s) : std::runtime_error(s.error_message()), status(std::move(s)) {}
};

// A bad command line noticed after parsing (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A local failure that is not a call or usage problem (exit 1 unless `exit_code` says).
struct LocalError : std::runtime_error {
  std::string code;
  int exit_code;
  LocalError(std::string c, const std::string& msg, int exit) : std::runtime_error(msg), code(std::move(c)), exit_code(exit) {}
};

class Context {
 public:
  Context(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  GlobalOptions opts;
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json() const { return opts.json; }

  // Parsed --timeout; call after the command line is parsed.
  std::chrono::milliseconds timeout() const;
  // A ClientContext whose deadline is now + --timeout, with the bearer token if any.
  std::unique_ptr<grpc::ClientContext> Call() const;
  // Adds the bearer token (if any) to a context made elsewhere (e.g. the watch stream's).
  void Authorize(grpc::ClientContext& call) const;

  std::shared_ptr<grpc::Channel> AlignmentChannel();
  std::shared_ptr<grpc::Channel> MarketingChannel();
  std::shared_ptr<grpc::Channel> SalesChannel();

  // Throws CallError unless ok; `what` names the RPC in no way visible to the user
  // (the server's message already says what was wrong).
  static void Check(const grpc::Status& s);

  // The actor of writes: --actor / CONCORD_ACTOR (UsageError when missing).
  events::v1::Actor WriteActor(const std::string& override_id = "") const;
  // A fresh UUIDv4 (the idempotency key of a write).
  static std::string NewRequestId();

  // One JSON object on one line.
  void PrintJson(const google::protobuf::Message& m);

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& addr, std::shared_ptr<grpc::Channel>& slot);

  std::ostream& out_;
  std::ostream& err_;
  std::shared_ptr<grpc::ChannelCredentials> Credentials();

  std::shared_ptr<grpc::ChannelCredentials> creds_;
  std::shared_ptr<grpc::Channel> alignment_, marketing_, sales_;
};

// Time arguments: RFC 3339 ("2025-03-01T12:00:00Z"), a date ("2025-03-01", UTC midnight),
// "now", or a duration meaning that long ago ("24h", "7d"). UsageError naming `flag` otherwise.
google::protobuf::Timestamp ParseTime(const std::string& flag, const std::string& text);
// "2025-03-01 12:00:00Z" (seconds precision), "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& t);
// now - t, as FormatAge; "-" when unset.
std::string Age(const google::protobuf::Timestamp& t);

}  // namespace concord::ctl
