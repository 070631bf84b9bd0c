// Moving a user between back ends under load (cubbyctl directory move, docs/scale-out.md "Moving a
// user"): a private PostgreSQL directory, two back ends (private cubby-masters) and a front end
// (`lmtpd -P -a`). A client keeps sending messages to alice (some also to bob and carol, who stay
// where they are) through the front end while `cubbyctl directory move alice` copies her from
// back end 0 to back end 1 through `cubbyctl user import` as its target command; a recipient that
// gets a 4xx is sent again later with the same Message-ID. At the end every message acknowledged
// with 250 for alice is on back end 1 exactly once and byte for byte, none is left on back end 0,
// the UIDs of messages acknowledged by back end 1 are above those acknowledged by back end 0, and
// bob and carol have each of their messages once. A second test: a move whose target command
// fails leaves alice deliverable where she was; --keep-source leaves the old copy deferring
// deliveries; a rerun deletes it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "directory/postgres_directory.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/e2e/process.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::e2e {
namespace {

using namespace std::chrono_literals;

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string content_of(const std::string& id) {
  return "From: sender@example.org\r\nMessage-ID: <" + id + "@test.example>\r\nSubject: " + id +
         "\r\nX-Test-Id: " + id + "\r\n\r\nBody of " + id + "\r\n";
}

// The X-Test-Id of a stored message, or "".
std::string test_id(const std::string& message) {
  const std::string key = "X-Test-Id: ";
  const size_t at = message.find(key);
  if (at == std::string::npos) return "";
  return message.substr(at + key.size(), message.find("\r\n", at) - at - key.size());
}

class MoveUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PG_REQUIRE_OR_SKIP();
    pg_ = std::make_unique<test::PgCluster>();
    ASSERT_EQ(pg_->start(), "");
    for (int b = 0; b < 2; ++b) {
      roots_.push_back(std::make_unique<TempDir>());
      InstanceOptions options;
      options.root = roots_.back()->path();
      options.settings = {"servername: be" + std::to_string(b), "autocreate_post: yes",
                          "autocreate_quota: 0"};
      backends_.push_back(std::make_unique<CubbyInstance>(options));
      auto error = backends_.back()->start();
      ASSERT_FALSE(error) << *error;
    }
    directory::PostgresDirectory admin(pg_->conninfo());
    ASSERT_EQ(admin.assign("alice", {address(0), "default"}), std::nullopt);
    ASSERT_EQ(admin.assign("bob", {address(0), "default"}), std::nullopt);
    ASSERT_EQ(admin.assign("carol", {address(1), "default"}), std::nullopt);

    roots_.push_back(std::make_unique<TempDir>());
    front_port_ = free_tcp_port();
    InstanceOptions options;
    options.root = roots_.back()->path();
    options.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg_->conninfo(),
                        "directory_cache_seconds: 1s", "servername: fe"};
    options.extra_services = {"  lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" +
                              std::to_string(front_port_) + "\" prefork=1 maxchild=2"};
    front_ = std::make_unique<CubbyInstance>(options);
    auto error = front_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_TRUE(wait_for_greeting(front_port_, 20s)) << front_->log();

    // The move runs with back end 0's settings plus the directory's (as on a real source back
    // end, which needs to reach PostgreSQL only for the move).
    move_settings_ = roots_[0]->path() + "/move.conf";
    std::ofstream(move_settings_) << read_whole(backends_[0]->settings_path())
                                  << "\ndirectory_backend: postgresql\ndirectory_conninfo: "
                                  << pg_->conninfo() << "\n";
  }

  void TearDown() override {
    front_.reset();
    backends_.clear();
    pg_.reset();
    roots_.clear();
  }

  std::string address(int b) const {
    return "127.0.0.1:" + std::to_string(backends_[b]->tcp_port());
  }

  // Sends message `id` to `users` through the front end; each recipient's final reply (a RCPT
  // refusal counts as its reply).
  std::map<std::string, LmtpReply> send(LmtpClient& client, const std::string& id,
                                        const std::vector<std::string>& users) {
    std::map<std::string, LmtpReply> out;
    if (client.command("RSET").code != 250) return out;
    if (client.command("MAIL FROM:<sender@example.org>").code != 250) return out;
    std::vector<std::string> accepted;
    for (const auto& u : users) {
      auto r = client.command("RCPT TO:<" + u + "@example.org>");
      if (r.ok()) {
        accepted.push_back(u);
      } else {
        out[u] = r;
      }
    }
    if (accepted.empty()) return out;
    if (client.command("DATA").code != 354) return out;
    if (!client.send_data(content_of(id))) return out;
    auto final = client.read_replies(accepted.size());
    for (size_t k = 0; k < accepted.size() && k < final.size(); ++k) out[accepted[k]] = final[k];
    return out;
  }

  // The stored messages of `user` on back end `b`: test id -> (uid, content) for each file.
  std::multimap<std::string, std::pair<int64_t, std::string>> stored(int b,
                                                                     const std::string& user) {
    std::multimap<std::string, std::pair<int64_t, std::string>> out;
    const std::string spool = backends_[b]->spool();
    for (const auto& f : CubbyInstance::message_files(spool, user)) {
      const std::string content = read_whole(CubbyInstance::mailbox_dir(spool, user) + "/" + f);
      out.emplace(test_id(content), std::make_pair(std::stoll(f), content));
    }
    return out;
  }

  std::unique_ptr<test::PgCluster> pg_;
  std::vector<std::unique_ptr<TempDir>> roots_;
  std::vector<std::unique_ptr<CubbyInstance>> backends_;
  std::unique_ptr<CubbyInstance> front_;
  int front_port_ = 0;
  std::string move_settings_;
};

TEST_F(MoveUserTest, AUserMovedUnderLoadLosesAndDoublesNothing) {
  const std::string target_command =
      std::string(CUBBY_BIN_DIR) + "/cubbyctl -C " + backends_[1]->settings_path() + " user import";
  ProgramResult moved;
  std::atomic<bool> move_done{false};
  std::thread mover;
  // A failed assertion returns early: the move is still waited for (a joinable thread would abort).
  struct Joiner {
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{mover};

  // id -> recipients still to deliver; user -> ids acknowledged, and by which back end.
  std::map<std::string, std::vector<std::string>> to_send;
  std::map<std::string, std::map<std::string, std::string>> acked;
  int next = 0, retried = 0;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  LmtpClient client;
  int after_move = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    // New messages until the move is done and a few more have gone out after it.
    if (!move_done || after_move < 10) {
      const std::string id = "m" + std::to_string(next);
      std::vector<std::string> users = {"alice"};
      if (next % 3 == 0) users.push_back("bob");
      if (next % 4 == 0) users.push_back("carol");
      to_send[id] = users;
      ++next;
      if (move_done) ++after_move;
    } else if (to_send.empty()) {
      break;
    }
    if (next == 15 && !mover.joinable()) {
      mover = std::thread([&] {
        moved = run_program(
            {std::string(CUBBY_BIN_DIR) + "/cubbyctl", "-C", move_settings_, "directory", "move",
             "alice", "--to", address(1), "--target-command", target_command, "--grace", "3"},
            90s);
        move_done = true;
      });
    }
    if (!client.connected()) {
      ASSERT_TRUE(client.connect_tcp(front_port_)) << client.error();
      ASSERT_EQ(client.read_reply().code, 220);
      ASSERT_EQ(client.command("LHLO test.example").code, 250);
    }
    // Everything outstanding, oldest first (the retries keep their Message-ID).
    for (auto it = to_send.begin(); it != to_send.end();) {
      auto replies = send(client, it->first, it->second);
      std::vector<std::string> again;
      for (const auto& u : it->second) {
        auto r = replies.find(u);
        ASSERT_TRUE(r != replies.end())
            << it->first << " " << u << ": no reply: " << client.error();
        if (r->second.code == 250) {
          const std::string text = r->second.text();
          acked[u][it->first] = text.find("SESSIONID=<be1-") != std::string::npos ? "be1" : "be0";
        } else {
          ASSERT_EQ(r->second.code / 100, 4) << it->first << " " << u << ": " << r->second.text();
          again.push_back(u);
          ++retried;
        }
      }
      if (again.empty()) {
        it = to_send.erase(it);
      } else {
        it->second = again;
        ++it;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  if (mover.joinable()) mover.join();
  ASSERT_EQ(moved.exit_code, 0) << moved.describe();
  ASSERT_TRUE(to_send.empty()) << to_send.size() << " messages never acknowledged";
  RecordProperty("retried", retried);
  std::printf("%d messages, %d recipients retried after a 4xx; the move said:\n%s%s", next, retried,
              moved.out.c_str(), moved.err.c_str());

  directory::PostgresDirectory admin(pg_->conninfo());
  auto where = admin.locate("alice");
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->backend, address(1));

  // Every acknowledged message of alice's is on back end 1 once, byte for byte, none on 0.
  auto on_target = stored(1, "alice");
  EXPECT_TRUE(stored(0, "alice").empty());
  int64_t last_be0 = 0, first_be1 = INT64_MAX;
  std::set<int64_t> uids;
  ASSERT_GT(acked["alice"].size(), 20u);
  for (const auto& [id, by] : acked["alice"]) {
    ASSERT_EQ(on_target.count(id), 1u) << id << " (acknowledged by " << by << ")";
    const auto& [uid, content] = on_target.find(id)->second;
    // What the client sent is there, line for line (the back end adds Return-Path, Received and
    // Date), and the body ends the file.
    std::string sent = content_of(id);
    for (size_t at = 0; at < sent.size();) {
      const size_t end = sent.find("\r\n", at) + 2;
      EXPECT_NE(content.find(sent.substr(at, end - at)), std::string::npos) << id;
      at = end;
    }
    const std::string body = "\r\n\r\nBody of " + id + "\r\n";
    ASSERT_GE(content.size(), body.size());
    EXPECT_EQ(content.substr(content.size() - body.size()), body) << id;
    EXPECT_TRUE(uids.insert(uid).second);
    if (by == "be0") last_be0 = std::max(last_be0, uid);
    if (by == "be1") first_be1 = std::min(first_be1, uid);
  }
  EXPECT_EQ(on_target.size(), acked["alice"].size());
  EXPECT_LT(last_be0, first_be1);  // the moved messages keep their UIDs; new ones come after
  EXPECT_TRUE(acked["alice"].count("m0"));

  // bob and carol stayed where they were, each message once.
  for (const auto& [user, b] : std::vector<std::pair<std::string, int>>{{"bob", 0}, {"carol", 1}}) {
    auto got = stored(b, user);
    EXPECT_EQ(got.size(), acked[user].size()) << user;
    for (const auto& [id, by] : acked[user]) EXPECT_EQ(got.count(id), 1u) << user << " " << id;
  }
  ASSERT_TRUE(backends_[1]->wait_settled());
  auto checked = backends_[1]->ctl({"check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.describe();
}

}  // namespace
}  // namespace cubby::e2e

namespace cubby::e2e {
namespace {

// A move whose target fails leaves alice where she was, unmarked (still deliverable there); a move
// with --keep-source leaves the old copy marked (a stale delivery there is deferred, not
// accepted); a rerun then only deletes it. Each message is on the new back end once.
TEST_F(MoveUserTest, AFailedMoveLeavesTheUserDeliverableAndARerunFinishesIt) {
  auto move = [&](const std::string& command, std::vector<std::string> extra) {
    std::vector<std::string> argv = {std::string(CUBBY_BIN_DIR) + "/cubbyctl",
                                     "-C",
                                     move_settings_,
                                     "directory",
                                     "move",
                                     "alice",
                                     "--to",
                                     address(1),
                                     "--target-command",
                                     command};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_program(argv, 60s);
  };
  auto deliver_through_front = [&](const std::string& id) {
    LmtpClient client;
    EXPECT_TRUE(client.connect_tcp(front_port_));
    EXPECT_EQ(client.read_reply().code, 220);
    EXPECT_EQ(client.command("LHLO test.example").code, 250);
    return send(client, id, {"alice"})["alice"];
  };
  for (const std::string id : {"a0", "a1", "a2"}) {
    ASSERT_EQ(deliver_through_front(id).code, 250) << id;
  }

  auto failed = move("cat >/dev/null; exit 1", {"--grace", "0"});
  EXPECT_EQ(failed.exit_code, 1) << failed.describe();
  directory::PostgresDirectory admin(pg_->conninfo());
  EXPECT_EQ(admin.locate("alice")->backend, address(0));
  auto r = deliver_through_front("a3");
  ASSERT_EQ(r.code, 250) << r.text();
  EXPECT_NE(r.text().find("SESSIONID=<be0-"), std::string::npos) << r.text();

  const std::string target =
      std::string(CUBBY_BIN_DIR) + "/cubbyctl -C " + backends_[1]->settings_path() + " user import";
  auto kept = move(target, {"--keep-source"});
  ASSERT_EQ(kept.exit_code, 0) << kept.describe();
  EXPECT_EQ(admin.locate("alice")->backend, address(1));
  // A front end with a stale answer would reach back end 0: it defers.
  {
    LmtpClient direct;
    ASSERT_TRUE(direct.connect_tcp(backends_[0]->tcp_port()));
    ASSERT_EQ(direct.read_reply().code, 220);
    ASSERT_EQ(direct.command("LHLO test.example").code, 250);
    auto stale = send(direct, "stale", {"alice"})["alice"];
    EXPECT_EQ(stale.code / 100, 4) << stale.text();
  }
  EXPECT_EQ(stored(0, "alice").size(), 4u);

  auto rerun = move(target, {"--grace", "0"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.describe();
  EXPECT_TRUE(stored(0, "alice").empty());
  auto on_target = stored(1, "alice");
  EXPECT_EQ(on_target.size(), 4u);
  for (const std::string id : {"a0", "a1", "a2", "a3"}) EXPECT_EQ(on_target.count(id), 1u) << id;
}

}  // namespace
}  // namespace cubby::e2e
