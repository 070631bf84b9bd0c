// Converting mailboxes between the Cyrus layout and Maildir++; see convert.h for the steps and why
// each is safe to repeat.
#include "store/convert.h"
#include "store/convert_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "store/maildir_file_name.h"
#include "store/maildir_flags.h"
#include "store/maildir_layout.h"
#include "store/maildir_link.h"
#include "store/maildir_quota.h"
#include "store/mailbox_name.h"
#include "store/sqlite.h"
#include "store/stage_file.h"

namespace cubby::store {
namespace {

const char* format_word(PartitionFormat f) {
  return f == PartitionFormat::kMaildir ? "maildir" : "cyrus";
}

struct Letter {
  char letter;
  const char* flag;
};
// Maildir info letters (cr.yp.to/proto/maildir.html), in ASCII order, with Dovecot's flags.
// ($Forwarded is a keyword to Dovecot, not 'P'.)
constexpr Letter kLetters[] = {{'D', "\\Draft"},    {'F', "\\Flagged"}, {'R', "\\Answered"},
                               {'S', "\\Seen"},     {'T', "\\Deleted"}};

bool is_system_flag(const std::string& flag) {
  for (const auto& l : kLetters) {
    if (strcasecmp(flag.c_str(), l.flag) == 0) return true;
  }
  return false;
}

std::optional<Error> stopped_after(const ConvertRequest& request, ConvertStep step) {
  if (request.stop_after != step) return std::nullopt;
  return Error{Errc::kIo, "stopped after step " + std::to_string(static_cast<int>(step))};
}

// Whether a live process holds the stage file `name` of the partition at `root` (its committer
// locks it until the checkpoint has retired it; recovery.h).
bool stage_in_use(const std::string& root, const std::string& name) {
  const std::string path = stage_dir(root) + "/" + name;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;  // released when fd closes
  return errno == EWOULDBLOCK;
}

std::string uid_file(int64_t uid) { return std::to_string(uid) + "."; }

// W=: the size with bare LFs counted as CRLF, read from the file.
Result<uint64_t, Error> crlf_size_of(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return fail(sys_error("open " + path));
  MessageSizeCounter counter;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(sys_error("read " + path));
    if (n == 0) break;
    counter.add(std::string_view(buf, static_cast<size_t>(n)));
  }
  return counter.sizes().crlf_bytes;
}

// One message of a unit: where it is now and where it goes.
struct Move {
  MessageRecord row;
  std::string source;       // absolute path of the file now; "" when gone (expunged)
  std::string target_dir;   // relative to the target partition root
  std::string target_name;  // file name in target_dir
  std::string file;         // the row's new `file` ("" on Cyrus, the base name on Maildir)
  std::vector<std::string> flags;  // the row's flags after the switch (message_flags)
  bool flags_changed = false;
};

// One mailbox of a unit.
struct BoxPlan {
  MailboxRecord box;
  MailboxName name;
  PartitionFormat from = PartitionFormat::kCyrus;
  std::string new_dir;  // relative to the target partition root
  std::vector<Move> moves;
  // From Maildir: the old folder's dovecot-keywords (letter 'a' + i), read when first needed.
  std::optional<std::vector<std::string>> old_keywords;
};

ConvertJournal journal_of(const ConvertRequest& request, const std::string& target,
                          const std::vector<BoxPlan>& plans) {
  ConvertJournal j;
  j.to = format_word(request.to);
  j.partition = target;
  for (const auto& p : plans) {
    ConvertJournal::Box b{p.box.id, p.box.name, p.box.partition, format_word(p.from), p.box.dir, {}};
    for (const auto& m : p.moves) {
      b.files.push_back(p.from == PartitionFormat::kMaildir ? m.row.file : uid_file(m.row.uid));
    }
    j.boxes.push_back(std::move(b));
  }
  return j;
}

// Makes `target` (in the open directory `dir_fd`, path `dir`) the file `source`: a hard link, or
// where none can be made a durable copy renamed into place from `tmp_name` in `tmp_fd`. Counts
// what it did into *report. `shared` maps an earlier copy of the same delivery on the target
// partition (so one inode stays one inode); updated.
std::optional<Error> make_target(const std::string& source, int dir_fd, const std::string& dir,
                                 const std::string& target, int tmp_fd, const std::string& tmp_dir,
                                 const std::string& tmp_name, const std::string& shared_path,
                                 ConvertReport* report, std::string* made_as) {
  const std::string target_path = dir + "/" + target;
  const std::string& from = shared_path.empty() ? source : shared_path;
  if (::linkat(AT_FDCWD, from.c_str(), dir_fd, target.c_str(), 0) == 0) {
    ++report->linked;
    *made_as = target_path;
    return std::nullopt;
  }
  const int err = errno;
  if (err != EXDEV && err != EMLINK && err != EPERM && err != EOPNOTSUPP) {
    return sys_error("link " + from + " to " + target_path, err);
  }
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) return sys_error("stat " + source);
  const std::string tmp_path = tmp_dir + "/" + tmp_name;
  if (::unlinkat(tmp_fd, tmp_name.c_str(), 0) != 0 && errno != ENOENT) {
    return sys_error("unlink " + tmp_path);
  }
  if (auto e = copy_file(source, tmp_path)) return e;  // fsynced
  const struct timespec times[2] = {st.st_atim, st.st_mtim};  // the internal date is the mtime
  if (::utimensat(tmp_fd, tmp_name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_error("utimensat " + tmp_path);
  }
  if (::renameat(tmp_fd, tmp_name.c_str(), dir_fd, target.c_str()) != 0) {
    return sys_error("rename " + tmp_path + " to " + target_path);
  }
  ++report->copied;
  *made_as = target_path;
  return std::nullopt;
}

}  // namespace

std::string converted_maildir_name(const MailboxRecord& box, const MessageRecord& row,
                                   uint64_t crlf_size) {
  return std::to_string(row.internaldate) + ".C" + std::to_string(row.uid) + "V" +
         std::to_string(box.uidvalidity) + ".cubby-convert,S=" + std::to_string(row.size) +
         ",W=" + std::to_string(crlf_size);
}

std::string system_flag_letters(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& l : kLetters) {
    for (const auto& f : flags) {
      if (strcasecmp(f.c_str(), l.flag) == 0) {
        out += l.letter;
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> system_flags_of_letters(const std::string& letters) {
  std::vector<std::string> out;
  for (const auto& l : kLetters) {
    if (letters.find(l.letter) != std::string::npos) out.push_back(l.flag);
  }
  return out;
}

Result<Conversion, Error> Conversion::start(Store& store, ConvertReport* report) {
  const std::string dir = store.config().config_directory + "/convert";
  if (auto e = make_dirs(dir)) return fail(*e);
  const std::string lock_path = dir + "/lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock) return fail(sys_error("open " + lock_path));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(Error{Errc::kBusy, "another cubbyctl convert is running (" + lock_path + ")"});
    }
    return fail(sys_error("flock " + lock_path));
  }
  Conversion c(store, report, std::move(lock));
  if (auto e = c.finish_journals()) return fail(*e);
  return c;
}

std::string Conversion::journal_dir() const { return store_->config().config_directory + "/convert"; }

std::optional<Error> Conversion::finish_journals() {
  const std::string dir = journal_dir();
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      const std::string n = ent->d_name;
      if (n.size() > 8 && n.compare(n.size() - 8, 8, ".journal") == 0) names.push_back(n);
    }
    ::closedir(d);
  }
  for (const auto& n : names) {
    const std::string path = dir + "/" + n;
    auto text = read_small_file(path);
    if (!text.ok()) return text.error();
    auto j = ConvertJournal::parse(*text, path);
    if (!j.ok()) return j.error();
    if (!journal_switched(*store_, *j)) continue;  // a rerun of the conversion redoes it
    if (auto e = clean_old_places(*store_, *j, &report_->notes)) return e;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + path);
    if (auto e = fsync_dir(dir)) return e;
    ++report_->finished;
  }
  return std::nullopt;
}

Result<std::vector<ConvertUnit>, Error> Conversion::user_units(const std::string& inbox) {
  auto boxes = store_->index().mailboxes_below(inbox);
  if (boxes.empty() || boxes.front().name != inbox) {
    return fail(Error{Errc::kNotFound, "no user " + store_->external_name(inbox)});
  }
  return std::vector<ConvertUnit>{{"user " + store_->external_name(inbox), std::move(boxes)}};
}

Result<std::vector<ConvertUnit>, Error> Conversion::mailbox_units(const std::string& internal,
                                                                  const ConvertRequest& request) {
  auto box = store_->index().find_mailbox(internal);
  if (!box) return fail(Error{Errc::kNotFound, "no mailbox " + store_->external_name(internal)});
  auto name = MailboxName::from_internal(internal);
  if (!name.ok()) return fail(name.error());
  if (name->is_inbox()) return user_units(internal);
  if (name->is_user()) {
    auto inbox = store_->index().find_mailbox(name->inbox()->internal());
    const std::string target = request.partition.empty() ? box->partition : request.partition;
    const bool inbox_maildir = inbox && store_->is_maildir(*inbox);
    if (inbox && (inbox_maildir != (request.to == PartitionFormat::kMaildir) ||
                  (request.to == PartitionFormat::kMaildir && inbox->partition != target))) {
      return fail(Error{Errc::kBadName,
                        "folder " + store_->external_name(internal) + " can only join the format " +
                            "and partition of its user's INBOX; convert the user instead (--user)"});
    }
  }
  return std::vector<ConvertUnit>{{"mailbox " + store_->external_name(internal), {*box}}};
}

Result<std::vector<ConvertUnit>, Error> Conversion::partition_units(const std::string& partition,
                                                                    const ConvertRequest& request) {
  if (store_->config().partition_root(partition).empty()) {
    return fail(Error{Errc::kNotFound, "no partition \"" + partition + "\""});
  }
  std::map<std::string, ConvertUnit> users;
  std::vector<ConvertUnit> out;
  for (auto& box : store_->index().list_mailboxes()) {
    if (box.partition != partition) continue;
    auto name = MailboxName::from_internal(box.name);
    if (!name.ok()) return fail(name.error());
    if (!name->is_user()) {
      if (request.to == PartitionFormat::kMaildir) {
        report_->notes.push_back("shared mailbox " + store_->external_name(box.name) +
                                 " stays in the Cyrus layout (no Maildir++ place)");
        continue;
      }
      out.push_back({"mailbox " + store_->external_name(box.name), {box}});
      continue;
    }
    const std::string inbox = name->inbox()->internal();
    auto& unit = users[inbox];
    if (unit.label.empty()) unit.label = "user " + store_->external_name(inbox);
    unit.mailboxes.push_back(std::move(box));
  }
  for (auto& [inbox, unit] : users) out.push_back(std::move(unit));
  return out;
}

std::optional<Error> Conversion::convert(const ConvertUnit& unit, const ConvertRequest& request) {
  Store& store = *store_;
  Index& index = store.index();
  const StoreConfig& config = store.config();
  const std::string to_word = format_word(request.to);
  const bool to_maildir = request.to == PartitionFormat::kMaildir;
  if (unit.mailboxes.empty()) return std::nullopt;
  if (!request.partition.empty() && config.partition_root(request.partition).empty()) {
    return Error{Errc::kNotFound, "no partition \"" + request.partition + "\""};
  }

  // Re-read the rows: an earlier unit of this run, or an earlier run, may have moved them.
  std::vector<BoxPlan> plans;
  bool all_done = true;
  for (const auto& listed : unit.mailboxes) {
    auto box = index.mailbox_by_id(listed.id);
    if (!box) continue;
    auto name = MailboxName::from_internal(box->name);
    if (!name.ok()) return name.error();
    BoxPlan p{*box, *name, store.is_maildir(*box) ? PartitionFormat::kMaildir : PartitionFormat::kCyrus,
              "", {}, {}};
    const std::string target = request.partition.empty() ? box->partition : request.partition;
    if (box->converting || p.from != request.to || box->partition != target) all_done = false;
    plans.push_back(std::move(p));
  }
  if (plans.empty() || all_done) return std::nullopt;
  const std::string target =
      request.partition.empty() ? plans.front().box.partition : request.partition;
  for (auto& p : plans) {
    if (!request.partition.empty() || p.box.partition == target) continue;
    return Error{Errc::kBadName, unit.label + " spans partitions; give --partition"};
  }
  const std::string target_root = config.partition_root(target);
  for (auto& p : plans) {
    if (to_maildir) {
      auto dir = maildir_mailbox_dir(p.name);
      if (!dir.ok()) return dir.error();
      p.new_dir = *dir;
      // Beside a Cyrus layout (a partition configured cyrus keeps other mailboxes in it) a Maildir
      // must not take a name the Cyrus layout uses.
      const std::string top = p.new_dir.substr(0, p.new_dir.find('/'));
      if (top == "user" || top == "domain" || (config.hash_spool && top.size() == 1)) {
        return Error{Errc::kBadName, store.external_name(p.box.name) + ": its Maildir " + p.new_dir +
                                         " would collide with the Cyrus layout of partition " +
                                         target};
      }
    } else {
      p.new_dir = p.name.relative_dir(config.hash_spool);
      // Nor a Cyrus directory inside a user's Maildir (a user called "user" or "domain").
      const std::string top = target_root + "/" + p.new_dir.substr(0, p.new_dir.find('/'));
      struct stat st;
      if (::lstat((top + "/cur").c_str(), &st) == 0) {
        return Error{Errc::kBadName, store.external_name(p.box.name) + ": " + top +
                                         " is a Maildir; the Cyrus layout cannot go there"};
      }
    }
  }
  // A mailbox already in the target format and place is left alone; one that is still marked was
  // left by an interrupted conversion to somewhere else, which is abandoned: its mark is cleared.
  std::vector<BoxPlan> stay;
  for (auto it = plans.begin(); it != plans.end();) {
    if (it->from == request.to && it->box.partition == target && it->box.dir == it->new_dir) {
      if (it->box.converting) stay.push_back(std::move(*it));
      it = plans.erase(it);
    } else {
      ++it;
    }
  }
  if (!stay.empty()) {
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) return txn.error();
    for (const auto& p : stay) {
      if (auto e = index.set_converting(p.box.id, false)) return e;
    }
    if (auto e = txn->commit()) return e;
    const std::string journal = journal_dir() + "/" + stay.front().box.uniqueid + ".journal";
    if (::unlink(journal.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + journal);
    report_->notes.push_back(unit.label + ": an interrupted conversion was abandoned; it stays " +
                             to_word + " where it was");
  }
  if (plans.empty()) return std::nullopt;

  // 1. mark
  {
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) return txn.error();
    for (auto& p : plans) {
      if (auto e = index.set_converting(p.box.id, true)) return e;
      p.box.converting = true;
    }
    if (auto e = txn->commit()) return e;
  }
  if (auto e = stopped_after(request, ConvertStep::kMark)) return e;

  // Wait for deliveries committed before the mark: their files stand once their link step ran.
  for (int attempt = 0;; ++attempt) {
    bool waiting = false;
    std::string waited_for;
    for (auto& p : plans) {
      p.moves.clear();
      const std::string old_root = config.partition_root(p.box.partition);
      for (auto& row : index.messages(p.box.id)) {
        Move m;
        m.row = row;
        if (p.from == PartitionFormat::kMaildir) {
          auto where = find_maildir_message(old_root, p.name, row.file);
          if (!where.ok()) return where.error();
          if (*where) m.source = old_root + "/" + **where;
        } else {
          m.source = store.mailbox_dir(p.box) + "/" + uid_file(row.uid);
          struct stat st;
          if (::lstat(m.source.c_str(), &st) != 0) m.source.clear();
        }
        if (row.pending && stage_in_use(old_root, row.stage)) {
          // A live worker's checkpoint has still to fsync the old directory and retire the
          // stage file: wait for it, so that it never looks for a directory this removes.
          waiting = true;
          waited_for = store.external_name(p.box.name) + " uid " + std::to_string(row.uid);
        } else if (m.source.empty() && row.pending) {
          waiting = true;
          waited_for = store.external_name(p.box.name) + " uid " + std::to_string(row.uid);
        } else if (m.source.empty() && p.from == PartitionFormat::kCyrus) {
          return Error{Errc::kCorrupt, store.external_name(p.box.name) + ": uid " +
                                           std::to_string(row.uid) +
                                           ": its file is missing (see cubbyctl check)"};
        }
        p.moves.push_back(std::move(m));
      }
    }
    if (!waiting) break;
    if (attempt >= 100) {
      return Error{Errc::kBusy, waited_for + " is still being delivered after 10 s (a delivery "
                                             "in progress, or unsettled: see cubbyctl check and "
                                             "recover); run the conversion again"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // The flags a message has now: from Cyrus, the index's; from Maildir, those of its name as
  // Dovecot last set them (system flags, and keywords through the old folder's dovecot-keywords)
  // with the keywords the index keeps for want of a letter (system flags in the index are older
  // than the name's and give way to it).
  auto flags_now = [&](BoxPlan& p, const Move& m, const std::vector<std::string>& indexed)
      -> Result<std::vector<std::string>, Error> {
    if (p.from != PartitionFormat::kMaildir) return indexed;
    if (!p.old_keywords) {
      const std::string old_root = config.partition_root(p.box.partition);
      Fd fd;
      if (auto e = open_dir_beneath(old_root, p.box.dir, &fd)) return fail(*e);
      auto listed = read_maildir_keywords(fd.get(), old_root + "/" + p.box.dir);
      if (!listed.ok()) return fail(listed.error());
      p.old_keywords = *listed;
    }
    std::vector<std::string> out;
    auto add = [&](const std::string& f) {
      for (const auto& o : out) {
        if (strcasecmp(o.c_str(), f.c_str()) == 0) return;
      }
      out.push_back(f);
    };
    for (const auto& f : indexed) {
      if (!is_system_flag(f)) add(f);
    }
    const std::string letters(maildir_flags(m.source.substr(m.source.rfind('/') + 1)));
    for (const auto& f : system_flags_of_letters(letters)) add(f);
    for (char c : letters) {
      const size_t i = static_cast<size_t>(c - 'a');
      if (c >= 'a' && c <= 'z' && i < p.old_keywords->size() && !(*p.old_keywords)[i].empty()) {
        add((*p.old_keywords)[i]);
      }
    }
    return out;
  };

  // 2. link
  std::map<std::pair<std::string, std::string>, std::string> shared;  // (stage, guid) -> copy
  bool shared_loaded = false;
  auto load_shared = [&] {
    if (shared_loaded) return;
    shared_loaded = true;
    for (const auto& box : index.list_mailboxes()) {
      if (box.partition != target || box.converting) continue;
      for (const auto& row : index.messages(box.id)) {
        const std::string path = store.message_path(box, row);
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0) shared.emplace(std::make_pair(row.stage, row.guid), path);
      }
    }
  };
  // Moving into another partition: the copy an earlier mailbox's message already has there
  // (recipients of one delivery keep sharing one file), or "" when there is none to link to.
  auto shared_copy = [&](const std::string& from_partition, const MessageRecord& row) {
    std::string path;
    if (request.partition.empty() || request.partition == from_partition) return path;
    load_shared();
    if (auto it = shared.find({row.stage, row.guid}); it != shared.end()) path = it->second;
    return path;
  };
  std::map<std::pair<dev_t, ino_t>, uint64_t> crlf_sizes;
  std::set<std::string> dirs_to_sync;
  for (auto& p : plans) {
    Fd dir_fd, cur_fd, tmp_fd, box_fd;
    if (to_maildir) {
      if (auto e = create_maildir_mailbox(target_root, p.name)) return e;
      if (auto e = open_dir_beneath(target_root, p.new_dir + "/new", &dir_fd)) return e;
      if (auto e = open_dir_beneath(target_root, p.new_dir + "/cur", &cur_fd)) return e;
      if (auto e = open_dir_beneath(target_root, p.new_dir + "/tmp", &tmp_fd)) return e;
      if (auto e = open_dir_beneath(target_root, p.new_dir, &box_fd)) return e;
    } else {
      if (auto e = make_dirs_beneath(target_root, p.new_dir, &dir_fd)) return e;
    }
    const std::string dir_path = target_root + "/" + p.new_dir;
    for (auto& m : p.moves) {
      if (m.source.empty()) {  // expunged through Dovecot: dropped at the switch
        continue;
      }
      struct stat src;
      if (::stat(m.source.c_str(), &src) != 0) return sys_error("stat " + m.source);
      std::vector<std::string> old_flags = index.flags_of(m.row.mailbox, m.row.uid);
      std::string made;
      if (to_maildir) {
        auto key = std::make_pair(src.st_dev, src.st_ino);
        auto known = crlf_sizes.find(key);
        if (known == crlf_sizes.end()) {
          auto w = crlf_size_of(m.source);
          if (!w.ok()) return w.error();
          known = crlf_sizes.emplace(key, *w).first;
        }
        const std::string base = converted_maildir_name(p.box, m.row, known->second);
        // Every flag the message has now; then, as a delivery does (maildir_flags.h), the system
        // flags and the keywords with a letter in this folder's dovecot-keywords go into the
        // name and only the keywords without one stay in the index.
        auto flags = flags_now(p, m, old_flags);
        if (!flags.ok()) return flags.error();
        std::string letters;
        m.flags = *flags;
        if (!m.flags.empty()) {
          auto info = maildir_info(box_fd.get(), dir_path, m.flags);
          if (!info.ok()) return info.error();
          letters = info->letters;
          m.flags = info->unmapped;
        }
        m.flags_changed = m.flags != old_flags;
        if (!m.flags.empty() || !letters.empty()) dirs_to_sync.insert(dir_path);  // dovecot-keywords
        m.file = maildir_name_with_info(base, letters);
        const bool cur = !letters.empty();
        m.target_dir = p.new_dir + (cur ? "/cur" : "/new");
        m.target_name = m.file;
        auto where = find_maildir_message(target_root, p.name, m.file);
        if (!where.ok()) return where.error();
        if (*where) {
          made = target_root + "/" + **where;
        } else {
          const std::string shared_path = shared_copy(p.box.partition, m.row);
          if (auto e = make_target(m.source, cur ? cur_fd.get() : dir_fd.get(),
                                   target_root + "/" + m.target_dir, m.target_name, tmp_fd.get(),
                                   dir_path + "/tmp", "." + base + ".convert", shared_path,
                                   report_, &made)) {
            return e;
          }
        }
        dirs_to_sync.insert(dir_path + "/new");
        dirs_to_sync.insert(dir_path + "/cur");
      } else {
        m.file.clear();
        m.target_dir = p.new_dir;
        m.target_name = uid_file(m.row.uid);
        // Dovecot's flags, as it last set them, keyword letters decoded: all in the index now.
        auto flags = flags_now(p, m, old_flags);
        if (!flags.ok()) return flags.error();
        m.flags = *flags;
        m.flags_changed = m.flags != old_flags;
        struct stat st;
        const std::string path = dir_path + "/" + m.target_name;
        if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<int64_t>(st.st_size) == m.row.size) {
          made = path;  // made by an earlier run (a link, or a copy renamed into place whole)
        } else {
          const std::string shared_path = shared_copy(p.box.partition, m.row);
          // A stale file at the name (from before a crash of an earlier mailbox) is replaced.
          (void)::unlinkat(dir_fd.get(), m.target_name.c_str(), 0);
          if (auto e = make_target(m.source, dir_fd.get(), dir_path, m.target_name, dir_fd.get(),
                                   dir_path, "." + m.target_name + "convert", shared_path, report_,
                                   &made)) {
            return e;
          }
        }
        dirs_to_sync.insert(dir_path);
      }
      shared.emplace(std::make_pair(m.row.stage, m.row.guid), made);
    }
  }
  for (const auto& dir : dirs_to_sync) {
    if (auto e = fsync_dir(dir)) return e;
  }

  // Quota: the limits move between the Cyrus quota root of the user's INBOX and maildirsize.
  const BoxPlan* inbox = nullptr;
  for (const auto& p : plans) {
    if (p.name.is_inbox()) inbox = &p;
  }
  std::optional<MaildirQuotaLimits> old_maildir_limits;
  if (inbox && inbox->from == PartitionFormat::kMaildir) {
    const std::string path = config.partition_root(inbox->box.partition) + "/" + inbox->box.dir +
                             "/maildirsize";
    auto text = read_small_file(path);
    if (text.ok()) {
      auto parsed = parse_maildirsize(*text);
      old_maildir_limits = parsed.ok() ? parsed->limits : MaildirQuotaLimits{};
    }
  }
  if (to_maildir && !plans.empty() && plans.front().name.is_user()) {
    std::optional<MaildirQuotaLimits> limits = old_maildir_limits;
    if (inbox && inbox->from == PartitionFormat::kCyrus) {
      auto root = index.quotas().get(inbox->box.name);
      if (!root.ok()) return root.error();
      if (*root) {
        limits = MaildirQuotaLimits{
            static_cast<uint64_t>((*root)->storage_limit.value_or(0)) * 1024,
            static_cast<uint64_t>((*root)->message_limit.value_or(0))};
      }
    }
    auto user = UserMaildir::open(target_root, plans.front().name);
    if (!user.ok()) return user.error();
    if (!limits) {  // a folder joining its user: keep the limits the user's file has
      auto text = read_small_file(user->path() + "/maildirsize");
      if (text.ok()) {
        auto parsed = parse_maildirsize(*text);
        limits = parsed.ok() ? parsed->limits : MaildirQuotaLimits{};
      }
    }
    if (limits) {
      auto q = recalculate_maildir_quota(*user, *limits);
      if (!q.ok()) return q.error();
    }
  }

  if (auto e = stopped_after(request, ConvertStep::kLink)) return e;

  // 3. journal
  const std::string journal = journal_dir() + "/" + plans.front().box.uniqueid + ".journal";
  if (auto e = write_file_atomically(journal, journal_of(request, target, plans).str())) {
    return e;
  }
  if (auto e = stopped_after(request, ConvertStep::kJournal)) return e;

  // 4. switch
  {
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) return txn.error();
    for (auto& p : plans) {
      auto now = index.mailbox_by_id(p.box.id);
      if (!now || !now->converting || now->partition != p.box.partition || now->dir != p.box.dir) {
        return Error{Errc::kCorrupt, store.external_name(p.box.name) +
                                         " changed while it was being converted; run again"};
      }
      if (index.messages(p.box.id).size() != p.moves.size()) {
        return Error{Errc::kCorrupt, store.external_name(p.box.name) +
                                         " got messages while it was being converted; run again"};
      }
      for (const auto& m : p.moves) {
        if (m.source.empty()) {
          if (auto e = index.delete_message(m.row.mailbox, m.row.uid)) return e;
          ++report_->dropped;
          continue;
        }
        if (auto e = index.set_message_file(m.row.mailbox, m.row.uid, m.file)) return e;
        if (m.flags_changed) {
          if (auto e = index.set_flags(m.row.mailbox, m.row.uid, m.flags)) return e;
        }
        ++report_->messages;
      }
      if (auto e = index.set_location(p.box.id, target, p.new_dir, to_word)) return e;
      if (to_maildir) {
        auto root = index.quotas().get(p.box.name);
        if (!root.ok()) return root.error();
        if (*root) {
          if (auto e = index.quotas().remove(p.box.name)) return e;
        }
      }
      ++report_->mailboxes;
    }
    if (!to_maildir && inbox && old_maildir_limits &&
        (old_maildir_limits->bytes || old_maildir_limits->messages)) {
      std::optional<int64_t> kib, messages;
      if (old_maildir_limits->bytes) kib = static_cast<int64_t>((old_maildir_limits->bytes + 1023) / 1024);
      if (old_maildir_limits->messages) messages = static_cast<int64_t>(old_maildir_limits->messages);
      if (auto e = index.quotas().set(inbox->box.name, kib, messages)) return e;
    }
    for (const auto& p : plans) {  // rows dropped or moved: the covering roots count again
      auto root = index.quotas().root_of(p.box.name);
      if (!root.ok()) return root.error();
      if (*root) {
        if (auto e = index.quotas().recalc((*root)->name)) return e;
      }
    }
    if (auto e = txn->commit()) return e;
  }
  ++report_->units;
  if (auto e = stopped_after(request, ConvertStep::kSwitch)) return e;

  // 5. clean
  auto text = read_small_file(journal);
  if (!text.ok()) return text.error();
  auto j = ConvertJournal::parse(*text, journal);
  if (!j.ok()) return j.error();
  if (auto e = clean_old_places(store, *j, &report_->notes)) return e;
  if (::unlink(journal.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + journal);
  if (auto e = fsync_dir(journal_dir())) return e;
  return stopped_after(request, ConvertStep::kClean);
}

}  // namespace cubby::store
