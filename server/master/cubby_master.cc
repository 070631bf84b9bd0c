// cubby-master: the process supervisor (see server/master/master.h).
//
//   cubby-master [-C settings] [-M services] [-p pidfile] [-r readyfile] [-D] [-l backlog]
//
// -D logs to stderr instead of syslog. The master stays in the foreground either way. Signals:
// SIGHUP reloads both files, SIGTERM and SIGINT stop after the work in flight. docs/master.md is
// the administrator's reference.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "conf/log.h"
#include "server/master/master.h"
#include "server/master/master_exec.h"

namespace {

void usage() {
  fprintf(stderr,
          "usage: cubby-master [-C settings] [-M services] [-p pidfile] [-r readyfile] [-D] "
          "[-l backlog]\n");
}

}  // namespace

int main(int argc, char** argv) {
  cubby::server::MasterOptions options;
  int opt;
  while ((opt = getopt(argc, argv, "C:M:p:r:Dl:")) != -1) {
    switch (opt) {
      case 'C':
        options.settings_path = optarg;
        break;
      case 'M':
        options.services_path = optarg;
        break;
      case 'p':
        options.pidfile = optarg;
        break;
      case 'r':
        options.readyfile = optarg;
        break;
      case 'D':
        options.log_to_stderr = true;
        break;
      case 'l': {
        char* end = nullptr;
        long n = strtol(optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || n <= 0 || n > 65535) {
          fprintf(stderr, "cubby-master: -l wants a backlog between 1 and 65535, not \"%s\"\n",
                  optarg);
          return 1;
        }
        options.backlog = static_cast<int>(n);
        break;
      }
      default:
        usage();
        return 1;
    }
  }
  if (optind != argc) {
    usage();
    return 1;
  }

  // What the master and its START, EVENTS and DAEMON commands create is not for everyone; lmtpd
  // narrows this further to 077.
  umask(027);
  cubby::log::init("cubby/master", options.log_to_stderr);
  // Workers inherit our stderr; in the foreground their log lines belong there too.
  if (options.log_to_stderr) setenv("CUBBY_LOG_STDERR", "1", 1);
  // What we inherited must not leak into workers.
  cubby::server::mark_descriptors_cloexec();

  auto master = cubby::server::Master::load(options);
  if (!master) {
    fprintf(stderr, "%s\n", master.error().c_str());
    if (!options.log_to_stderr) CUBBY_LOG_ERR("%s", master.error().c_str());
    return 1;
  }
  return (*master)->run();
}
