// One LMTP connection to a back end, kept across transactions; see backend_connection.h.
#include "server/proxy/backend_connection.h"

#include <poll.h>

#include <algorithm>
#include <cctype>

#include "server/deliver/deliver_options.h"
#include "server/proxy/backend_sasl.h"
#include "server/proxy/backend_tls.h"
#include "server/proxy/forwarder.h"
#include "server/proxy/front_end_backend.h"

namespace cubby::proxy {
namespace {

bool keyword_is(std::string_view line, std::string_view keyword) {
  const std::string_view word = line.substr(0, line.find(' '));
  return std::equal(word.begin(), word.end(), keyword.begin(), keyword.end(), [](char a, char b) {
    return std::toupper(static_cast<unsigned char>(a)) == b;
  });
}

// The words after AUTH in the LHLO reply's capability line, or "".
std::string auth_mechanisms(const std::string& line) {
  return line.size() > 5 ? line.substr(5) : "";
}

// Whether the space-separated `mechanisms` name `mechanism`.
bool offers(const std::string& mechanisms, std::string_view mechanism) {
  size_t at = 0;
  while (at < mechanisms.size()) {
    size_t end = mechanisms.find(' ', at);
    if (end == std::string::npos) end = mechanisms.size();
    if (keyword_is(std::string_view(mechanisms).substr(at, end - at), mechanism)) return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

BackendConnection::BackendConnection(std::string address, deliver::LmtpConnection connection)
    : address_(std::move(address)),
      connection_(std::move(connection)),
      last_used_(std::chrono::steady_clock::now()) {}

BackendConnection::~BackendConnection() {
  if (!broken_) (void)connection_.send_command("QUIT");
}

Result<std::unique_ptr<BackendConnection>, std::string> BackendConnection::open(
    const std::string& address, const ConnectionSettings& settings) {
  auto fd = connect_backend(address, settings.connect_timeout);
  if (!fd.ok()) return fail(fd.error());
  deliver::LmtpConnection lmtp(fd.value());
  lmtp.set_timeout(settings.timeout);
  std::unique_ptr<BackendConnection> c(new BackendConnection(address, std::move(lmtp)));
  auto greeting = c->connection_.read_reply();
  if (!greeting.ok()) {
    c->broken_ = true;
    return fail(greeting.error());
  }
  if (greeting->code != 220) {
    c->broken_ = true;
    return fail("greeting: " + deliver::reply_text(*greeting));
  }
  auto mechanisms = c->hello(settings.lhlo_name);
  if (!mechanisms.ok()) return fail(mechanisms.error());
  if (settings.tls) {
    if (auto error = c->start_tls(settings)) return fail(*error);
    mechanisms = c->hello(settings.lhlo_name);
    if (!mechanisms.ok()) return fail(mechanisms.error());
    if (settings.authname.empty()) {
      // The certificate is the front end's login: the back end offers only EXTERNAL then (a
      // peer that is not pre-authenticated must log in before MAIL, engine.h).
      if (!offers(mechanisms.value(), "EXTERNAL")) {
        const std::string offered =
            c->auth_ ? "it offers AUTH " + mechanisms.value() : "it offers no AUTH";
        return fail("the back end did not accept the front end's TLS client certificate (" +
                    offered + ")");
      }
      auto external = c->command("AUTH EXTERNAL =");
      if (!external) return fail(c->connection_.error());
      if (external->code != 235) return fail("AUTH EXTERNAL: " + deliver::reply_text(*external));
    }
  }
  if (!settings.authname.empty()) {
    if (auto error = authenticate(c->connection_, address, mechanisms.value(), settings.authname,
                                  settings.password)) {
      return fail("AUTH: " + *error);
    }
  }
  return c;
}

Result<std::string, std::string> BackendConnection::hello(const std::string& lhlo_name) {
  auto lhlo = command("LHLO " + lhlo_name);
  if (!lhlo) return fail(connection_.error());
  if (lhlo->code != 250) return fail("LHLO: " + deliver::reply_text(*lhlo));
  std::vector<std::string> lines(lhlo->preamble.begin(), lhlo->preamble.end());
  lines.push_back(deliver::reply_text(*lhlo));
  auth_ = ignore_quota_ = eight_bit_mime_ = size_ = starttls_ = false;
  std::string mechanisms;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (keyword_is(l, "AUTH")) {
      auth_ = true;
      mechanisms = auth_mechanisms(l);
    }
    if (keyword_is(l, "IGNOREQUOTA")) ignore_quota_ = true;
    if (keyword_is(l, "8BITMIME")) eight_bit_mime_ = true;
    if (keyword_is(l, "SIZE")) size_ = true;
    if (keyword_is(l, "STARTTLS")) starttls_ = true;
  }
  return mechanisms;
}

std::optional<std::string> BackendConnection::start_tls(const ConnectionSettings& settings) {
  if (!starttls_) return std::string("the back end does not offer STARTTLS (proxy_tls is on)");
  auto reply = command("STARTTLS");
  if (!reply) return connection_.error();
  if (reply->code != 220) return "STARTTLS: " + deliver::reply_text(*reply);
  if (auto error = settings.tls->start(connection_, address_)) {
    broken_ = true;  // no QUIT: the TLS state is unknown
    return "TLS: " + *error;
  }
  return std::nullopt;
}

std::optional<lmtp::Reply> BackendConnection::command(const std::string& line) {
  if (!connection_.send_command(line)) {
    broken_ = true;
    return std::nullopt;
  }
  auto reply = connection_.read_reply();
  if (!reply.ok()) {
    broken_ = true;
    return std::nullopt;
  }
  return std::move(reply.value());
}

BackendConnection::Outcome BackendConnection::transact(const Transaction& t,
                                                       const deliver::SpooledMessage& message) {
  last_used_ = std::chrono::steady_clock::now();
  Outcome out;
  out.replies.resize(t.recipients.size());
  std::vector<bool> decided(t.recipients.size(), false);
  const auto decide_all = [&](const lmtp::Reply& reply, const std::vector<size_t>* only) {
    for (size_t i = 0; i < out.replies.size(); ++i) {
      if (decided[i]) continue;
      if (only && std::find(only->begin(), only->end(), i) == only->end()) continue;
      out.replies[i] = reply;
      decided[i] = true;
    }
  };
  const auto broke = [&](const std::string& why = "") -> Outcome& {
    broken_ = true;
    out.failure = !connection_.error().empty() ? connection_.error()
                  : why.empty()                ? "connection lost"
                                               : why;
    decide_all(backend_unavailable(out.failure), nullptr);
    return out;
  };

  auto rset = command("RSET");
  if (!rset) return broke();
  if (rset->code / 100 != 2) {
    broken_ = true;  // a back end that refuses RSET is in no state to be reused
    decide_all(*rset, nullptr);
    return out;
  }
  std::string mail = "MAIL FROM:<" + t.mail_from + ">";
  if (auth_)
    mail += " AUTH=" + (t.auth_id.empty() ? std::string("<>") : deliver::encode_xtext(t.auth_id));
  if (message.has_8bit() && eight_bit_mime_) mail += " BODY=8BITMIME";
  if (size_) mail += " SIZE=" + std::to_string(message.size());
  auto mail_reply = command(mail);
  if (!mail_reply) return broke();
  if (mail_reply->code / 100 != 2) {
    decide_all(*mail_reply, nullptr);
    return out;
  }
  std::vector<size_t> accepted;
  for (size_t i = 0; i < t.recipients.size(); ++i) {
    std::string line = "RCPT TO:<" + t.recipients[i] + ">";
    if (t.ignore_quota && ignore_quota_) line += " IGNOREQUOTA";
    auto reply = command(line);
    if (!reply) return broke();
    if (reply->code / 100 == 2) {
      accepted.push_back(i);
    } else {
      out.replies[i] = *reply;
      decided[i] = true;
    }
  }
  if (accepted.empty()) return out;

  out.data_sent = true;  // from here on the back end may end up with the message
  auto data = command("DATA");
  if (!data) return broke();
  if (data->code != 354) {
    decide_all(*data, &accepted);
    return out;
  }
  const std::string unsent =
      message.write_stuffed([&](std::string_view piece) { return connection_.send(piece); });
  if (!unsent.empty()) {
    // Closing without the final dot: the back end delivers nothing.
    return broke(unsent);
  }
  for (size_t i : accepted) {
    auto reply = connection_.read_reply();
    if (!reply.ok()) return broke();
    out.replies[i] = std::move(reply.value());
    decided[i] = true;
  }
  last_used_ = std::chrono::steady_clock::now();
  return out;
}

bool BackendConnection::reusable() {
  if (broken_) return false;
  pollfd p{connection_.fd(), POLLIN | POLLRDHUP, 0};
  const int n = ::poll(&p, 1, 0);
  if (n != 0) {
    broken_ = true;  // EOF, an error, or an unasked reply (421): this connection is done
    return false;
  }
  return true;
}

}  // namespace cubby::proxy
