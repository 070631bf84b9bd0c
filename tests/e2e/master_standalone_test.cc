// lmtpd without cubby-master, started exactly as the example files in docs/examples say: the test
// plays inetd, xinetd or systemd (it listens, accepts where they would, lays out the descriptors
// and environment, and runs the command line read from the example) and delivers through it.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e/fixture.h"
#include "tests/e2e/master_harness.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";

class StandaloneE2e : public CubbyTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(start({"alice"}));
    log_ = cubby_->root() + "/standalone.log";
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- lmtpd's stderr ----\n" << slurp(log_) << "----\n";
    for (int fd : fds_) close(fd);
    CubbyTest::TearDown();
  }
  static std::string slurp(const std::string& path) { return read_file(path).value_or(""); }
  int keep(int fd) {
    fds_.push_back(fd);
    return fd;
  }

  // An example's command line with the installed paths replaced by the test's.
  std::vector<std::string> command(std::vector<std::string> words) {
    for (auto& w : words) {
      w = replace_all(w, "/usr/lib/cubby/lmtpd", std::string(CUBBY_BIN_DIR) + "/lmtpd");
      w = replace_all(w, "/etc/cubby/imapd.conf", cubby_->settings_path());
    }
    return words;
  }

  // A UNIX listening socket at `path`, as inetd or systemd would make it.
  int listen_unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    EXPECT_EQ(listen(fd, 16), 0);
    return keep(fd);
  }

  // Delivers one message to alice and says QUIT; "" or what went wrong.
  std::string deliver(LmtpClient& c, const std::string& id) {
    std::string e = c.deliver(kSender, {"alice@e2e.test"}, test_message(id));
    if (!e.empty()) return e;
    LmtpReply bye = c.command("QUIT");
    return bye.code == 221 ? "" : "QUIT: " + bye.text();
  }

  size_t stored() {
    auto rows = cubby_->messages("alice");
    return rows ? rows->size() : 0;
  }

  std::string log_;
  std::vector<int> fds_;
};

// Like inetd and xinetd: the connection on stdin, stdout and stderr.
ChildFds on_stdio(int fd) {
  ChildFds fds;
  fds.in = fds.out = fds.err = fd;
  return fds;
}

// inetd.conf: `<listen> stream <proto> nowait <user> <program> <argv...>`.
std::vector<std::string> inetd_line(const std::string& proto) {
  for (const auto& line : example_lines("inetd.conf")) {
    auto words = split_words(line);
    if (words.size() >= 7 && words[2] == proto) return words;
  }
  return {};
}

TEST_F(StandaloneE2e, InetdNowaitOverAUnixSocketServesTheConnectionOnStdin) {
  auto words = inetd_line("unix");
  ASSERT_GE(words.size(), 7u) << "no unix line in docs/examples/inetd.conf";
  EXPECT_EQ(words[1], "stream");
  EXPECT_EQ(words[3], "nowait");
  auto argv = command({words.begin() + 6, words.end()});
  argv[0] = command({words[5]})[0];  // inetd runs the program, passing argv from argv[0] on

  int listener = listen_unix(cubby_->root() + "/inetd.sock");
  LmtpClient c;
  ASSERT_TRUE(c.connect_unix(cubby_->root() + "/inetd.sock")) << c.error();
  int conn = keep(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(conn, 0);
  auto pid = spawn_child(argv, on_stdio(conn));
  ASSERT_TRUE(pid);
  EXPECT_EQ(deliver(c, "inetd-unix@example.org"), "");
  auto status = wait_for_exit(*pid, 10s);
  ASSERT_TRUE(status) << "lmtpd did not exit after its one session";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(stored(), 1u);
}

TEST_F(StandaloneE2e, InetdNowaitOverTcpAndXinetdServeTheConnectionOnStdin) {
  auto words = inetd_line("tcp");
  ASSERT_GE(words.size(), 7u) << "no tcp line in docs/examples/inetd.conf";
  auto inetd_argv = command({words.begin() + 6, words.end()});
  inetd_argv[0] = command({words[5]})[0];

  // xinetd: `server = <program>` and `server_args = <args>`.
  std::string server, args;
  for (const auto& line : example_lines("xinetd.d/cubby-lmtp")) {
    auto words = split_words(line);
    if (words.size() >= 3 && words[0] == "server") server = words[2];
    if (words.size() >= 2 && words[0] == "server_args") args = line.substr(line.find('=') + 1);
    if (words.size() >= 3 && words[0] == "wait") {
      EXPECT_EQ(words[2], "no");
    }
  }
  ASSERT_FALSE(server.empty()) << "no server = in docs/examples/xinetd.d/cubby-lmtp";
  std::vector<std::string> xinetd_argv = command({server});
  for (auto& w : command(split_words(args))) xinetd_argv.push_back(w);

  int port = 0;
  int listener = keep(listen_loopback(&port));
  int n = 0;
  for (const auto& argv : {inetd_argv, xinetd_argv}) {
    SCOPED_TRACE(n == 0 ? "inetd" : "xinetd");
    LmtpClient c;
    ASSERT_TRUE(c.connect_tcp(port)) << c.error();
    int conn = keep(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    auto pid = spawn_child(argv, on_stdio(conn));
    ASSERT_TRUE(pid);
    // -a: the TCP peer is trusted, so MAIL needs no AUTH.
    EXPECT_EQ(deliver(c, "inetd-tcp-" + std::to_string(n) + "@example.org"), "");
    auto status = wait_for_exit(*pid, 10s);
    ASSERT_TRUE(status) << "lmtpd did not exit after its one session";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    ++n;
  }
  EXPECT_EQ(stored(), 2u);
}

TEST_F(StandaloneE2e, InetdWaitHandsOverTheListeningSocketOnStdin) {
  const std::string path = cubby_->root() + "/inetd-wait.sock";
  int listener = listen_unix(path);
  ChildFds fds;
  fds.in = listener;
  fds.stderr_path = log_;
  auto pid =
      spawn_child({std::string(CUBBY_BIN_DIR) + "/lmtpd", "-C", cubby_->settings_path()}, fds);
  ASSERT_TRUE(pid);
  for (int i = 0; i < 2; ++i) {
    LmtpClient c;
    ASSERT_TRUE(c.connect_unix(path)) << c.error();
    EXPECT_EQ(deliver(c, "inetd-wait-" + std::to_string(i) + "@example.org"), "");
  }
  kill(*pid, SIGTERM);
  auto status = wait_for_exit(*pid, 10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(stored(), 2u);
}

// `ExecStart=` of a systemd unit in docs/examples/systemd.
std::vector<std::string> exec_start(const std::string& unit) {
  for (const auto& line : example_lines("systemd/" + unit)) {
    if (line.rfind("ExecStart=", 0) == 0) return split_words(line.substr(10));
  }
  return {};
}

TEST_F(StandaloneE2e, SystemdAcceptNoServesEveryPassedListenerUntilSigterm) {
  auto argv = command(exec_start("cubby-lmtpd.service"));
  ASSERT_FALSE(argv.empty());
  EXPECT_NE(example("systemd/cubby-lmtpd.socket").find("\nAccept=no\n"), std::string::npos);
  // The socket unit's ListenStream= lines, in order: one UNIX path, one loopback TCP address.
  std::vector<int> listeners;
  int port = 0;
  const std::string unix_path = cubby_->root() + "/systemd.sock";
  for (const auto& line : example_lines("systemd/cubby-lmtpd.socket")) {
    if (line.rfind("ListenStream=", 0) != 0) continue;
    std::string where = line.substr(13);
    listeners.push_back(where[0] == '/' ? listen_unix(unix_path) : keep(listen_loopback(&port)));
  }
  ASSERT_EQ(listeners.size(), 2u);
  ChildFds fds;
  fds.stderr_path = log_;
  fds.from_3 = listeners;
  fds.systemd_env = true;
  auto pid = spawn_child(argv, fds);
  ASSERT_TRUE(pid);
  for (int round = 0; round < 2; ++round) {
    LmtpClient over_unix, over_tcp;
    ASSERT_TRUE(over_unix.connect_unix(unix_path)) << over_unix.error();
    ASSERT_TRUE(over_tcp.connect_tcp(port)) << over_tcp.error();
    EXPECT_EQ(deliver(over_unix, "sd-unix-" + std::to_string(round) + "@example.org"), "");
    EXPECT_EQ(deliver(over_tcp, "sd-tcp-" + std::to_string(round) + "@example.org"), "");
  }
  EXPECT_TRUE(process_alive(*pid)) << "lmtpd should keep serving until stopped";
  kill(*pid, SIGTERM);
  auto status = wait_for_exit(*pid, 10s);
  ASSERT_TRUE(status) << "lmtpd did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(stored(), 4u);
}

TEST_F(StandaloneE2e, SystemdAcceptYesServesTheConnectionOnFd3) {
  auto argv = command(exec_start("cubby-lmtpd-conn@.service"));
  ASSERT_FALSE(argv.empty());
  EXPECT_NE(example("systemd/cubby-lmtpd-conn.socket").find("\nAccept=yes\n"), std::string::npos);
  int port = 0;
  int listener = keep(listen_loopback(&port));
  LmtpClient c;
  ASSERT_TRUE(c.connect_tcp(port)) << c.error();
  int conn = keep(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ChildFds fds;
  fds.stderr_path = log_;
  fds.from_3 = {conn};
  fds.systemd_env = true;
  auto pid = spawn_child(argv, fds);
  ASSERT_TRUE(pid);
  EXPECT_EQ(deliver(c, "sd-conn@example.org"), "");
  auto status = wait_for_exit(*pid, 10s);
  ASSERT_TRUE(status) << "lmtpd did not exit after its one session";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(stored(), 1u);
}

TEST_F(StandaloneE2e, WithNoSocketAnywhereLmtpdSaysHowToStartIt) {
  ChildFds fds;
  fds.stderr_path = log_;
  auto pid =
      spawn_child({std::string(CUBBY_BIN_DIR) + "/lmtpd", "-C", cubby_->settings_path()}, fds);
  ASSERT_TRUE(pid);
  auto status = wait_for_exit(*pid, 10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 64) << *status;
  EXPECT_NE(slurp(log_).find("run lmtpd under cubby-master, inetd, xinetd or systemd"),
            std::string::npos)
      << slurp(log_);
}

}  // namespace
}  // namespace cubby::e2e
