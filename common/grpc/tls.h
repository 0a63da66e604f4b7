#pragma once
// TLS and mutual TLS for the gRPC port from PEM files. gRPC's FileWatcherCertificateProvider
// re-reads the files every `reload_seconds`, so a renewed certificate (e.g. cert-manager
// rewriting a mounted Secret) is served to new connections without a restart; a half-written
// pair that does not match is ignored by gRPC until both files agree.

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/server_credentials.h>

namespace concord::grpcserver {

struct TlsFiles {
  std::string cert;       // PEM certificate chain (leaf first)
  std::string key;        // PEM private key of the leaf
  std::string client_ca;  // PEM CA bundle; non-empty = mutual TLS (client certificate required and verified)
  unsigned reload_seconds = 60;
};

struct TlsProblem {
  enum class File { kCert, kKey, kClientCa } file;
  std::string message;
};

// The start-up check, so a bad file is a clear configuration error rather than every
// handshake failing: each file parses as PEM, the key belongs to the certificate, the
// certificate is within its validity period, the CA bundle holds at least one certificate.
std::vector<TlsProblem> CheckTlsFiles(const TlsFiles& files);

std::shared_ptr<grpc::ServerCredentials> MakeTlsServerCredentials(const TlsFiles& files);

}  // namespace concord::grpcserver
