// Converting mailboxes between the Cyrus layout and Maildir++ (cubbyctl convert), in place or into
// another partition, keeping every message's UID, flags, size, internal date and inode sharing,
// and restartable after a crash at any point (docs/store-protocol.md, "Converting a mailbox").
//
// The unit is a user (the INBOX and every folder: one Maildir++ and one quota belong to a user),
// or a single mailbox whose user is already in the target format. A unit is converted in five
// steps, each safe to repeat:
//   1. mark: its mailboxes are marked `converting` in one transaction. From then on a delivery's
//      commit refuses them (451, the MTA retries: nothing is lost); deliveries committed before the
//      mark are waited for (up to 10 s) until their files stand and a live worker's checkpoint has
//      retired their stage files (so it never fsyncs an old directory this removes).
//   2. link: every message gets its new name, a hard link to the same inode (a durable copy,
//      renamed into place, where no link can be made: another file system), under a name that
//      depends only on the row (uid, uidvalidity, internal date, size): a rerun finds what an
//      earlier run made (in new/ or, moved by Dovecot, cur/) instead of making a second one.
//      Messages of one delivery that were one inode stay one inode on the target partition.
//      The new directories are fsynced; on Maildir the user's maildirsize is recalculated.
//   3. journal: {configdirectory}/convert/<uniqueid> lists the old places (partition, directory,
//      file names), written atomically; it is what a rerun needs to remove them once the index no
//      longer records them.
//   4. switch: one transaction gives the mailboxes their new partition, directory and format,
//      the rows their new file names (durable: pending cleared), clears the mark, and moves the
//      quota (a Cyrus quota root becomes the maildirsize limit line, and back). Before it the old
//      names are the messages; after it the new ones are.
//   5. clean: the old names are removed (and their emptied directories, and on Cyrus the new
//      headers written), the old directories fsynced, the journal removed.
// A rerun first finishes every journal whose unit has switched, then converts what is left. A
// unit killed before its switch stays marked (deliveries to it get 451) until a rerun finishes it.
//
// Flags: converted to Maildir, a message's flags go into its name as a delivery puts them there
// (maildir_flags.h): the system flags and the keywords that get a letter in the folder's
// dovecot-keywords (added there as needed) make cur/<name>:2,<letters>, and only keywords without
// a letter stay in message_flags; a message without flags goes to new/. Back to Cyrus, the
// letters of the name (as Dovecot last set them; keyword letters read through the old folder's
// dovecot-keywords) become flags in message_flags, beside the keywords the index kept. A row's
// Maildir `file` is its name with the info, as at delivery. Maildir files without a row (mail
// stored through Dovecot) are not Cubby's and stay where they are, with their directory; a row
// whose Maildir file is gone (expunged by Dovecot) is dropped when converting to Cyrus. Dovecot's dovecot-uidlist is not written: Dovecot numbers the
// converted messages itself (docs/dovecot.md).
//
// Only one conversion runs at a time ({configdirectory}/convert/lock, flock).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/config.h"
#include "store/error.h"
#include "store/fs.h"
#include "store/index.h"
#include "store/store.h"

namespace cubby::store {

// The steps above, for tests that stop a conversion after one of them as a crash would.
enum class ConvertStep { kMark, kLink, kJournal, kSwitch, kClean };

struct ConvertRequest {
  PartitionFormat to = PartitionFormat::kMaildir;
  std::string partition;  // the target partition; "" converts in place
  // Tests: convert() returns kIo "stopped" right after this step, as if killed there.
  std::optional<ConvertStep> stop_after;
};

struct ConvertReport {
  int64_t units = 0;          // users (or single mailboxes) switched by this run
  int64_t mailboxes = 0;      // mailboxes switched
  int64_t messages = 0;       // message rows moved
  int64_t linked = 0;         // new names made as hard links
  int64_t copied = 0;         // new names made as copies (another file system)
  int64_t dropped = 0;        // rows whose Maildir file was gone (expunged through Dovecot)
  int64_t finished = 0;       // interrupted conversions whose clean-up this run finished
  std::vector<std::string> notes;  // what was left, and why
};

// A set of mailboxes converted together (see above).
struct ConvertUnit {
  std::string label;                   // for messages: "user alice", "mailbox user.alice.Work"
  std::vector<MailboxRecord> mailboxes;
};

class Conversion {
 public:
  // Takes the conversion lock (kBusy when another conversion holds it) and finishes the clean-up
  // of every unit an interrupted run switched.
  static Result<Conversion, Error> start(Store& store, ConvertReport* report);
  Conversion(Conversion&&) noexcept = default;

  // The units: a user's mailboxes; one mailbox (a user's INBOX means the user); every mailbox on a
  // partition, user by user (shared mailboxes alone; to Maildir they are skipped with a note).
  Result<std::vector<ConvertUnit>, Error> user_units(const std::string& user_inbox_internal);
  Result<std::vector<ConvertUnit>, Error> mailbox_units(const std::string& internal,
                                                        const ConvertRequest& request);
  Result<std::vector<ConvertUnit>, Error> partition_units(const std::string& partition,
                                                          const ConvertRequest& request);

  // Converts one unit, all five steps. Nothing to do (already in the target format and place)
  // is not an error.
  [[nodiscard]] std::optional<Error> convert(const ConvertUnit& unit, const ConvertRequest& request);

 private:
  Conversion(Store& store, ConvertReport* report, Fd lock)
      : store_(&store), report_(report), lock_(std::move(lock)) {}
  std::string journal_dir() const;
  [[nodiscard]] std::optional<Error> finish_journals();
  Store* store_;
  ConvertReport* report_;
  Fd lock_;
};

// The Maildir name a converted message gets: a function of the row alone, so that every run picks
// the same one ("<internaldate>.C<uid>V<uidvalidity>.cubby-convert,S=<size>,W=<crlf size>").
std::string converted_maildir_name(const MailboxRecord& box, const MessageRecord& row,
                                   uint64_t crlf_size);
// IMAP system flags as Maildir info letters (sorted, "" when none) and back; keywords have no
// letter and are left out.
std::string system_flag_letters(const std::vector<std::string>& flags);
std::vector<std::string> system_flags_of_letters(const std::string& letters);

}  // namespace cubby::store
