// FrontEndBackend: the LMTP engine's Backend in a front end (lmtpd -P, docs/scale-out.md).
//
// check_recipient() maps the address to its userid as the store would (store/recipient.h:
// virtdomains, defaultdomain, +detail, lmtp_downcase_rcpt) and asks the Directory where that user
// lives:
//   - found: accepted; the verdict's target is the back end's LMTP address (the engine hands it
//     back in the DeliveryRequest, where the Forwarder groups recipients by it);
//   - the directory has no such user, or the address names no user (a shared mailbox: not routed
//     yet): Cyrus's three-line `550 5.1.1 User unknown`;
//   - the directory is unreachable and its cache does not know the user: `451 4.4.3 Mailbox
//     directory unavailable` (Cyrus answers 451 4.4.3 when its mupdate server cannot be reached),
//     so the sender retries and nothing bounces.
// No quota, rights or mailbox checks happen here: the back end makes them at its own RCPT and its
// replies are passed on (forwarder.h).
// open_message() opens a SpoolSink: the stored bytes go to an unlinked temporary file in
// `spool_dir`, from which each back end's transaction is sent.
// Used on one thread (the worker's event loop). A lookup holds it at most as long as the
// directory's locate() does: in lmtpd, a BoundedDirectory (directory/bounded_directory.h), which
// asks PostgreSQL on a thread of its own and waits at most directory_lookup_wait.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "directory/directory.h"
#include "server/lmtp/backend.h"
#include "store/recipient.h"

namespace cubby::proxy {

// An unlinked temporary file holding the stored bytes of one message.
class SpoolSink : public lmtp::MessageSink {
 public:
  // Opens the file in `dir`; the error says why it could not be made.
  static Result<std::unique_ptr<SpoolSink>, std::string> open(const std::string& dir);
  ~SpoolSink() override;
  SpoolSink(const SpoolSink&) = delete;
  SpoolSink& operator=(const SpoolSink&) = delete;

  void write(std::string_view bytes) override;
  const lmtp::Reply* failure() const override { return failed_ ? &failure_ : nullptr; }
  uint64_t size() const override { return size_; }
  // The file, to read back from offset 0 (pread); owned by the sink.
  int fd() const { return fd_; }

 private:
  explicit SpoolSink(int fd) : fd_(fd) {}
  int fd_ = -1;
  uint64_t size_ = 0;
  bool failed_ = false;
  lmtp::Reply failure_;
};

class FrontEndBackend : public lmtp::Backend {
 public:
  // `directory` must outlive the backend.
  FrontEndBackend(directory::Directory& directory, store::AddressRules rules, std::string spool_dir);

  lmtp::RecipientVerdict check_recipient(const lmtp::RecipientRequest& request) override;
  Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> open_message(
      const std::vector<lmtp::RecipientVerdict>& recipients) override;

 private:
  directory::Directory& directory_;
  store::AddressRules rules_;
  std::string spool_dir_;
};

// The replies the front end makes up itself.
lmtp::Reply user_unknown();              // 550 5.1.1 (Cyrus's three lines)
lmtp::Reply directory_unavailable();     // 451 4.4.3 Mailbox directory unavailable
lmtp::Reply backend_unavailable(const std::string& why);  // 451 4.4.3 Remote server unavailable

// Where a front end spools messages: $TMPDIR when set and not empty, else /tmp.
std::string spool_directory();

}  // namespace cubby::proxy
