// deliver -l: the byte-for-byte LMTP relay; see deliver_relay.h.
#include "server/deliver/deliver_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace cubby::deliver {
namespace {

constexpr size_t kBuffer = 64 * 1024;

// Makes descriptors non-blocking and puts their flags back when it goes.
class NonBlocking {
 public:
  void add(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return;
    saved_.push_back({fd, flags});
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  }
  ~NonBlocking() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) ::fcntl(it->fd, F_SETFL, it->flags);
  }

 private:
  struct Saved {
    int fd, flags;
  };
  std::vector<Saved> saved_;
};

// One direction of the relay.
struct Flow {
  int from, to;
  const char* source;  // for messages: "the client", "lmtpd"
  const char* sink;
  std::string buffer;  // read from `from`, not yet written to `to`
  size_t written = 0;  // bytes of `buffer` already written
  bool eof = false;    // `from` has ended

  bool empty() const { return written == buffer.size(); }
};

// Writes without SIGPIPE when `fd` is a socket.
ssize_t write_some(int fd, const char* data, size_t size) {
  ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
  if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data, size);
  return n;
}

// Reads once into flow->buffer; "" or an error.
std::string read_once(Flow* flow) {
  flow->buffer.resize(kBuffer);
  flow->written = 0;
  const ssize_t n = ::read(flow->from, flow->buffer.data(), kBuffer);
  if (n > 0) {
    flow->buffer.resize(static_cast<size_t>(n));
    return "";
  }
  flow->buffer.clear();
  if (n == 0) {
    flow->eof = true;
    return "";
  }
  if (errno == EINTR || errno == EAGAIN) return "";
  return std::string("reading from ") + flow->source + ": " + strerror(errno);
}

// Writes what it can of flow->buffer; "" or an error.
std::string write_once(Flow* flow) {
  const ssize_t n = write_some(flow->to, flow->buffer.data() + flow->written,
                               flow->buffer.size() - flow->written);
  if (n >= 0) {
    flow->written += static_cast<size_t>(n);
    return "";
  }
  if (errno == EINTR || errno == EAGAIN) return "";
  return std::string("writing to ") + flow->sink + ": " + strerror(errno);
}

}  // namespace

std::string relay_lmtp(int client_in, int client_out, int server) {
  NonBlocking non_blocking;
  non_blocking.add(client_in);
  non_blocking.add(client_out);
  non_blocking.add(server);

  Flow up{client_in, server, "the client", "lmtpd", {}, 0, false};
  Flow down{server, client_out, "lmtpd", "the client", {}, 0, false};
  bool server_shut = false;
  for (;;) {
    if (down.eof && down.empty()) {
      ::shutdown(client_out, SHUT_WR);  // fails harmlessly (ENOTSOCK) on a pipe or file
      return "";
    }
    if (up.eof && up.empty() && !server_shut) {
      ::shutdown(server, SHUT_WR);
      server_shut = true;
    }

    // [0] client_in, [1] server, [2] client_out; fd -1 is ignored by poll.
    pollfd fds[3] = {{-1, POLLIN, 0}, {server, 0, 0}, {-1, POLLOUT, 0}};
    if (!up.eof && up.empty()) fds[0].fd = client_in;
    if (!up.empty()) fds[1].events |= POLLOUT;
    if (!down.eof && down.empty()) fds[1].events |= POLLIN;
    if (fds[1].events == 0) fds[1].fd = -1;
    if (!down.empty()) fds[2].fd = client_out;
    const int n = ::poll(fds, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::string("poll: ") + strerror(errno);
    }

    std::string error;
    if (fds[0].revents) error = read_once(&up);
    if (error.empty() && fds[1].revents) {
      if ((fds[1].events & POLLOUT) && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
        error = write_once(&up);
      }
      if (error.empty() && (fds[1].events & POLLIN) &&
          (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
        error = read_once(&down);
      }
    }
    if (error.empty() && fds[2].revents) error = write_once(&down);
    if (!error.empty()) return error;
  }
}

}  // namespace cubby::deliver
