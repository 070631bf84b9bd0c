// Growing a store quickly with the store's own code; see store_growth.h.
#include "tools/store_growth.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "store/duplicates.h"
#include "store/fs.h"
#include "store/message_link.h"
#include "store/quota.h"
#include "store/sqlite.h"

namespace cubby::tools {
namespace {

using store::Errc;
using store::Error;
using store::MailboxRecord;

constexpr uint64_t kMailboxesPerTransaction = 1000;
// Progress is reported about this often (in deliveries) besides at the end.
constexpr uint64_t kProgressEvery = 100000;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string message_id(uint64_t seed, uint64_t n) {
  return "<fill." + std::to_string(seed) + "." + std::to_string(n) + "@bench.localhost>";
}

// An RFC 5322 date (every message of a run carries the one of its start).
std::string rfc5322_date(time_t when) {
  struct tm tm {};
  gmtime_r(&when, &tm);
  char out[64];
  strftime(out, sizeof out, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return out;
}

// A short list of words for bodies that read like text (so a compressing file system or a
// deduplicating one cannot make them cheaper than mail is).
constexpr const char* kWords[] = {
    "the",     "mailbox", "message", "delivery", "store",   "index",    "quota",  "server",
    "cyrus",   "lmtp",    "report",  "meeting",  "today",   "attached", "please", "review",
    "project", "numbers", "budget",  "thanks",   "regards", "schedule", "update", "question",
    "answer",  "week",    "monday",  "friday",   "office",  "invoice",  "order",  "shipping"};

// Keeps as many Stage files open as a batch needs: the soft limit of open files goes up to the
// hard one.
void raise_open_files_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

uint64_t open_files_limit() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return rl.rlim_cur;
}

// Creates mailboxes user/<prefix><n> on `partition` until the index holds plan.mailboxes.
std::optional<Error> create_mailboxes(store::Store& st, const GrowthPlan& plan,
                                      const std::string& partition, GrowthReport& report) {
  uint64_t have = st.index().list_mailboxes().size();
  const std::string sep = st.config().unix_hierarchy_sep ? "/" : ".";
  uint64_t n = 0;
  while (have < plan.mailboxes) {
    // Many mailboxes per index transaction: one WAL sync for all of them (each directory and
    // header still gets the syncs create_mailbox gives it).
    auto txn = store::Transaction::begin(st.index().db());
    if (!txn.ok()) return txn.error();
    for (uint64_t k = 0; k < kMailboxesPerTransaction && have < plan.mailboxes; ++k, ++n) {
      auto name = st.parse_name("user" + sep + plan.prefix + std::to_string(n));
      if (!name.ok()) return name.error();
      auto made = st.create_mailbox(name.value(), partition);
      if (!made.ok()) {
        if (made.error().code == Errc::kExists) continue;
        return made.error();
      }
      ++have;
      ++report.mailboxes_created;
    }
    if (auto e = txn->commit()) return e;
  }
  return std::nullopt;
}

// One message of a batch: its stage file and where it goes.
struct Parcel {
  store::StageFile stage;
  std::string message_id;
  std::vector<size_t> boxes;  // indexes into the pool
  std::vector<int64_t> uids;  // one per box, once allocated
};

// What the rows of a batch charge: the quota root covering each mailbox (looked up once).
class QuotaCharges {
 public:
  explicit QuotaCharges(store::Index& index) : index_(index) {}
  std::optional<Error> start() {
    auto any = index_.quotas().any();
    if (!any.ok()) return any.error();
    on_ = any.value();
    return std::nullopt;
  }
  std::optional<Error> charge(const MailboxRecord& box, int64_t size) {
    if (!on_) return std::nullopt;
    auto it = roots_.find(box.id);
    if (it == roots_.end()) {
      auto root = index_.quotas().root_of(box.name);
      if (!root.ok()) return root.error();
      it = roots_
               .emplace(box.id, root.value() ? std::optional<std::string>(root.value()->name)
                                             : std::nullopt)
               .first;
    }
    if (!it->second) return std::nullopt;
    return index_.quotas().charge(*it->second, size, 1);
  }

 private:
  store::Index& index_;
  bool on_ = false;
  std::map<int64_t, std::optional<std::string>> roots_;
};

// Steps 2-5 of store_growth.h for the parcels of one batch.
std::optional<Error> deliver_batch(store::Store& st, const std::vector<MailboxRecord>& pool,
                                   const std::string& partition, int partition_fd,
                                   const std::string& date, std::vector<Parcel>& parcels,
                                   QuotaCharges& quota) {
  store::Index& index = st.index();
  const bool duplicates = st.config().duplicate_suppression;
  const auto now = static_cast<int64_t>(time(nullptr));
  // Rows in mailbox order, so the inserts walk the messages table's B-tree once per batch.
  std::vector<std::pair<size_t, size_t>> rows;  // (parcel, position in its boxes)
  for (size_t p = 0; p < parcels.size(); ++p) {
    parcels[p].uids.assign(parcels[p].boxes.size(), 0);
    for (size_t i = 0; i < parcels[p].boxes.size(); ++i) rows.emplace_back(p, i);
  }
  std::sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    return pool[parcels[a.first].boxes[a.second]].id < pool[parcels[b.first].boxes[b.second]].id;
  });
  auto txn = store::Transaction::begin(index.db());
  if (!txn.ok()) return txn.error();
  for (const auto& [p, i] : rows) {
    Parcel& parcel = parcels[p];
    const MailboxRecord& box = pool[parcel.boxes[i]];
    auto uid = index.allocate_uid(box.id);
    if (!uid.ok()) return uid.error();
    if (!uid.value()) return Error{Errc::kNotFound, "mailbox " + box.name + " was deleted"};
    parcel.uids[i] = *uid.value();
    const auto size = static_cast<int64_t>(parcel.stage.size());
    // Durable at once (pending = 0): the COMMIT below follows the sync of its file.
    store::MessageRecord row{
        box.id, parcel.uids[i], parcel.stage.guid(), size, now, parcel.stage.name(),
        false,  std::string()};
    if (auto e = index.insert_message(row)) return e;
    if (duplicates) {
      auto key = store::DuplicateKey::of(parcel.message_id, box.uniqueid, date);
      if (auto e = index.duplicates().mark(key, parcel.uids[i], now)) return e;
    }
    if (auto e = quota.charge(box, size)) return e;
  }
  const std::string root = st.partition_root(partition);
  for (const auto& [p, i] : rows) {
    const Parcel& parcel = parcels[p];
    auto link =
        store::link_message(parcel.stage.path(), root, pool[parcel.boxes[i]].dir, parcel.uids[i],
                            st.config().single_instance, store::LinkMode::kNew);
    if (!link.ok()) return link.error();
  }
  // One sync for the whole batch: the stage files' data, the links and the directories.
  if (::syncfs(partition_fd) != 0) return store::sys_error("syncfs " + root);
  if (auto e = txn->commit()) return e;
  for (Parcel& parcel : parcels) parcel.stage.remove();
  return std::nullopt;
}

}  // namespace

std::string growth_message(uint64_t seed, uint64_t n, uint32_t size, const std::string& to,
                           const std::string& date) {
  std::string text;
  text.reserve(size + 128);
  text += "Return-Path: <sender@example.com>\r\n";
  text +=
      "Received: from fill.localhost by bench.localhost (cubby-fill) with LMTP; " + date + "\r\n";
  text += "Message-ID: " + message_id(seed, n) + "\r\n";
  text += "Date: " + date + "\r\n";
  text += "From: Sender <sender@example.com>\r\n";
  text += "To: <" + to + "@example.com>\r\n";
  text += "Subject: store growth message " + std::to_string(n) + "\r\n";
  text += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
  std::mt19937_64 words(seed * 0x9e3779b97f4a7c15ULL + n);
  constexpr size_t kWordCount = sizeof kWords / sizeof kWords[0];
  // Lines of words up to 72 characters; the last line is padded so the total is exactly `size`.
  while (text.size() + 2 <= size) {
    const size_t room = std::min<size_t>(72, size - text.size() - 2);
    std::string line;
    for (;;) {
      const std::string word = kWords[words() % kWordCount];
      if (line.size() + (line.empty() ? 0 : 1) + word.size() > room) break;
      line += (line.empty() ? "" : " ") + word;
    }
    // Too little left for another line of words: this one takes the rest.
    if (size - text.size() - 2 - line.size() < 8) line.resize(size - text.size() - 2, '.');
    text += line + "\r\n";
  }
  return text;
}

Result<GrowthReport, Error> grow_store(store::Store& st, const GrowthPlan& plan,
                                       const GrowthProgress& progress) {
  GrowthReport report;
  const std::string partition =
      plan.partition.empty() ? st.config().default_partition : plan.partition;
  if (st.partition_root(partition).empty()) {
    return fail(Error{Errc::kNotFound, "no partition \"" + partition + "\""});
  }
  if (st.config().partition_format(partition) != store::PartitionFormat::kCyrus) {
    return fail(Error{Errc::kBadName, "partition \"" + partition +
                                          "\" is a Maildir partition: only Cyrus-format "
                                          "partitions can be grown"});
  }
  if (plan.batch == 0)
    return fail(Error{Errc::kBadName, "the batch must hold one delivery at least"});
  // A large page cache: a batch touches pages all over the messages table.
  if (auto e = st.index().db().exec("PRAGMA cache_size = -262144")) return fail(*e);

  auto started = std::chrono::steady_clock::now();
  if (auto e = create_mailboxes(st, plan, partition, report)) return fail(*e);
  report.mailbox_seconds = seconds_since(started);

  std::vector<MailboxRecord> pool;
  for (auto& m : st.index().list_mailboxes()) {
    // Only Cyrus-layout mailboxes: cubbyctl convert may have made some Maildir++ (or be at it).
    if (m.partition == partition && !st.is_maildir(m) && !m.converting) pool.push_back(std::move(m));
  }
  report.mailboxes = pool.size();
  if (plan.messages > 0 && pool.empty()) {
    return fail(Error{Errc::kNotFound, "no mailbox on partition \"" + partition + "\" to fill"});
  }
  raise_open_files_limit();
  const uint32_t recipients = static_cast<uint32_t>(
      std::min<uint64_t>(std::max<uint32_t>(plan.recipients, 1), pool.size()));
  // Stage files held open at once: one per message of a batch; leave room for SQLite and the rest.
  const uint64_t limit = open_files_limit();
  const uint64_t batch_files = std::max<uint64_t>(1, (limit > 128 ? limit - 64 : 64) - 64);
  const uint64_t batch = std::min<uint64_t>(plan.batch, batch_files * recipients);

  store::Fd partition_fd(
      ::open(st.partition_root(partition).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (partition_fd.get() < 0) {
    return fail(store::sys_error("open " + st.partition_root(partition)));
  }
  QuotaCharges quota(st.index());
  if (auto e = quota.start()) return fail(*e);
  const std::string date = rfc5322_date(time(nullptr));
  std::mt19937_64 rng(plan.seed);
  std::vector<size_t> order(pool.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;

  started = std::chrono::steady_clock::now();
  uint64_t next_progress = kProgressEvery;
  while (report.messages < plan.messages) {
    const uint64_t rows = std::min<uint64_t>(batch, plan.messages - report.messages);
    std::vector<Parcel> parcels;
    for (uint64_t planned = 0; planned < rows;) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(recipients, rows - planned));
      // k distinct mailboxes, uniformly: a partial Fisher-Yates shuffle of `order`.
      std::vector<size_t> boxes;
      for (size_t i = 0; i < k; ++i) {
        const size_t j = i + static_cast<size_t>(rng() % (order.size() - i));
        std::swap(order[i], order[j]);
        boxes.push_back(order[i]);
      }
      auto stage = st.create_stage(partition);
      if (!stage.ok()) return fail(stage.error());
      const uint64_t n = report.files;
      const std::string to = pool[boxes[0]].name.substr(pool[boxes[0]].name.rfind('.') + 1);
      const std::string text = growth_message(plan.seed, n, plan.size, to, date);
      if (auto e = stage->append(text)) return fail(*e);
      parcels.push_back(
          Parcel{std::move(stage.value()), message_id(plan.seed, n), std::move(boxes), {}});
      ++report.files;
      report.bytes += text.size();
      planned += k;
    }
    if (auto e = deliver_batch(st, pool, partition, partition_fd.get(), date, parcels, quota)) {
      return fail(*e);
    }
    report.messages += rows;
    ++report.batches;
    if (progress && (report.messages >= next_progress || report.messages == plan.messages)) {
      progress(report.messages, plan.messages);
      while (next_progress <= report.messages) next_progress += kProgressEvery;
    }
  }
  report.message_seconds = seconds_since(started);

  // Fold the WAL into the index file, as a store that has run a while has done.
  started = std::chrono::steady_clock::now();
  if (auto e = st.index().db().exec("PRAGMA wal_checkpoint(TRUNCATE)")) return fail(*e);
  report.checkpoint_seconds = seconds_since(started);
  return report;
}

}  // namespace cubby::tools
