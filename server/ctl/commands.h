// cubbyctl's commands, one function per command group. Each takes the arguments after the group
// word ("mailbox create user/alice" → {"create", "user/alice"}), prints a table (or JSON with
// --json) and returns an exit code from output.h. Errors go to stderr as "cubbyctl: ...".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/settings.h"
#include "store/store.h"

namespace cubby::ctl {

struct Context {
  const conf::Settings& settings;
  store::Store& store;
  bool json = false;
};

using Args = std::vector<std::string>;

int mailbox_command(Context& c, const Args& args);     // create delete rename list info
int acl_command(Context& c, const Args& args);         // get set
int quota_command(Context& c, const Args& args);       // get set list recalc
int message_command(Context& c, const Args& args);     // list show delete
int duplicates_command(Context& c, const Args& args);  // prune count
int reconstruct_command(Context& c, const Args& args);
int verify_command(Context& c, const Args& args);
int check_command(Context& c, const Args& args);
int stats_command(Context& c, const Args& args);
int recover_command(Context& c, const Args& args);
int convert_command(Context& c, const Args& args);  // Cyrus layout <-> Maildir++ (store/convert.h)
int sieve_command(Context& c, const Args& args);  // put get list activate deactivate delete check test
int import_cyrus_command(Context& c, const Args& args);  // import-cyrus (import_command.cc)
// list locate set remove; needs no store (directory_commands.cc)
int directory_command(const conf::Settings& settings, const Args& args, bool json);
// user export|import: a user as a stream between two back ends (user_transfer.cc)
int user_command(Context& c, const Args& args);
// mailbox create|delete|rename|info|list on the back ends, through the directory, when the
// settings name one; needs no store (directory_mailbox_commands.cc)
int directory_mailbox_command(const conf::Settings& settings, const Args& args, bool json);
// directory move <user> --to <backend> ...: needs the store of the source back end (user_move.cc)
int directory_move_command(Context& c, const Args& args);

// Shared by the commands.
struct Found {
  store::MailboxName name;
  store::MailboxRecord record;
};
// Looks a mailbox up by its external name; on failure complains and sets *code.
std::optional<Found> find_mailbox(Context& c, const std::string& external, int* code);
// A mailbox's messages and bytes as quota charges them, and its share of the disk: each file's
// size divided by its number of links (so shares add up to the bytes the files take).
struct MailboxUsage {
  int64_t messages = 0, bytes = 0;
  double physical = 0;
};
MailboxUsage usage_of(Context& c, const store::MailboxRecord& box);

// The usage text (also printed for a bad command line).
const char* usage_text();

}  // namespace cubby::ctl
