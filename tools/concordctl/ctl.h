#pragma once
#include <ostream>

namespace concord::ctl {

// The whole of concordctl: parses argv, runs the command, prints to out/err and returns the
// exit code (0 ok, 1 other, 2 usage, 3 NOT_FOUND, 4 rejected, 5 unavailable).
int Run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace concord::ctl
