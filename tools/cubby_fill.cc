// cubby-fill: grows a Cubby store to a given number of mailboxes and delivered messages, fast, with
// the store's own code (tools/store_growth.h); scripts/bench --grow runs it before a workload.
//
//   cubby-fill [-C settings] --mailboxes N --messages M [--recipients R] [--size BYTES]
//              [--batch ROWS] [--seed S] [--partition NAME] [--prefix P] [--json]
// Prints what it made and how fast (a JSON object with --json), progress lines on stderr. Run it on
// a store no server is delivering into. Exit codes: 0 done, 1 failed, 64 usage, 78 configuration.
#include <getopt.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/process/privileges.h"
#include "store/config.h"
#include "store/store.h"
#include "tools/store_growth.h"

namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 64, kConfig = 78;

constexpr const char* kUsageText =
    "usage: cubby-fill [-C settings] --mailboxes N --messages M [--recipients R] [--size BYTES]\n"
    "                  [--batch ROWS] [--seed S] [--partition NAME] [--prefix P] [--json]\n"
    "  --mailboxes N    create user/<P><n> mailboxes until the index holds N (existing ones "
    "count)\n"
    "  --messages M     add M deliveries (index rows), each message hard-linked into R mailboxes\n"
    "  --recipients R   mailboxes per message, drawn at random among all of them (default 10)\n"
    "  --size BYTES     bytes of each message (default 4096)\n"
    "  --batch ROWS     deliveries per index transaction and syncfs (default 20000)\n"
    "  --seed S         for the choice of recipients and the message text (default 1)\n"
    "  --partition NAME the partition to grow (default: the default partition)\n"
    "  --prefix P       name prefix of the new mailboxes (default g)\n"
    "  --json           print the result as one JSON object\n";

int complain(int code, const std::string& message) {
  fprintf(stderr, "cubby-fill: %s\n", message.c_str());
  return code;
}

bool parse_count(const char* text, uint64_t max, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/cubby/imapd.conf";
  bool json = false;
  bool have_mailboxes = false, have_messages = false;
  cubby::tools::GrowthPlan plan;
  enum {
    kMailboxes = 256,
    kMessages,
    kRecipients,
    kSize,
    kBatch,
    kSeed,
    kPartition,
    kPrefix,
    kJson
  };
  static const option longopts[] = {{"mailboxes", required_argument, nullptr, kMailboxes},
                                    {"messages", required_argument, nullptr, kMessages},
                                    {"recipients", required_argument, nullptr, kRecipients},
                                    {"size", required_argument, nullptr, kSize},
                                    {"batch", required_argument, nullptr, kBatch},
                                    {"seed", required_argument, nullptr, kSeed},
                                    {"partition", required_argument, nullptr, kPartition},
                                    {"prefix", required_argument, nullptr, kPrefix},
                                    {"json", no_argument, nullptr, kJson},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "C:h", longopts, nullptr)) != -1) {
    uint64_t v = 0;
    const auto count = [&](uint64_t max) {
      if (!parse_count(optarg, max, &v)) {
        exit(complain(kUsage, std::string("bad number \"") + optarg + "\"\n" + kUsageText));
      }
      return v;
    };
    switch (opt) {
      case 'C':
        config_path = optarg;
        break;
      case kMailboxes:
        plan.mailboxes = count(UINT32_MAX);
        have_mailboxes = true;
        break;
      case kMessages:
        plan.messages = count(UINT64_MAX / 2);
        have_messages = true;
        break;
      case kRecipients:
        plan.recipients = static_cast<uint32_t>(count(1000));
        break;
      case kSize:
        plan.size = static_cast<uint32_t>(count(64 << 20));
        break;
      case kBatch:
        plan.batch = static_cast<uint32_t>(count(10000000));
        break;
      case kSeed:
        plan.seed = count(UINT64_MAX);
        break;
      case kPartition:
        plan.partition = optarg;
        break;
      case kPrefix:
        plan.prefix = optarg;
        break;
      case kJson:
        json = true;
        break;
      case 'h':
        printf("%s", kUsageText);
        return kOk;
      default:
        return complain(kUsage, kUsageText);
    }
  }
  if (optind != argc || !have_mailboxes || !have_messages || plan.recipients == 0 ||
      plan.batch == 0 || plan.prefix.empty()) {
    return complain(kUsage, kUsageText);
  }
  cubby::log::init("cubby/cubby-fill", true);

  std::vector<std::string> warnings;
  auto settings = cubby::conf::Settings::load(config_path, &warnings);
  if (!settings.ok()) return complain(kConfig, settings.error().str());
  for (const auto& w : warnings) fprintf(stderr, "cubby-fill: warning: %s\n", w.c_str());
  // As cubbyctl: what is created belongs to the service user.
  if (auto e = cubby::server::become_service_user(settings.value())) return complain(kConfig, *e);
  auto config = cubby::store::StoreConfig::from(settings.value());
  if (!config.ok()) return complain(kConfig, config.error());
  auto store = cubby::store::Store::open(config.value());
  if (!store.ok()) return complain(kFailed, "cannot open the store: " + store.error().detail);

  auto report = cubby::tools::grow_store(**store, plan, [](uint64_t done, uint64_t total) {
    fprintf(stderr, "cubby-fill: %llu of %llu deliveries\n", static_cast<unsigned long long>(done),
            static_cast<unsigned long long>(total));
  });
  if (!report.ok()) return complain(kFailed, report.error().detail);
  const auto& r = report.value();
  const double rate = r.message_seconds > 0 ? r.messages / r.message_seconds : 0;
  if (json) {
    printf(
        "{\"mailboxes_created\": %llu, \"mailboxes\": %llu, \"messages\": %llu, \"files\": %llu, "
        "\"bytes\": %llu, \"batches\": %llu, \"mailbox_seconds\": %.3f, \"message_seconds\": %.3f, "
        "\"checkpoint_seconds\": %.3f, \"messages_per_second\": %.0f}\n",
        static_cast<unsigned long long>(r.mailboxes_created),
        static_cast<unsigned long long>(r.mailboxes), static_cast<unsigned long long>(r.messages),
        static_cast<unsigned long long>(r.files), static_cast<unsigned long long>(r.bytes),
        static_cast<unsigned long long>(r.batches), r.mailbox_seconds, r.message_seconds,
        r.checkpoint_seconds, rate);
  } else {
    printf(
        "mailboxes: %llu created in %.1f s, %llu on the partition\n"
        "messages:  %llu deliveries (%llu files, %llu bytes) in %llu batches, %.1f s: %.0f/s\n"
        "checkpoint of the index: %.1f s\n",
        static_cast<unsigned long long>(r.mailboxes_created), r.mailbox_seconds,
        static_cast<unsigned long long>(r.mailboxes), static_cast<unsigned long long>(r.messages),
        static_cast<unsigned long long>(r.files), static_cast<unsigned long long>(r.bytes),
        static_cast<unsigned long long>(r.batches), r.message_seconds, rate, r.checkpoint_seconds);
  }
  return kOk;
}
