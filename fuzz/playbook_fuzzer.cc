// libFuzzer target: services/alignment/engine/playbook.h LoadPlaybook on arbitrary YAML.
// Invariants: never crashes or throws; a rejected playbook has at least one error and every
// error names its line, problems are ordered by line (line 0 only for problems of the whole document, which must then say
// so by having no path); an accepted playbook has no errors.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "services/alignment/engine/playbook.h"

namespace {

void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "playbook invariant violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  concord::alignment::engine::PlaybookLoad load;
  try {
    load = concord::alignment::engine::LoadPlaybook(yaml, 1);
  } catch (const std::exception& e) {
    Fail("LoadPlaybook threw", e.what());
  }
  size_t errors = 0;
  uint32_t prev_line = 0;
  for (const auto& p : load.problems) {
    if (p.line < prev_line) Fail("problems not ordered by line", p.ToString());
    prev_line = p.line;
    if (p.error) ++errors;
    if (p.message.empty()) Fail("problem without a message", p.ToString());
    if (p.line == 0 && !p.path.empty()) Fail("problem without a line", p.ToString());
  }
  if (load.ok() && errors) Fail("accepted playbook with errors", load.ErrorText());
  if (!load.ok() && !errors) Fail("rejected playbook without an error", "");
  if (!load.ok()) (void)load.ErrorText();
  return 0;
}
