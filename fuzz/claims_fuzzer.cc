// libFuzzer target: services/alignment/engine/claims.h ClaimExtractor::Extract on arbitrary
// bytes (UTF-8 or not), with the catalog of services/alignment/playbook.example.yaml.
// Invariants: never crashes; every free-text claim has a non-empty byte span inside the
// text; claims come ordered by span; DisplayValue/DebugString work on every claim.

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "services/alignment/engine/claims.h"

namespace {

using concord::alignment::engine::ClaimExtractor;
using concord::alignment::engine::ExtractedClaim;

// The catalog of services/alignment/playbook.example.yaml, built in code: this target fuzzes
// the extractor, not the YAML loader (fuzz/playbook_fuzzer.cc does that).
concord::alignment::engine::Playbook ExampleCatalog() {
  using namespace concord::alignment::engine;
  Playbook pb = DefaultPlaybook();
  pb.products = {
      {"concord-starter", "Concord Starter", {"Starter plan", "Starter"}},
      {"concord-pro", "Concord Pro", {"Pro plan", "Concord Professional"}},
      {"concord-enterprise", "Concord Enterprise", {"Enterprise plan", "Enterprise edition"}},
  };
  pb.features = {
      {"sso", "SSO", {"single sign-on", "SAML SSO", "SAML"}, Availability::kAvailable, {"concord-pro", "concord-enterprise"}, ""},
      {"audit-log", "audit log", {"audit logs", "audit trail"}, Availability::kAvailable, {"concord-enterprise"}, ""},
      {"offline-mode", "offline mode", {"offline access"}, Availability::kRoadmap, {}, "Q3 2026"},
      {"ai-assistant", "AI assistant", {"AI copilot"}, Availability::kBeta, {}, ""},
      {"on-prem", "on-premises deployment", {"on-prem", "on-premise", "self-hosted"}, Availability::kNotOffered, {}, ""},
  };
  for (const char* p : {"concord-starter", "concord-pro", "concord-enterprise"}) {
    PriceBookEntry e;
    e.product = p;
    e.currency = "USD";
    e.list_price_micros = 49'000'000;
    e.floor_price_micros = 39'000'000;
    e.max_discount_percent = 20;
    pb.price_book[p] = e;
  }
  return pb;
}

const ClaimExtractor& Extractor() {
  static const ClaimExtractor* x = new ClaimExtractor(ExampleCatalog());
  return *x;
}

void Fail(const char* what, std::string_view text, const ExtractedClaim& c) {
  std::fprintf(stderr, "claims invariant violated: %s: span [%u, %u) in %zu bytes, claim %s\n", what, c.begin, c.end,
               text.size(), DebugString(c).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& x = Extractor();
  for (std::string_view product : {std::string_view(), std::string_view("concord-pro")}) {
    std::vector<ExtractedClaim> out;
    x.Extract(text, product, 20260115, &out);
    uint32_t prev = 0;
    for (const auto& c : out) {
      if (c.structured) Fail("free-text claim marked structured", text, c);
      if (c.begin >= c.end) Fail("empty or reversed span", text, c);
      if (c.end > text.size()) Fail("span past the end of the text", text, c);
      if (c.begin < prev) Fail("claims not ordered by span", text, c);
      prev = c.begin;
      (void)DisplayValue(c);
      (void)DebugString(c);
    }
  }
  return 0;
}
