// ScriptedLmtp: a small LMTP server for deliver's tests, answering as its LmtpScript says and
// recording what the client sent. It serves in a thread of its own, either one connected socket
// (a socketpair end) or every connection accepted on a UNIX socket, one after the other, until it
// is destroyed. It is header-only so that the unit tests (tests/deliver) and the end-to-end tests
// (tests/e2e, where it stands in for lmtpd when a test needs a reply lmtpd would not give, such as
// 451 for everyone) share it.
//
// The script's defaults are a healthy server: 220, LHLO with 8BITMIME, ENHANCEDSTATUSCODES,
// PIPELINING, SIZE, AUTH EXTERNAL and IGNOREQUOTA, 250 to RSET, MAIL and every RCPT, 354 to
// DATA, and `250 2.1.5 Success` per accepted recipient after the message.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cubby::deliver_test {

struct LmtpScript {
  std::string greeting = "220 scripted.test LMTP ready";
  std::vector<std::string> capabilities = {"8BITMIME",        "ENHANCEDSTATUSCODES", "PIPELINING",
                                           "SIZE 1000000000", "AUTH EXTERNAL",       "IGNOREQUOTA"};
  std::string mail_reply = "250 2.1.0 ok";
  // The reply to `RCPT TO:<address>`; a 2xx reply accepts the recipient.
  std::function<std::string(const std::string& address)> rcpt_reply = [](const std::string&) {
    return std::string("250 2.1.5 ok");
  };
  // Recipients accepted per transaction; beyond: 452 4.5.3 Too many recipients.
  size_t max_recipients = std::numeric_limits<size_t>::max();
  std::string data_reply = "354 go ahead";
  // The reply for each accepted recipient after the message.
  std::function<std::string(const std::string& address)> final_reply = [](const std::string&) {
    return std::string("250 2.1.5 Success");
  };
  bool close_after_354 = false;  // hang up while the message is being sent
  // Hang up after this many replies following the message.
  size_t final_replies_before_close = std::numeric_limits<size_t>::max();
};

struct LmtpTranscript {
  std::vector<std::string> commands;  // every command line, without CRLF
  std::vector<std::string> messages;  // DATA content as received: dot-stuffed, with ".\r\n"
  int connections = 0;
};

class ScriptedLmtp {
 public:
  // Serves the connected socket `fd` (owned from now on).
  ScriptedLmtp(int fd, LmtpScript script) : script_(std::move(script)) {
    thread_ = std::thread([this, fd] { serve(fd); });
  }

  // Serves every connection to a new UNIX socket at `path`; check listening().
  ScriptedLmtp(const std::string& path, LmtpScript script) : script_(std::move(script)) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return;
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listener_, 16) != 0) {
      if (listener_ >= 0) ::close(listener_);
      listener_ = -1;
      return;
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{listener_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) serve(fd);
      }
    });
  }

  ~ScriptedLmtp() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) ::close(listener_);
  }
  ScriptedLmtp(const ScriptedLmtp&) = delete;
  ScriptedLmtp& operator=(const ScriptedLmtp&) = delete;

  bool listening() const { return listener_ >= 0; }

  // Waits for the one-socket session to end (the client closed, QUIT, or the script hung up).
  void wait() {
    if (listener_ < 0 && thread_.joinable()) thread_.join();
  }

  LmtpTranscript transcript() {
    std::lock_guard lock(mutex_);
    return transcript_;
  }

 private:
  // Reads up to the next LF (a line without CRLF); false when the peer is gone or we stop.
  bool read_line(int fd, std::string* buffer, std::string* line) {
    for (;;) {
      const size_t lf = buffer->find('\n');
      if (lf != std::string::npos) {
        *line = buffer->substr(0, lf > 0 && (*buffer)[lf - 1] == '\r' ? lf - 1 : lf);
        buffer->erase(0, lf + 1);
        return true;
      }
      if (!fill(fd, buffer)) return false;
    }
  }

  bool fill(int fd, std::string* buffer) {
    for (;;) {
      if (stop_) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      buffer->append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  static void say(int fd, const std::string& reply) {
    const std::string wire = reply + "\r\n";
    (void)!::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
  }

  void serve(int fd) {
    {
      std::lock_guard lock(mutex_);
      ++transcript_.connections;
    }
    std::string buffer, line;
    std::vector<std::string> accepted;
    say(fd, script_.greeting);
    while (read_line(fd, &buffer, &line)) {
      {
        std::lock_guard lock(mutex_);
        transcript_.commands.push_back(line);
      }
      std::string verb = line.substr(0, line.find(' '));
      for (auto& c : verb) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      if (verb == "LHLO") {
        std::string reply = "250-scripted.test";
        for (const auto& cap : script_.capabilities) reply += "\r\n250-" + cap;
        reply += "\r\n250 Ok";
        say(fd, reply);
      } else if (verb == "RSET") {
        accepted.clear();
        say(fd, "250 2.0.0 ok");
      } else if (verb == "MAIL") {
        accepted.clear();
        say(fd, script_.mail_reply);
      } else if (verb == "RCPT") {
        const size_t open = line.find('<'), close = line.find('>');
        const std::string address =
            open == std::string::npos || close == std::string::npos || close < open
                ? std::string()
                : line.substr(open + 1, close - open - 1);
        const std::string reply = accepted.size() >= script_.max_recipients
                                      ? "452 4.5.3 Too many recipients"
                                      : script_.rcpt_reply(address);
        if (!reply.empty() && reply[0] == '2') accepted.push_back(address);
        say(fd, reply);
      } else if (verb == "DATA") {
        say(fd, script_.data_reply);
        if (script_.data_reply.compare(0, 3, "354") != 0) continue;
        if (script_.close_after_354) break;
        std::string content;
        if (!read_data(fd, &buffer, &content)) break;
        {
          std::lock_guard lock(mutex_);
          transcript_.messages.push_back(content);
        }
        size_t sent = 0;
        for (const auto& a : accepted) {
          if (sent++ == script_.final_replies_before_close) break;
          say(fd, script_.final_reply(a));
        }
        if (sent > script_.final_replies_before_close) break;
        accepted.clear();
      } else if (verb == "QUIT") {
        say(fd, "221 2.0.0 bye");
        break;
      } else {
        say(fd, "500 5.5.2 Syntax error");
      }
    }
    ::close(fd);
  }

  // Reads DATA content up to and including the line ".".
  bool read_data(int fd, std::string* buffer, std::string* content) {
    for (;;) {
      if (buffer->compare(0, 3, ".\r\n") == 0 && content->empty()) {
        *content = ".\r\n";
        buffer->erase(0, 3);
        return true;
      }
      const size_t end = buffer->find("\r\n.\r\n");
      if (end != std::string::npos) {
        content->append(*buffer, 0, end + 5);
        buffer->erase(0, end + 5);
        return true;
      }
      // Keep the last 4 bytes: they may start the terminator.
      if (buffer->size() > 4) {
        content->append(*buffer, 0, buffer->size() - 4);
        buffer->erase(0, buffer->size() - 4);
      }
      if (!fill(fd, buffer)) return false;
    }
  }

  LmtpScript script_;
  std::thread thread_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  LmtpTranscript transcript_;
};

}  // namespace cubby::deliver_test
