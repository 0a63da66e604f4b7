#pragma once
// The command line of the benchmark tools: `<tool> <subcommand> --key value ...`.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace concord::bench {

[[noreturn]] inline void Die(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::exit(1);
}

struct Args {
  std::string command;
  std::map<std::string, std::string> kv;
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long long Int(const std::string& k, long long def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stoll(it->second);
  }
  double Num(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stod(it->second);
  }
};

// Dies with `usage` when there is no subcommand or an argument is not `--key value`.
inline Args ParseArgs(int argc, char** argv, const std::string& usage) {
  if (argc < 2) Die("usage: " + usage);
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) Die("bad argument " + k + "; usage: " + usage);
    a.kv[k.substr(2)] = argv[i + 1];
  }
  return a;
}

}  // namespace concord::bench
