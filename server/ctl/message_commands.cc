// cubbyctl message ... and duplicates ...; see commands.h.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"

namespace cubby::ctl {
namespace {

std::optional<int64_t> parse_uid(const std::string& s) {
  if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int64_t v = std::stoll(s);
  return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
}

int list(Context& c, const Found& f) {
  auto messages = c.store.index().messages(f.record.id);
  if (c.json) {
    std::vector<std::string> items;
    for (const auto& m : messages) {
      items.push_back(JsonObject()
                          .add("uid", m.uid)
                          .add("size", m.size)
                          .add("internaldate", m.internaldate)
                          .add("guid", m.guid)
                          .str());
    }
    printf("%s\n", json_array(items).c_str());
    return kOk;
  }
  Table t({"UID", "SIZE", "DELIVERED", "GUID"});
  for (const auto& m : messages) {
    t.add({std::to_string(m.uid), std::to_string(m.size), human_time(m.internaldate), m.guid});
  }
  if (t.size() > 0) printf("%s", t.str().c_str());
  return kOk;
}

int show(Context& c, const Found& f, const std::string& uid_text) {
  auto uid = parse_uid(uid_text);
  if (!uid) return complain(kUsage, "\"" + uid_text + "\" is not a UID");
  if (!c.store.index().message(f.record.id, *uid)) {
    return complain(kNotFound, "no message " + uid_text + " in " + c.store.external_name(f.record.name));
  }
  // Beneath the partition, never through a link (store/fs.h).
  store::Fd file;
  if (auto e = c.store.open_message_file(f.record, *uid, &file)) {
    return complain(kFailed, "cannot open message: " + e->detail);
  }
  std::cout.flush();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return complain(kFailed, "read " + c.store.message_path(f.record, *uid) + ": " +
                                            std::strerror(errno));
    if (n == 0) break;
    std::cout.write(buf, n);
  }
  return kOk;
}

int remove(Context& c, const Found& f, const Args& uids) {
  std::vector<int64_t> list;
  for (const auto& u : uids) {
    auto uid = parse_uid(u);
    if (!uid) return complain(kUsage, "\"" + u + "\" is not a UID");
    list.push_back(*uid);
  }
  int code = kOk;
  std::vector<std::string> json;
  for (int64_t uid : list) {
    if (auto e = c.store.delete_message(f.record, uid)) {
      code = std::max(code, report(*e));
      continue;
    }
    if (c.json) {
      json.push_back(std::to_string(uid));
    } else {
      printf("deleted uid %lld from %s\n", static_cast<long long>(uid),
             c.store.external_name(f.record.name).c_str());
    }
  }
  if (c.json) printf("%s\n", JsonObject().add_raw("deleted", json_array(json)).str().c_str());
  return code;
}

}  // namespace

int message_command(Context& c, const Args& args) {
  if (args.size() < 2) return complain(kUsage, usage_text());
  const std::string& verb = args[0];
  if (!(verb == "list" && args.size() == 2) && !(verb == "show" && args.size() == 3) &&
      !(verb == "delete" && args.size() >= 3)) {
    return complain(kUsage, usage_text());
  }
  int code = kOk;
  auto found = find_mailbox(c, args[1], &code);
  if (!found) return code;
  if (verb == "list") return list(c, *found);
  if (verb == "show") return show(c, *found, args[2]);
  return remove(c, *found, Args(args.begin() + 2, args.end()));
}

int duplicates_command(Context& c, const Args& args) {
  auto& marks = c.store.index().duplicates();
  if (args.size() == 1 && args[0] == "count") {
    auto n = marks.count();
    if (!n.ok()) return report(n.error());
    if (c.json) {
      printf("%s\n", JsonObject().add("marks", n.value()).str().c_str());
    } else {
      printf("%lld duplicate-suppression marks\n", static_cast<long long>(n.value()));
    }
    return kOk;
  }
  if (args.size() == 3 && args[0] == "prune" && args[1] == "--days") {
    const std::string& d = args[2];
    if (d.empty() || d.size() > 6 || d.find_first_not_of("0123456789") != std::string::npos) {
      return complain(kUsage, "--days needs a whole number of days");
    }
    const int64_t before = static_cast<int64_t>(time(nullptr)) - std::stoll(d) * 86400;
    auto removed = marks.prune(before);
    if (!removed.ok()) return report(removed.error());
    auto left = marks.count();
    if (c.json) {
      printf("%s\n", JsonObject()
                         .add("removed", removed.value())
                         .add("kept", left.ok() ? left.value() : int64_t{-1})
                         .str()
                         .c_str());
    } else {
      printf("removed %lld marks made %s or more days ago; %lld kept\n",
             static_cast<long long>(removed.value()), d.c_str(),
             static_cast<long long>(left.ok() ? left.value() : -1));
    }
    return kOk;
  }
  return complain(kUsage, usage_text());
}

}  // namespace cubby::ctl
