// One transaction per back end, replies in RCPT order; see forwarder.h.
#include "server/proxy/forwarder.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "conf/log.h"
#include "server/deliver/deliver_lmtp.h"
#include "server/deliver/deliver_message.h"
#include "server/deliver/deliver_session.h"
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
                   std::vector<lmtp::Reply>* replies) {
  const auto give_up = [&](const std::string& why) {
    CUBBY_LOG_WARNING("front end: back end %s unavailable: %s (%zu recipients deferred)",
                      group.backend.c_str(), why.c_str(), group.members.size());
    for (size_t i : group.members) (*replies)[i] = backend_unavailable(why);
  };
  auto fd = connect_backend(group.backend, settings.connect_timeout);
  if (!fd.ok()) return give_up(fd.error());
  deliver::LmtpConnection connection(fd.value());
  connection.set_timeout(settings.timeout);

  deliver::Envelope envelope;
  envelope.mail_from = "<" + request.info.mail_from + ">";
  if (!request.info.auth_id.empty()) envelope.auth_id = request.info.auth_id;
  envelope.ignore_quota = group.ignore_quota;
  for (size_t i : group.members) envelope.recipients.push_back(request.recipients[i].request.address);

  auto results = deliver::deliver_message(connection, settings.lhlo_name, envelope, message);
  const bool broken = !connection.error().empty();
  for (size_t k = 0; k < group.members.size() && k < results.size(); ++k) {
    lmtp::Reply reply = std::move(results[k].reply);
    // deliver's own 451 4.4.2 for a connection that failed: the back end is unavailable.
    if (broken && results[k].outcome == deliver::Recipient::Outcome::kTempFail &&
        reply.code == 451 && reply.enhanced == "4.4.2") {
      reply = backend_unavailable(connection.error());
    }
    CUBBY_LOG_INFO("forwarded: <%s> to %s: %d %s %s", results[k].address.c_str(),
                   group.backend.c_str(), reply.code, reply.enhanced.c_str(), reply.text.c_str());
    (*replies)[group.members[k]] = std::move(reply);
  }
  if (broken) {
    CUBBY_LOG_WARNING("front end: back end %s failed: %s", group.backend.c_str(),
                      connection.error().c_str());
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

std::vector<lmtp::Reply> forward(const lmtp::DeliveryRequest& request,
                                 const ForwardSettings& settings) {
  std::vector<lmtp::Reply> replies(request.recipients.size(),
                                   lmtp::make_reply(451, "4.3.0", "System I/O error"));
  const auto* spool = dynamic_cast<const SpoolSink*>(request.sink.get());
  if (spool == nullptr) return replies;
  // The stored bytes, read back once into deliver's spooled message, which every back end's
  // transaction reads with pread (so the groups can share it).
  if (::lseek(spool->fd(), 0, SEEK_SET) != 0) return replies;
  auto message = deliver::SpooledMessage::read(spool->fd(), settings.timeout);
  if (!message.ok()) {
    CUBBY_LOG_ERR("front end: cannot read the spooled message back: %s", message.error().c_str());
    return replies;
  }
  const std::vector<Group> groups = groups_of(request);
  if (groups.size() == 1) {
    forward_group(groups[0], request, message.value(), settings, &replies);
    return replies;
  }
  std::vector<std::thread> threads;
  threads.reserve(groups.size());
  for (const Group& group : groups) {
    threads.emplace_back(
        [&, g = &group] { forward_group(*g, request, message.value(), settings, &replies); });
  }
  for (auto& t : threads) t.join();
  return replies;
}

}  // namespace cubby::proxy
