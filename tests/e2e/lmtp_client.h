// LmtpClient: a minimal blocking LMTP client for the end-to-end tests.
//
// Every read and write waits at most timeout() (10 s unless set), so a server that hangs makes the
// test fail, not hang. Failures are values: a reply that could not be read has code 0 and says why
// in its text (timeout, connection closed, I/O error); a write that failed returns false and
// error() says why. Writes never raise SIGPIPE. The client does not interpret the protocol beyond
// splitting replies (multi-line "250-" ... "250 " aware) and dot-stuffing DATA bodies.
//
// start_tls() runs a TLS client handshake (OpenSSL) on the connection, after the test has had the
// server's `220` to STARTTLS; from then on every read and write goes through TLS. The server's
// certificate is not checked (tests use self-signed ones); the client may present one.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace cubby::e2e {

struct LmtpReply {
  int code = 0;                    // 0: no reply (see text)
  std::vector<std::string> lines;  // without CRLF, code and separator included
  std::string enhanced() const;    // "2.1.5" of "250 2.1.5 ..." (of the last line), or ""
  std::string text() const;        // all lines joined with " | " (or the failure)
  bool ok() const { return code >= 200 && code < 300; }
};

// Dot-stuffs a message as it is sent in pieces: a '.' at the start of a line gets another one.
// Line starts are tracked across pieces, so any chunking produces the same wire bytes.
class DotStuffer {
 public:
  // Appends the stuffed form of `piece` to *wire.
  void stuff(std::string_view piece, std::string* wire);
  // The terminator: CRLF first if the content did not end with one, then ".\r\n".
  std::string end() const;

 private:
  bool line_start_ = true;
};

class LmtpClient {
 public:
  LmtpClient() = default;
  ~LmtpClient();
  LmtpClient(LmtpClient&& other) noexcept;
  LmtpClient& operator=(LmtpClient&& other) noexcept;
  LmtpClient(const LmtpClient&) = delete;
  LmtpClient& operator=(const LmtpClient&) = delete;

  // Connects; false (and error()) on failure. The greeting is not read.
  bool connect_unix(const std::string& path);
  bool connect_tcp(int port);  // 127.0.0.1:<port>
  // The same from another loopback address (127.0.0.2, ...): another client address to the server.
  bool connect_tcp_from(int port, const std::string& source_ip);
  bool connected() const { return fd_ >= 0; }
  void close();

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  const std::string& error() const { return error_; }

  // TLS handshake on the open connection, with a client certificate when both files are given.
  // false (and error()) on failure. Bytes already buffered in the clear are dropped.
  bool start_tls(const std::string& cert_file = "", const std::string& key_file = "");
  bool tls() const { return ssl_ != nullptr; }
  std::string tls_version() const;  // "TLSv1.3", or "" without TLS

  // Writes all of `bytes`.
  bool send(std::string_view bytes);
  // Writes `line` + CRLF.
  bool send_line(std::string_view line) { return send(std::string(line) + "\r\n"); }
  // send_line + read_reply.
  LmtpReply command(std::string_view line);
  // Reads one reply (all its lines).
  LmtpReply read_reply();
  // Reads `n` replies; stops early at the first failed read (its reply is the last element).
  std::vector<LmtpReply> read_replies(size_t n);

  // Sends a whole DATA content, dot-stuffed, and the terminating dot (not the DATA command).
  bool send_data(std::string_view content);

  // Waits until the server closes the connection (read returns 0 or reset), discarding what
  // arrives; false if it is still open after `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);

  // Starts a transaction up to the 354 of DATA, checking each reply: on a fresh connection
  // (`greet`) reads the 220 greeting and sends LHLO first; then MAIL, one RCPT per recipient and
  // DATA. Returns "" on success or a description of the first unexpected reply.
  std::string begin_transaction(const std::string& from, const std::vector<std::string>& rcpts,
                                bool greet = true);
  // begin_transaction + send_data + one reply per recipient, each of which must be 250 2.1.5.
  std::string deliver(const std::string& from, const std::vector<std::string>& rcpts,
                      std::string_view content, bool greet = true);

  int fd() const { return fd_; }

 private:
  bool wait_for(short events, std::chrono::steady_clock::time_point deadline);
  // One recv()/SSL_read() into buffer_: >0 bytes read, 0 closed, -1 error (error_ set), -2 wait.
  long receive(short* wait_events);
  void end_tls();
  bool read_line(std::string* line, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_{10000};
  std::string buffer_;  // received, not yet returned
  std::string error_;
  SSL_CTX* ssl_ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace cubby::e2e
