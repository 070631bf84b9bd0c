// Maildir file names: the unique name a delivery gives a message in new/, and reading the sizes a
// name carries back.
//
// A new name is `<seconds>.M<microseconds>P<pid>Q<counter>R<random>.<host>,S=<size>,W=<vsize>`:
// the time, the process, a per-process counter and 64 random bits make it unique across processes,
// hosts and restarts (a pid reused after a restart within the same microsecond still differs in
// the random part); <host> is the host name with '/' written \057, ':' written \072 (as the
// Maildir specification says) and ',' written \054 (so it cannot start a field). S= is the file's
// size in bytes, which Dovecot's Maildir++ quota trusts without a stat(); W= is the size with
// every line ending counted as CRLF (RFC822.SIZE), which Dovecot uses instead of reading the file.
// Dovecot keeps the base name when it moves the file to cur/ and appends ":2,<flags>".
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cubby::store {

// The sizes a message is named with.
struct MessageSizes {
  uint64_t bytes = 0;       // S=: bytes in the file
  uint64_t crlf_bytes = 0;  // W=: bytes with bare LFs counted as CRLF
};

// Counts MessageSizes over a message given in pieces (a bare LF is one not preceded by CR, also
// across pieces).
class MessageSizeCounter {
 public:
  void add(std::string_view piece);
  MessageSizes sizes() const { return sizes_; }

 private:
  MessageSizes sizes_;
  bool last_was_cr_ = false;
};

// The host part of a Maildir name: '/', ':' and ',' escaped as \057, \072 and \054; "localhost"
// for an empty name.
std::string maildir_host(std::string_view hostname);

// Makes unique Maildir names for one process. Thread-safe.
class MaildirNamer {
 public:
  // `hostname` empty: gethostname().
  explicit MaildirNamer(std::string hostname = "");
  std::string next(const MessageSizes& sizes);

 private:
  std::string host_;
  std::atomic<uint64_t> counter_{0};
};

// The value of field `,<key>=<digits>` of a Maildir name (looked for before the ":2," info, and
// ending at ',', ':' or the end), or nullopt: the S= and W= fields, as Dovecot reads them.
std::optional<uint64_t> maildir_name_field(std::string_view name, char key);
inline std::optional<uint64_t> maildir_name_size(std::string_view name) {
  return maildir_name_field(name, 'S');
}
inline std::optional<uint64_t> maildir_name_crlf_size(std::string_view name) {
  return maildir_name_field(name, 'W');
}
// The base name: what stays when Dovecot moves the file to cur/ (everything before ":2,").
std::string_view maildir_base_name(std::string_view name);
// The flags after ":2," ("" when none): "S" for \Seen, "T" for \Deleted, and so on.
std::string_view maildir_flags(std::string_view name);

}  // namespace cubby::store
