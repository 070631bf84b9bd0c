// Minimal IMAP and POP3 clients for the Dovecot interop tests; see mail_clients.h.
#include "tests/interop/dovecot/mail_clients.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace cubby::interop {
namespace {
constexpr int kTimeoutMs = 10000;
}

LineSocket::LineSocket(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

LineSocket::~LineSocket() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineSocket::send(const std::string& data) {
  if (fd_ < 0) return false;
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool LineSocket::fill() {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, kTimeoutMs) <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) return false;
  buffer_.append(buf, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> LineSocket::line() {
  for (;;) {
    size_t eol = buffer_.find("\r\n");
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 2);
      return line;
    }
    if (!fill()) return std::nullopt;
  }
}

std::optional<std::string> LineSocket::bytes(size_t n) {
  while (buffer_.size() < n) {
    if (!fill()) return std::nullopt;
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

ImapClient::ImapClient(int port) : socket_(port) {
  if (auto g = socket_.line()) greeting_ = *g;
}

ImapReply ImapClient::command(const std::string& text) {
  ImapReply reply;
  const std::string tag = "a" + std::to_string(next_tag_++);
  if (!socket_.send(tag + " " + text + "\r\n")) return reply;
  std::string current;  // an untagged response being assembled across literals
  for (;;) {
    auto line = socket_.line();
    if (!line) return reply;
    current += *line;
    // A line ending in {n} announces n bytes of literal, then the response goes on.
    if (!current.empty() && current.back() == '}') {
      size_t open = current.rfind('{');
      if (open != std::string::npos) {
        size_t n = std::strtoul(current.c_str() + open + 1, nullptr, 10);
        auto literal = socket_.bytes(n);
        if (!literal) return reply;
        reply.literals.push_back(*literal);
        current += "\r\n" + *literal;
        continue;
      }
    }
    if (current.starts_with(tag + " ")) {
      reply.status = current.substr(tag.size() + 1);
      return reply;
    }
    reply.untagged.push_back(current);
    current.clear();
  }
}

bool ImapClient::login(const std::string& user, const std::string& password) {
  return command("LOGIN \"" + user + "\" \"" + password + "\"").ok();
}

std::optional<int> ImapClient::select(const std::string& mailbox) {
  ImapReply r = command("SELECT \"" + mailbox + "\"");
  if (!r.ok()) return std::nullopt;
  for (const std::string& u : r.untagged) {
    if (u.ends_with(" EXISTS")) return std::atoi(u.c_str() + 2);
  }
  return std::nullopt;
}

std::optional<std::string> ImapClient::fetch_body(uint32_t uid) {
  ImapReply r = command("UID FETCH " + std::to_string(uid) + " BODY.PEEK[]");
  if (!r.ok() || r.literals.size() != 1) return std::nullopt;
  return r.literals[0];
}

std::vector<uint32_t> ImapClient::uids() {
  std::vector<uint32_t> out;
  ImapReply r = command("UID SEARCH ALL");
  for (const std::string& u : r.untagged) {
    if (!u.starts_with("* SEARCH")) continue;
    std::istringstream in(u.substr(8));
    for (uint32_t uid; in >> uid;) out.push_back(uid);
  }
  return out;
}

Pop3Client::Pop3Client(int port) : socket_(port) {
  if (auto g = socket_.line()) greeting_ = *g;
}

std::string Pop3Client::command(const std::string& text) {
  if (!socket_.send(text + "\r\n")) return "";
  return socket_.line().value_or("");
}

bool Pop3Client::login(const std::string& user, const std::string& password) {
  return command("USER " + user).starts_with("+OK") &&
         command("PASS " + password).starts_with("+OK");
}

std::optional<int> Pop3Client::count() {
  std::string r = command("STAT");
  if (!r.starts_with("+OK ")) return std::nullopt;
  return std::atoi(r.c_str() + 4);
}

std::optional<std::string> Pop3Client::retr(int n) {
  if (!command("RETR " + std::to_string(n)).starts_with("+OK")) return std::nullopt;
  std::string message;
  for (;;) {
    auto line = socket_.line();
    if (!line) return std::nullopt;
    if (*line == ".") return message;
    message += (line->starts_with(".") ? line->substr(1) : *line) + "\r\n";
  }
}

}  // namespace cubby::interop
