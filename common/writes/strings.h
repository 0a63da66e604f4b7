#pragma once
// String concatenation that accepts std::string_view (Debian's absl::StrCat does not: its
// absl::string_view is a distinct type there).

#include <string>
#include <string_view>
#include <type_traits>

#include <absl/strings/str_cat.h>

namespace concord::writes {
namespace internal {
inline void AppendOne(std::string& out, std::string_view v) { out.append(v.data(), v.size()); }
inline void AppendOne(std::string& out, const char* v) { out.append(v); }
inline void AppendOne(std::string& out, const std::string& v) { out.append(v); }
inline void AppendOne(std::string& out, absl::string_view v) { out.append(v.data(), v.size()); }
inline void AppendOne(std::string& out, char c) { out.push_back(c); }
template <typename T>
  requires(std::is_arithmetic_v<T> && !std::is_same_v<T, char>)
void AppendOne(std::string& out, T v) {
  out.append(absl::StrCat(v));
}
}  // namespace internal

template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (internal::AppendOne(out, args), ...);
  return out;
}

inline absl::string_view AbslView(std::string_view v) { return absl::string_view(v.data(), v.size()); }

}  // namespace concord::writes
