// The scale-out fixture: PostgreSQL, back ends and a front end; see scaleout_fixture.h.
#include "tests/scaleout/scaleout_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "directory/postgres_directory.h"
#include "tests/e2e/process.h"
#include "tests/e2e/stored_message.h"

namespace cubby::scaleout {
namespace {

// A loopback port that is free now, below the ephemeral range (32768 and up on Linux), so that no
// outgoing connection borrows it while a back end that owns it is down.
int fixed_port() {
  std::random_device seed;
  std::mt19937 random(seed());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = 20000 + static_cast<int>(random() % 12000);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// The X-Test-Id header's value in a stored message, or "".
std::string test_id(const std::string& message) {
  const std::string key = "\r\nX-Test-Id: ";
  const size_t at = message.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return message.substr(start, message.find("\r\n", start) - start);
}

std::string tail(const std::string& text, size_t max) {
  return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

}  // namespace

const LmtpReply& Exchange::outcome(size_t k) const {
  if (!rcpt[k].ok()) return rcpt[k];
  size_t index = 0;
  for (size_t i = 0; i < k; ++i) index += rcpt[i].ok() ? 1 : 0;
  static const LmtpReply missing{0, {"no reply after the message"}};
  return index < final.size() ? final[index] : missing;
}

std::string test_message(const std::string& id) {
  // A Date header as every MTA's queue file has one (Postfix's cleanup adds it): the duplicate
  // key is Message-ID, mailbox and Date, and without it each attempt through the front end would
  // carry the Date the front end writes at that moment, so a retry could not be recognised.
  return "From: sender@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: message " + id +
         "\r\nDate: Wed, 02 Dec 2026 12:00:00 +0000"
         "\r\nMessage-ID: <" +
         id + "@scaleout.test>\r\nX-Test-Id: " + id + "\r\n\r\nBody of " + id +
         "\r\n.a line that starts with a dot\r\n";
}

std::string user_name(int u) { return "user" + std::to_string(u); }

int env_count(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr) return fallback;
  const int n = std::atoi(value);
  return n > 0 ? n : fallback;
}

void ScaleOut::SetUp() {
  PG_REQUIRE_OR_SKIP();
  pg_ = std::make_unique<test::PgCluster>();
  ASSERT_EQ(pg_->start(), "");
}

void ScaleOut::TearDown() {
  if (HasFailure()) {
    if (front_) std::cerr << "---- front end log ----\n" << tail(front_->log(), 6000) << "\n";
    for (size_t b = 0; b < backends_.size(); ++b) {
      std::cerr << "---- be" << b << " log ----\n" << tail(backends_[b]->log(), 3000) << "\n";
    }
  }
  front_.reset();
  backends_.clear();
  pg_.reset();
  roots_.clear();
}

void ScaleOut::start_cluster(const ClusterOptions& options) {
  options_ = options;
  for (int b = 0; b < options_.backends; ++b) {
    roots_.push_back(std::make_unique<TempDir>());
    const int port = fixed_port();
    ASSERT_NE(port, 0) << "no free loopback port";
    backend_ports_.push_back(port);
    e2e::InstanceOptions instance;
    instance.root = roots_.back()->path();
    instance.settings = {"servername: be" + std::to_string(b), "autocreate_post: yes",
                         "autocreate_quota: 0"};
    instance.extra_services = {
        "lmtpbe cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(port) + "\" prefork=1"};
    backends_.push_back(std::make_unique<CubbyInstance>(instance));
  }
  for (int b = 0; b < options_.backends; ++b) {
    auto error = backends_[b]->start();
    ASSERT_FALSE(error) << "be" << b << ": " << *error;
    ASSERT_TRUE(e2e::wait_for_greeting(backend_ports_[b], 20s)) << "be" << b << "\n"
                                                                << backends_[b]->log();
  }

  directory::PostgresDirectory admin(pg_->conninfo());
  for (int u = 0; u < options_.users; ++u) {
    ASSERT_EQ(admin.assign(user_name(u), {backend_address(home_of(u)), "default"}), std::nullopt);
  }

  roots_.push_back(std::make_unique<TempDir>());
  front_port_ = fixed_port();
  e2e::InstanceOptions instance;
  instance.root = roots_.back()->path();
  instance.settings = {"directory_backend: postgresql", "directory_conninfo: " + pg_->conninfo(),
                       "servername: fe"};
  for (const auto& line : options_.front_settings) instance.settings.push_back(line);
  const std::string workers = std::to_string(options_.front_workers);
  instance.extra_services = {
      "lmtpfe cmd=\"lmtpd -P -a\" listen=\"127.0.0.1:" + std::to_string(front_port_) +
      "\" prefork=" + workers + " maxchild=" + workers};
  front_ = std::make_unique<CubbyInstance>(instance);
  auto error = front_->start();
  ASSERT_FALSE(error) << *error;
  ASSERT_TRUE(e2e::wait_for_greeting(front_port_, 20s)) << front_->log();
}

std::string ScaleOut::backend_address(int b) const {
  return "127.0.0.1:" + std::to_string(backend_ports_[b]);
}

bool ScaleOut::connect_front(LmtpClient& client, std::string* why) const {
  client.close();
  client.set_timeout(60s);
  if (!client.connect_tcp(front_port_)) {
    *why = "connect: " + client.error();
    return false;
  }
  auto greeting = client.read_reply();
  if (greeting.code != 220) {
    *why = "greeting: " + greeting.text();
    return false;
  }
  auto lhlo = client.command("LHLO client.example");
  if (lhlo.code != 250) {
    *why = "LHLO: " + lhlo.text();
    return false;
  }
  return true;
}

Exchange ScaleOut::send(LmtpClient& client, const std::string& id,
                        const std::vector<std::string>& addresses) {
  Exchange x;
  if (auto r = client.command("RSET"); r.code != 250) {
    x.error = "RSET: " + r.text();
    return x;
  }
  if (auto r = client.command("MAIL FROM:<sender@example.org>"); r.code != 250) {
    x.error = "MAIL: " + r.text();
    return x;
  }
  size_t accepted = 0;
  for (const auto& address : addresses) {
    x.rcpt.push_back(client.command("RCPT TO:<" + address + ">"));
    if (x.rcpt.back().code == 0) {
      x.error = "RCPT: " + x.rcpt.back().text();
      return x;
    }
    accepted += x.rcpt.back().ok() ? 1 : 0;
  }
  if (accepted == 0) return x;
  if (auto r = client.command("DATA"); r.code != 354) {
    x.error = "DATA: " + r.text();
    return x;
  }
  if (!client.send_data(test_message(id))) {
    x.error = "message: " + client.error();
    return x;
  }
  x.final = client.read_replies(accepted);
  if (x.final.size() != accepted || x.final.back().code == 0) {
    x.error = "after the message: " + (x.final.empty() ? "nothing" : x.final.back().text());
  }
  return x;
}

Exchange ScaleOut::send_to_users(LmtpClient& client, const std::string& id,
                                 const std::vector<int>& users) {
  std::vector<std::string> addresses;
  for (int u : users) addresses.push_back(user_name(u) + "@example.org");
  return send(client, id, addresses);
}

void ScaleOut::crash_backend(int b) { backends_[b]->crash(); }

std::string ScaleOut::restart_backend(int b) {
  if (auto error = backends_[b]->start()) return *error;
  if (!e2e::wait_for_greeting(backend_ports_[b], 20s))
    return "be" + std::to_string(b) + " not greeting";
  return "";
}

std::multimap<std::string, Stored> ScaleOut::stored_on(int b) {
  std::multimap<std::string, Stored> found;
  const std::string spool = backends_[b]->spool();
  for (const auto& user : e2e::list_dir(spool + "/user")) {
    for (const auto& name : CubbyInstance::message_files(spool, user)) {
      const std::string path = CubbyInstance::mailbox_dir(spool, user) + "/" + name;
      struct stat st {};
      EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
      found.emplace(test_id(e2e::read_file(path).value_or("")),
                    Stored{st.st_ino, st.st_nlink, user});
    }
  }
  return found;
}

void ScaleOut::expect_stored_once(const std::map<std::string, std::vector<int>>& sent,
                                  const std::set<int>& one_inode_on) {
  for (int b = 0; b < options_.backends; ++b) {
    ASSERT_TRUE(backends_[b]->wait_settled(60s)) << "be" << b << " has stage files left";
  }
  for (int b = 0; b < options_.backends; ++b) {
    const auto stored = stored_on(b);
    size_t expected_total = 0;
    size_t wrong = 0;
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
        if (one_inode_on.count(b) != 0) {
          // Every link of the message on this back end, and nothing else, points at the inode.
          EXPECT_EQ(it->second.links, want.size()) << id << " on be" << b;
        }
      }
      // Exactly once per recipient, nowhere else.
      EXPECT_EQ(got, want) << id << " on be" << b;
      if (one_inode_on.count(b) != 0 && !want.empty()) {
        EXPECT_EQ(inodes.size(), 1u) << id << " on be" << b;
      }
      wrong += got == want ? 0 : 1;
      if (wrong > 20) FAIL() << "too many wrong messages on be" << b << " to list";
    }
    EXPECT_EQ(stored.size(), expected_total) << "be" << b;
  }
}

}  // namespace cubby::scaleout
