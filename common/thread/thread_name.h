#pragma once
// Names the calling thread, so that `top -H`, `perf` and /proc/<pid>/task/*/comm tell a
// service's threads apart (unnamed, they all carry the binary's name).

#include <string>
#include <string_view>

namespace concord::thread {

// Linux keeps the first 15 bytes of the name.
void SetName(std::string_view name);
// The calling thread's name.
std::string Name();

}  // namespace concord::thread
