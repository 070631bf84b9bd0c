// lmtpd: one LMTP worker process. Under cubby-master it accepts on the inherited listening socket
// (fd 4) and reports to the master on fd 3 (worker_protocol.h). Without the master it serves the
// sockets systemd passes (LISTEN_FDS), or the one connection inetd/xinetd put on stdin; see
// server/lmtpd/activation.h and docs/master.md.
//
//   lmtpd [-C settings] [-a] [-P] [-D] [-U uses] [-T seconds]
//     -a  pre-authenticate TCP peers (as Cyrus: only for trusted networks)
//     -P  LMTP front end (as Cyrus's lmtpproxyd): no store; each recipient is looked up in the
//         mailbox directory (directory_*) and the message forwarded to the back ends
//         (server/proxy/, docs/scale-out.md)
//     -D  log to stderr at debug level
//     -U  exit after serving this many connections
//     -T  exit after this many seconds (T to 2T-1, at random) without a session, once one was
//         served (default 60, as Cyrus; 0: never)
// Started as root it refuses to run when there is a service user to run as
// (server/process/privileges.h).
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/lmtpd/access_policy.h"
#include "server/lmtpd/activation.h"
#include "directory/open_directory.h"
#include "server/lmtpd/delivery_metrics.h"
#include "server/lmtpd/front_end_carrier.h"
#include "server/lmtpd/message_carrier.h"
#include "server/proxy/backend_tls.h"
#include "server/proxy/front_end_backend.h"
#include "server/lmtpd/store_backend.h"
#include "server/lmtpd/worker.h"
#include "server/lmtpd/worker_recycling.h"
#include "server/process/privileges.h"
#include "server/process/worker_counters.h"
#include "server/process/worker_protocol.h"
#include "store/committer.h"
#include "store/config.h"
#include "store/recipient.h"
#include "store/recovery.h"
#include "store/store.h"

namespace {

constexpr int kExitConfig = 78;    // EX_CONFIG
constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: the master does not count it as a crash

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
  // glibc hands the free top of a thread's heap back to the kernel (madvise) whenever a chunk of
  // 64 KiB or more is freed and 128 KiB lie free there. SQLite's statement journal is such a
  // chunk: every UID allocation (an UPDATE that may abort, so it opens one) frees it on the
  // committer thread, and the next one faults the pages in again. With 1 MiB, W2's CPU per
  // delivery fell by a fifth or more (docs/architecture.md has the figures).
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
  std::string config_path = "/etc/cubby/imapd.conf";
  bool preauth = false, debug = false, front_end = false;
  long uses = 0, idle_seconds = 60;
  int opt;
  while ((opt = getopt(argc, argv, "C:aPDU:T:X")) != -1) {
    switch (opt) {
      case 'C': config_path = optarg; break;
      case 'a': preauth = true; break;
      case 'P': front_end = true; break;
      case 'D': debug = true; break;
      case 'U': uses = std::strtol(optarg, nullptr, 10); break;
      case 'T': idle_seconds = std::max(0L, std::strtol(optarg, nullptr, 10)); break;
      case 'X': break;  // Cyrus's stdin mode: we detect it by ourselves
      default:
        fprintf(stderr, "usage: lmtpd [-C settings] [-a] [-P] [-D] [-U uses] [-T seconds]\n");
        return 64;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  umask(077);  // store files 0600, directories 0700, the index too

  const char* service = getenv("CYRUS_SERVICE");
  // Under the master, count into the region it reads (fd 5), before the store's first fsync.
  if (service) cubby::server::attach_worker_counters(cubby::server::kCountersFd);
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

  auto identity = cubby::server::resolve_service_identity(*settings);
  std::optional<std::string> refusal =
      identity ? cubby::server::root_refusal(*identity) : identity.error();
  if (refusal) {
    fprintf(stderr, "lmtpd: %s\n", refusal->c_str());
    CUBBY_LOG_ERR("%s", refusal->c_str());
    return kExitConfig;
  }
  const cubby::server::Activation activation = cubby::server::detect_activation();
  if (activation.mode == cubby::server::Activation::Mode::kNone) {
    fprintf(stderr, "lmtpd: %s\n", activation.problem.c_str());
    CUBBY_LOG_ERR("%s", activation.problem.c_str());
    return 64;
  }
  // Under the master it has said so already.
  if (identity->kind == cubby::server::ServiceIdentity::Kind::kRootByDefault &&
      activation.mode != cubby::server::Activation::Mode::kMaster)
    CUBBY_LOG_WARNING("%s", identity->warning.c_str());

  // Declared first so that it outlives the carriers that post to it.
  boost::asio::io_context io;
  // A mailbox server: the store, its recovery and committer. A front end (-P): the directory.
  std::unique_ptr<cubby::store::Store> store;
  std::unique_ptr<cubby::store::Committer> committer;
  std::unique_ptr<cubby::directory::Directory> directory;
  std::unique_ptr<cubby::lmtp::Backend> backend;
  std::unique_ptr<cubby::server::MessageCarrier> carrier;
  if (front_end) {
    auto opened = cubby::directory::open_directory(*settings);
    if (!opened.ok()) {
      fprintf(stderr, "lmtpd -P: %s\n", opened.error().c_str());
      CUBBY_LOG_ERR("front end: %s", opened.error().c_str());
      return kExitConfig;
    }
    directory = std::move(opened.value());
    backend = std::make_unique<cubby::proxy::FrontEndBackend>(
        *directory, cubby::store::AddressRules::from(*settings), cubby::proxy::spool_directory());
    auto forwarding = cubby::proxy::ForwardSettings::from(*settings);
    auto backend_tls = cubby::proxy::BackendTls::from(*settings);
    if (!backend_tls.ok()) {
      fprintf(stderr, "lmtpd -P: %s\n", backend_tls.error().c_str());
      CUBBY_LOG_ERR("front end: %s", backend_tls.error().c_str());
      return kExitConfig;
    }
    forwarding.connection.tls = backend_tls.value();
    carrier = std::make_unique<cubby::server::ForwardingCarrier>(
        io, forwarding,
        static_cast<size_t>(std::clamp<int64_t>(settings->get_int("lmtp_max_connections"), 1, 64)));
  } else {
    auto store_config = cubby::store::StoreConfig::from(*settings);
    if (!store_config.ok()) {
      fprintf(stderr, "lmtpd: %s\n", store_config.error().c_str());
      CUBBY_LOG_ERR("%s", store_config.error().c_str());
      return kExitConfig;
    }
    auto opened = cubby::store::Store::open(store_config.value());
    if (!opened.ok()) {
      CUBBY_LOG_ERR("cannot open the store: %s", opened.error().detail.c_str());
      return kExitTempFail;
    }
    store = std::move(opened.value());
    // A worker that died may have left stage files and pending rows; repair before serving.
    auto recovered = cubby::store::recover(store_config.value(), store->index());
    if (!recovered.ok()) {
      CUBBY_LOG_ERR("recovery failed: %s", recovered.error().detail.c_str());
      return kExitTempFail;
    }
    if (!recovered->nothing_done()) {
      CUBBY_LOG_NOTICE("recovery: %d uncommitted stage files removed (and %d empty ones), %d "
                       "committed made durable, %d links restored%s, %zu unacknowledged "
                       "deliveries taken back",
                       recovered->stage_files_removed, recovered->empty_stage_files_removed,
                       recovered->stage_files_retired,
                       recovered->links_restored,
                       recovered->remade_after_failed_sync
                           ? " (all made anew: a worker died with a failed sync unsettled)"
                           : "",
                       recovered->undone.size());
    }
    for (const auto& undone : recovered->undone)
      CUBBY_LOG_NOTICE("recovery: taken back (its stage file never became durable; the MTA's "
                       "retry will deliver it): %s", undone.c_str());

    auto started = cubby::store::Committer::start(store_config.value(), &store->stage_reserve());
    if (!started.ok()) {
      CUBBY_LOG_ERR("cannot start the committer: %s", started.error().detail.c_str());
      return kExitTempFail;
    }
    committer = std::move(started.value());
    auto store_backend = std::make_unique<cubby::server::CountingStoreBackend>(*store, *settings, &io);
    carrier = std::make_unique<cubby::server::StoreCarrier>(io, *store_backend, *committer);
    backend = std::move(store_backend);
  }

  cubby::server::SessionContext context{io, *backend, *carrier, engine_config(*settings),
                                        settings->get_duration("lmtp_idle_timeout"),
                                        settings->get_bool("chatty")};
  context.request_deadline = settings->get_duration("lmtp_request_deadline");
  context.min_data_rate = static_cast<uint64_t>(settings->get_int("lmtp_min_data_rate"));
  // Who may connect, SASL and TLS: set up once per process.
  auto access = cubby::server::AccessPolicy::load(*settings);
  if (!access.ok()) {
    fprintf(stderr, "lmtpd: %s\n", access.error().c_str());
    CUBBY_LOG_ERR("%s", access.error().c_str());
    return kExitConfig;
  }
  context.access = access->get();
  using Mode = cubby::server::Activation::Mode;
  cubby::server::WorkerConfig worker_config;
  worker_config.max_connections =
      static_cast<size_t>(std::max<int64_t>(1, settings->get_int("lmtp_max_connections")));
  worker_config.preauth = preauth;
  worker_config.max_uses = uses;
  worker_config.status_fd = activation.mode == Mode::kMaster ? cubby::server::kStatusFd : -1;
  // One Worker per listening socket (systemd may pass several); one for a single connection.
  std::vector<std::unique_ptr<cubby::server::Worker>> workers;
  const bool single = activation.mode == Mode::kInetd || activation.mode == Mode::kSystemdConnection;
  for (size_t i = 0; i < (single ? 1 : activation.fds.size()); ++i)
    workers.push_back(std::make_unique<cubby::server::Worker>(context, worker_config));

  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  cubby::server::WorkerRecycler recycler(
      io, std::chrono::seconds(single ? 0 : idle_seconds), [&](const std::string&) {
        for (auto& w : workers) w->drain();
      });
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    CUBBY_LOG_DEBUG("signal %d: finishing transactions in flight", sig);
    recycler.stop();
    for (auto& w : workers) w->drain();
  });
  // Once every worker has drained nothing but the signal wait and the recycler's timers are left:
  // cancel them so run() returns.
  size_t drained = 0;
  for (auto& w : workers) {
    w->on_drained([&] {
      if (++drained < workers.size()) return;
      recycler.stop();
      signals.cancel();
    });
    w->on_sessions_changed([&](size_t) {
      size_t open = 0;
      for (auto& each : workers) open += each->sessions();
      recycler.sessions_changed(open);
    });
  }
  CUBBY_LOG_DEBUG("started by %s", cubby::server::describe(activation).c_str());

  if (single) {
    workers[0]->serve(activation.mode == Mode::kInetd ? dup(STDIN_FILENO) : activation.fds[0]);
  } else {
    for (size_t i = 0; i < workers.size(); ++i) {
      if (auto err = workers[i]->listen(activation.fds[i])) {
        CUBBY_LOG_ERR("%s", err->c_str());
        return kExitTempFail;
      }
    }
    recycler.start();
  }
  io.run();
  carrier.reset();                      // a front end: waits for its forwarding threads
  if (committer) committer->stop();  // finishes queued deliveries and the last checkpoint
  return 0;
}
