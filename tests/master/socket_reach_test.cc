// Whether a local user could connect to a UNIX socket (server/master/socket_reach.h), checked with
// the user nobody against a real socket whose mode, group and directory change.
#include "server/master/socket_reach.h"

#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace cubby::server {
namespace {

class SocketReachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to give the socket to another group";
    if (!getpwnam("nobody")) GTEST_SKIP() << "no user nobody";
    char tmpl[] = "/tmp/cubby-reach-XXXXXX";
    dir_ = mkdtemp(tmpl);
    chmod(dir_.c_str(), 0755);
    path_ = dir_ + "/lmtp";
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_, path_;
  int fd_ = -1;
};

TEST_F(SocketReachTest, OwnerGroupOtherAndDirectoryBitsDecide) {
  ASSERT_EQ(chown(path_.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0660), 0);
  auto w = socket_unreachable_by(path_, "nobody");
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("nobody (uid 65534) cannot connect to " + path_ + ": the socket is 0660 root:"),
            std::string::npos)
      << *w;

  ASSERT_EQ(chmod(path_.c_str(), 0777), 0);
  EXPECT_EQ(socket_unreachable_by(path_, "nobody"), std::nullopt);

  // The socket is nobody's own, writable by its owner only.
  ASSERT_EQ(chown(path_.c_str(), getpwnam("nobody")->pw_uid, 0), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_EQ(socket_unreachable_by(path_, "nobody"), std::nullopt);

  // Guarded by the directory, as Cyrus's 0777 socket in a 0750 directory.
  ASSERT_EQ(chmod(path_.c_str(), 0777), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0750), 0);
  w = socket_unreachable_by(path_, "nobody");
  ASSERT_TRUE(w);
  EXPECT_NE(w->find(": its directory " + dir_ + " is 0750 root:"), std::string::npos) << *w;
}

TEST_F(SocketReachTest, TheGroupOfTheUsersPrimaryGroupCounts) {
  ASSERT_EQ(chown(path_.c_str(), 0, getpwnam("nobody")->pw_gid), 0);
  ASSERT_EQ(chmod(path_.c_str(), 0660), 0);
  EXPECT_EQ(socket_unreachable_by(path_, "nobody"), std::nullopt);
}

TEST_F(SocketReachTest, NothingIsSaidForAMissingUserOrRoot) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  EXPECT_EQ(socket_unreachable_by(path_, "no-such-user-cubby"), std::nullopt);
  EXPECT_EQ(socket_unreachable_by(path_, "root"), std::nullopt);
}

}  // namespace
}  // namespace cubby::server
