// The LMTP session state machine; see engine.h.
//
// Replies (Cyrus lmtpd's, with the corrections docs/guide.md lists under "Moving from Cyrus"):
//   greeting            220 <servername> Cubby LMTP server ready
//   LHLO x              250-<servername> 8BITMIME ENHANCEDSTATUSCODES PIPELINING SIZE <n> CHUNKING
//                       SMTPUTF8 [STARTTLS] [AUTH <mechanisms>] IGNOREQUOTA, 250 Ok SESSIONID=<sid>
//   NOOP / QUIT         250 2.0.0 ok / 221 2.0.0 bye
//   RSET                250 2.0.0 Ok SESSIONID=<new sid>
//   VRFY x              252 2.3.3 try RCPT to attempt delivery
//   AUTH <mech> [ir]    503 5.5.1 Already authenticated; 503 5.5.1 AUTH not permitted during a
//                       mail transaction; 501 5.5.4 Syntax error in parameters; 504 5.5.4
//                       Unrecognized authentication type; 501 5.5.2 Cannot decode response;
//                       334 <base64> challenges; 501 5.7.0 Authentication cancelled (`*`);
//                       235 2.7.0 Authentication successful; after the delay 535 5.7.8
//                       Authentication credentials invalid, or 421 4.7.0 Too many authentication
//                       failures (then closed)
//   STARTTLS            500 5.5.2 Syntax error (not offered: no TLS, or pre-authenticated);
//                       454 4.3.3 Already successfully executed STARTTLS; 503 5.5.1 STARTTLS not
//                       permitted after authentication / during a mail transaction;
//                       220 2.0.0 Ready to start TLS
//   unknown             500 5.5.2 Syntax error
//   line over limit     500 5.5.2 Line too long (the whole line is discarded)
//   m... unauthenticated 430 4.7.0 / 530 5.7.0 Authentication required (soft_noauth)
//   MAIL                503 5.5.1 Nested MAIL command; 501 ... (address.h);
//                       552 5.2.3 Message SIZE exceeds fixed maximum message size (<max>);
//                       250 2.1.0 ok
//   RCPT                503 5.5.1 Need MAIL command; 501 ...; 553 5.6.7 ...;
//                       452 4.5.3 Too many recipients; the backend's rejection; 250 2.1.5 ok
//   DATA                503 5.5.1 No recipients; 503 5.5.1 DATA not permitted after BDAT;
//                       the backend's open_message() failure; 354 go ahead
//   BDAT n [LAST]       501 5.5.4 Syntax error in parameters (nothing consumed); after the n
//                       bytes: 503 5.5.1 Need MAIL command / No recipients, or
//                       250 2.0.0 <n> octets received (not LAST)
//   after the message   one reply per recipient: the writer's fault (554 5.6.0 ..., 552 5.2.3
//                       Message size (<n>) exceeds ..., 552 5.3.4 ..., the sink's 451) or
//                       whatever delivered() brings
//   timeout()           451 4.3.0 System I/O error per recipient inside a message, then
//                       421 4.4.1 bye idle for too long
//   deadline_exceeded() 451 4.4.2 Message transfer took too long per recipient inside a message,
//                       then 421 4.4.2 bye, request took too long
//   shutdown()          421 4.3.2 Shutting down, once no transaction is open
#include "server/lmtp/engine.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <random>

#include "server/lmtp/address.h"
#include "server/lmtp/ascii.h"
#include "server/lmtp/base64.h"
#include "server/lmtp/data_reader.h"
#include "server/lmtp/message_headers.h"
#include "server/lmtp/message_writer.h"

namespace cubby::lmtp {
namespace {

constexpr uint64_t kUnlimitedSize = 2147483647;    // what Cyrus advertises for "no limit"
constexpr size_t kMaxLhlo = 249;                   // Cyrus keeps this much of the LHLO argument
constexpr size_t kKeepBufferCapacity = 64 * 1024;  // larger idle input buffers are released

constexpr std::string_view kSyntaxError = "500 5.5.2 Syntax error\r\n";
constexpr std::string_view kLineTooLong = "500 5.5.2 Line too long\r\n";
constexpr std::string_view kBadParameters = "501 5.5.4 Syntax error in parameters\r\n";
constexpr std::string_view kNeedMail = "503 5.5.1 Need MAIL command\r\n";
constexpr std::string_view kNoRecipients = "503 5.5.1 No recipients\r\n";
constexpr std::string_view kIoError = "451 4.3.0 System I/O error\r\n";
constexpr std::string_view kUnknownMechanism = "504 5.5.4 Unrecognized authentication type\r\n";
constexpr std::string_view kCannotDecode = "501 5.5.2 Cannot decode response\r\n";

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  }
  return out;
}

// A SASL mechanism name (RFC 4422): 1 to 20 of A-Z 0-9 - _, any case here.
bool mechanism_name(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (!(ascii_alnum(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

struct Engine::Impl {
  enum class Mode {
    kCommand,       // reading command lines
    kDiscardLine,   // skipping the rest of an over-long command line
    kData,          // inside DATA
    kBdat,          // reading the bytes of a BDAT chunk
    kAuthResponse,  // inside AUTH: the next line is the client's response
  };
  enum class Auth {
    kNone,       // must authenticate before MAIL
    kTransport,  // pre-authenticated, or by a TLS client certificate: AUTH EXTERNAL is offered
    kDone,       // AUTH succeeded: no more AUTH
  };

  Impl(Engine& engine, EngineConfig cfg, PeerInfo p, Backend& b, Authenticator* a,
       AuthPenalty* pen)
      : e(engine),
        config(std::move(cfg)),
        peer(std::move(p)),
        backend(b),
        authenticator(a),
        penalty(pen),
        auth(peer.preauth ? Auth::kTransport : Auth::kNone),
        identity(peer.preauth ? "postman" : ""),
        writer(WriterConfig{config.servername, config.max_message_size, config.max_header_size,
                            config.munge8bit, config.reject8bit}) {}

  Engine& e;
  const EngineConfig config;
  PeerInfo peer;
  Backend& backend;
  Authenticator* authenticator;
  AuthPenalty* penalty;  // may be null
  Auth auth;
  std::string identity;
  std::string lhlo;

  // AUTH.
  bool external_exchange = false;  // kAuthResponse: AUTH EXTERNAL of a transport-authenticated peer
  size_t auth_failures = 0;
  std::optional<std::chrono::milliseconds> delay;  // a failed AUTH waits for its answer, or:
  std::optional<std::string> held_auth;  // the arguments of an AUTH waiting for its turn
  bool admitted = false;                 // auth_command() runs an AUTH whose turn has come
  bool tls_requested = false;

  // Input not yet processed: the start of a command line, or what arrived while a delivery was
  // awaited.
  std::string pending;
  Mode mode = Mode::kCommand;

  // The transaction.
  std::optional<MailCommand> mail;
  std::vector<RecipientVerdict> recipients;
  std::unique_ptr<MessageSink> sink;
  bool bdat_used = false;       // a BDAT chunk was taken into this transaction's message
  uint64_t bdat_remaining = 0;  // kBdat: bytes of the chunk still to read
  uint64_t bdat_size = 0;
  bool bdat_last = false;
  std::optional<std::string> bdat_error;  // kBdat: the chunk is consumed, then this is the reply
  DataReader reader;
  MessageWriter writer;
  bool awaiting = false;
  size_t awaited_replies = 0;
  // For the session's deadline (request_in_progress()): command lines and messages begun so far,
  // and the message bytes received since the current message began.
  uint64_t lines_begun = 0;
  uint64_t messages_begun = 0;
  uint64_t message_bytes = 0;
  std::optional<DeliveryRequest> delivery;
  bool shutdown_pending = false;

  void say(std::string_view wire) { e.output_.append(wire); }
  void say(const Reply& reply) { e.output_ += reply.wire(); }
  uint64_t size_limit() const {
    return config.max_message_size != 0 ? config.max_message_size : kUnlimitedSize;
  }
  bool in_transaction() const { return mail.has_value() || awaiting; }
  bool held() const { return awaiting || delay.has_value(); }  // input waits in `pending`
  // The longest command line accepted at the start of `line` (a prefix of it will do).
  size_t line_limit(std::string_view line) const {
    if (mode == Mode::kAuthResponse || istarts_with(line, "AUTH ")) {
      return std::max(config.max_command_line, kMaxAuthLine);
    }
    return config.max_command_line;
  }
  bool inside_message() const {
    return mode == Mode::kData || (mode == Mode::kBdat && !bdat_error) || bdat_used;
  }

  void feed(std::string_view bytes);
  size_t process(std::string_view v);
  void release_input();
  void command(std::string_view line);

  void lhlo_command(std::string_view arg);
  void mail_command(std::string_view args);
  void rcpt_command(std::string_view args);
  void data_command();
  void bdat_command(std::string_view args);
  void rset_command();
  void auth_command(std::string_view args);
  void auth_response(std::string_view line);
  void auth_result(AuthStep step);
  void auth_failed();
  void answer_auth_failure();
  void end_auth_exchange();
  void auth_delay_over();
  void starttls_command();
  void tls_started(TlsSummary tls, std::optional<std::string> cert_identity);
  std::vector<std::string> advertised_mechanisms();

  std::optional<Reply> begin_message();
  void bdat_chunk_done();
  void end_of_message();
  void end_transaction();
  void delivered(std::vector<Reply> replies);
  void drop(std::string_view per_recipient, std::string_view bye);
  std::optional<RequestProgress> request_in_progress() const;
};

// ---- input ----

void Engine::Impl::feed(std::string_view bytes) {
  while (!bytes.empty() && !e.closed_) {
    if (tls_requested) {
      pending.clear();  // sent before the handshake: never executed (RFC 3207, CVE-2011-0411)
      return;
    }
    if (held()) {
      pending.append(bytes);
      return;
    }
    if (pending.empty()) {
      // The common case: work straight from the peer's bytes, copying nothing.
      const size_t used = process(bytes);
      bytes.remove_prefix(used);
      if (!bytes.empty() && !held() && !tls_requested && !e.closed_) {
        pending.assign(bytes);  // the start of a command line, shorter than the limit
        return;
      }
      continue;
    }
    // `pending` holds the start of a command line: complete it up to the next LF at most, so that
    // what follows the line (message data, say) is not copied.
    const size_t lf = bytes.find('\n');
    const size_t take = lf == std::string_view::npos ? bytes.size() : lf + 1;
    pending.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    const size_t used = process(pending);
    pending.erase(0, used);
  }
  release_input();
}

void Engine::Impl::release_input() {
  if (e.closed_ || tls_requested) pending.clear();  // nothing more will be read (in plain text)
  if (pending.empty() && pending.capacity() > kKeepBufferCapacity) std::string().swap(pending);
}

size_t Engine::Impl::process(std::string_view v) {
  size_t pos = 0;
  for (;;) {
    if (shutdown_pending && !e.closed_ && mode == Mode::kCommand && !in_transaction()) {
      say("421 4.3.2 Shutting down\r\n");
      e.closed_ = true;
    }
    if (tls_requested) return v.size();  // the rest came before the handshake: discarded
    if (e.closed_ || held() || pos >= v.size()) return pos;

    switch (mode) {
      case Mode::kCommand:
      case Mode::kAuthResponse: {
        // A line ends at LF; one CR before it is dropped (Cyrus strips a trailing "\n", then
        // "\r"), so a bare-LF client is answered. Only message data insists on CRLF.
        const size_t lf = v.find('\n', pos);
        if (lf == std::string_view::npos) {
          if (v.size() - pos < line_limit(v.substr(pos))) return pos;  // wait for the rest
          if (mode == Mode::kAuthResponse) end_auth_exchange();
          mode = Mode::kDiscardLine;
          return v.size();
        }
        const size_t end = lf > pos && v[lf - 1] == '\r' ? lf - 1 : lf;
        const std::string_view line = v.substr(pos, end - pos);
        const size_t length = lf + 1 - pos;  // with its line end
        pos = lf + 1;
        ++lines_begun;
        if (length > line_limit(line)) {
          if (mode == Mode::kAuthResponse) end_auth_exchange();
          say(kLineTooLong);
        } else if (mode == Mode::kAuthResponse) {
          auth_response(line);
        } else {
          command(line);
        }
        break;
      }
      case Mode::kDiscardLine: {
        const size_t lf = v.find('\n', pos);
        if (lf == std::string_view::npos) return v.size();
        pos = lf + 1;
        ++lines_begun;
        mode = Mode::kCommand;
        say(kLineTooLong);
        break;
      }
      case Mode::kData: {
        const DataReader::Progress p = reader.feed(v.substr(pos), writer);
        pos += p.consumed;
        message_bytes += p.consumed;
        if (p.done) end_of_message();
        break;
      }
      case Mode::kBdat: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(bdat_remaining, v.size() - pos));
        if (!bdat_error) writer.content(v.substr(pos, take));
        pos += take;
        message_bytes += take;
        bdat_remaining -= take;
        if (bdat_remaining == 0) bdat_chunk_done();
        break;
      }
    }
  }
}

// ---- commands ----

void Engine::Impl::command(std::string_view line) {
  // Cyrus refuses anything starting with 'm' before matching the keyword.
  if (auth == Auth::kNone && !line.empty() && ascii_lower(line[0]) == 'm') {
    say(config.soft_noauth ? "430 4.7.0 Authentication required\r\n"
                           : "530 5.7.0 Authentication required\r\n");
    return;
  }
  if (istarts_with(line, "RCPT ")) return rcpt_command(line.substr(5));
  if (istarts_with(line, "MAIL ")) return mail_command(line.substr(5));
  if (iequals(line, "DATA")) return data_command();
  if (istarts_with(line, "BDAT ")) return bdat_command(line.substr(5));
  if (istarts_with(line, "LHLO ")) return lhlo_command(line.substr(5));
  if (iequals(line, "RSET")) return rset_command();
  if (iequals(line, "NOOP")) return say("250 2.0.0 ok\r\n");
  if (iequals(line, "QUIT")) {
    say("221 2.0.0 bye\r\n");
    end_transaction();
    e.closed_ = true;
    return;
  }
  if (istarts_with(line, "VRFY ")) return say("252 2.3.3 try RCPT to attempt delivery\r\n");
  if (istarts_with(line, "AUTH ")) return auth_command(line.substr(5));
  if (iequals(line, "STARTTLS")) return starttls_command();
  say(kSyntaxError);
}

void Engine::Impl::lhlo_command(std::string_view arg) {
  // The argument goes into the Received header: no control characters (Cyrus does not check).
  if (has_control(arg)) return say(kBadParameters);
  lhlo.assign(cut_utf8(arg, kMaxLhlo));
  std::string& out = e.output_;
  out += "250-";
  out += config.servername;
  out += "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-SIZE ";
  out += std::to_string(size_limit());
  out += "\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n";
  if (config.starttls && !peer.preauth && !peer.tls && auth == Auth::kNone) {
    out += "250-STARTTLS\r\n";
  }
  const std::vector<std::string> mechanisms = advertised_mechanisms();
  if (!mechanisms.empty()) {
    out += "250-AUTH";
    for (const std::string& m : mechanisms) {
      out += ' ';
      out += m;
    }
    out += "\r\n";
  }
  out += "250-IGNOREQUOTA\r\n250 Ok SESSIONID=<";
  out += e.session_id_;
  out += ">\r\n";
}

void Engine::Impl::mail_command(std::string_view args) {
  if (mail) return say("503 5.5.1 Nested MAIL command\r\n");
  auto parsed = parse_mail(args);
  if (!parsed) return say(parsed.error());
  if (parsed->has_size && parsed->size > size_limit()) {
    return say("552 5.2.3 Message SIZE exceeds fixed maximum message size (" +
               std::to_string(size_limit()) + ")\r\n");
  }
  mail = std::move(parsed.value());
  say("250 2.1.0 ok\r\n");
}

void Engine::Impl::rcpt_command(std::string_view args) {
  if (!mail) return say(kNeedMail);
  // The message was opened for the recipients known at the first BDAT chunk.
  if (bdat_used) return say("503 5.5.1 RCPT not permitted after BDAT\r\n");
  auto parsed = parse_rcpt(args, mail->smtputf8);
  if (!parsed) return say(parsed.error());
  if (config.max_recipients != 0 && recipients.size() >= config.max_recipients) {
    return say("452 4.5.3 Too many recipients\r\n");
  }
  RecipientRequest request;
  request.address = std::move(parsed->to.address);
  request.ignore_quota = parsed->ignore_quota;
  request.declared_size = mail->size;
  request.auth_id = mail->auth_id;
  request.session_id = e.session_id_;
  RecipientVerdict verdict = backend.check_recipient(request);
  if (!verdict.accepted) return say(verdict.rejection);
  verdict.request = std::move(request);  // the engine's parse is authoritative
  recipients.push_back(std::move(verdict));
  say("250 2.1.5 ok\r\n");
}

void Engine::Impl::data_command() {
  if (bdat_used) return say("503 5.5.1 DATA not permitted after BDAT\r\n");
  if (!mail || recipients.empty()) return say(kNoRecipients);
  if (auto refused = begin_message()) {
    say(*refused);
    end_transaction();
    return;
  }
  say("354 go ahead\r\n");
  reader.reset();
  mode = Mode::kData;
  ++messages_begun;
  message_bytes = 0;
}

void Engine::Impl::bdat_command(std::string_view args) {
  // BDAT <size> [LAST], RFC 3030.
  size_t i = 0;
  uint64_t n = 0;
  while (i < args.size() && ascii_digit(args[i])) {
    const uint64_t d = uint64_t(args[i] - '0');
    if (n > (UINT64_MAX - d) / 10) return say(kBadParameters);
    n = n * 10 + d;
    ++i;
  }
  const std::string_view rest = args.substr(i);
  if (i == 0 || !(rest.empty() || iequals(rest, " LAST"))) return say(kBadParameters);

  // A chunk that continues the message is part of its transfer; any other (the first, or one
  // refused whole) starts a transfer with its own deadline.
  if (!bdat_used) {
    ++messages_begun;
    message_bytes = 0;
  }
  bdat_size = n;
  bdat_remaining = n;
  bdat_last = !rest.empty();
  bdat_error.reset();
  mode = Mode::kBdat;
  if (!mail) {
    bdat_error = std::string(kNeedMail);
  } else if (recipients.empty()) {
    bdat_error = std::string(kNoRecipients);
  } else if (!bdat_used) {
    if (auto refused = begin_message()) {
      bdat_error = refused->wire();
      end_transaction();
    } else {
      bdat_used = true;
    }
  }
  if (bdat_remaining == 0) bdat_chunk_done();
}

void Engine::Impl::bdat_chunk_done() {
  mode = Mode::kCommand;
  if (bdat_error) {
    say(*bdat_error);
    bdat_error.reset();
    return;
  }
  if (bdat_last) return end_of_message();
  say("250 2.0.0 " + std::to_string(bdat_size) + " octets received\r\n");
}

void Engine::Impl::rset_command() {
  e.session_id_ = new_session_id(config.servername);
  say("250 2.0.0 Ok SESSIONID=<" + e.session_id_ + ">\r\n");
  end_transaction();
}

// ---- authentication and TLS ----

std::vector<std::string> Engine::Impl::advertised_mechanisms() {
  switch (auth) {
    case Auth::kDone:
      return {};
    case Auth::kTransport:
      return {"EXTERNAL"};
    case Auth::kNone:
      break;
  }
  return authenticator ? authenticator->mechanisms() : std::vector<std::string>{};
}

void Engine::Impl::auth_command(std::string_view args) {
  if (auth == Auth::kDone) return say("503 5.5.1 Already authenticated\r\n");
  if (in_transaction()) return say("503 5.5.1 AUTH not permitted during a mail transaction\r\n");
  const size_t space = args.find(' ');
  const std::string_view name = args.substr(0, space);
  std::optional<std::string_view> encoded;
  if (space != std::string_view::npos) encoded = args.substr(space + 1);
  if (!mechanism_name(name) ||
      (encoded && (encoded->empty() || encoded->find(' ') != std::string_view::npos))) {
    return say(kBadParameters);
  }
  const std::string mechanism = ascii_upper(name);
  bool offered = false;
  for (const std::string& m : advertised_mechanisms()) offered = offered || m == mechanism;
  if (!offered) return say(kUnknownMechanism);

  std::optional<std::string> initial;
  if (encoded) {
    initial = *encoded == "=" ? std::optional<std::string>("") : decode_base64(*encoded);
    if (!initial) return say(kCannotDecode);
  }
  if (auth == Auth::kTransport) {
    // The transport vouches for the peer; EXTERNAL only confirms (or names) the identity.
    external_exchange = true;
    if (!initial) {
      mode = Mode::kAuthResponse;
      return say("334 \r\n");
    }
    external_exchange = false;
    if (initial->empty() || *initial == identity) return auth_result(AuthStep::success(identity));
    return auth_result(AuthStep::failure("EXTERNAL: " + identity + " may not act as " + *initial));
  }
  // The client address's penalty (auth_penalty.h): once it has failed, its attempts wait their
  // turn before they are checked, whatever connection they come on.
  if (penalty && !admitted) {
    const std::chrono::milliseconds wait = penalty->admit();
    if (wait.count() > 0) {
      held_auth = std::string(args);
      delay = wait;  // process() stops; the session calls auth_delay_over()
      return;
    }
  }
  if (initial) return auth_result(authenticator->start(mechanism, std::string_view(*initial)));
  auth_result(authenticator->start(mechanism, std::nullopt));
}

void Engine::Impl::auth_response(std::string_view line) {
  if (line == "*") {
    end_auth_exchange();
    return say("501 5.7.0 Authentication cancelled\r\n");
  }
  // RFC 4954 sends an empty response as an empty line; "=" is accepted as well.
  std::optional<std::string> response =
      line.empty() || line == "=" ? std::optional<std::string>("") : decode_base64(line);
  if (!response) {
    end_auth_exchange();
    return say(kCannotDecode);
  }
  if (external_exchange) {
    external_exchange = false;
    mode = Mode::kCommand;
    if (response->empty() || *response == identity) return auth_result(AuthStep::success(identity));
    return auth_result(AuthStep::failure("EXTERNAL: " + identity + " may not act as " + *response));
  }
  auth_result(authenticator->step(*response));
}

void Engine::Impl::auth_result(AuthStep step) {
  switch (step.kind) {
    case AuthStep::Kind::kChallenge:
      mode = Mode::kAuthResponse;
      say("334 " + encode_base64(step.text) + "\r\n");
      return;
    case AuthStep::Kind::kSuccess:
      mode = Mode::kCommand;
      if (penalty && auth == Auth::kNone) penalty->succeeded();
      auth = Auth::kDone;
      identity = std::move(step.text);
      say("235 2.7.0 Authentication successful\r\n");
      return;
    case AuthStep::Kind::kNoMechanism:
      mode = Mode::kCommand;
      say(kUnknownMechanism);
      return;
    case AuthStep::Kind::kFailure:
      mode = Mode::kCommand;
      if (penalty && auth == Auth::kNone) penalty->failed();
      auth_failed();
      return;
  }
}

void Engine::Impl::end_auth_exchange() {
  if (!external_exchange && authenticator && auth == Auth::kNone) authenticator->cancel();
  external_exchange = false;
  mode = Mode::kCommand;
}

void Engine::Impl::auth_failed() {
  ++auth_failures;
  // 1x, 2x, 4x ... the configured delay, at most kMaxAuthDelay.
  std::chrono::milliseconds wait = config.auth_failure_delay;
  for (size_t i = 1; i < auth_failures && wait < kMaxAuthDelay; ++i) wait *= 2;
  wait = std::min(wait, kMaxAuthDelay);
  if (wait.count() > 0) {
    delay = wait;  // process() stops; the session calls auth_delay_over()
  } else {
    answer_auth_failure();
  }
}

void Engine::Impl::answer_auth_failure() {
  if (config.max_auth_failures != 0 && auth_failures >= config.max_auth_failures) {
    say("421 4.7.0 Too many authentication failures\r\n");
    end_transaction();
    e.closed_ = true;
    return;
  }
  say("535 5.7.8 Authentication credentials invalid\r\n");
}

void Engine::Impl::auth_delay_over() {
  if (!delay || e.closed_) return;
  delay.reset();
  if (held_auth) {
    // The attempt's turn has come: check it now.
    const std::string args = std::move(*held_auth);
    held_auth.reset();
    admitted = true;
    auth_command(args);
    admitted = false;
  } else {
    answer_auth_failure();
  }
  const size_t used = process(pending);
  pending.erase(0, used);
  release_input();
}

void Engine::Impl::starttls_command() {
  if (!config.starttls || peer.preauth) return say(kSyntaxError);  // as Cyrus: not offered
  if (peer.tls) return say("454 4.3.3 Already successfully executed STARTTLS\r\n");
  if (auth != Auth::kNone) return say("503 5.5.1 STARTTLS not permitted after authentication\r\n");
  if (in_transaction()) {
    return say("503 5.5.1 STARTTLS not permitted during a mail transaction\r\n");
  }
  say("220 2.0.0 Ready to start TLS\r\n");
  tls_requested = true;
}

void Engine::Impl::tls_started(TlsSummary tls, std::optional<std::string> cert_identity) {
  if (!tls_requested) return;
  tls_requested = false;
  peer.tls = std::move(tls);
  // RFC 3207: forget what the peer said in the clear.
  pending.clear();
  mode = Mode::kCommand;
  lhlo.clear();
  end_transaction();
  e.session_id_ = new_session_id(config.servername);
  if (cert_identity) {
    auth = Auth::kTransport;
    identity = std::move(*cert_identity);
  }
}

// ---- the message ----

std::optional<Reply> Engine::Impl::begin_message() {
  auto opened = backend.open_message(recipients);
  if (!opened) return opened.error();
  sink = std::move(opened.value());
  const time_t now = std::time(nullptr);
  TraceInfo trace;
  trace.mail_from = mail->from.address;
  trace.servername = config.servername;
  trace.lhlo = lhlo;
  trace.client_host = peer.client_host;
  trace.auth_id = mail->auth_id;
  trace.serverinfo = config.serverinfo;
  trace.tls = peer.tls ? &*peer.tls : nullptr;
  trace.authenticated = auth != Auth::kNone;
  trace.now = now;
  writer.start(sink.get(), trace_headers(trace), now);
  return std::nullopt;
}

void Engine::Impl::end_of_message() {
  mode = Mode::kCommand;
  writer.finish();
  if (writer.fault() != MessageWriter::Fault::kNone) {
    // Refused as a whole: every recipient is told, the stage is discarded, nothing is delivered.
    const std::string wire = writer.fault_reply().wire();
    for (size_t i = 0; i < recipients.size(); ++i) say(wire);
    end_transaction();
    return;
  }
  DeliveryRequest request;
  request.sink = std::move(sink);
  request.info.session_id = e.session_id_;
  request.info.mail_from = mail->from.address;
  request.info.auth_id = mail->auth_id;
  request.info.message_id = writer.message_id();
  request.info.date = writer.date();
  request.info.size = writer.size();
  awaited_replies = recipients.size();
  request.recipients = std::move(recipients);
  delivery = std::move(request);
  awaiting = true;
}

void Engine::Impl::end_transaction() {
  mail.reset();
  recipients.clear();
  sink.reset();  // a sink not handed over discards what was written
  bdat_used = false;
}

void Engine::Impl::delivered(std::vector<Reply> replies) {
  if (!awaiting || e.closed_) return;
  awaiting = false;
  delivery.reset();
  for (size_t i = 0; i < awaited_replies; ++i) {
    if (i < replies.size()) {
      say(replies[i]);
    } else {
      say(kIoError);  // a recipient the committer forgot must still get an answer
    }
  }
  awaited_replies = 0;
  end_transaction();
  const size_t used = process(pending);
  pending.erase(0, used);
  release_input();
}

void Engine::Impl::drop(std::string_view per_recipient, std::string_view bye) {
  if (e.closed_) return;
  if (mode == Mode::kAuthResponse) end_auth_exchange();
  if (!awaiting && inside_message()) {
    for (size_t i = 0; i < recipients.size(); ++i) say(per_recipient);
  }
  end_transaction();  // the sink goes: nothing of the message is kept
  delivery.reset();
  awaiting = false;
  say(bye);
  e.closed_ = true;
  release_input();
}

std::optional<RequestProgress> Engine::Impl::request_in_progress() const {
  if (e.closed_ || held() || tls_requested) return std::nullopt;  // waiting for us, not the peer
  if (mode == Mode::kData || mode == Mode::kBdat || bdat_used) {
    return RequestProgress{true, messages_begun, message_bytes};
  }
  if (mode == Mode::kDiscardLine || !pending.empty()) {
    return RequestProgress{false, lines_begun, 0};
  }
  return std::nullopt;
}

// ---- Engine ----

Engine::Engine(EngineConfig config, PeerInfo peer, Backend& backend, std::string session_id,
               Authenticator* authenticator, AuthPenalty* penalty)
    : session_id_(std::move(session_id)),
      impl_(std::make_unique<Impl>(*this, std::move(config), std::move(peer), backend,
                                   authenticator, penalty)) {}

Engine::~Engine() = default;

void Engine::start() {
  output_ += "220 " + impl_->config.servername + " Cubby LMTP server ready\r\n";
}

void Engine::feed(std::string_view bytes) { impl_->feed(bytes); }

std::optional<DeliveryRequest> Engine::take_delivery() {
  std::optional<DeliveryRequest> d = std::move(impl_->delivery);
  impl_->delivery.reset();
  return d;
}

void Engine::delivered(std::vector<Reply> replies) { impl_->delivered(std::move(replies)); }

std::string Engine::take_output() {
  std::string out;
  out.swap(output_);
  return out;
}

bool Engine::awaiting_delivery() const { return impl_->awaiting; }
bool Engine::in_transaction() const { return impl_->in_transaction(); }
size_t Engine::buffered_input() const { return impl_->pending.size(); }

void Engine::timeout() { impl_->drop(kIoError, "421 4.4.1 bye idle for too long\r\n"); }

void Engine::deadline_exceeded() {
  impl_->drop("451 4.4.2 Message transfer took too long\r\n",
              "421 4.4.2 bye, request took too long\r\n");
}

std::optional<RequestProgress> Engine::request_in_progress() const {
  return impl_->request_in_progress();
}

void Engine::shutdown() {
  if (closed_) return;
  impl_->shutdown_pending = true;
  if (!impl_->in_transaction()) {
    output_ += "421 4.3.2 Shutting down\r\n";
    closed_ = true;
    impl_->release_input();
  }
}

bool Engine::tls_requested() const { return impl_->tls_requested; }

void Engine::tls_started(TlsSummary tls, std::optional<std::string> identity) {
  impl_->tls_started(std::move(tls), std::move(identity));
}

std::optional<std::chrono::milliseconds> Engine::auth_delay() const { return impl_->delay; }
void Engine::auth_delay_over() { impl_->auth_delay_over(); }
const std::string& Engine::identity() const { return impl_->identity; }

std::string new_session_id(const std::string& servername) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 random{std::random_device{}()};
  return servername + "-" + std::to_string(static_cast<long long>(std::time(nullptr))) + "-" +
         std::to_string(static_cast<long>(getpid())) + "-" +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1) + "-" +
         std::to_string(random());
}

}  // namespace cubby::lmtp
