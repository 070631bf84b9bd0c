// The fixture of the Postfix interop tests: a private Cubby (e2e::CubbyInstance, its UNIX socket
// open to the postfix group, as an administrator would set it up) and a private Postfix
// (PostfixInstance) that delivers into it, plus what the tests check on Cubby's side: the
// Message-IDs stored in a mailbox, inodes, the index.
//
// The tests need root and the postfix package: without them a test is skipped, except under CI
// (CI set in the environment), where it fails, so that CI cannot pass without running them.
// When a test fails the fixture prints the end of Postfix's maillog and of Cubby's log. TearDown
// stops Postfix first (and fails the test if any of its processes had to be killed), then Cubby.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/interop/postfix/postfix_instance.h"

namespace cubby::interop {

using e2e::CubbyInstance;
using e2e::LmtpClient;

// A test message with its own Message-ID (and Date), `body_lines` lines long, CRLF line ends.
std::string interop_message(const std::string& message_id, int body_lines = 10);

// A "<uid>." file of a mailbox directory and its Message-ID (without <>; "" if it has none).
struct StoredFile {
  std::string path;
  std::string message_id;
};
std::vector<StoredFile> stored_files(const std::string& dir);
// How often each Message-ID occurs in a mailbox directory.
std::map<std::string, int> message_id_counts(const std::string& dir);
// The path of the file holding `message_id` in a mailbox directory ("" if none).
std::string file_with_id(const std::string& dir, const std::string& message_id);
// `text` with every character that means something in a std::regex escaped.
std::string regex_escape(const std::string& text);
// The header section of a stored file (up to the empty line), or "" if unreadable.
std::string stored_headers(const std::string& path);
// The inode of a file, 0 if it cannot be stat'ed.
ino_t inode_of(const std::string& path);

// For one message GUID of Cubby's index (<configdirectory>/cubby.sqlite): how many rows name it
// and how many distinct stage files (delivery transactions) they came from.
struct GuidRows {
  int rows = 0;
  int stages = 0;
};
std::map<std::string, GuidRows> index_rows_by_guid(const std::string& sqlite_path,
                                                   std::string* error);

class PostfixInterop : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts Cubby on its own root with the mailboxes user/<u> for every u in `users` (folders as
  // "alice/Work"). `unix_options` are the lmtpunix entry's extra keys: by default the socket is
  // mode 0660, group postfix, so that Postfix's lmtp(8) (user postfix) may connect.
  // Use as ASSERT_NO_FATAL_FAILURE(start_cubby(...)).
  void start_cubby(const std::vector<std::string>& users, std::vector<std::string> settings = {},
                   const std::string& unix_options = "mode=0660 group=postfix");
  // The Postfix instance, created on first use with the common configuration (not started).
  PostfixInstance& postfix();
  // Use as ASSERT_NO_FATAL_FAILURE(start_postfix()).
  void start_postfix();
  // Writes a lookup table into Postfix's config directory and indexes it; returns "hash:<path>"
  // (on failure the test fails and "" is returned).
  std::string write_table(const std::string& name, const std::string& content);

  // "lmtp:unix:<socket>", the next hop of Cubby's UNIX socket.
  std::string lmtp_unix() const { return "lmtp:unix:" + cubby_->socket_path(); }
  std::string mailbox_dir(const std::string& mailbox) const {
    return CubbyInstance::mailbox_dir(cubby_->spool(), mailbox);
  }
  std::map<std::string, int> id_counts(const std::string& mailbox) const {
    return message_id_counts(mailbox_dir(mailbox));
  }
  // Waits until mailbox user/<mailbox> holds at least `n` messages.
  bool wait_messages(const std::string& mailbox, size_t n, std::chrono::milliseconds timeout);
  // The capabilities Cubby lists after LHLO on a TCP port (or the UNIX socket when port is 0),
  // one line each without the "250-" prefix; empty if it did not answer.
  std::vector<std::string> lhlo_capabilities(int port);
  // Fails the test unless no UNIX account `name` exists (a test relies on it having none).
  void expect_no_unix_account(const std::string& name);
  void expect_check_passes();
  // `cubbyctl message list user/<mailbox>` lists as many messages as there are files.
  void expect_listed(const std::string& mailbox);

  e2e::TempDir cubby_root_, postfix_root_;
  std::unique_ptr<CubbyInstance> cubby_;
  std::unique_ptr<PostfixInstance> postfix_;
};

}  // namespace cubby::interop
