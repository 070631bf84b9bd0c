// Loading and checking what the master will run; see master_plan.h.
#include "server/master/master_plan.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <filesystem>

#include "server/master/cyrus_programs.h"
#include "server/master/master_exec.h"

namespace cubby::server {
namespace {

bool is_loopback(const conf::ListenAddress& a) {
  if (a.addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.addr);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a.addr);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

}  // namespace

std::string control_socket_path(const conf::Settings& settings) {
  return settings.get_string("configdirectory") + "/socket/master-status";
}

Result<MasterPlan, std::string> load_plan(const std::string& settings_path,
                                          const std::string& services_path) {
  MasterPlan plan;
  auto settings = conf::Settings::load(settings_path, &plan.warnings);
  if (!settings) return fail(settings.error().str());
  plan.settings = std::move(settings.value());
  std::error_code ec;
  auto abs = std::filesystem::absolute(settings_path, ec);
  plan.settings_path = ec ? settings_path : abs.lexically_normal().string();
  auto services_abs = std::filesystem::absolute(services_path, ec);
  plan.services_path = ec ? services_path : services_abs.lexically_normal().string();

  auto identity = resolve_service_identity(plan.settings);
  if (!identity) return fail(identity.error());
  plan.identity = std::move(identity.value());

  const std::string metrics = plan.settings.get_string("metrics_listen");
  if (!metrics.empty()) {
    if (metrics.front() == '/') return fail("metrics_listen \"" + metrics + "\" must be host:port");
    auto addresses = conf::resolve_listen(metrics, "tcp");
    if (!addresses) return fail("metrics_listen: " + addresses.error());
    for (const auto& a : *addresses) {
      if (!is_loopback(a))
        return fail("metrics_listen \"" + metrics + "\": " + a.display() +
                    " is not a loopback address (metrics are served without authentication; "
                    "use 127.0.0.1 or [::1], or metrics_textfile)");
    }
    plan.metrics_listen = std::move(addresses.value());
  }

  auto file = conf::load_services(services_path, &plan.warnings);
  if (!file) return fail(file.error().str());
  auto dir = program_directory();
  if (!dir) return fail(dir.error());

  struct Section {
    const std::vector<conf::ServiceEntry>* entries;
    std::vector<PlannedCommand>* out;
    const char* kind;
  };
  for (const Section& section :
       {Section{&file->start, &plan.start, "START"}, Section{&file->events, &plan.events, "EVENTS"},
        Section{&file->daemons, &plan.daemons, "DAEMON"}}) {
    for (const auto& entry : *section.entries) {
      if (auto cyrus = foreign_cyrus_program(entry)) {
        plan.warnings.push_back(entry.origin() + ": " + section.kind + " \"" + entry.name +
                                "\" skipped: it runs Cyrus's " + *cyrus +
                                ", which Cubby does not provide");
        continue;
      }
      auto spec = conf::command_spec(entry);
      if (!spec) return fail(spec.error().str());
      auto exe = resolve_executable(spec->argv.empty() ? "" : spec->argv[0], *dir);
      if (!exe)
        return fail(entry.origin() + ": " + section.kind + " \"" + entry.name +
                    "\": " + exe.error());
      for (const auto& other : *section.out) {
        if (other.spec.name == spec->name && section.out != &plan.start)
          return fail(entry.origin() + ": " + section.kind + " \"" + entry.name +
                      "\" is already defined at " + other.spec.origin);
      }
      section.out->push_back({std::move(spec.value()), std::move(exe.value())});
    }
  }

  for (const auto& entry : file->services) {
    if (auto cyrus = foreign_cyrus_program(entry)) {
      plan.warnings.push_back(entry.origin() + ": service \"" + entry.name +
                              "\" skipped: it runs Cyrus's " + *cyrus +
                              ", which Cubby does not provide");
      continue;
    }
    auto spec = conf::service_spec(entry);
    if (!spec) return fail(spec.error().str());
    std::string where = entry.origin() + ": service \"" + spec->name + "\": ";
    auto exe = resolve_executable(spec->argv.empty() ? "" : spec->argv[0], *dir);
    if (!exe) return fail(where + exe.error());
    auto addresses = conf::resolve_listen(spec->listen, spec->proto);
    if (!addresses) return fail(where + addresses.error());
    if (addresses->empty()) return fail(where + "listen=\"" + spec->listen + "\" has no address");
    // Binding a UNIX socket removes the file that is there, so a second service on the same
    // path would silently take the first one's socket; TCP would fail later, less clearly.
    for (const auto& b : *addresses) {
      for (const auto& other : plan.services) {
        for (const auto& a : other.addresses) {
          if (a.display() == b.display())
            return fail(where + "listen=\"" + spec->listen + "\": " + b.display() +
                        " is already used by service \"" + other.spec.name + "\" (" +
                        other.spec.origin + ")");
        }
      }
      for (const auto& m : plan.metrics_listen) {
        if (m.display() == b.display())
          return fail(where + "listen=\"" + spec->listen + "\": " + b.display() +
                      " is also metrics_listen");
      }
    }
    plan.services.push_back(
        {std::move(spec.value()), std::move(exe.value()), std::move(addresses.value())});
  }
  if (plan.services.empty())
    plan.warnings.push_back(services_path + ": no SERVICES entries; nothing to supervise");
  return plan;
}

}  // namespace cubby::server
