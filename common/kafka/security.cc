#include "common/kafka/security.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cstring>
#include <regex>

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_replace.h>

#include "common/logging/log.h"

namespace concord::kafka {
namespace {

// The same failure is logged again when librdkafka reports it after this long (librdkafka
// itself reports an identical failure only now and then).
constexpr auto kRelogEvery = std::chrono::minutes(1);

// librdkafka's _RK_SENSITIVE properties (CONFIGURATION.md marks them "sensitive").
constexpr std::string_view kSensitive[] = {
    "sasl.password",         "ssl.key.password",      "ssl.key.pem",
    "ssl_key",               "ssl.keystore.password", "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// "sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: ..." -> the broker part
// (librdkafka names brokers "[proto://]host:port/<id or bootstrap>").
std::string BrokerOf(std::string_view reason) {
  auto colon_space = reason.find(": ");
  if (colon_space == std::string_view::npos) return "";
  auto head = reason.substr(0, colon_space);
  if (head.find('/') == std::string_view::npos || head.find(' ') != std::string_view::npos) return "";
  return std::string(head);
}

const char* Hint(FailureKind kind) {
  switch (kind) {
    case FailureKind::kAuthentication:
      return "the broker refused the SASL login: check --kafka-sasl-username, --kafka-sasl-password and "
             "--kafka-sasl-mechanism against the user on the cluster";
    case FailureKind::kTls:
      return "the TLS handshake failed: check that --kafka-ssl-ca is the CA that signed the broker "
             "certificate, and that certificate's validity dates and names";
    case FailureKind::kProtocol:
      return "the broker listener speaks another protocol: check --kafka-security-protocol (and "
             "--kafka-sasl-mechanism) against the listener behind --kafka-brokers";
    case FailureKind::kOther:
      break;
  }
  return "";
}

const char* Message(FailureKind kind) {
  switch (kind) {
    case FailureKind::kAuthentication:
      return "kafka authentication failed";
    case FailureKind::kTls:
      return "kafka TLS handshake failed";
    case FailureKind::kProtocol:
      return "kafka security protocol mismatch";
    case FailureKind::kOther:
      break;
  }
  return "kafka error";
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* m = rk ? static_cast<ConnectionMonitor*>(rd_kafka_opaque(rk)) : nullptr;
  if (m) {
    m->OnLog(level, fac, buf);
  } else {
    log::Warn("librdkafka", {{"facility", fac ? fac : ""}, {"text", "(a log line from a handle without monitor)"}});
  }
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  static_cast<ConnectionMonitor*>(opaque)->OnError(rk, err, reason);
}

int VerifyCallback(rd_kafka_t*, const char* broker_name, int32_t, int* x509_error, int depth, const char* buf,
                   size_t size, char* errstr, size_t errstr_size, void* opaque) {
  int ok = VerifyBrokerCertificate(x509_error, depth, buf, size, errstr, errstr_size);
  if (!ok) static_cast<ConnectionMonitor*>(opaque)->OnCertificateProblem(broker_name, errstr);
  return ok;
}

}  // namespace

bool IsSensitiveProperty(std::string_view name) {
  std::string n = Lower(name);
  for (auto s : kSensitive) {
    if (n == s) return true;
  }
  for (const char* word : {"password", "secret", "token", "credential"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  return false;
}

Properties Redacted(const Properties& props) {
  Properties out;
  for (const auto& [k, v] : props) out.emplace_back(k, IsSensitiveProperty(k) && !v.empty() ? "<redacted>" : v);
  return out;
}

Scrubber::Scrubber(const Properties& props) {
  for (const auto& [k, v] : props) {
    if (IsSensitiveProperty(k) && v.size() >= 4) secrets_.push_back(v);
  }
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string Scrubber::operator()(std::string_view text) const {
  std::string out(text);
  for (const auto& s : secrets_) out = absl::StrReplaceAll(out, {{s, "<redacted>"}});
  return out;
}

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kAuthentication:
      return "authentication";
    case FailureKind::kTls:
      return "tls";
    case FailureKind::kProtocol:
      return "protocol";
    case FailureKind::kOther:
      break;
  }
  return "other";
}

FailureKind ClassifyError(rd_kafka_resp_err_t err, std::string_view reason) {
  auto has = [reason](const char* what) { return reason.find(what) != std::string_view::npos; };
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
      return FailureKind::kAuthentication;
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
      // A TLS client on a PLAINTEXT listener fails the handshake; librdkafka says so.
      if (has("PLAINTEXT broker listener")) return FailureKind::kProtocol;
      // librdkafka's own diagnosis of a disconnect right after connecting: a SASL listener
      // that got no SASL handshake, or a plaintext client on a TLS listener.
      if (has("security.protocol")) return FailureKind::kProtocol;
      // The first failed handshake may come as a transport error with OpenSSL's text.
      if (err == RD_KAFKA_RESP_ERR__SSL || has("SSL routines") ||
          has("SSL handshake")) {
        return FailureKind::kTls;
      }
      return FailureKind::kOther;
    default:
      return FailureKind::kOther;
  }
}

std::string StableReason(std::string_view reason) {
  static const std::regex suffix(R"( \(after [0-9]+ms in state [A-Z_]+(, [0-9]+ identical error\(s\) suppressed)?\))");
  return std::regex_replace(std::string(reason), suffix, "");
}

int VerifyBrokerCertificate(int* x509_error, int depth, const char* der, size_t der_size, char* errstr,
                            size_t errstr_size) {
  if (*x509_error == X509_V_OK) return 1;  // OpenSSL accepted this certificate
  std::string subject = "?";
  const auto* p = reinterpret_cast<const unsigned char*>(der);
  if (X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der_size))) {
    char name[256];
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
    subject = name;
    X509_free(cert);
  }
  std::string what = absl::StrCat(X509_verify_cert_error_string(*x509_error), " (certificate ", subject,
                                  depth == 0 ? ", the broker's own" : absl::StrCat(", chain depth ", depth), ")");
  std::snprintf(errstr, errstr_size, "%s", what.c_str());
  return 0;  // *x509_error stays OpenSSL's: the handshake fails for OpenSSL's reason
}

ConnectionMonitor::ConnectionMonitor(std::string client, const Properties& props)
    : client_(std::move(client)), scrub_(props) {}

void ConnectionMonitor::Install(rd_kafka_conf_t* conf, const Properties& props) {
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_log_cb(conf, &LogCallback);
  rd_kafka_conf_set_error_cb(conf, &ErrorCallback);
  bool tls = false;
  for (const auto& [k, v] : props) {
    if (k == "security.protocol") tls = absl::EndsWithIgnoreCase(v, "ssl");
  }
  // Only with TLS: a build without SSL support refuses the callback.
  if (tls) rd_kafka_conf_set_ssl_cert_verify_cb(conf, &VerifyCallback);
}

void ConnectionMonitor::OnCertificateProblem(const char* broker, const std::string& problem) {
  std::lock_guard lock(mu_);
  cert_problem_ = problem;
}

void ConnectionMonitor::OnError(rd_kafka_t* rk, int err_int, const char* reason_c) {
  auto err = static_cast<rd_kafka_resp_err_t>(err_int);
  std::string reason = scrub_(reason_c ? reason_c : "");
  FailureKind kind = ClassifyError(err, reason);
  if (kind == FailureKind::kOther) {
    // librdkafka retries these (broker down, timeouts); operators see them at debug level.
    // "All brokers down" follows every failure: it does not replace the security cause.
    // A refused or unresolvable connection is a new cause of its own: forget the old one.
    if (err == RD_KAFKA_RESP_ERR__RESOLVE || reason.find(": Connect to ") != std::string::npos) {
      std::lock_guard lock(mu_);
      last_.reset();
      failing_ = false;
    }
    log::Debug("kafka client error", {{"client", client_}, {"error", rd_kafka_err2name(err)}, {"reason", reason}});
  } else {
    Failure f{kind, BrokerOf(reason), reason, rd_kafka_err2name(err), std::chrono::steady_clock::now()};
    if (!f.broker.empty()) f.cause = reason.substr(f.broker.size() + 2);  // "<broker>: <cause>"
    bool log_now = false;
    int repeats = 0;
    {
      std::lock_guard lock(mu_);
      if (kind == FailureKind::kTls && !cert_problem_.empty()) {
        // OpenSSL's reason first: librdkafka's text only says "certificate verify failed".
        f.cause = absl::StrCat("broker certificate rejected: ", scrub_(cert_problem_), "; ", f.cause);
        cert_problem_.clear();
      }
      std::string key = absl::StrCat(FailureKindName(kind), "|", StableReason(f.cause));
      repeats = ++repeats_;
      if (key != last_logged_ || f.at - last_logged_at_ >= kRelogEvery) {
        log_now = true;
        last_logged_ = key;
        last_logged_at_ = f.at;
        repeats_ = 0;
      }
      last_ = f;
      failing_ = true;
    }
    if (log_now) {
      log::Error(Message(kind), {{"client", client_},
                                 {"kind", FailureKindName(kind)},
                                 {"broker", f.broker},
                                 {"error", f.error},
                                 {"cause", StableReason(f.cause)},
                                 {"hint", Hint(kind)},
                                 {"failures_since_last_report", repeats}});
    } else {
      log::Debug(Message(kind), {{"client", client_}, {"broker", f.broker}, {"repeated", true}});
    }
  }
  if (hook_) hook_(rk, err, reason);
}

void ConnectionMonitor::OnLog(int level, const char* facility, const char* text) {
  // librdkafka uses syslog levels. Connection failures come at 3 (error) and are retried;
  // the security ones are reported by OnError, so librdkafka's own lines are warnings at most.
  log::Level l = level <= 4 ? log::Level::kWarn : level <= 6 ? log::Level::kInfo : log::Level::kDebug;
  log::Write(l, "librdkafka", {{"client", client_}, {"facility", facility ? facility : ""}, {"text", scrub_(text ? text : "")}});
}

std::optional<ConnectionMonitor::Failure> ConnectionMonitor::LastFailure() const {
  if (!failing_.load(std::memory_order_relaxed)) return std::nullopt;
  std::lock_guard lock(mu_);
  return last_;
}

void ConnectionMonitor::Succeeded() {
  if (!failing_.load(std::memory_order_relaxed)) return;  // the common case: no lock per delivery
  std::lock_guard lock(mu_);
  last_.reset();
  failing_ = false;
}

absl::Status ConnectionMonitor::Explain(const absl::Status& failed) const {
  if (failed.ok()) return failed;
  auto f = LastFailure();
  if (!f) return failed;
  return absl::UnauthenticatedError(absl::StrCat(Message(f->kind), ": ", f->broker.empty() ? "" : f->broker + ": ",
                                                 StableReason(f->cause), " (", Hint(f->kind), "); ", failed.message()));
}

}  // namespace concord::kafka
