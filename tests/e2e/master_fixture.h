// The fixture of the master's end-to-end tests: CubbyTest with extra SERVICES entries and
// sections, and helpers to rewrite the services file and reload.
#pragma once

#include <signal.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/e2e/fixture.h"
#include "tests/e2e/master_harness.h"

namespace cubby::e2e {

class MasterTest : public CubbyTest {
 protected:
  // As CubbyTest::start(), with `extra_services` added inside SERVICES and `extra_sections`
  // after it. Use as ASSERT_NO_FATAL_FAILURE(start_master(...)).
  void start_master(const std::vector<std::string>& users, std::vector<std::string> settings,
                    std::vector<std::string> extra_services, std::string extra_sections = "") {
    ASSERT_FALSE(root_.path().empty()) << "mkdtemp failed";
    InstanceOptions options;
    options.root = root_.path();
    options.settings = std::move(settings);
    options.extra_services = std::move(extra_services);
    options.extra_sections = std::move(extra_sections);
    cubby_ = std::make_unique<CubbyInstance>(options);
    auto error = cubby_->start();
    ASSERT_FALSE(error) << *error;
    for (const auto& u : users) {
      auto e = cubby_->create_mailbox(u);
      ASSERT_FALSE(e) << *e;
    }
  }

  std::string services_text() { return read_file(cubby_->services_path()).value_or(""); }
  void write_services(const std::string& text) {
    std::ofstream(cubby_->services_path(), std::ios::trunc) << text;
  }
  size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }
  // SIGHUP, then waits until the master has reloaded or refused to; false if neither in 10 s.
  bool reload() {
    auto done = [&] {
      std::string log = cubby_->log();
      return count(log, "SIGHUP: reloaded:") + count(log, "SIGHUP: cannot reload,");
    };
    size_t before = done();
    kill(cubby_->master_pid(), SIGHUP);
    return eventually([&] { return done() > before; }, 10s);
  }
  // A path in the test's root.
  std::string at_root(const std::string& name) { return cubby_->root() + "/" + name; }
};

}  // namespace cubby::e2e
