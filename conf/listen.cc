// Resolving listen= values to socket addresses and binding listening sockets; see listen.h.
#include "conf/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>

namespace cubby::conf {
namespace {

constexpr int kLmtpPort = 24;  // IANA's LMTP port, for systems whose /etc/services lacks `lmtp`

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }
std::string errno_text() { return std::strerror(errno); }

// Owns a descriptor until release().
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A port number or a service name, as a port number.
Result<int, std::string> resolve_port(const std::string& port) {
  if (all_digits(port)) {
    if (port.size() > 5 || std::stoi(port) > 65535)
      return fail("port " + quote(port) + " is out of range");
    return std::stoi(port);
  }
  servent entry{};
  servent* found = nullptr;
  char buffer[4096];
  if (getservbyname_r(port.c_str(), "tcp", &entry, buffer, sizeof(buffer), &found) == 0 && found) {
    return static_cast<int>(ntohs(static_cast<uint16_t>(found->s_port)));
  }
  if (port == "lmtp") return kLmtpPort;
  return fail("unknown service " + quote(port));
}

// Whether this kernel can make sockets of `family` (IPv6 may be disabled).
bool family_available(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT;
  ::close(fd);
  return true;
}

Result<ListenAddress, std::string> unix_address(std::string_view path) {
  ListenAddress address;
  address.is_unix = true;
  address.path = std::string(path);
  sockaddr_un un{};
  if (path.size() >= sizeof(un.sun_path)) {
    return fail("listen " + quote(path) + ": UNIX socket path is too long (" +
                std::to_string(path.size()) + " bytes, at most " +
                std::to_string(sizeof(un.sun_path) - 1) + ")");
  }
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, path.data(), path.size());
  std::memcpy(&address.addr, &un, sizeof(un));
  address.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return address;
}

struct HostPort {
  std::string host;  // "" = wildcard
  std::string port;
};

// Splits `host:port`, `[v6]:port`, `[v6]` or `port`; the error says what is malformed.
Result<HostPort, std::string> split_host_port(std::string_view listen) {
  auto bad = [&](const std::string& why) { return fail("listen " + quote(listen) + ": " + why); };
  HostPort result;
  std::string_view port;
  if (listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos) return bad("missing \"]\"");
    result.host = std::string(listen.substr(1, close - 1));
    if (result.host.empty()) return bad("no address inside \"[]\"");
    std::string_view after = listen.substr(close + 1);
    if (after.empty()) {
      result.port = "lmtp";
      return result;
    }
    if (after.front() != ':') return bad("expected \":port\" after \"]\"");
    port = after.substr(1);
  } else {
    if (listen.find_first_of("[]") != std::string_view::npos) {
      return bad("misplaced bracket (write [address]:port)");
    }
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
      port = listen;
    } else {
      result.host = std::string(listen.substr(0, colon));
      port = listen.substr(colon + 1);
    }
  }
  if (port.empty()) return bad("no port after \":\"");
  result.port = std::string(port);
  return result;
}

}  // namespace

std::string ListenAddress::display() const {
  if (is_unix) return path;
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

Result<std::vector<ListenAddress>, std::string> resolve_listen(std::string_view listen,
                                                               std::string_view proto) {
  if (listen.empty()) return fail(std::string("listen \"\" is empty"));
  if (listen.front() == '/') {
    auto address = unix_address(listen);
    if (!address) return fail(address.error());
    return std::vector<ListenAddress>{std::move(*address)};
  }

  int family = AF_UNSPEC;
  if (proto == "tcp4")
    family = AF_INET;
  else if (proto == "tcp6")
    family = AF_INET6;
  else if (proto != "tcp")
    return fail("unknown proto " + quote(proto) + " (tcp, tcp4 or tcp6)");

  auto split = split_host_port(listen);
  if (!split) return fail(split.error());
  auto port = resolve_port(split->port);
  if (!port) return fail("listen " + quote(listen) + ": " + port.error());

  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(*port);
  int rc = getaddrinfo(split->host.empty() ? nullptr : split->host.c_str(), port_text.c_str(),
                       &hints, &found);
  if (rc != 0) {
    return fail("listen " + quote(listen) + ": " +
                (rc == EAI_SYSTEM ? errno_text() : gai_strerror(rc)));
  }

  std::vector<ListenAddress> addresses;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (ai->ai_addrlen > sizeof(sockaddr_storage) || !family_available(ai->ai_family)) continue;
    ListenAddress address;
    std::memcpy(&address.addr, ai->ai_addr, ai->ai_addrlen);
    address.addr_len = ai->ai_addrlen;
    bool duplicate = false;  // /etc/hosts may list an address twice
    for (const ListenAddress& seen : addresses) {
      duplicate = duplicate || (seen.addr_len == address.addr_len &&
                                std::memcmp(&seen.addr, &address.addr, address.addr_len) == 0);
    }
    if (!duplicate) addresses.push_back(address);
  }
  freeaddrinfo(found);
  if (addresses.empty())
    return fail("listen " + quote(listen) + ": no usable address for " + std::string(proto));
  return addresses;
}

Result<int, std::string> bind_listener(const ListenAddress& address, int backlog, int unix_mode) {
  const std::string what = address.display();
  int family = address.is_unix ? AF_UNIX : address.addr.ss_family;
  Descriptor fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail("socket " + what + ": " + errno_text());
  const auto* addr = reinterpret_cast<const sockaddr*>(&address.addr);

  if (address.is_unix) {
    struct stat st {};
    if (::lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return fail("bind " + what + ": the file there is not a socket; not removing it");
      }
      if (::unlink(address.path.c_str()) != 0 && errno != ENOENT) {
        return fail("unlink " + what + ": " + errno_text());
      }
    } else if (errno != ENOENT) {
      return fail("stat " + what + ": " + errno_text());
    }
    if (::bind(fd.get(), addr, address.addr_len) != 0)
      return fail("bind " + what + ": " + errno_text());
    // No one can connect before listen(), so the window with umask's bits is harmless.
    mode_t mode = static_cast<mode_t>(unix_mode == 0 ? 0660 : unix_mode);
    if (::chmod(address.path.c_str(), mode) != 0) {
      std::string error = "chmod " + what + ": " + errno_text();
      ::unlink(address.path.c_str());
      return fail(std::move(error));
    }
  } else {
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
      return fail("setsockopt SO_REUSEADDR " + what + ": " + errno_text());
    }
    if (family == AF_INET6 &&
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
      return fail("setsockopt IPV6_V6ONLY " + what + ": " + errno_text());
    }
    if (::bind(fd.get(), addr, address.addr_len) != 0)
      return fail("bind " + what + ": " + errno_text());
  }

  if (::listen(fd.get(), backlog) != 0) {
    std::string error = "listen " + what + ": " + errno_text();
    if (address.is_unix) ::unlink(address.path.c_str());
    return fail(std::move(error));
  }
  return fd.release();
}

}  // namespace cubby::conf
