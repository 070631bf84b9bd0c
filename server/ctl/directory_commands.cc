// cubbyctl directory: the mailbox directory in PostgreSQL (directory_backend: postgresql,
// docs/scale-out.md) from the command line, without opening a store (a front end has none):
//   directory list                              every user, its back end and partition
//   directory locate <user>                     where one user lives (exit 2: not in the directory)
//   directory set <user> <backend> [partition]  place a user ("unix:/path" or "host:port"; the
//                                               partition defaults to "default")
//   directory remove <user>
// The directory is asked directly, never through a front end's cache. Exit 1 when PostgreSQL
// cannot be reached or refuses; 78 when the settings name no directory.
#include <cstdio>

#include "directory/postgres_directory.h"
#include "server/ctl/commands.h"
#include "server/ctl/output.h"

namespace cubby::ctl {

int directory_command(const conf::Settings& settings, const Args& args, bool json) {
  if (settings.get_string("directory_backend") != "postgresql") {
    return complain(kConfig, "directory_backend is not postgresql: there is no directory");
  }
  const std::string conninfo = settings.get_string("directory_conninfo");
  if (conninfo.empty()) return complain(kConfig, "directory_conninfo is empty");
  directory::PostgresDirectory dir(conninfo);
  const std::string verb = args.empty() ? "" : args[0];

  if (verb == "list" && args.size() == 1) {
    auto users = dir.list();
    if (!users.ok()) return complain(kFailed, "directory: " + users.error());
    if (json) {
      std::vector<std::string> items;
      for (const auto& [user, where] : users.value()) {
        items.push_back(JsonObject()
                            .add("user", user)
                            .add("backend", where.backend)
                            .add("partition", where.partition)
                            .str());
      }
      printf("%s\n", json_array(items).c_str());
    } else {
      Table table({"USER", "BACKEND", "PARTITION"});
      for (const auto& [user, where] : users.value()) {
        table.add({user, where.backend, where.partition});
      }
      printf("%s", table.str().c_str());
    }
    return kOk;
  }
  if (verb == "locate" && args.size() == 2) {
    auto where = dir.locate(args[1]);
    if (!where.ok()) {
      if (where.error().fault == directory::Fault::kUnknownUser) {
        return complain(kNotFound, args[1] + ": not in the directory");
      }
      return complain(kFailed, "directory: " + where.error().detail);
    }
    if (json) {
      printf("%s\n", JsonObject()
                         .add("user", args[1])
                         .add("backend", where->backend)
                         .add("partition", where->partition)
                         .str()
                         .c_str());
    } else {
      printf("%s %s\n", where->backend.c_str(), where->partition.c_str());
    }
    return kOk;
  }
  if (verb == "set" && (args.size() == 3 || args.size() == 4)) {
    const directory::Location where{args[2], args.size() == 4 ? args[3] : "default"};
    if (auto error = dir.assign(args[1], where)) return complain(kFailed, "directory: " + *error);
    return kOk;
  }
  if (verb == "remove" && args.size() == 2) {
    if (auto error = dir.remove(args[1])) return complain(kFailed, "directory: " + *error);
    return kOk;
  }
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
