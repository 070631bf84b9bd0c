// SpooledMessage: the message deliver reads from its standard input, held in a temporary file.
//
// read() copies everything from a descriptor up to end of file into a file created in $TMPDIR
// (/tmp when unset) and unlinked at once, so the copy is gone when the object or the process goes,
// however it ends. Line ends are normalised on the way in, as Cyrus's deliver does: a bare LF
// becomes CRLF, a CR not followed by LF is dropped, and a last line without a line end gets CRLF.
// A first line starting with "From " (the mbox envelope line Postfix's local(8) writes before a
// message it pipes to a mailbox_command) is dropped: it is not a header, and lmtpd would refuse it.
// Each wait for input lasts at most `idle_timeout`; a timeout, a read error or a temporary file
// that cannot be written (no room) is returned as an error and leaves nothing behind. So a caller
// that sends only what read() returned never sends part of a message.
//
// write_stuffed() hands the message to a sink, dot-stuffed for DATA (a '.' that starts a line is
// doubled) and followed by the terminating ".\r\n", in pieces of at most about 128 KiB, reading
// the file as it goes: memory stays bounded whatever the message size.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "conf/result.h"

namespace cubby::deliver {

class SpooledMessage {
 public:
  // Reads `fd` to its end. The error says what failed ("no input for 300 s", "read: ...",
  // "temporary file in /tmp: No space left on device").
  static Result<SpooledMessage, std::string> read(int fd, std::chrono::milliseconds idle_timeout);

  SpooledMessage(SpooledMessage&& other) noexcept;
  SpooledMessage& operator=(SpooledMessage&& other) noexcept;
  SpooledMessage(const SpooledMessage&) = delete;
  SpooledMessage& operator=(const SpooledMessage&) = delete;
  ~SpooledMessage();

  // Bytes after normalisation, before dot-stuffing: what SIZE= declares (RFC 1870).
  uint64_t size() const { return size_; }
  // Some byte is 0x80 or above: the message needs BODY=8BITMIME.
  bool has_8bit() const { return has_8bit_; }

  // Calls `sink` with successive pieces of the DATA content; stops at the first piece the sink
  // refuses (returns false). Returns "" when everything was handed over, else what went wrong
  // ("refused by the sink" or a read error of the temporary file).
  std::string write_stuffed(const std::function<bool(std::string_view)>& sink) const;

 private:
  explicit SpooledMessage(int fd) : fd_(fd) {}

  int fd_ = -1;
  uint64_t size_ = 0;
  bool has_8bit_ = false;
};

// The directory for temporary files: $TMPDIR when set and not empty, else /tmp.
std::string temporary_directory();

}  // namespace cubby::deliver
