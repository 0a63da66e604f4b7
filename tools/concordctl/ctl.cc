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
      "ABORTED, OUT_OF_RANGE), 5 UNAVAILABLE or DEADLINE_EXCEEDED, 6 UNAUTHENTICATED or PERMISSION_DENIED.\n"
      "On failure one line on stderr:\n"
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
  app.add_option("--token", g.token, "Bearer token of your principal (prefer the variable: it stays out of ps)")
      ->envname("CONCORD_TOKEN");
  app.add_flag("--tls", g.tls, "TLS with the system's CA roots (implied by --tls-ca, --tls-cert)")->envname("CONCORD_TLS");
  app.add_option("--tls-ca", g.tls_ca, "PEM CA bundle that signed the services' certificates")->envname("CONCORD_TLS_CA");
  app.add_option("--tls-cert", g.tls_cert, "PEM client certificate for mutual TLS (with --tls-key)")->envname("CONCORD_TLS_CERT");
  app.add_option("--tls-key", g.tls_key, "PEM private key of --tls-cert")->envname("CONCORD_TLS_KEY");
  app.add_option("--tls-server-name", g.tls_server_name, "Name to verify in the server certificate instead of the host")
      ->envname("CONCORD_TLS_SERVER_NAME");

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
