// cubbyctl sieve: a user's Sieve scripts in the sievedir (sievedir/script_store.h) and `test`,
// which evaluates a script on a message exactly as delivery to the user would (the user's
// mailboxes from the index, the user's personal and the global scripts for include, the +detail of
// --to, an empty vacation and duplicate history) and prints the actions, sending nothing.
#include <cstdio>
#include <iostream>
#include <iterator>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "sieve/memory_environment.h"
#include "sieve/sieve.h"
#include "sievedir/environment.h"
#include "sievedir/script_store.h"
#include "store/recipient.h"

namespace cubby::ctl {
namespace {

std::string sievedir_of(Context& c) {
  std::string dir = c.settings.get_string("sievedir");
  return dir.empty() ? c.store.config().config_directory + "/sieve" : dir;
}

sieve::Limits limits_of(Context& c) {
  sieve::Limits limits;
  limits.max_script_bytes = static_cast<size_t>(c.settings.get_int("sieve_maxscriptsize")) * 1024;
  return limits;
}

// A file's bytes; "-" is stdin.
std::optional<std::string> slurp(const std::string& path, std::string* error) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  auto bytes = sievedir::read_file(path);
  if (!bytes.ok()) {
    *error = bytes.error();
    return std::nullopt;
  }
  return std::move(bytes.value());
}

int print_outcome(Context& c, const sieve::Outcome& outcome) {
  if (c.json) {
    printf("%s\n", sieve::to_json(outcome).c_str());
  } else {
    printf("%s", sieve::to_text(outcome).c_str());
  }
  return outcome.error ? kFailed : kOk;
}

int test_command(Context& c, const Args& args) {
  std::string user, from, to;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--user" || a == "--from" || a == "--to") && i + 1 < args.size()) {
      (a == "--user" ? user : a == "--from" ? from : to) = args[++i];
    } else {
      files.push_back(a);
    }
  }
  if (files.size() != 2) return complain(kUsage, "usage: sieve test [--user U] [--from ADDR] "
                                                 "[--to ADDR] [--json] <script> <message>");
  std::string error;
  auto source = slurp(files[0], &error);
  if (!source) return complain(kFailed, error);
  auto message = slurp(files[1], &error);
  if (!message) return complain(kFailed, error);
  sieve::Envelope envelope{from, to.empty() ? user : to, {}};
  const sieve::Limits limits = limits_of(c);
  if (user.empty()) {
    sieve::MemoryEnvironment env;
    return print_outcome(c, sieve::run(*source, *message, envelope, env, limits));
  }
  auto inbox = store::inbox_of_userid(user, store::AddressRules::from(c.settings));
  if (!inbox.ok()) return report(inbox.error());
  if (!c.store.index().find_mailbox(inbox->internal())) {
    return complain(kNotFound, "no INBOX for user " + user);
  }
  sievedir::ScriptStore scripts(sievedir_of(c));
  sievedir::StoreEnvironment env(c.store, inbox.value(), scripts, nullptr);
  return print_outcome(c, sieve::run(*source, *message, envelope, env, limits));
}

}  // namespace

int sieve_command(Context& c, const Args& args) {
  if (args.empty()) return complain(kUsage, usage_text());
  const std::string& verb = args[0];
  if (verb == "test") return test_command(c, Args(args.begin() + 1, args.end()));
  sievedir::ScriptStore scripts(sievedir_of(c));
  if (verb == "check" && args.size() == 2) {  // a file
    std::string error;
    auto source = slurp(args[1], &error);
    if (!source) return complain(kFailed, error);
    auto compiled = sieve::compile(*source, limits_of(c));
    if (!compiled.ok()) return complain(kFailed, compiled.error().message);
    if (!c.json) printf("ok\n");
    else printf("%s\n", JsonObject().add("ok", true).str().c_str());
    return kOk;
  }
  if (args.size() < 2) return complain(kUsage, usage_text());
  const std::string& user = args[1];
  if (verb == "list" && args.size() == 2) {
    auto list = scripts.list(user);
    if (!list.ok()) return complain(kFailed, list.error());
    if (c.json) {
      std::vector<std::string> items;
      for (const auto& s : *list) {
        items.push_back(JsonObject().add("name", s.name).add("active", s.active).str());
      }
      printf("%s\n", json_array(items).c_str());
    } else {
      for (const auto& s : *list) printf("%s%s\n", s.name.c_str(), s.active ? " (active)" : "");
    }
    return kOk;
  }
  if (verb == "deactivate" && args.size() == 2) {
    if (auto e = scripts.deactivate(user)) return complain(kFailed, *e);
    return kOk;
  }
  if (args.size() < 3) return complain(kUsage, usage_text());
  const std::string& name = args[2];
  if (verb == "put" && args.size() == 4) {
    std::string error;
    auto source = slurp(args[3], &error);
    if (!source) return complain(kFailed, error);
    auto compiled = sieve::compile(*source, limits_of(c));  // as Cyrus's timsieved: no broken script
    if (!compiled.ok()) return complain(kUsage, name + ": " + compiled.error().message);
    if (auto e = scripts.put(user, name, *source,
                             static_cast<int>(c.settings.get_int("sieve_maxscripts")))) {
      return complain(kFailed, *e);
    }
    return kOk;
  }
  if (args.size() != 3) return complain(kUsage, usage_text());
  if (verb == "get" || verb == "check") {
    auto file = scripts.personal(user, name);
    if (!file) return complain(kNotFound, "no script \"" + name + "\" for " + user);
    auto source = sievedir::read_file(file->path);
    if (!source.ok()) return complain(kFailed, source.error());
    if (verb == "get") {
      fwrite(source->data(), 1, source->size(), stdout);
      return kOk;
    }
    auto compiled = sieve::compile(*source, limits_of(c));
    if (!compiled.ok()) return complain(kFailed, name + ": " + compiled.error().message);
    printf("ok\n");
    return kOk;
  }
  if (verb == "activate") {
    if (!scripts.personal(user, name)) return complain(kNotFound, "no script \"" + name + "\"");
    if (auto e = scripts.activate(user, name)) return complain(kFailed, *e);
    return kOk;
  }
  if (verb == "delete") {
    if (!scripts.personal(user, name)) return complain(kNotFound, "no script \"" + name + "\"");
    if (auto e = scripts.remove(user, name)) return complain(kFailed, *e);
    return kOk;
  }
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
