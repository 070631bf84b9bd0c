// Helpers for the master's end-to-end tests: starting lmtpd the way inetd, xinetd and systemd do
// (descriptors and environment laid out by hand), loopback sockets, the example files in
// docs/examples, a test user for the privilege tests, and HTTP GET of the metrics.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace cubby::e2e {

// How to lay out a child's descriptors: stdin, stdout and stderr (-1 means /dev/null for stdin
// and stdout, and `stderr_path` for stderr when set), then `from_3` on 3, 4, ... With
// `systemd_env`, LISTEN_FDS=<from_3.size()> and LISTEN_PID=<the child's own pid> are set, as
// systemd sets them. Every other descriptor of the test is closed in the child.
struct ChildFds {
  int in = -1, out = -1, err = -1;
  std::string stderr_path;
  std::vector<int> from_3;
  bool systemd_env = false;
  std::vector<std::string> env;  // extra NAME=value
};

// Forks and execs argv[0] (a path) with `fds`; our child, reaped with wait_for_exit().
std::optional<pid_t> spawn_child(const std::vector<std::string>& argv, const ChildFds& fds);

// A listening TCP socket on 127.0.0.1 (any free port); *port gets the port.
int listen_loopback(int* port);
// A connected loopback TCP pair through `listener`: the client's end and the accepted end.
bool tcp_pair(int listener, int port, int* client, int* accepted);

// docs/examples/<name>, whole.
std::string example(const std::string& name);
// The non-comment, non-blank lines of an example file.
std::vector<std::string> example_lines(const std::string& name);
// `text` with every `from` replaced by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to);
std::vector<std::string> split_words(const std::string& text);

// Makes sure a system user `name` exists (useradd --system); its uid, or why not.
std::optional<uid_t> ensure_user(const std::string& name, std::string* why);

// GET http://127.0.0.1:<port><path>; the whole response (headers and body), "" on failure.
std::string http_get(int port, const std::string& path);

// The value of a sample line `<name>{<labels>} <value>` in Prometheus text, or nullopt.
std::optional<double> metric(const std::string& text, const std::string& name_and_labels);

}  // namespace cubby::e2e
