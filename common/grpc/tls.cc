#include "common/grpc/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

namespace concord::grpcserver {

namespace {
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Bio Open(const std::string& path) { return Bio(BIO_new_file(path.c_str(), "r")); }
}  // namespace

std::vector<TlsProblem> CheckTlsFiles(const TlsFiles& f) {
  using File = TlsProblem::File;
  std::vector<TlsProblem> out;
  Cert cert;
  if (auto bio = Open(f.cert); !bio) {
    out.push_back({File::kCert, "'" + f.cert + "' cannot be read"});
  } else if (cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)); !cert) {
    out.push_back({File::kCert, "'" + f.cert + "' holds no PEM certificate"});
  } else if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
    out.push_back({File::kCert, "the certificate in '" + f.cert + "' has expired"});
  }
  Key key;
  if (auto bio = Open(f.key); !bio) {
    out.push_back({File::kKey, "'" + f.key + "' cannot be read"});
  } else if (key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)); !key) {
    out.push_back({File::kKey, "'" + f.key + "' holds no PEM private key (or it is encrypted)"});
  } else if (cert && X509_check_private_key(cert.get(), key.get()) != 1) {
    out.push_back({File::kKey, "'" + f.key + "' is not the key of the certificate in '" + f.cert + "'"});
  }
  if (!f.client_ca.empty()) {
    Cert ca;
    if (auto bio = Open(f.client_ca); !bio) {
      out.push_back({File::kClientCa, "'" + f.client_ca + "' cannot be read"});
    } else if (ca.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)); !ca) {
      out.push_back({File::kClientCa, "'" + f.client_ca + "' holds no PEM certificate"});
    }
  }
  return out;
}

std::shared_ptr<grpc::ServerCredentials> MakeTlsServerCredentials(const TlsFiles& f) {
  namespace ex = grpc::experimental;
  auto provider = f.client_ca.empty()
                      ? std::make_shared<ex::FileWatcherCertificateProvider>(f.key, f.cert, f.reload_seconds)
                      : std::make_shared<ex::FileWatcherCertificateProvider>(f.key, f.cert, f.client_ca, f.reload_seconds);
  ex::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (f.client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return ex::TlsServerCredentials(options);
}

}  // namespace concord::grpcserver
