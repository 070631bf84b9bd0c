// cubbyctl convert: moves mailboxes between the Cyrus layout and Maildir++, in place or into
// another partition (store/convert.h; docs/mailboxes.md "Converting mailboxes").
#include <cstdio>
#include <string>

#include "server/ctl/commands.h"
#include "server/ctl/output.h"
#include "store/convert.h"

namespace cubby::ctl {
namespace {

std::string strings_json(const std::vector<std::string>& lines) {
  std::vector<std::string> items;
  for (const auto& l : lines) items.push_back(json_string(l));
  return json_array(items);
}

}  // namespace

int convert_command(Context& c, const Args& args) {
  std::string to, into, mailbox, user, partition;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return complain(kUsage, usage_text());
    std::string* slot = a == "--to"          ? &to
                        : a == "--into"      ? &into
                        : a == "--mailbox"   ? &mailbox
                        : a == "--user"      ? &user
                        : a == "--partition" ? &partition
                                             : nullptr;
    if (!slot || !slot->empty()) return complain(kUsage, usage_text());
    *slot = args[++i];
  }
  if ((!mailbox.empty()) + (!user.empty()) + (!partition.empty()) != 1) {
    return complain(kUsage, "convert: name exactly one of --mailbox, --user, --partition");
  }
  const auto& config = c.store.config();
  if (!into.empty() && config.partition_root(into).empty()) {
    return complain(kNotFound, "no partition \"" + into + "\"");
  }
  store::ConvertRequest request;
  request.partition = into;
  if (to == "maildir") {
    request.to = store::PartitionFormat::kMaildir;
  } else if (to == "cyrus") {
    request.to = store::PartitionFormat::kCyrus;
  } else if (to.empty() && !into.empty()) {
    request.to = config.partition_format(into);
  } else {
    return complain(kUsage, "convert: --to maildir or --to cyrus (or --into a partition, whose "
                            "format is the default)");
  }

  store::ConvertReport r;
  auto conversion = store::Conversion::start(c.store, &r);
  if (!conversion.ok()) return report(conversion.error());
  Result<std::vector<store::ConvertUnit>, store::Error> units = std::vector<store::ConvertUnit>{};
  if (!partition.empty()) {
    units = conversion->partition_units(partition, request);
  } else if (!user.empty()) {
    const size_t at = user.find('@');
    auto name = store::MailboxName::for_user(
        user.substr(0, at), {}, at == std::string::npos ? "" : user.substr(at + 1));
    if (!name.ok()) return complain(kUsage, name.error().detail);
    units = conversion->user_units(name->internal());
  } else {
    auto name = c.store.parse_name(mailbox);
    if (!name.ok()) return complain(kUsage, name.error().detail);
    units = conversion->mailbox_units(name->internal(), request);
  }
  std::optional<store::Error> failed;
  if (!units.ok()) failed = units.error();
  for (const auto& unit : units.ok() ? *units : std::vector<store::ConvertUnit>{}) {
    if (auto e = conversion->convert(unit, request)) {
      failed = store::Error{e->code, unit.label + ": " + e->detail};
      break;
    }
  }
  if (!partition.empty() && !failed && into.empty() && config.partition_format(partition) != request.to) {
    r.notes.push_back(std::string("partition ") + partition + " is configured " +
                      (request.to == store::PartitionFormat::kMaildir ? "cyrus" : "maildir") +
                      ": set partition-" + partition + "-format: " +
                      (request.to == store::PartitionFormat::kMaildir ? "maildir" : "cyrus") +
                      " so that new mailboxes are made the same way");
  }
  if (c.json) {
    printf("%s\n", JsonObject()
                       .add("converted", r.units)
                       .add("mailboxes", r.mailboxes)
                       .add("messages", r.messages)
                       .add("linked", r.linked)
                       .add("copied", r.copied)
                       .add("dropped", r.dropped)
                       .add("finished", r.finished)
                       .add_raw("notes", strings_json(r.notes))
                       .add("error", failed ? failed->detail : std::string())
                       .str()
                       .c_str());
  } else {
    printf("%lld converted (%lld mailboxes, %lld messages: %lld linked, %lld copied; %lld rows of "
           "expunged messages dropped); %lld interrupted conversions finished\n",
           static_cast<long long>(r.units), static_cast<long long>(r.mailboxes),
           static_cast<long long>(r.messages), static_cast<long long>(r.linked),
           static_cast<long long>(r.copied), static_cast<long long>(r.dropped),
           static_cast<long long>(r.finished));
    for (const auto& n : r.notes) printf("note: %s\n", n.c_str());
  }
  if (failed) {
    return complain(exit_code(*failed),
                    failed->detail + " (what was done stands; run the same command again to finish)");
  }
  return kOk;
}

}  // namespace cubby::ctl
