// lmtpd: one LMTP worker process. Under cubby-master it accepts on the inherited listening socket
// (fd 4) and reports to the master on fd 3 (worker_protocol.h); started with a connected socket on
// stdin (inetd `nowait`) it serves that one session and exits.
//
//   lmtpd [-C settings] [-a] [-D] [-U uses] [-T seconds]
//     -a  pre-authenticate TCP peers (as Cyrus: only for trusted networks)
//     -D  log to stderr at debug level
//     -U  exit after serving this many connections; -T is accepted for Cyrus compatibility
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/store_backend.h"
#include "server/worker.h"
#include "server/worker_protocol.h"
#include "store/committer.h"
#include "store/config.h"
#include "store/recovery.h"
#include "store/store.h"

namespace {

constexpr int kExitConfig = 78;    // EX_CONFIG
constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: the master does not count it as a crash

bool is_listening_socket(int fd) {
  int listening = 0;
  socklen_t len = sizeof listening;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

bool is_socket(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

cubby::lmtp::EngineConfig engine_config(const cubby::conf::Settings& s) {
  cubby::lmtp::EngineConfig c;
  c.servername = s.get_string("servername");
  c.max_message_size = s.get_bytes("maxmessagesize");
  c.max_command_line = static_cast<size_t>(s.get_int("lmtp_max_command_length"));
  c.max_recipients = static_cast<size_t>(s.get_int("lmtp_max_recipients"));
  c.max_header_size = s.get_bytes("lmtp_max_header_size");
  c.soft_noauth = s.get_bool("soft_noauth");
  c.munge8bit = s.get_bool("munge8bit");
  c.reject8bit = s.get_bool("reject8bit");
  c.serverinfo = s.get_string("serverinfo") == "on";
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/cubby/imapd.conf";
  bool preauth = false, debug = false;
  long uses = 0;
  int opt;
  while ((opt = getopt(argc, argv, "C:aDU:T:X")) != -1) {
    switch (opt) {
      case 'C': config_path = optarg; break;
      case 'a': preauth = true; break;
      case 'D': debug = true; break;
      case 'U': uses = std::strtol(optarg, nullptr, 10); break;
      case 'T': break;  // idle recycling: the master issue implements it
      case 'X': break;  // Cyrus's stdin mode: we detect it by ourselves
      default:
        fprintf(stderr, "usage: lmtpd [-C settings] [-a] [-D] [-U uses] [-T seconds]\n");
        return 64;
    }
  }
  signal(SIGPIPE, SIG_IGN);

  const char* service = getenv("CYRUS_SERVICE");
  cubby::log::init("cubby/lmtpd", debug);
  if (debug) cubby::log::set_level(LOG_DEBUG);

  std::vector<std::string> warnings;
  auto settings = cubby::conf::Settings::load(config_path, &warnings);
  if (!settings.ok()) {
    fprintf(stderr, "lmtpd: %s\n", settings.error().str().c_str());
    CUBBY_LOG_ERR("%s", settings.error().str().c_str());
    return kExitConfig;
  }
  settings->set_service(service ? service : "lmtpd");
  for (const auto& w : warnings) CUBBY_LOG_WARNING("%s", w.c_str());
  if (!debug && settings->get_bool("debug")) cubby::log::set_level(LOG_DEBUG);

  auto store_config = cubby::store::StoreConfig::from(*settings);
  if (!store_config.ok()) {
    fprintf(stderr, "lmtpd: %s\n", store_config.error().c_str());
    CUBBY_LOG_ERR("%s", store_config.error().c_str());
    return kExitConfig;
  }
  auto store = cubby::store::Store::open(store_config.value());
  if (!store.ok()) {
    CUBBY_LOG_ERR("cannot open the store: %s", store.error().detail.c_str());
    return kExitTempFail;
  }
  // A worker that died may have left stage files and pending rows; repair before serving.
  auto recovered = cubby::store::recover(store_config.value(), (*store)->index());
  if (!recovered.ok()) {
    CUBBY_LOG_ERR("recovery failed: %s", recovered.error().detail.c_str());
    return kExitTempFail;
  }
  if (!recovered->nothing_done()) {
    CUBBY_LOG_NOTICE("recovery: %d uncommitted stage files removed, %d committed made durable, "
                     "%d links restored, %zu lost",
                     recovered->stage_files_removed, recovered->stage_files_retired,
                     recovered->links_restored, recovered->lost.size());
  }
  for (const auto& lost : recovered->lost) CUBBY_LOG_ERR("recovery: message lost: %s", lost.c_str());

  auto committer = cubby::store::Committer::start(store_config.value());
  if (!committer.ok()) {
    CUBBY_LOG_ERR("cannot start the committer: %s", committer.error().detail.c_str());
    return kExitTempFail;
  }

  boost::asio::io_context io;
  cubby::server::StoreBackend backend(**store, *settings);
  cubby::server::SessionContext context{io, backend, **committer, engine_config(*settings),
                                        settings->get_duration("lmtp_idle_timeout"),
                                        settings->get_bool("chatty")};
  const bool under_master = service && is_listening_socket(cubby::server::kListenFd);
  cubby::server::WorkerConfig worker_config;
  worker_config.max_connections =
      static_cast<size_t>(std::max<int64_t>(1, settings->get_int("lmtp_max_connections")));
  worker_config.preauth = preauth;
  worker_config.max_uses = uses;
  worker_config.status_fd = under_master ? cubby::server::kStatusFd : -1;
  cubby::server::Worker worker(context, worker_config);

  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    CUBBY_LOG_DEBUG("signal %d: finishing transactions in flight", sig);
    worker.drain();
  });
  // Once drained nothing but the signal wait is left: cancel it so run() returns.
  worker.on_drained([&] { signals.cancel(); });

  if (under_master) {
    if (auto err = worker.listen(cubby::server::kListenFd)) {
      CUBBY_LOG_ERR("%s", err->c_str());
      return kExitTempFail;
    }
  } else if (is_socket(STDIN_FILENO)) {
    worker.serve(dup(STDIN_FILENO));
  } else {
    fprintf(stderr,
            "lmtpd: no listening socket on fd %d and stdin is not a socket; run it under "
            "cubby-master, inetd or systemd\n",
            cubby::server::kListenFd);
    return 64;
  }
  io.run();
  (*committer)->stop();  // finishes queued deliveries and the last checkpoint
  return 0;
}
