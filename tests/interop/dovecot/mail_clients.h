// Minimal IMAP4rev1 and POP3 clients for the Dovecot interop tests: blocking, over loopback TCP,
// every read bounded by a timeout, just enough protocol to read what a user would read.
//
// ImapClient::command() sends one tagged command and returns everything up to its tagged reply;
// literals ({n} followed by n bytes) are read whole, so FETCH results hold messages byte for byte.
// Pop3Client::retr() undoes the dot-stuffing of a multi-line reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cubby::interop {

// A connected TCP socket to 127.0.0.1:<port> with line and byte reads.
class LineSocket {
 public:
  explicit LineSocket(int port);
  ~LineSocket();
  LineSocket(const LineSocket&) = delete;
  LineSocket& operator=(const LineSocket&) = delete;
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& data);
  // One line without its CRLF; nullopt on EOF or timeout.
  std::optional<std::string> line();
  // Exactly n bytes; nullopt on EOF or timeout.
  std::optional<std::string> bytes(size_t n);

 private:
  bool fill();
  int fd_ = -1;
  std::string buffer_;
};

struct ImapReply {
  std::vector<std::string> untagged;  // "* ..." lines, each with its literals inline
  std::vector<std::string> literals;  // the literals of the untagged lines, in order
  std::string status;                 // "OK ...", "NO ...", "BAD ..."; "" when the link failed
  bool ok() const { return status.starts_with("OK"); }
};

class ImapClient {
 public:
  explicit ImapClient(int port);
  const std::string& greeting() const { return greeting_; }
  ImapReply command(const std::string& text);
  bool login(const std::string& user, const std::string& password);
  // SELECT; the EXISTS count, or nullopt when it failed.
  std::optional<int> select(const std::string& mailbox);
  // UID FETCH <uid> BODY.PEEK[]: the message bytes.
  std::optional<std::string> fetch_body(uint32_t uid);
  // UIDs of the selected mailbox (UID SEARCH ALL).
  std::vector<uint32_t> uids();

 private:
  LineSocket socket_;
  std::string greeting_;
  int next_tag_ = 1;
};

class Pop3Client {
 public:
  explicit Pop3Client(int port);
  const std::string& greeting() const { return greeting_; }
  // One command and its one-line reply ("+OK ..." or "-ERR ...").
  std::string command(const std::string& text);
  bool login(const std::string& user, const std::string& password);
  // STAT's message count, or nullopt.
  std::optional<int> count();
  // RETR n: the message bytes (dot-stuffing undone), or nullopt.
  std::optional<std::string> retr(int n);

 private:
  LineSocket socket_;
  std::string greeting_;
};

}  // namespace cubby::interop
