// deliver: Cyrus's deliver for Cubby. It reads a message on stdin and delivers it through lmtpd's
// UNIX socket (`lmtpsocket`), or with -l relays an LMTP session between stdin/stdout and lmtpd.
//
//   deliver [-C settings] [-d] [-e] [-r addr|-f addr] [-m mailbox] [-a auth-id] [-q] [-D]
//   [userid...] deliver [-C settings] -l
//
// The whole message is read into an unlinked temporary file before lmtpd is contacted, so a
// message that could not be read completely (stdin failed, or stayed silent for 300 s) is never
// sent. Exit codes (sysexits): 0 every recipient got the message; 75 some recipient failed
// temporarily (or the message could not be read); 65 only permanent failures, each printed on
// stdout as `<addr>: <reply text>`; 64 usage; 78 configuration or `lmtpsocket` unreachable.
// docs/deliver.md is the manual. CUBBY_DELIVER_STDIN_TIMEOUT_MS replaces the 300 s stdin timeout
// (for tests).
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "conf/log.h"
#include "conf/settings.h"
#include "server/deliver/deliver_lmtp.h"
#include "server/deliver/deliver_message.h"
#include "server/deliver/deliver_options.h"
#include "server/deliver/deliver_relay.h"
#include "server/deliver/deliver_session.h"

namespace {

using namespace cubby::deliver;

constexpr int kExitOk = 0, kExitUsage = 64, kExitTempFail = 75, kExitConfig = 78;
constexpr std::chrono::seconds kStdinTimeout{300};  // Cyrus's deliver: prot_settimeout(300)

// Cyrus's fatal(): an LMTP-style line on stdout, which an inetd client reads as a reply.
int fatal(const std::string& what, int code) {
  printf("421 4.3.0 deliver: %s\r\n", what.c_str());
  fflush(stdout);
  return code;
}

std::chrono::milliseconds stdin_timeout() {
  const char* v = getenv("CUBBY_DELIVER_STDIN_TIMEOUT_MS");
  if (v && *v) {
    char* end = nullptr;
    const long long ms = std::strtoll(v, &end, 10);
    if (*end == '\0' && ms > 0) return std::chrono::milliseconds(ms);
  }
  return kStdinTimeout;
}

// Cyrus: getpwuid(getuid())->pw_name (lmtpd qualifies it with its servername).
std::string invoking_user() {
  const passwd* pw = getpwuid(getuid());
  return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "";
}

cubby::Result<LmtpConnection, std::string> connect_to_lmtpd(const cubby::conf::Settings& settings,
                                                            bool debug) {
  auto c = LmtpConnection::connect_unix(settings.get_string("lmtpsocket"));
  if (c.ok()) c->set_trace(debug);
  return c;
}

int relay(const cubby::conf::Settings& settings, bool debug) {
  auto c = connect_to_lmtpd(settings, debug);
  if (!c.ok()) {
    fprintf(stderr, "deliver: %s\n", c.error().c_str());
    CUBBY_LOG_ERR("%s", c.error().c_str());
    return fatal("couldn't connect to lmtpd", kExitConfig);
  }
  const std::string error = relay_lmtp(STDIN_FILENO, STDOUT_FILENO, c->fd());
  if (!error.empty()) {
    CUBBY_LOG_NOTICE("relay ended: %s", error.c_str());
    return kExitTempFail;
  }
  return kExitOk;
}

int deliver(const DeliverOptions& options, const cubby::conf::Settings& settings) {
  auto message = SpooledMessage::read(STDIN_FILENO, stdin_timeout());
  if (!message.ok()) {
    fprintf(stderr, "deliver: message not delivered: %s\n", message.error().c_str());
    CUBBY_LOG_ERR("message not delivered: %s", message.error().c_str());
    return kExitTempFail;
  }

  Envelope envelope;
  envelope.mail_from = mail_from_path(options.return_path ? *options.return_path : invoking_user());
  envelope.auth_id = options.auth_id;
  envelope.ignore_quota = options.ignore_quota;
  envelope.recipients = recipient_addresses(options, settings.get_string("postuser"));

  auto c = connect_to_lmtpd(settings, options.debug);
  if (!c.ok()) {
    fprintf(stderr, "deliver: %s\n", c.error().c_str());
    CUBBY_LOG_ERR("%s", c.error().c_str());
    return fatal("couldn't connect to lmtpd", kExitConfig);
  }
  const auto recipients =
      deliver_message(*c, settings.get_string("servername"), envelope, message.value());
  for (const auto& r : recipients) {
    if (r.outcome == Recipient::Outcome::kDelivered) continue;
    const std::string text = reply_text(r.reply);
    printf("%s: %s\n", r.address.c_str(), text.c_str());
    CUBBY_LOG_NOTICE("%s: %d %s", r.address.c_str(), r.reply.code, text.c_str());
  }
  fflush(stdout);
  return exit_code(recipients);
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  auto options = parse_deliver_options(argc, argv);
  if (!options.ok()) {
    if (!options.error().reason.empty()) fprintf(stderr, "%s\n", options.error().reason.c_str());
    fputs(deliver_usage().c_str(), stderr);
    return kExitUsage;
  }
  cubby::log::init("cubby/deliver", false);
  if (options->debug) cubby::log::set_level(LOG_DEBUG);

  auto settings = cubby::conf::Settings::load(options->config_path);
  if (!settings.ok()) {
    fprintf(stderr, "deliver: %s\n", settings.error().str().c_str());
    return fatal("configuration error: " + settings.error().str(), kExitConfig);
  }
  settings->set_service("deliver");

  if (options->lmtp_mode) return relay(*settings, options->debug);
  return deliver(*options, *settings);
}
