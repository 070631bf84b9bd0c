// One transaction per back end, replies in RCPT order; see forwarder.h.
#include "server/proxy/forwarder.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "conf/log.h"
#include "server/deliver/deliver_message.h"
#include "server/proxy/connection_cache.h"
#include "server/proxy/front_end_backend.h"

namespace cubby::proxy {
namespace {

struct Group {
  std::string backend;
  bool ignore_quota = false;
  std::vector<size_t> members;  // indexes into the request's recipients, in RCPT order
};

std::vector<Group> groups_of(const lmtp::DeliveryRequest& request) {
  std::vector<Group> groups;
  for (size_t i = 0; i < request.recipients.size(); ++i) {
    const auto& r = request.recipients[i];
    Group* group = nullptr;
    for (auto& g : groups) {
      if (g.backend == r.target && g.ignore_quota == r.request.ignore_quota) group = &g;
    }
    if (group == nullptr) {
      groups.push_back(Group{r.target, r.request.ignore_quota, {}});
      group = &groups.back();
    }
    group->members.push_back(i);
  }
  return groups;
}

// The one transaction of a group; writes the replies of its members into *replies.
void forward_group(const Group& group, const lmtp::DeliveryRequest& request,
                   const deliver::SpooledMessage& message, const ForwardSettings& settings,
                   ConnectionCache* cache, std::vector<lmtp::Reply>* replies) {
  const auto give_up = [&](const std::string& why) {
    CUBBY_LOG_WARNING("front end: back end %s unavailable: %s (%zu recipients deferred)",
                      group.backend.c_str(), why.c_str(), group.members.size());
    for (size_t i : group.members) (*replies)[i] = backend_unavailable(why);
  };
  const auto open = [&]() -> std::unique_ptr<BackendConnection> {
    auto opened = BackendConnection::open(group.backend, settings.connection);
    if (!opened.ok()) {
      give_up(opened.error());
      return nullptr;
    }
    CUBBY_LOG_DEBUG("front end: connected to %s", group.backend.c_str());
    return std::move(opened.value());
  };

  Transaction transaction;
  transaction.mail_from = request.info.mail_from;
  transaction.auth_id = request.info.auth_id;
  transaction.ignore_quota = group.ignore_quota;
  for (size_t i : group.members)
    transaction.recipients.push_back(request.recipients[i].request.address);

  std::unique_ptr<BackendConnection> connection = cache ? cache->take(group.backend) : nullptr;
  const bool reused = connection != nullptr;
  if (!connection && !(connection = open())) return;
  auto outcome = connection->transact(transaction, message);
  if (!outcome.failure.empty() && reused && !outcome.data_sent) {
    // The back end went away since the connection was cached (a restart): nothing of this
    // transaction reached it, so it runs once more on a new connection.
    CUBBY_LOG_INFO(
        "front end: cached connection to %s failed before DATA (%s); retrying on a new "
        "connection",
        group.backend.c_str(), outcome.failure.c_str());
    connection.reset();
    if (!(connection = open())) return;
    outcome = connection->transact(transaction, message);
  }
  for (size_t k = 0; k < group.members.size(); ++k) {
    const lmtp::Reply& reply = outcome.replies[k];
    CUBBY_LOG_INFO("forwarded: <%s> to %s: %d %s %s", transaction.recipients[k].c_str(),
                   group.backend.c_str(), reply.code, reply.enhanced.c_str(), reply.text.c_str());
    (*replies)[group.members[k]] = reply;
  }
  if (!outcome.failure.empty()) {
    CUBBY_LOG_WARNING("front end: back end %s failed%s: %s", group.backend.c_str(),
                      outcome.data_sent ? " after DATA" : "", outcome.failure.c_str());
  } else if (cache) {
    cache->give_back(std::move(connection));
  }
}

Result<int, std::string> connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) return fail(path + ": not a socket path");
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("connect " + path + ": " + strerror(e));
  }
  return fd;
}

Result<int, std::string> connect_tcp(const std::string& address,
                                     std::chrono::milliseconds timeout) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) return fail(address + ": not host:port");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return fail(address + ": not host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail(address + ": " + gai_strerror(rc));
  }
  std::string why = address + ": no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
      int error = 0;
      socklen_t len = sizeof error;
      if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
        rc = 0;
      } else {
        errno = rc == 0 ? ETIMEDOUT : (error != 0 ? error : errno);
        rc = -1;
      }
    }
    if (rc == 0) {
      freeaddrinfo(found);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      // Each command is a small write awaiting its reply: without TCP_NODELAY, Nagle holds the
      // next write until the back end's delayed ACK (40 ms on Linux), a stall per message.
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    why = "connect " + address + ": " + strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(found);
  return fail(why);
}

}  // namespace

Result<int, std::string> connect_backend(const std::string& address,
                                         std::chrono::milliseconds timeout) {
  if (address.rfind("unix:", 0) == 0) return connect_unix(address.substr(5));
  if (!address.empty() && address[0] == '/') return connect_unix(address);
  return connect_tcp(address, timeout);
}

ForwardSettings ForwardSettings::from(const conf::Settings& settings) {
  ForwardSettings f;
  f.connection.lhlo_name = settings.get_string("servername");
  f.connection.timeout = settings.get_duration("lmtp_idle_timeout");
  f.connection.authname = settings.get_string("proxy_authname");
  f.connection.password = settings.get_string("proxy_password");
  f.cached_per_backend = static_cast<size_t>(settings.get_int("proxy_cached_connections"));
  f.cache_idle_timeout = settings.get_duration("proxy_connection_idle_timeout");
  return f;
}

std::vector<lmtp::Reply> forward(const lmtp::DeliveryRequest& request,
                                 const ForwardSettings& settings, ConnectionCache* cache) {
  std::vector<lmtp::Reply> replies(request.recipients.size(),
                                   lmtp::make_reply(451, "4.3.0", "System I/O error"));
  const auto* spool = dynamic_cast<const SpoolSink*>(request.sink.get());
  if (spool == nullptr) return replies;
  // The stored bytes, read back once into deliver's spooled message, which every back end's
  // transaction reads with pread (so the groups can share it).
  if (::lseek(spool->fd(), 0, SEEK_SET) != 0) return replies;
  auto message = deliver::SpooledMessage::read(spool->fd(), settings.connection.timeout);
  if (!message.ok()) {
    CUBBY_LOG_ERR("front end: cannot read the spooled message back: %s", message.error().c_str());
    return replies;
  }
  const std::vector<Group> groups = groups_of(request);
  if (groups.size() == 1) {
    forward_group(groups[0], request, message.value(), settings, cache, &replies);
    return replies;
  }
  std::vector<std::thread> threads;
  threads.reserve(groups.size());
  for (const Group& group : groups) {
    threads.emplace_back([&, g = &group] {
      forward_group(*g, request, message.value(), settings, cache, &replies);
    });
  }
  for (auto& t : threads) t.join();
  return replies;
}

}  // namespace cubby::proxy
