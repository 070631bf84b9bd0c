// The LMTP front end end to end: a private PostgreSQL cluster holding the mailbox directory, three
// back ends (each a private cubby-master, tests/e2e/instance.h, on its own loopback port) and a
// front end (a fourth cubby-master whose service `lmtpfe` runs `lmtpd -P -a`). Messages with 1 to
// 20 recipients spread over the back ends must arrive exactly once each, on the right back end, as
// one inode per back end per message, with the replies in RCPT order (each back end's 250 carries
// its own servername in SESSIONID). With one back end stopped, its recipients get 451 4.4.3 and
// the others are delivered. With PostgreSQL stopped, users the front end knows keep receiving
// and a user it does not know yet is deferred. With PostgreSQL hanging (a listener on its port
// that never answers), a lookup that waits does not hold up another session's known user.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "directory/postgres_directory.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/lmtp_client.h"
#include "tests/pg/pg_cluster.h"

namespace cubby::e2e {
namespace {

using namespace std::chrono_literals;

constexpr int kBackEnds = 3;
constexpr int kUsers = 30;
constexpr int kMessages = 100;

std::string user_name(int i) { return "user" + std::to_string(i); }
int home_of(int user) { return user % kBackEnds; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The X-Test-Id header's value in a stored message, or "".
std::string test_id(const std::string& message) {
  const std::string key = "X-Test-Id: ";
  const size_t at = message.find(key);
  if (at == std::string::npos) return "";
  return message.substr(at + key.size(), message.find("\r\n", at) - at - key.size());
}

struct Stored {
  ino_t inode;
  nlink_t links;
  std::string user;
};

class FrontEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PG_REQUIRE_OR_SKIP();
    pg_ = std::make_unique<test::PgCluster>();
    ASSERT_EQ(pg_->start(), "");

    for (int b = 0; b < kBackEnds; ++b) {
      roots_.push_back(std::make_unique<TempDir>());
      InstanceOptions options;
      options.root = roots_.back()->path();
      // Each back end names itself in its replies' SESSIONID; INBOXes are made on first delivery.
      options.settings = {"servername: be" + std::to_string(b), "autocreate_post: yes",
                          "autocreate_quota: 0"};
      backends_.push_back(std::make_unique<CubbyInstance>(options));
    }
    for (auto& backend : backends_) {
      auto error = backend->start();
      ASSERT_FALSE(error) << *error;
    }

    directory::PostgresDirectory admin(pg_->conninfo());
    for (int u = 0; u < kUsers; ++u) {
      const std::string address = "127.0.0.1:" + std::to_string(backends_[home_of(u)]->tcp_port());
      ASSERT_EQ(admin.assign(user_name(u), {address, "default"}), std::nullopt);
    }

    roots_.push_back(std::make_unique<TempDir>());
    front_port_ = free_tcp_port();
    InstanceOptions options;
    options.root = roots_.back()->path();
    options.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg_->conninfo(),
                        "directory_cache_seconds: 5m", "servername: fe"};
    options.extra_services = {"  lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" +
                              std::to_string(front_port_) + "\" prefork=1 maxchild=1"};
    front_ = std::make_unique<CubbyInstance>(options);
    auto error = front_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_TRUE(wait_for_greeting(front_port_, 20s)) << front_->log();
  }

  void TearDown() override {
    front_.reset();
    backends_.clear();
    pg_.reset();
    roots_.clear();
  }

  // Sends one message through the front end on `client` (greeted already) and returns the
  // replies: one per RCPT, then one per accepted recipient after the message.
  std::pair<std::vector<LmtpReply>, std::vector<LmtpReply>> send(
      LmtpClient& client, const std::string& id, const std::vector<int>& users) {
    std::vector<LmtpReply> rcpt, final;
    EXPECT_EQ(client.command("RSET").code, 250);
    EXPECT_EQ(client.command("MAIL FROM:<sender@example.org>").code, 250);
    for (int u : users) rcpt.push_back(client.command("RCPT TO:<" + user_name(u) + "@example.org>"));
    size_t accepted = 0;
    for (const auto& r : rcpt) accepted += r.ok() ? 1 : 0;
    if (accepted == 0) return {rcpt, final};
    EXPECT_EQ(client.command("DATA").code, 354);
    const std::string content = "From: sender@example.org\r\nSubject: message " + id +
                                "\r\nX-Test-Id: " + id + "\r\n\r\nBody of " + id + "\r\n.dot\r\n";
    EXPECT_TRUE(client.send_data(content)) << client.error();
    final = client.read_replies(accepted);
    return {rcpt, final};
  }

  // Every stored message of every user on back end `b`, by X-Test-Id.
  std::multimap<std::string, Stored> stored_on(int b) {
    std::multimap<std::string, Stored> found;
    const std::string spool = backends_[b]->spool();
    for (int u = 0; u < kUsers; ++u) {
      for (const auto& name : CubbyInstance::message_files(spool, user_name(u))) {
        const std::string path = CubbyInstance::mailbox_dir(spool, user_name(u)) + "/" + name;
        struct stat st {};
        EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
        found.emplace(test_id(read_file(path)), Stored{st.st_ino, st.st_nlink, user_name(u)});
      }
    }
    return found;
  }

  void expect_stored_once(const std::map<std::string, std::vector<int>>& sent);
  void defer_only_the_recipients_of_a_back_end_that_is_down();
  void keep_delivering_to_known_users_while_postgres_is_down();
  void a_hanging_lookup_does_not_hold_up_known_users();

  std::unique_ptr<test::PgCluster> pg_;
  std::vector<std::unique_ptr<TempDir>> roots_;
  std::vector<std::unique_ptr<CubbyInstance>> backends_;
  std::unique_ptr<CubbyInstance> front_;
  int front_port_ = 0;
};

TEST_F(FrontEndTest, ThreeBackEndsOneFrontEnd) {
  // ~100 messages with 1 to 20 recipients: each arrives once, on the right back ends, replies in
  // RCPT order.
  std::mt19937 random(16);
  // message id -> its recipients (user numbers), in RCPT order
  std::map<std::string, std::vector<int>> sent;
  LmtpClient client;
  for (int m = 0; m < kMessages; ++m) {
    if (m % 20 == 0) {
      client.close();
      ASSERT_TRUE(client.connect_tcp(front_port_)) << client.error();
      ASSERT_EQ(client.read_reply().code, 220);
      ASSERT_EQ(client.command("LHLO test.example").code, 250);
    }
    std::vector<int> users(kUsers);
    for (int u = 0; u < kUsers; ++u) users[u] = u;
    std::shuffle(users.begin(), users.end(), random);
    users.resize(1 + random() % 20);
    const std::string id = "m" + std::to_string(m);
    auto [rcpt, final] = send(client, id, users);
    ASSERT_EQ(rcpt.size(), users.size());
    for (size_t k = 0; k < rcpt.size(); ++k) ASSERT_EQ(rcpt[k].code, 250) << rcpt[k].text();
    ASSERT_EQ(final.size(), users.size()) << id;
    for (size_t k = 0; k < users.size(); ++k) {
      ASSERT_EQ(final[k].code, 250) << id << " " << user_name(users[k]) << ": " << final[k].text();
      // The reply is the recipient's own back end's: replies are in RCPT order.
      const std::string own = "SESSIONID=<be" + std::to_string(home_of(users[k])) + "-";
      EXPECT_NE(final[k].text().find(own), std::string::npos)
          << id << " " << user_name(users[k]) << ": " << final[k].text();
    }
    sent[id] = users;
  }
  EXPECT_EQ(client.command("QUIT").code, 221);
  expect_stored_once(sent);

  // Then one back end goes down (in the same test: each set-up costs four masters and an initdb),
  // and then PostgreSQL.
  defer_only_the_recipients_of_a_back_end_that_is_down();
  keep_delivering_to_known_users_while_postgres_is_down();
  a_hanging_lookup_does_not_hold_up_known_users();
}

// PostgreSQL's port taken by a listener that never accepts: the kernel completes the connection,
// libpq sends its startup packet and waits for an answer that never comes (up to its 2 s
// connect_timeout). One session's RCPT for a user the front end has never seen waits for that
// lookup (at most directory_lookup_wait, 300 ms) and is deferred; another session's RCPT for a
// known user, sent just after it to the same worker, is answered within 1 s (held behind the
// lookup, it would wait for libpq's 2 s).
void FrontEndTest::a_hanging_lookup_does_not_hold_up_known_users() {
  const int hole = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(hole, 0);
  const int on = 1;
  ASSERT_EQ(setsockopt(hole, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(static_cast<uint16_t>(pg_->port()));
  ASSERT_EQ(::bind(hole, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  ASSERT_EQ(::listen(hole, 64), 0);
  // The directory's pause after its last failed connection attempt (1 s) runs out.
  std::this_thread::sleep_for(1500ms);

  LmtpClient waiting, known;
  for (LmtpClient* c : {&waiting, &known}) {
    ASSERT_TRUE(c->connect_tcp(front_port_)) << c->error();
    ASSERT_EQ(c->read_reply().code, 220);
    ASSERT_EQ(c->command("LHLO test.example").code, 250);
    ASSERT_EQ(c->command("MAIL FROM:<sender@example.org>").code, 250);
  }
  for (int round = 0; round < 3; ++round) {
    const std::string stranger = "stranger" + std::to_string(round);
    ASSERT_TRUE(waiting.send_line("RCPT TO:<" + stranger + "@example.org>"));
    const auto start = std::chrono::steady_clock::now();
    // user0, user1, user3: on back ends 0 and 1 (back end 2 was stopped above).
    const int user = round == 2 ? 3 : round;
    auto reply = known.command("RCPT TO:<" + user_name(user) + "@example.org>");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(reply.code, 250) << reply.text();
    EXPECT_LT(took, 1000ms) << "round " << round << ": "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                           << " ms";
    auto deferred = waiting.read_reply();
    EXPECT_EQ(deferred.code, 451) << deferred.text();
    EXPECT_EQ(deferred.enhanced(), "4.4.3") << deferred.text();
  }
  ASSERT_EQ(known.command("DATA").code, 354);
  ASSERT_TRUE(known.send_data("Subject: hanging\r\nX-Test-Id: hanging\r\n\r\nhello\r\n"));
  auto final = known.read_replies(3);
  ASSERT_EQ(final.size(), 3u);
  for (const auto& r : final) EXPECT_EQ(r.code, 250) << r.text();
  ::close(hole);
}

// PostgreSQL stopped: users the front end has looked up keep receiving mail (its cache), a user
// it has not looked up yet is deferred (451 4.4.3 at RCPT), not bounced.
void FrontEndTest::keep_delivering_to_known_users_while_postgres_is_down() {
  // Placed with cubbyctl (on the front end's settings), as an administrator would.
  const std::string be0 = "127.0.0.1:" + std::to_string(backends_[0]->tcp_port());
  auto set = front_->ctl({"directory", "set", "newbie", be0});
  ASSERT_EQ(set.exit_code, 0) << set.describe();
  auto located = front_->ctl({"directory", "locate", "newbie"});
  ASSERT_EQ(located.exit_code, 0) << located.describe();
  EXPECT_EQ(located.out, be0 + " default\n");
  EXPECT_EQ(front_->ctl({"directory", "locate", "nosuchuser"}).exit_code, 2);
  auto listed = front_->ctl({"directory", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.describe();
  EXPECT_NE(listed.out.find("\"user\":\"newbie\""), std::string::npos) << listed.out;

  ASSERT_EQ(pg_->stop(), "");
  // cubbyctl asks PostgreSQL itself, never a cache: it fails while the front end delivers.
  EXPECT_EQ(front_->ctl({"directory", "locate", "user0"}).exit_code, 1);
  LmtpClient client;
  ASSERT_TRUE(client.connect_tcp(front_port_)) << client.error();
  ASSERT_EQ(client.read_reply().code, 220);
  ASSERT_EQ(client.command("LHLO test.example").code, 250);
  ASSERT_EQ(client.command("MAIL FROM:<sender@example.org>").code, 250);
  EXPECT_EQ(client.command("RCPT TO:<user0@example.org>").code, 250);
  auto newbie = client.command("RCPT TO:<newbie@example.org>");
  EXPECT_EQ(newbie.code, 451) << newbie.text();
  EXPECT_EQ(newbie.enhanced(), "4.4.3") << newbie.text();
  EXPECT_EQ(client.command("RCPT TO:<user1@example.org>").code, 250);
  ASSERT_EQ(client.command("DATA").code, 354);
  ASSERT_TRUE(client.send_data("Subject: pg down\r\nX-Test-Id: pgdown\r\n\r\nhello\r\n"));
  auto final = client.read_replies(2);
  ASSERT_EQ(final.size(), 2u);
  EXPECT_EQ(final[0].code, 250) << final[0].text();
  EXPECT_EQ(final[1].code, 250) << final[1].text();
  for (int b = 0; b < 2; ++b) {
    ASSERT_TRUE(backends_[b]->wait_settled(20s));
    EXPECT_EQ(stored_on(b).count("pgdown"), 1u) << "be" << b;
  }
}

void FrontEndTest::expect_stored_once(const std::map<std::string, std::vector<int>>& sent) {

  for (int b = 0; b < kBackEnds; ++b) ASSERT_TRUE(backends_[b]->wait_settled(20s));
  for (int b = 0; b < kBackEnds; ++b) {
    const auto stored = stored_on(b);
    size_t expected_total = 0;
    for (const auto& [id, users] : sent) {
      std::multiset<std::string> want;
      for (int u : users) {
        if (home_of(u) == b) want.insert(user_name(u));
      }
      expected_total += want.size();
      auto [first, last] = stored.equal_range(id);
      std::multiset<std::string> got;
      std::set<ino_t> inodes;
      for (auto it = first; it != last; ++it) {
        got.insert(it->second.user);
        inodes.insert(it->second.inode);
        // Every link of the message on this back end, and nothing else, points at the inode.
        EXPECT_EQ(it->second.links, want.size()) << id << " on be" << b;
      }
      EXPECT_EQ(got, want) << id << " on be" << b;  // exactly once per recipient, nowhere else
      if (!want.empty()) {
        EXPECT_EQ(inodes.size(), 1u) << id << " on be" << b;
      }
    }
    EXPECT_EQ(stored.size(), expected_total) << "be" << b;
  }
}

void FrontEndTest::defer_only_the_recipients_of_a_back_end_that_is_down() {
  ASSERT_TRUE(backends_[2]->stop().has_value());
  LmtpClient client;
  ASSERT_TRUE(client.connect_tcp(front_port_)) << client.error();
  ASSERT_EQ(client.read_reply().code, 220);
  ASSERT_EQ(client.command("LHLO test.example").code, 250);
  // user0..user5: back ends 0, 1, 2, 0, 1, 2; an unknown user in the middle.
  std::vector<int> users = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(client.command("RSET").code, 250);
  EXPECT_EQ(client.command("MAIL FROM:<sender@example.org>").code, 250);
  for (int u : users) {
    EXPECT_EQ(client.command("RCPT TO:<" + user_name(u) + "@example.org>").code, 250);
  }
  auto unknown = client.command("RCPT TO:<nosuchuser@example.org>");
  EXPECT_EQ(unknown.code, 550);
  EXPECT_EQ(unknown.enhanced(), "5.1.1");
  ASSERT_EQ(client.command("DATA").code, 354);
  ASSERT_TRUE(client.send_data("Subject: down\r\nX-Test-Id: down\r\n\r\nhello\r\n"));
  auto final = client.read_replies(users.size());
  ASSERT_EQ(final.size(), users.size());
  for (size_t k = 0; k < users.size(); ++k) {
    if (home_of(users[k]) == 2) {
      EXPECT_EQ(final[k].code, 451) << final[k].text();
      EXPECT_EQ(final[k].enhanced(), "4.4.3") << final[k].text();
    } else {
      EXPECT_EQ(final[k].code, 250) << final[k].text();
    }
  }
  for (int b = 0; b < 2; ++b) {
    ASSERT_TRUE(backends_[b]->wait_settled(20s));
    const auto stored = stored_on(b);
    EXPECT_EQ(stored.count("down"), 2u) << "be" << b;
  }
}

}  // namespace
}  // namespace cubby::e2e
