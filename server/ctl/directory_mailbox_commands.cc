// cubbyctl mailbox on an admin host or front end whose settings name the mailbox directory
// (directory_backend: postgresql; docs/scale-out.md, "Mailboxes through the directory"). It opens
// no store: each command runs cubbyctl on the back end that holds (or will hold) the user, through
// directory_admin_command (server/ctl/backend_ctl.h), and keeps the directory in step:
//   mailbox create <user mailbox> [partition] [--backend B] [--partition P]
//       A new user (its INBOX, user not in the directory) is placed on --backend, else on the back
//       end with the fewest users in the directory (ties: the first address in sort order); the
//       INBOX is created there first and the directory row written after, so a failed creation
//       leaves no row. If the row cannot be written the mailbox stays and the command says so: a
//       rerun (with --backend B) finds it there and writes the row. The row is only inserted,
//       never overwritten: when a concurrent creation placed the user first, that row stands and
//       the command exits 3 naming the stray INBOX. A folder of a user in the
//       directory is created on the user's back end; of a user not in it, refused (exit 2).
//   mailbox delete <user mailbox>
//       On the user's back end. A user's INBOX (the whole user): the back end deletes first, then
//       the row goes. While the row exists mail for the user still goes to that back end, which
//       then refuses it with 550 (the user is gone, as asked); the reverse order would leave, on a
//       failed back-end delete, mailboxes no row points to. A rerun after a lost row removal finds
//       nothing on the back end and removes the row.
//   mailbox rename <mailbox> <new name>    within one user's folders, on the user's back end
//   mailbox info <mailbox>                 on the user's back end
//   mailbox list [pattern...]
//       Every back end the directory names, asked for its mailboxes, merged in name order with a
//       BACKEND column. A back end that cannot answer is reported on stderr, its users' INBOXes
//       are listed from the directory instead (UIDNEXT "-"), and the exit code is 1.
// Exit codes are cubbyctl's (output.h); a back end's own exit code is passed on when it is one of
// them, else (ssh failing, 127 for a missing program) the command fails with 1.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "directory/postgres_directory.h"
#include "server/ctl/backend_ctl.h"
#include "server/ctl/commands.h"
#include "server/ctl/flat_json.h"
#include "server/ctl/output.h"
#include "store/mailbox_name.h"

namespace cubby::ctl {
namespace {

struct Admin {
  const conf::Settings& settings;
  directory::PostgresDirectory& dir;
  bool json;
  bool unix_sep;
};

// "alice", or "alice@example.com" in a domain: the directory's key for a user mailbox.
std::string userid_of(const store::MailboxName& name) {
  const std::string& user = name.components()[1];
  return name.domain().empty() ? user : user + "@" + name.domain();
}

// Parses a user mailbox's name; on failure complains and sets *code.
std::optional<store::MailboxName> user_mailbox(const Admin& a, const std::string& external,
                                               int* code) {
  auto name = store::MailboxName::from_external(external, a.unix_sep);
  if (!name.ok()) {
    *code = complain(kUsage, name.error().detail);
    return std::nullopt;
  }
  if (!name->is_user()) {
    *code = complain(kUsage, external +
                                 ": shared mailboxes have no place in the directory; run cubbyctl "
                                 "on the back end that holds it");
    return std::nullopt;
  }
  return name.value();
}

// Where the user lives: the location, or nullopt with *code set (2: not in the directory).
std::optional<directory::Location> locate(Admin& a, const std::string& user, int* code,
                                          bool quiet_unknown = false) {
  auto where = a.dir.locate(user);
  if (where.ok()) return where.value();
  if (where.error().fault == directory::Fault::kUnknownUser) {
    *code = quiet_unknown ? kNotFound : complain(kNotFound, user + ": not in the directory");
  } else {
    *code = complain(kFailed, "directory: " + where.error().detail);
  }
  return std::nullopt;
}

// Runs cubbyctl `args` on `backend`; why it could not run, or the run.
Result<BackendRun, std::string> on_backend(Admin& a, const std::string& backend,
                                           const std::vector<std::string>& args, bool capture) {
  auto command = backend_command(a.settings.get_string("directory_admin_command"), backend);
  if (!command.ok()) return fail(command.error());
  return run_on_backend(command.value(), args, capture);
}

// The exit code to give for a back end's run.
int code_of(const BackendRun& run) {
  static const std::set<int> ours = {kOk, kFailed, kNotFound, kExists, kUsage, kConfig};
  if (run.exited && ours.count(run.exit_code)) return run.exit_code;
  return complain(
      kFailed, "the command on the back end failed (" +
                   (run.exited ? "exit " + std::to_string(run.exit_code) : std::string("killed")) +
                   "): " + run.command);
}

// Runs a mailbox verb on the user's back end with its output passed through.
int pass_through(Admin& a, const std::string& backend, std::vector<std::string> args) {
  if (a.json) args.insert(args.begin(), "--json");
  auto run = on_backend(a, backend, args, false);
  if (!run.ok()) return complain(kFailed, backend + ": " + run.error());
  return code_of(run.value());
}

// The first object of a back end's --json answer, or an empty one.
FlatObject answer_of(const BackendRun& run) {
  auto objects = read_flat_json(run.out);
  if (!objects.ok() || objects->empty()) return {};
  return objects->front();
}

// The back end a new user goes to: the one with the fewest users in the directory.
Result<std::string, std::string> least_loaded(Admin& a) {
  auto users = a.dir.list();
  if (!users.ok()) return fail("directory: " + users.error());
  std::map<std::string, int> count;
  for (const auto& [user, where] : users.value()) ++count[where.backend];
  if (count.empty()) {
    return fail(std::string("the directory names no back end yet: give --backend"));
  }
  auto best = std::min_element(count.begin(), count.end(),
                               [](const auto& x, const auto& y) { return x.second < y.second; });
  return best->first;
}

int create(Admin& a, const Args& args) {
  std::string external, partition, backend;
  for (size_t i = 1; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--backend" && has_value) {
      backend = args[++i];
    } else if (args[i] == "--partition" && has_value) {
      partition = args[++i];
    } else if (external.empty() && !args[i].empty() && args[i][0] != '-') {
      external = args[i];
    } else if (partition.empty() && !args[i].empty() && args[i][0] != '-') {
      partition = args[i];
    } else {
      return complain(kUsage, usage_text());
    }
  }
  if (external.empty()) return complain(kUsage, usage_text());
  int code = kOk;
  auto name = user_mailbox(a, external, &code);
  if (!name) return code;
  const std::string user = userid_of(*name);
  auto where = locate(a, user, &code, true);
  if (!where && code != kNotFound) return code;
  const bool new_user = !where;
  if (new_user && !name->is_inbox()) {
    return complain(kNotFound, user + ": not in the directory: create " +
                                   name->inbox()->external(a.unix_sep) + " first");
  }
  if (!new_user && !backend.empty() && backend != where->backend) {
    return complain(kExists, user + " lives on " + where->backend + ", not " + backend +
                                 " (cubbyctl directory move moves a user)");
  }
  if (new_user && backend.empty()) {
    auto chosen = least_loaded(a);
    if (!chosen.ok()) return complain(kUsage, user + ": " + chosen.error());
    backend = chosen.value();
  }
  if (!new_user) backend = where->backend;

  std::vector<std::string> remote = {"--json", "mailbox", "create", "--local", external};
  if (!partition.empty()) remote.push_back(partition);
  auto run = on_backend(a, backend, remote, true);
  if (!run.ok()) {
    return complain(
        kFailed, backend + ": " + run.error() + (new_user ? " (the directory is unchanged)" : ""));
  }
  int remote_code = code_of(run.value());
  FlatObject made = answer_of(run.value());
  bool existed = false;
  if (new_user && remote_code == kExists) {
    // An earlier run created it and could not write the row: finish that run.
    auto info = on_backend(a, backend, {"--json", "mailbox", "info", "--local", external}, true);
    if (!info.ok() || code_of(info.value()) != kOk) {
      return complain(kFailed, external + " exists on " + backend +
                                   " but cannot be read there; the directory is unchanged");
    }
    made = answer_of(info.value());
    existed = true;
  } else if (remote_code != kOk) {
    if (new_user) fprintf(stderr, "cubbyctl: %s: the directory is unchanged\n", user.c_str());
    return remote_code;
  }
  const std::string made_partition =
      made.count("partition") ? made["partition"] : (partition.empty() ? "default" : partition);
  if (new_user) {
    auto placed = a.dir.place(user, {backend, made_partition});
    if (!placed.ok()) {
      return complain(kFailed, external + " was created on " + backend +
                                   " but the directory row could not be written (" +
                                   placed.error() + "): run the command again with --backend " +
                                   backend);
    }
    if (placed->backend != backend) {
      // Another creation placed the user first: its row stands; ours is a stray copy.
      return complain(kExists, user + " was placed on " + placed->backend +
                                   " meanwhile; the INBOX made on " + backend +
                                   " is not in the directory (cubbyctl mailbox delete --local " +
                                   external + " there removes it)");
    }
  }
  if (a.json) {
    JsonObject o;
    o.add("name", external).add("backend", backend).add("partition", made_partition);
    if (made.count("uniqueid")) o.add("uniqueid", made["uniqueid"]);
    o.add("placed", new_user).add("existed", existed);
    printf("%s\n", o.str().c_str());
  } else if (existed) {
    printf("%s was already on %s (partition %s); the directory now names it\n", external.c_str(),
           backend.c_str(), made_partition.c_str());
  } else {
    printf("created %s on %s, partition %s%s\n", external.c_str(), backend.c_str(),
           made_partition.c_str(), new_user ? "; the directory now names it" : "");
  }
  return kOk;
}

int remove(Admin& a, const Args& args) {
  int code = kOk;
  auto name = user_mailbox(a, args[1], &code);
  if (!name) return code;
  const std::string user = userid_of(*name);
  auto where = locate(a, user, &code);
  if (!where) return code;
  if (!name->is_inbox()) {
    return pass_through(a, where->backend, {"mailbox", "delete", "--local", args[1]});
  }
  auto run =
      on_backend(a, where->backend, {"--json", "mailbox", "delete", "--local", args[1]}, true);
  if (!run.ok()) return complain(kFailed, where->backend + ": " + run.error());
  const int remote_code = code_of(run.value());
  if (remote_code != kOk && remote_code != kNotFound) {
    fprintf(stderr, "cubbyctl: %s: still in the directory\n", user.c_str());
    return remote_code;
  }
  // Deleted there (or gone already: an earlier run lost the row removal): now the row.
  if (auto error = a.dir.remove(user)) {
    return complain(kFailed, user + " was deleted on " + where->backend +
                                 " but is still in the directory (" + *error +
                                 "): run the command again");
  }
  const FlatObject deleted = answer_of(run.value());
  const std::string count = deleted.count("mailboxes") ? deleted.at("mailboxes") : "0";
  if (a.json) {
    JsonObject o;
    o.add("deleted", args[1]).add("backend", where->backend);
    o.add_raw("mailboxes", count.empty() ? "0" : count);
    printf("%s\n", o.add("directory", "removed").str().c_str());
  } else if (remote_code == kNotFound) {
    printf("%s was not on %s; %s is removed from the directory\n", args[1].c_str(),
           where->backend.c_str(), user.c_str());
  } else {
    printf("deleted %s on %s (%s mailbox%s); %s is removed from the directory\n", args[1].c_str(),
           where->backend.c_str(), count.c_str(), count == "1" ? "" : "es", user.c_str());
  }
  return kOk;
}

int rename(Admin& a, const Args& args) {
  int code = kOk;
  auto from = user_mailbox(a, args[1], &code);
  if (!from) return code;
  auto to = user_mailbox(a, args[2], &code);
  if (!to) return code;
  if (from->is_inbox() || to->is_inbox() || userid_of(*from) != userid_of(*to)) {
    return complain(kUsage,
                    "through the directory, rename works within one user's folders (a user is "
                    "renamed on its back end, then placed with cubbyctl directory set)");
  }
  auto where = locate(a, userid_of(*from), &code);
  if (!where) return code;
  return pass_through(a, where->backend, {"mailbox", "rename", "--local", args[1], args[2]});
}

int info(Admin& a, const Args& args) {
  int code = kOk;
  auto name = user_mailbox(a, args[1], &code);
  if (!name) return code;
  auto where = locate(a, userid_of(*name), &code);
  if (!where) return code;
  return pass_through(a, where->backend, {"mailbox", "info", "--local", args[1]});
}

struct Listed {
  std::string name, backend, partition, uniqueid, uidnext;  // uidnext "": not known
};

int list(Admin& a, const Args& args) {
  const std::vector<std::string> patterns(args.begin() + 1, args.end());
  auto users = a.dir.list();
  if (!users.ok()) return complain(kFailed, "directory: " + users.error());
  std::map<std::string, std::vector<std::pair<std::string, directory::Location>>> by_backend;
  for (const auto& entry : users.value()) by_backend[entry.second.backend].push_back(entry);

  const char sep = a.unix_sep ? '/' : '.';
  std::vector<Listed> rows;
  int code = kOk;
  for (const auto& [backend, placed] : by_backend) {
    std::vector<std::string> remote = {"--json", "mailbox", "list", "--local"};
    remote.insert(remote.end(), patterns.begin(), patterns.end());
    auto run = on_backend(a, backend, remote, true);
    std::string why;
    std::vector<FlatObject> boxes;
    if (!run.ok()) {
      why = run.error();
    } else if (!run->exited || run->exit_code != kOk) {
      why = "exit " + (run->exited ? std::to_string(run->exit_code) : std::string("by a signal")) +
            ": " + run->command;
    } else if (auto parsed = read_flat_json(run->out); !parsed.ok()) {
      why = "unreadable answer (" + parsed.error() + "): " + run->command;
    } else {
      boxes = std::move(parsed.value());
    }
    if (why.empty()) {
      for (auto& b : boxes) {
        rows.push_back({b["name"], backend, b["partition"], b["uniqueid"], b["uidnext"]});
      }
      continue;
    }
    code = complain(kFailed, backend + " could not list its mailboxes (" + why +
                                 "); its users' INBOXes as the directory has them:");
    for (const auto& [user, where] : placed) {
      const size_t at = user.find('@');
      auto inbox = store::MailboxName::for_user(user.substr(0, at), {},
                                                at == std::string::npos ? "" : user.substr(at + 1));
      if (!inbox.ok()) continue;
      const std::string ext = inbox->external(a.unix_sep);
      bool wanted = patterns.empty();
      for (const auto& p : patterns) wanted = wanted || glob_match(p, ext, sep);
      if (wanted) rows.push_back({ext, backend, where.partition, "", ""});
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Listed& x, const Listed& y) { return x.name < y.name; });
  if (a.json) {
    std::vector<std::string> items;
    for (const auto& r : rows) {
      JsonObject o;
      o.add("name", r.name).add("backend", r.backend).add("partition", r.partition);
      if (r.uidnext.empty()) {
        o.add_null("uniqueid").add_null("uidnext");
      } else {
        o.add("uniqueid", r.uniqueid).add_raw("uidnext", r.uidnext);
      }
      items.push_back(o.str());
    }
    printf("%s\n", json_array(items).c_str());
  } else if (!rows.empty()) {
    Table table({"MAILBOX", "BACKEND", "PARTITION", "UIDNEXT"});
    for (const auto& r : rows) {
      table.add({r.name, r.backend, r.partition, r.uidnext.empty() ? "-" : r.uidnext});
    }
    printf("%s", table.str().c_str());
  }
  return code;
}

}  // namespace

int directory_mailbox_command(const conf::Settings& settings, const Args& args, bool json) {
  const std::string conninfo = settings.get_string("directory_conninfo");
  if (conninfo.empty()) return complain(kConfig, "directory_conninfo is empty");
  directory::PostgresDirectory dir(conninfo);
  Admin a{settings, dir, json, settings.get_bool("unixhierarchysep")};
  const std::string verb = args.empty() ? "" : args[0];
  if (verb == "create" && args.size() >= 2) return create(a, args);
  if (verb == "delete" && args.size() == 2) return remove(a, args);
  if (verb == "rename" && args.size() == 3) return rename(a, args);
  if (verb == "info" && args.size() == 2) return info(a, args);
  if (verb == "list") return list(a, args);
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
