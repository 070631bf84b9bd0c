// cubbyctl: administration of a Cubby store from the command line: mailboxes, ACLs, quota,
// messages, reconstruct, verify, check, statistics, duplicate marks, the effective settings.
//
//   cubbyctl [-C settings] [--json] <command> ...   (`cubbyctl --help` lists the commands)
// Tables for people by default; --json (before or after the command) for scripts. Exit codes are
// listed in server/ctl/output.h and docs/mailboxes.md.
#include <getopt.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "server/master/status_client.h"
#include "server/process/privileges.h"
#include "store/config.h"
#include "store/store.h"

namespace ctl = cubby::ctl;

int main(int argc, char** argv) {
  std::string config_path = "/etc/cubby/imapd.conf";
  bool json = false;
  static const option longopts[] = {{"json", no_argument, nullptr, 'j'},
                                     {"help", no_argument, nullptr, 'h'},
                                     {nullptr, 0, nullptr, 0}};
  int opt;
  // '+': stop at the first non-option, so subcommand arguments are left alone.
  while ((opt = getopt_long(argc, argv, "+C:h", longopts, nullptr)) != -1) {
    switch (opt) {
      case 'C':
        config_path = optarg;
        break;
      case 'j':
        json = true;
        break;
      case 'h':
        printf("%s\n", ctl::usage_text());
        return ctl::kOk;
      default:
        return ctl::complain(ctl::kUsage, ctl::usage_text());
    }
  }
  std::vector<std::string> args(argv + optind, argv + argc);
  // --json may also follow the command.
  for (auto it = args.begin(); it != args.end();) {
    if (*it == "--json") {
      json = true;
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  if (args.empty()) return ctl::complain(ctl::kUsage, ctl::usage_text());
  cubby::log::init("cubby/cubbyctl", true);

  std::vector<std::string> warnings;
  auto settings = cubby::conf::Settings::load(config_path, &warnings);
  if (!settings.ok()) return ctl::complain(ctl::kConfig, settings.error().str());
  for (const auto& w : warnings) fprintf(stderr, "cubbyctl: warning: %s\n", w.c_str());
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "config") {
    printf("%s", cubby::conf::format_effective(settings.value(), json).c_str());
    return ctl::kOk;
  }
  // `status` asks the running cubby-master (server/master/status_client.h). Everything else opens
  // the store: as root, do that as the service user, so that what it creates belongs to lmtpd's
  // user.
  if (command == "status") return cubby::server::status_command(settings.value(), args, json);
  // `directory` talks to PostgreSQL (directory_commands.cc): no store, no service user needed,
  // except `directory move`, which moves a user out of this back end's store (user_move.cc).
  // `mailbox` with a directory configured (an admin host or front end) runs on the back ends
  // (directory_mailbox_commands.cc); `--local` (what it passes to a back end's cubbyctl) keeps
  // it on this store.
  if (command == "mailbox") {
    const auto local = std::find(args.begin(), args.end(), "--local");
    const bool here = local != args.end();
    if (here) args.erase(local);
    if (!here && settings->get_string("directory_backend") == "postgresql") {
      return ctl::directory_mailbox_command(settings.value(), args, json);
    }
  }
  const bool move = command == "directory" && !args.empty() && args[0] == "move";
  if (command == "directory" && !move) return ctl::directory_command(settings.value(), args, json);
  if (auto e = cubby::server::become_service_user(settings.value())) {
    return ctl::complain(ctl::kConfig, *e);
  }

  auto store_config = cubby::store::StoreConfig::from(settings.value());
  if (!store_config.ok()) return ctl::complain(ctl::kConfig, store_config.error());
  auto store = cubby::store::Store::open(store_config.value());
  if (!store.ok()) {
    return ctl::complain(ctl::kFailed, "cannot open the store: " + store.error().detail);
  }
  ctl::Context c{settings.value(), **store, json};
  if (command == "mailbox") return ctl::mailbox_command(c, args);
  if (command == "acl") return ctl::acl_command(c, args);
  if (command == "quota") return ctl::quota_command(c, args);
  if (command == "message") return ctl::message_command(c, args);
  if (command == "duplicates") return ctl::duplicates_command(c, args);
  if (command == "reconstruct") return ctl::reconstruct_command(c, args);
  if (command == "verify") return ctl::verify_command(c, args);
  if (command == "check") return ctl::check_command(c, args);
  if (command == "stats") return ctl::stats_command(c, args);
  if (command == "recover") return ctl::recover_command(c, args);
  if (command == "convert") return ctl::convert_command(c, args);
  if (command == "sieve") return ctl::sieve_command(c, args);
  if (command == "import-cyrus") return ctl::import_cyrus_command(c, args);
  if (command == "user") return ctl::user_command(c, args);
  if (move) return ctl::directory_move_command(c, args);
  return ctl::complain(ctl::kUsage, ctl::usage_text());
}
