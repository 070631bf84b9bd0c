// cubbyctl: administration of a Cubby store from the command line.
//
//   cubbyctl [-C settings] [--json] <command> ...
//     mailbox create <name> [partition] | mailbox delete <name> | mailbox list
//     message list <mailbox> | message show <mailbox> <uid>
//     check       verify index and files agree (invariants 3 and 4); exit 1 on any problem
//     stats       messages, logical and physical bytes per partition, dedup ratio
//     recover     repair after a crash (what every worker does at start)
//     config      the effective settings and where each comes from
//     status      ask the running cubby-master about its services and workers
// Exit codes: 0 done, 1 failed or problems found, 64 usage, 78 configuration error.
#include <getopt.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/privileges.h"
#include "server/status_client.h"
#include "store/check.h"
#include "store/config.h"
#include "store/recovery.h"
#include "store/store.h"

namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 64, kConfig = 78;

int usage() {
  fprintf(stderr,
          "usage: cubbyctl [-C settings] [--json] <command>\n"
          "  mailbox create <name> [partition]\n"
          "  mailbox delete <name>\n"
          "  mailbox list\n"
          "  message list <mailbox>\n"
          "  message show <mailbox> <uid>\n"
          "  check | stats | recover | config\n"
          "  status [--json | --metrics]\n");
  return kUsage;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

struct Context {
  cubby::conf::Settings settings;
  std::unique_ptr<cubby::store::Store> store;
  bool json = false;
};

int mailbox_command(Context& c, const std::vector<std::string>& args) {
  auto& store = *c.store;
  if (args.size() >= 2 && (args[0] == "create" || args[0] == "delete")) {
    auto name = store.parse_name(args[1]);
    if (!name.ok()) {
      fprintf(stderr, "cubbyctl: %s\n", name.error().detail.c_str());
      return kFailed;
    }
    if (args[0] == "create") {
      auto m = store.create_mailbox(name.value(), args.size() > 2 ? args[2] : "");
      if (!m.ok()) {
        fprintf(stderr, "cubbyctl: %s\n", m.error().detail.c_str());
        return kFailed;
      }
      printf("created %s on partition %s\n", args[1].c_str(), m->partition.c_str());
      return kOk;
    }
    if (auto e = store.delete_mailbox(name.value())) {
      fprintf(stderr, "cubbyctl: %s\n", e->detail.c_str());
      return kFailed;
    }
    printf("deleted %s\n", args[1].c_str());
    return kOk;
  }
  if (args.size() == 1 && args[0] == "list") {
    auto boxes = store.index().list_mailboxes();
    if (c.json) {
      printf("[");
      for (size_t i = 0; i < boxes.size(); ++i) {
        const auto& b = boxes[i];
        printf("%s{\"name\":%s,\"partition\":%s,\"uniqueid\":%s,\"uidnext\":%lld}",
               i ? "," : "", json_string(store.external_name(b.name)).c_str(),
               json_string(b.partition).c_str(), json_string(b.uniqueid).c_str(),
               static_cast<long long>(b.uidnext));
      }
      printf("]\n");
    } else {
      for (const auto& b : boxes) {
        printf("%-40s %-12s uidnext %lld\n", store.external_name(b.name).c_str(),
               b.partition.c_str(), static_cast<long long>(b.uidnext));
      }
    }
    return kOk;
  }
  return usage();
}

int message_command(Context& c, const std::vector<std::string>& args) {
  auto& store = *c.store;
  if (args.size() < 2) return usage();
  auto name = store.parse_name(args[1]);
  if (!name.ok()) {
    fprintf(stderr, "cubbyctl: %s\n", name.error().detail.c_str());
    return kFailed;
  }
  auto box = store.find_mailbox(name.value());
  if (!box) {
    fprintf(stderr, "cubbyctl: no mailbox %s\n", args[1].c_str());
    return kFailed;
  }
  if (args[0] == "list" && args.size() == 2) {
    auto messages = store.index().messages(box->id);
    if (c.json) printf("[");
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if (c.json) {
        printf("%s{\"uid\":%lld,\"size\":%lld,\"internaldate\":%lld,\"guid\":\"%s\"}",
               i ? "," : "", static_cast<long long>(m.uid), static_cast<long long>(m.size),
               static_cast<long long>(m.internaldate), m.guid.c_str());
      } else {
        printf("%8lld %10lld %lld %s\n", static_cast<long long>(m.uid),
               static_cast<long long>(m.size), static_cast<long long>(m.internaldate),
               m.guid.c_str());
      }
    }
    if (c.json) printf("]\n");
    return kOk;
  }
  if (args[0] == "show" && args.size() == 3) {
    const long long uid = std::atoll(args[2].c_str());
    if (uid <= 0 || !store.index().message(box->id, uid)) {
      fprintf(stderr, "cubbyctl: no message %s in %s\n", args[2].c_str(), args[1].c_str());
      return kFailed;
    }
    std::ifstream in(store.message_path(*box, uid), std::ios::binary);
    if (!in) {
      fprintf(stderr, "cubbyctl: cannot open %s\n", store.message_path(*box, uid).c_str());
      return kFailed;
    }
    std::cout << in.rdbuf();
    return kOk;
  }
  return usage();
}

int check_command(Context& c) {
  auto report = cubby::store::check(*c.store);
  for (const auto& p : report.problems) printf("%s\n", p.c_str());
  printf("%llu mailboxes, %llu messages, %zu problems\n",
         static_cast<unsigned long long>(report.mailboxes),
         static_cast<unsigned long long>(report.messages), report.problems.size());
  return report.ok() ? kOk : kFailed;
}

int stats_command(Context& c) {
  auto all = cubby::store::stats(*c.store);
  if (c.json) {
    printf("[");
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& p = all[i];
      printf("%s{\"partition\":%s,\"messages\":%llu,\"logical_bytes\":%llu,"
             "\"physical_bytes\":%llu,\"inodes\":%llu,\"ratio\":%.3f}",
             i ? "," : "", json_string(p.partition).c_str(),
             static_cast<unsigned long long>(p.messages),
             static_cast<unsigned long long>(p.logical_bytes),
             static_cast<unsigned long long>(p.physical_bytes),
             static_cast<unsigned long long>(p.inodes), p.ratio());
    }
    printf("]\n");
    return kOk;
  }
  printf("%-12s %10s %16s %16s %10s %7s\n", "partition", "messages", "logical bytes",
         "physical bytes", "inodes", "ratio");
  for (const auto& p : all) {
    printf("%-12s %10llu %16llu %16llu %10llu %7.2f\n", p.partition.c_str(),
           static_cast<unsigned long long>(p.messages),
           static_cast<unsigned long long>(p.logical_bytes),
           static_cast<unsigned long long>(p.physical_bytes),
           static_cast<unsigned long long>(p.inodes), p.ratio());
  }
  return kOk;
}

int recover_command(Context& c) {
  auto r = cubby::store::recover(c.store->config(), c.store->index());
  if (!r.ok()) {
    fprintf(stderr, "cubbyctl: recovery failed: %s\n", r.error().detail.c_str());
    return kFailed;
  }
  printf("%d uncommitted stage files removed, %d committed made durable, %d links restored, "
         "%d stage files in use by live workers, %zu messages lost\n",
         r->stage_files_removed, r->stage_files_retired, r->links_restored, r->stage_files_live,
         r->lost.size());
  for (const auto& l : r->lost) printf("lost: %s\n", l.c_str());
  return r->lost.empty() ? kOk : kFailed;
}

}  // namespace

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
      case 'C': config_path = optarg; break;
      case 'j': json = true; break;
      default: return usage();
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
  if (args.empty()) return usage();
  cubby::log::init("cubby/cubbyctl", true);

  std::vector<std::string> warnings;
  auto settings = cubby::conf::Settings::load(config_path, &warnings);
  if (!settings.ok()) {
    fprintf(stderr, "cubbyctl: %s\n", settings.error().str().c_str());
    return kConfig;
  }
  for (const auto& w : warnings) fprintf(stderr, "cubbyctl: warning: %s\n", w.c_str());
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "config") {
    printf("%s", cubby::conf::format_effective(settings.value(), json).c_str());
    return kOk;
  }
  // The master issue: `status` asks cubby-master; as root, work as the service user so that what
  // is created in the store belongs to it (server/status_client.h, server/privileges.h).
  if (command == "status") return cubby::server::status_command(settings.value(), args, json);
  if (auto e = cubby::server::become_service_user(settings.value())) {
    fprintf(stderr, "cubbyctl: %s\n", e->c_str());
    return kConfig;
  }

  auto store_config = cubby::store::StoreConfig::from(settings.value());
  if (!store_config.ok()) {
    fprintf(stderr, "cubbyctl: %s\n", store_config.error().c_str());
    return kConfig;
  }
  auto store = cubby::store::Store::open(store_config.value());
  if (!store.ok()) {
    fprintf(stderr, "cubbyctl: cannot open the store: %s\n", store.error().detail.c_str());
    return kFailed;
  }
  Context c{std::move(settings.value()), std::move(store.value()), json};
  if (command == "mailbox" && !args.empty()) return mailbox_command(c, args);
  if (command == "message" && !args.empty()) return message_command(c, args);
  if (command == "check" && args.empty()) return check_command(c);
  if (command == "stats" && args.empty()) return stats_command(c);
  if (command == "recover" && args.empty()) return recover_command(c);
  return usage();
}
