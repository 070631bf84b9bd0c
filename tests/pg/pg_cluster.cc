// A private PostgreSQL cluster for tests; see pg_cluster.h.
#include "tests/pg/pg_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cubby::test {
namespace {

const char* const kBinDirs[] = {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                                "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin"};

std::string bin_dir() {
  for (const char* dir : kBinDirs) {
    if (access((std::string(dir) + "/pg_ctl").c_str(), X_OK) == 0) return dir;
  }
  return "";
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("no free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

PgCluster::PgCluster() {
  char tmpl[] = "/tmp/cubby-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (geteuid() == 0) {
    // initdb refuses root: the cluster belongs to nobody.
    if (chown(dir_.c_str(), 65534, 65534) != 0) throw std::runtime_error("chown failed");
  }
  port_ = free_port();
}

PgCluster::~PgCluster() {
  if (running_) (void)stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool PgCluster::available() { return !bin_dir().empty(); }

std::string PgCluster::run(const std::string& command) const {
  const std::string log = dir_ + "/command.log";
  std::string full = "cd " + quoted(dir_) + " && ";
  if (geteuid() == 0) {
    full += "runuser -u nobody -- sh -c " + quoted(command);
  } else {
    full += "sh -c " + quoted(command);
  }
  full += " >" + quoted(log) + " 2>&1";
  const int status = std::system(full.c_str());
  if (status == 0) return "";
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return "`" + command + "` failed (" + std::to_string(status) + "): " + text.str();
}

std::string PgCluster::start() {
  const std::string bin = bin_dir();
  if (bin.empty()) return "PostgreSQL is not installed";
  if (!created_) {
    if (auto e = run(bin + "/initdb -D " + dir_ + "/data -A trust -U cubby -E UTF8 --no-sync"
                     " --no-instructions");
        !e.empty()) {
      return e;
    }
    created_ = true;
  }
  const std::string options = "-p " + std::to_string(port_) + " -k " + dir_ +
                              " -c listen_addresses=127.0.0.1 -c fsync=off"
                              " -c synchronous_commit=off -c full_page_writes=off";
  if (auto e = run(bin + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -t 60 -o " +
                   quoted(options) + " start");
      !e.empty()) {
    return e;
  }
  running_ = true;
  return "";
}

std::string PgCluster::stop() {
  if (!running_) return "";
  running_ = false;
  return run(bin_dir() + "/pg_ctl -D " + dir_ + "/data -m fast -w -t 60 stop");
}

std::string PgCluster::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=cubby dbname=postgres";
}

std::string PgCluster::psql(const std::string& sql) const {
  return run(bin_dir() + "/psql -X -q -v ON_ERROR_STOP=1 -h " + dir_ + " -p " +
             std::to_string(port_) + " -U cubby -d postgres -c " + quoted(sql));
}

}  // namespace cubby::test
