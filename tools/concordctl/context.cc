#include "tools/concordctl/context.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <random>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "tools/concordctl/format.h"

namespace concord::ctl {

using google::protobuf::util::TimeUtil;

std::chrono::milliseconds Context::timeout() const {
  auto d = ParseDuration(opts.timeout);
  if (!d || d->count() <= 0) throw UsageError("--timeout: '" + opts.timeout + "' is not a positive duration (e.g. 5s, 500ms)");
  return *d;
}

std::unique_ptr<grpc::ClientContext> Context::Call() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout());
  Authorize(*ctx);
  return ctx;
}

void Context::Authorize(grpc::ClientContext& call) const {
  // Plain metadata rather than CallCredentials: gRPC drops call credentials on a plaintext
  // channel, and a port behind a TLS-terminating proxy still wants the token.
  if (!opts.token.empty()) call.AddMetadata("authorization", "Bearer " + opts.token);
}

namespace {
std::string ReadPem(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) throw UsageError(std::string(flag) + ": '" + path + "' cannot be read");
  return ss.str();
}
}  // namespace

std::shared_ptr<grpc::ChannelCredentials> Context::Credentials() {
  if (creds_) return creds_;
  if (opts.tls_cert.empty() != opts.tls_key.empty()) throw UsageError("--tls-cert and --tls-key go together (mutual TLS)");
  if (!opts.tls && opts.tls_ca.empty() && opts.tls_cert.empty()) {
    creds_ = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!opts.tls_ca.empty()) ssl.pem_root_certs = ReadPem("--tls-ca", opts.tls_ca);  // else the system roots
    if (!opts.tls_cert.empty()) {
      ssl.pem_cert_chain = ReadPem("--tls-cert", opts.tls_cert);
      ssl.pem_private_key = ReadPem("--tls-key", opts.tls_key);
    }
    creds_ = grpc::SslCredentials(ssl);
  }
  return creds_;
}

std::shared_ptr<grpc::Channel> Context::Channel(const std::string& addr, std::shared_ptr<grpc::Channel>& slot) {
  if (!slot) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(8 * 1024 * 1024);
    args.SetMaxSendMessageSize(4 * 1024 * 1024);
    // A closed port fails the call at once instead of reconnecting until the deadline.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    if (!opts.tls_server_name.empty()) args.SetSslTargetNameOverride(opts.tls_server_name);
    slot = grpc::CreateCustomChannel(addr, Credentials(), args);
  }
  return slot;
}

std::shared_ptr<grpc::Channel> Context::AlignmentChannel() { return Channel(opts.alignment, alignment_); }
std::shared_ptr<grpc::Channel> Context::MarketingChannel() { return Channel(opts.marketing, marketing_); }
std::shared_ptr<grpc::Channel> Context::SalesChannel() { return Channel(opts.sales, sales_); }

void Context::Check(const grpc::Status& s) {
  if (!s.ok()) throw CallError(s);
}

events::v1::Actor Context::WriteActor(const std::string& override_id) const {
  std::string id = override_id.empty() ? opts.actor : override_id;
  if (id.empty()) throw UsageError("--actor (or CONCORD_ACTOR) is required for writes: who is doing this?");
  events::v1::Actor a;
  a.set_id(id);
  a.set_kind(id.rfind("system:", 0) == 0 ? events::v1::ACTOR_KIND_SYSTEM : events::v1::ACTOR_KIND_PERSON);
  return a;
}

std::string Context::NewRequestId() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  uint64_t a = rng(), b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
  return buf;
}

void Context::PrintJson(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = false;
  auto st = google::protobuf::util::MessageToJsonString(m, &s, o);
  if (!st.ok()) throw LocalError("INTERNAL", "cannot print as JSON: " + st.ToString(), kExitOther);
  out_ << s << "\n" << std::flush;
}

google::protobuf::Timestamp ParseTime(const std::string& flag, const std::string& text) {
  google::protobuf::Timestamp t;
  auto now = TimeUtil::GetCurrentTime();
  if (text == "now") return now;
  if (TimeUtil::FromString(text, &t)) return t;
  if (text.size() == 10 && TimeUtil::FromString(text + "T00:00:00Z", &t)) return t;
  std::string d = text;
  if (!d.empty() && d[0] == '-') d = d.substr(1);
  if (auto dur = ParseDuration(d)) return now - TimeUtil::MillisecondsToDuration(dur->count());
  throw UsageError(flag + ": '" + text + "' is not a time (RFC 3339, YYYY-MM-DD, 'now', or an age such as 24h or 7d)");
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  google::protobuf::Timestamp s;
  s.set_seconds(t.seconds());
  std::string out = TimeUtil::ToString(s);  // 2025-03-01T12:00:00Z
  if (out.size() > 10 && out[10] == 'T') out[10] = ' ';
  return out;
}

std::string Age(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  auto now = TimeUtil::GetCurrentTime();
  return FormatAge(std::chrono::seconds(now.seconds() - t.seconds()));
}

}  // namespace concord::ctl
