// The front end's Backend: recipients routed through the directory; see front_end_backend.h.
#include "server/proxy/front_end_backend.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cubby::proxy {

lmtp::Reply user_unknown() {
  lmtp::Reply r = lmtp::make_reply(550, "5.1.1", "User unknown");
  r.preamble = {"Mailbox unknown.  Either there is no mailbox associated with this",
                "name or you do not have authorization to see it."};
  return r;
}

lmtp::Reply directory_unavailable() {
  return lmtp::make_reply(451, "4.4.3", "Mailbox directory unavailable");
}

lmtp::Reply backend_unavailable(const std::string& why) {
  return lmtp::make_reply(451, "4.4.3", "Remote server unavailable (" + why + ")");
}

Result<std::unique_ptr<SpoolSink>, std::string> SpoolSink::open(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string path = dir + "/cubby-fe-XXXXXX";
    fd = mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return fail(dir + ": " + strerror(errno));
    unlink(path.c_str());
  }
  return std::unique_ptr<SpoolSink>(new SpoolSink(fd));
}

SpoolSink::~SpoolSink() {
  if (fd_ >= 0) ::close(fd_);
}

void SpoolSink::write(std::string_view bytes) {
  if (failed_) return;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failed_ = true;
      failure_ = errno == ENOSPC || errno == EDQUOT
                     ? lmtp::make_reply(451, "4.3.1", "mail system storage has been exceeded")
                     : lmtp::make_reply(451, "4.3.0", "System I/O error");
      return;
    }
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

FrontEndBackend::FrontEndBackend(directory::Directory& directory, store::AddressRules rules,
                                 std::string spool_dir)
    : directory_(directory), rules_(std::move(rules)), spool_dir_(std::move(spool_dir)) {}

lmtp::RecipientVerdict FrontEndBackend::check_recipient(const lmtp::RecipientRequest& request) {
  lmtp::RecipientVerdict verdict;
  verdict.request = request;
  auto mapped = store::map_recipient(request.address, rules_);
  if (!mapped.ok() || mapped.value().shared) {
    verdict.rejection = user_unknown();
    return verdict;
  }
  auto where = directory_.locate(mapped.value().userid);
  if (!where.ok()) {
    verdict.rejection = where.error().fault == directory::Fault::kUnknownUser
                            ? user_unknown()
                            : directory_unavailable();
    return verdict;
  }
  verdict.accepted = true;
  verdict.target = where.value().backend;
  return verdict;
}

Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> FrontEndBackend::open_message(
    const std::vector<lmtp::RecipientVerdict>&) {
  auto sink = SpoolSink::open(spool_dir_);
  if (!sink.ok()) {
    return fail(lmtp::make_reply(451, "4.3.2", "cannot create temporary file: " + sink.error()));
  }
  std::unique_ptr<lmtp::MessageSink> opened = std::move(sink.value());
  return opened;
}

std::string spool_directory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

}  // namespace cubby::proxy
