#pragma once
// Kafka connection security as the operator sees it: which librdkafka properties are secrets
// (never printed), and a monitor on every librdkafka handle that turns TLS and SASL failures
// into one clear error line and a readiness status that names the cause, instead of a
// silent reconnect loop.

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/status.h>
#include <librdkafka/rdkafka.h>

#include "common/kafka/handle.h"

namespace concord::kafka {

// Whether a librdkafka property holds a secret (passwords, private keys, client secrets, the
// OAUTHBEARER config): the ones librdkafka marks sensitive, plus any name containing
// "password", "secret", "token" or "credential" for properties we do not know yet.
bool IsSensitiveProperty(std::string_view name);

// The properties with every secret's value replaced by "<redacted>".
Properties Redacted(const Properties& props);

// Removes the values of secret properties from text (log lines, error strings) before it is
// printed: defence in depth, librdkafka itself does not print them. Values shorter than 4
// characters are not searched for (they would match everywhere).
class Scrubber {
 public:
  explicit Scrubber(const Properties& props);
  std::string operator()(std::string_view text) const;

 private:
  std::vector<std::string> secrets_;
};

// What kind of connection failure a librdkafka error is.
enum class FailureKind {
  kOther,           // not a security problem (broker down, timeouts, ...)
  kAuthentication,  // SASL: wrong user, password or mechanism
  kTls,             // TLS handshake: the broker certificate was rejected, or the TLS setup
  kProtocol,        // client and listener disagree on security.protocol (e.g. no SASL)
};
const char* FailureKindName(FailureKind kind);  // "authentication", "tls", ...

// Classifies an error reported by librdkafka's error callback.
FailureKind ClassifyError(rd_kafka_resp_err_t err, std::string_view reason);

// A reason without librdkafka's varying suffix "(after 12ms in state X[, N identical error(s)
// suppressed])", so the same failure compares equal across retries.
std::string StableReason(std::string_view reason);

// librdkafka's certificate verification callback (ssl.certificate.verify_cb) as installed by
// ConnectionMonitor. It never changes OpenSSL's verdict: a certificate passes exactly when
// OpenSSL found no error (*x509_error == X509_V_OK), as without a callback. It only writes
// OpenSSL's reason (expired, unknown issuer, hostname mismatch, ...) and the certificate's
// subject into errstr, which librdkafka's own message ("certificate verify failed") lacks.
int VerifyBrokerCertificate(int* x509_error, int depth, const char* der, size_t der_size, char* errstr,
                            size_t errstr_size);

// Watches one librdkafka handle: it is the handle's opaque, routes librdkafka's log lines
// into the JSON log with secrets scrubbed, reports authentication, TLS and protocol failures
// as one error line (again when the cause changes, or when librdkafka reports the same one a
// minute or more later), and remembers the last one until a request succeeds or the broker
// refuses the connection outright, so Explain() can say why the cluster does not answer.
// Must outlive the handle.
class ConnectionMonitor {
 public:
  struct Failure {
    FailureKind kind = FailureKind::kOther;
    std::string broker;  // "sasl_ssl://127.0.0.1:9094/bootstrap", when librdkafka names one
    std::string cause;   // librdkafka's reason, scrubbed, plus the certificate problem if any
    std::string error;   // librdkafka error name, e.g. "_AUTHENTICATION"
    std::chrono::steady_clock::time_point at;
  };
  using ErrorHook = std::function<void(rd_kafka_t*, rd_kafka_resp_err_t, const std::string& reason)>;

  // client: how log lines name this handle ("producer concord-sales-a1").
  ConnectionMonitor(std::string client, const Properties& props);

  // Makes this monitor the configuration's opaque and installs the log, error and
  // certificate verification callbacks (the latter only when TLS is in use).
  void Install(rd_kafka_conf_t* conf, const Properties& props);
  static ConnectionMonitor* Of(rd_kafka_t* rk) { return static_cast<ConnectionMonitor*>(rd_kafka_opaque(rk)); }

  // The Producer or Consumer that owns the handle (for their own callbacks).
  void set_owner(void* owner) { owner_ = owner; }
  void* owner() const { return owner_; }
  // Runs after the monitor handled an error (e.g. the producer's fatal-error handling).
  void set_error_hook(ErrorHook hook) { hook_ = std::move(hook); }

  // The last security failure, unless a request succeeded since. (librdkafka reports an
  // identical failure only now and then, so its age says nothing about whether it lasts.)
  std::optional<Failure> LastFailure() const;
  // A request succeeded (metadata answered, a record delivered): forget the last failure.
  void Succeeded();
  // For a failed request (metadata, delivery): when the last security failure explains it,
  // an UNAUTHENTICATED status naming it; otherwise `failed` unchanged.
  absl::Status Explain(const absl::Status& failed) const;

  const Scrubber& scrub() const { return scrub_; }
  const std::string& client() const { return client_; }

  // The callbacks, public for tests.
  void OnError(rd_kafka_t* rk, int err, const char* reason);
  void OnLog(int level, const char* facility, const char* text);
  void OnCertificateProblem(const char* broker, const std::string& problem);

 private:
  std::string client_;
  Scrubber scrub_;
  void* owner_ = nullptr;
  ErrorHook hook_;
  mutable std::mutex mu_;
  std::optional<Failure> last_;        // last security failure, until a success
  std::atomic<bool> failing_{false};   // last_ is set (read without the lock)
  std::string last_logged_;            // kind + stable cause of the last error line
  std::chrono::steady_clock::time_point last_logged_at_;
  int repeats_ = 0;                    // failures since the last error line
  std::string cert_problem_;           // from the verify callback, for the next TLS failure
};

}  // namespace concord::kafka
