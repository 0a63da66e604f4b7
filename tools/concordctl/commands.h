#pragma once
// Command registration: each group adds its subcommands to the CLI11 app; the command the
// user picked stores its body in `action`, which Run() calls after parsing.

#include <functional>

#include <CLI/CLI.hpp>

#include "tools/concordctl/context.h"

namespace concord::ctl {

using Action = std::function<void()>;

inline void OnRun(CLI::App* sub, Action& action, std::function<void()> body) {
  sub->callback([&action, body = std::move(body)] { action = body; });
}

void AddFindingsCommands(CLI::App& app, Context& ctx, Action& action);
void AddCustomerScorecardPlaybookCommands(CLI::App& app, Context& ctx, Action& action);
void AddMarketingCommands(CLI::App& app, Context& ctx, Action& action);
void AddSalesCommands(CLI::App& app, Context& ctx, Action& action);

}  // namespace concord::ctl
