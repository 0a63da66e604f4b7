#include "tools/concordctl/ctl.h"

#include <CLI/CLI.hpp>

#include "tools/concordctl/commands.h"
#include "tools/concordctl/format.h"

namespace concord::ctl {

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Context ctx(out, err);
  CLI::App app{
      "concordctl: command-line client of the Concord marketing, sales and alignment services.\n"
      "Exit codes: 0 ok, 1 other error, 2 usage, 3 NOT_FOUND, 4 rejected (INVALID_ARGUMENT, FAILED_PRECONDITION,\n"
      "ABORTED, OUT_OF_RANGE), 5 UNAVAILABLE or DEADLINE_EXCEEDED. On failure one line on stderr:\n"
      "  concordctl: <CODE>: <message>",
      "concordctl"};
  app.fallthrough();
  app.require_subcommand(1);
  auto& g = ctx.opts;
  app.add_option("--alignment", g.alignment, "Alignment service address")->envname("CONCORD_ALIGNMENT_ADDR")->capture_default_str();
  app.add_option("--marketing", g.marketing, "Marketing service address")->envname("CONCORD_MARKETING_ADDR")->capture_default_str();
  app.add_option("--sales", g.sales, "Sales service address")->envname("CONCORD_SALES_ADDR")->capture_default_str();
  app.add_option("--timeout", g.timeout, "Deadline of every call (e.g. 5s, 500ms)")->envname("CONCORD_TIMEOUT")->capture_default_str();
  app.add_flag("--json", g.json, "Machine output: protobuf JSON, one object per line");
  app.add_option("--actor", g.actor, "Who does writes (actor id, e.g. rep-li)")->envname("CONCORD_ACTOR");

  Action action;
  AddFindingsCommands(app, ctx, action);
  AddCustomerScorecardPlaybookCommands(app, ctx, action);
  AddMarketingCommands(app, ctx, action);
  AddSalesCommands(app, ctx, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    err << ErrorLine("USAGE", msg + " (see --help)") << "\n";
    return kExitUsage;
  }

  try {
    (void)ctx.timeout();  // a bad --timeout is a usage error before anything is sent
    if (!action) throw UsageError("no command (see --help)");
    action();
    return kExitOk;
  } catch (const CallError& e) {
    err << ErrorLine(StatusCodeName(e.status.error_code()), e.status.error_message()) << "\n";
    return ExitCodeFor(e.status.error_code());
  } catch (const UsageError& e) {
    err << ErrorLine("USAGE", e.what()) << "\n";
    return kExitUsage;
  } catch (const LocalError& e) {
    err << ErrorLine(e.code, e.what()) << "\n";
    return e.exit_code;
  } catch (const std::exception& e) {
    err << ErrorLine("INTERNAL", e.what()) << "\n";
    return kExitOther;
  }
}

}  // namespace concord::ctl
