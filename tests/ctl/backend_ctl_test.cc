// What cubbyctl mailbox through the directory relies on: the back end's command built from
// directory_admin_command (server/ctl/backend_ctl.h), run with its output captured and its exit
// code kept, and the back end's --json answer read back (server/ctl/flat_json.h).
#include "server/ctl/backend_ctl.h"

#include <gtest/gtest.h>

#include "server/ctl/flat_json.h"
#include "server/ctl/output.h"

namespace cubby::ctl {
namespace {

TEST(BackendCtl, CommandFromTheTemplate) {
  auto ssh = backend_command("ssh %h cubbyctl", "10.0.0.11:24");
  ASSERT_TRUE(ssh.ok()) << ssh.error();
  EXPECT_EQ(ssh.value(), "ssh '10.0.0.11' cubbyctl");
  EXPECT_EQ(backend_command("ssh %h cubbyctl", "[::1]:24").value(), "ssh '::1' cubbyctl");
  EXPECT_EQ(backend_command("/x/admin %b 100%%", "unix:/run/be1/lmtp").value(),
            "/x/admin 'unix:/run/be1/lmtp' 100%");
  auto unix_host = backend_command("ssh %h cubbyctl", "unix:/run/be1/lmtp");
  ASSERT_FALSE(unix_host.ok());
  EXPECT_NE(unix_host.error().find("%h"), std::string::npos) << unix_host.error();
}

TEST(BackendCtl, RunsWithArgumentsQuotedAndKeepsTheExitCode) {
  auto run = run_on_backend("printf '%s|'", {"user/carol/Sent Items", "it's", "$HOME"}, true);
  ASSERT_TRUE(run.ok()) << run.error();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->out, "user/carol/Sent Items|it's|$HOME|");
  auto exists = run_on_backend("exit 3 #", {"x"}, true);
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(exists->exited);
  EXPECT_EQ(exists->exit_code, kExists);
}

TEST(FlatJson, ReadsWhatCubbyctlPrints) {
  JsonObject o;
  o.add("name", "user/a\"b\\c\td").add("uidnext", int64_t{42}).add("placed", true).add_null("q");
  auto one = read_flat_json(o.str());
  ASSERT_TRUE(one.ok()) << one.error();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(one->front().at("name"), "user/a\"b\\c\td");
  EXPECT_EQ(one->front().at("uidnext"), "42");
  EXPECT_EQ(one->front().at("placed"), "true");
  EXPECT_EQ(one->front().at("q"), "");

  auto many = read_flat_json(" [" + o.str() + " , {\"name\":\"user/b\"}]\n");
  ASSERT_TRUE(many.ok()) << many.error();
  ASSERT_EQ(many->size(), 2u);
  EXPECT_EQ(many->at(1).at("name"), "user/b");
  auto none = read_flat_json("[]\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_FALSE(read_flat_json("cubbyctl: no such mailbox").ok());
  EXPECT_FALSE(read_flat_json("[{\"a\":[1]}]").ok());
  EXPECT_FALSE(read_flat_json("{\"a\":\"unterminated").ok());
  EXPECT_FALSE(read_flat_json("{\"a\":1} trailing").ok());
}

}  // namespace
}  // namespace cubby::ctl
