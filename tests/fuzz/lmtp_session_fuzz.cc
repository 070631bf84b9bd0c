// Fuzz target: whole LMTP sessions through the engine (server/lmtp/engine.h), the way the worker's
// session drives it, over an in-memory backend that accepts alice, bob and carol.
//
// Input: an 8-byte header, then the bytes the peer sends.
//   byte 0  bit 0 pre-authenticated peer (else TCP, must AUTH: PLAIN/LOGIN admin:secret works),
//           bit 1 STARTTLS offered, bit 2 soft_noauth, bit 3 munge8bit, bit 4 reject8bit,
//           bits 5-7 how deliveries are answered (all 250, mixed 250/451/552, too few replies)
//   byte 1  max_command_line (64 .. 4096)
//   byte 2  max_recipients (1 .. 8, or 1000)
//   byte 3  max_message_size and max_header_size
//   bytes 4-7  seed of the chunk boundaries, and the largest chunk (1 byte .. 64 KiB)
// The peer's bytes are fed in chunks whose sizes the seed chooses. Like the session, the harness
// feeds nothing while a delivery or an AUTH delay is pending: it answers the delivery (or ends the
// delay) first. A STARTTLS is "completed" at once.
//
// Checked after every step:
//   - the output is a sequence of well-formed reply lines: `ddd` + ' ' or '-' + printable 7-bit
//     text + CRLF, the first digit 2-5, a multi-line reply's lines sharing one code; no bare CR
//     or LF, no control byte; nothing is said after the session closed;
//   - memory held stays bounded by the limits: unprocessed input is shorter than the line limit
//     (the AUTH limit of 12288 at most), a pipelined chunk produces bounded output, a delivery has
//     at most max_recipients recipients, and its stored message is no larger than
//     max_message_size (with the trace headers) and is CRLF-clean (no bare CR or LF).
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "server/lmtp/engine.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/lmtp/engine_test_backend.h"

namespace {

using namespace cubby::lmtp;

// PLAIN and LOGIN over one admin ("admin", "secret"), as an LMTP admin list would allow.
class FuzzAuthenticator : public Authenticator {
 public:
  std::vector<std::string> mechanisms() override { return {"LOGIN", "PLAIN"}; }
  AuthStep start(std::string_view mechanism, std::optional<std::string_view> initial) override {
    mechanism_ = mechanism;
    user_.reset();
    if (mechanism == "PLAIN") return initial ? plain(*initial) : AuthStep::challenge("");
    if (mechanism == "LOGIN") return initial ? step(*initial) : AuthStep::challenge("Username:");
    return {AuthStep::Kind::kNoMechanism, ""};
  }
  AuthStep step(std::string_view response) override {
    if (mechanism_ == "PLAIN") return plain(response);
    if (!user_) {
      user_ = std::string(response);
      return AuthStep::challenge("Password:");
    }
    return check(*user_, response);
  }
  void cancel() override {}

 private:
  AuthStep plain(std::string_view m) {
    const size_t a = m.find('\0');
    const size_t b = a == std::string_view::npos ? a : m.find('\0', a + 1);
    if (b == std::string_view::npos) return AuthStep::failure("malformed");
    return check(m.substr(a + 1, b - a - 1), m.substr(b + 1));
  }
  AuthStep check(std::string_view user, std::string_view password) {
    if (user == "admin" && password == "secret") return AuthStep::success("admin");
    return AuthStep::failure("bad password");
  }
  std::string mechanism_;
  std::optional<std::string> user_;
};

struct Rng {
  uint32_t s;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

class SessionCheck {
 public:
  SessionCheck(const EngineConfig& config, uint8_t answer_mode)
      : config_(config), answer_mode_(answer_mode) {}

  // Checks the output of one step; `input` is how many bytes that step fed (0 for other steps).
  void output(const std::string& out, size_t input, size_t answered) {
    FUZZ_CHECK(!closed_before_ || out.empty(), "output after the session closed: [%s]",
               out.c_str());
    // Amplification bound: a reply per command, the longest being LHLO's capability list or the
    // three-line 550, each command costing at least 2 bytes (CRLF) of input; plus one reply per
    // recipient of the transaction when a message ends (refused whole, or delivered).
    const size_t bound = 4096 + 160 * input + 200 * answered + 100 * config_.max_recipients;
    FUZZ_CHECK(out.size() <= bound, "%zu bytes of output for %zu bytes of input, %zu answers: %.300s",
               out.size(), input, answered, out.c_str());
    size_t pos = 0;
    while (pos < out.size()) {
      const size_t crlf = out.find("\r\n", pos);
      FUZZ_CHECK(crlf != std::string::npos, "reply without CRLF: [%s]", out.c_str() + pos);
      const std::string_view line(out.data() + pos, crlf - pos);
      check_line(line);
      pos = crlf + 2;
    }
  }
  void closed(bool c) { closed_before_ = c; }
  bool multiline_open() const { return multiline_code_ != 0; }

  void delivery(const DeliveryRequest& request, const cubby::lmtp::test::StoredMessage& stored) {
    FUZZ_CHECK(!request.recipients.empty(), "a delivery without recipients");
    FUZZ_CHECK(config_.max_recipients == 0 || request.recipients.size() <= config_.max_recipients,
               "%zu recipients over the limit %zu", request.recipients.size(),
               config_.max_recipients);
    for (const auto& r : request.recipients) {
      FUZZ_CHECK(r.accepted && r.target.rfind("user.", 0) == 0, "odd recipient %s",
                 r.target.c_str());
    }
    const std::string& m = stored.bytes;
    FUZZ_CHECK(m.size() == request.info.size, "stored %zu bytes, info says %llu", m.size(),
               static_cast<unsigned long long>(request.info.size));
    if (config_.max_message_size != 0) {
      FUZZ_CHECK(m.size() <= config_.max_message_size, "stored %zu bytes over the limit %llu",
                 m.size(), static_cast<unsigned long long>(config_.max_message_size));
    }
    for (size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\n') FUZZ_CHECK(i > 0 && m[i - 1] == '\r', "bare LF stored at %zu", i);
      if (m[i] == '\r') FUZZ_CHECK(i + 1 < m.size() && m[i + 1] == '\n', "bare CR stored at %zu", i);
      FUZZ_CHECK(m[i] != '\0', "NUL stored at %zu", i);
    }
    FUZZ_CHECK(m.size() >= 2 && m.compare(m.size() - 2, 2, "\r\n") == 0,
               "stored message does not end with CRLF");
  }

  std::vector<Reply> answers(const DeliveryRequest& request) {
    std::vector<Reply> replies;
    const size_t n = request.recipients.size();
    for (size_t i = 0; i < n; ++i) {
      switch (answer_mode_) {
        case 1:
          replies.push_back(i % 2 ? make_reply(451, "4.3.0", "System I/O error")
                                  : make_reply(250, "2.1.5", "Success"));
          break;
        case 2:
          if (i + 1 < n) replies.push_back(make_reply(552, "5.2.2", "Over quota"));
          break;  // one reply too few: the engine must answer the last one itself
        default:
          replies.push_back(make_reply(250, "2.1.5", "Success SESSIONID=<x>"));
      }
    }
    return replies;
  }

 private:
  void check_line(std::string_view line) {
    FUZZ_CHECK(line.size() >= 4, "short reply line [%.*s]", int(line.size()), line.data());
    FUZZ_CHECK(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
                   line[2] >= '0' && line[2] <= '9',
               "bad reply code [%.*s]", int(line.size()), line.data());
    FUZZ_CHECK(line[3] == ' ' || line[3] == '-', "bad separator [%.*s]", int(line.size()),
               line.data());
    for (unsigned char c : line) {
      FUZZ_CHECK(c >= 0x20 && c < 0x7f, "byte 0x%02x in reply line [%.*s]", c, int(line.size()),
                 line.data());
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (multiline_code_ != 0) {
      FUZZ_CHECK(code == multiline_code_, "multi-line reply changes code %d -> %d",
                 multiline_code_, code);
    }
    multiline_code_ = line[3] == '-' ? code : 0;
  }

  const EngineConfig& config_;
  uint8_t answer_mode_;
  bool closed_before_ = false;
  int multiline_code_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t h[8] = {1, 255, 255, 0, 0x5a, 0x17, 0x3c, 0x07};  // defaults for short inputs
  const size_t header = size < 8 ? size : 8;
  std::memcpy(h, data, header);
  const std::string_view input(reinterpret_cast<const char*>(data + header), size - header);

  EngineConfig config;
  config.servername = "fuzz.example";
  config.soft_noauth = (h[0] & 4) != 0;
  config.munge8bit = (h[0] & 8) != 0;
  config.reject8bit = (h[0] & 16) != 0;
  config.starttls = (h[0] & 2) != 0;
  config.max_command_line = 64 + size_t(h[1]) * 16;
  config.max_recipients = h[2] >= 248 ? 1000 : 1 + h[2] % 8;
  static const uint64_t kSizes[] = {0, 0, 200, 1000, 4096, 100000, 1 << 20, 300};
  config.max_message_size = kSizes[h[3] & 7];
  static const uint64_t kHeaderSizes[] = {1 << 20, 0, 40, 500};
  config.max_header_size = kHeaderSizes[(h[3] >> 3) & 3];
  config.auth_failure_delay = std::chrono::milliseconds((h[3] & 0x20) ? 1000 : 0);
  config.max_auth_failures = (h[3] & 0x40) ? 2 : 5;

  PeerInfo peer;
  peer.preauth = (h[0] & 1) != 0;
  peer.client_host = peer.preauth ? "[unix socket]" : "[192.0.2.1]";

  cubby::lmtp::test::TestBackend backend;
  FuzzAuthenticator authenticator;
  Engine engine(config, peer, backend, "fuzz-session", &authenticator);
  SessionCheck check(config, uint8_t((h[0] >> 5) % 3));

  engine.start();
  check.output(engine.take_output(), 0, 0);

  static const size_t kMaxChunk[] = {1, 2, 7, 64, 512, 4096, 65536, 65536};
  const size_t max_chunk = kMaxChunk[h[4] & 7];
  Rng rng{(uint32_t(h[4]) << 24 | uint32_t(h[5]) << 16 | uint32_t(h[6]) << 8 | h[7]) | 1};
  const size_t line_bound = std::max(config.max_command_line, kMaxAuthLine);

  size_t pos = 0;
  int idle_steps = 0;
  while (!engine.closed()) {
    size_t answered = 0;
    // Input held while a delivery or delay was pending is processed in this step.
    const size_t held = engine.buffered_input();
    // What the session does between reads: answer a delivery, end an AUTH delay, finish STARTTLS.
    if (auto request = engine.take_delivery()) {
      FUZZ_CHECK(engine.awaiting_delivery(), "a delivery offered but not awaited");
      FUZZ_CHECK(!backend.messages.empty(), "a delivery without an opened message");
      check.delivery(*request, *backend.messages.back());
      answered = request->recipients.size();
      engine.delivered(check.answers(*request));
    } else if (engine.auth_delay()) {
      engine.auth_delay_over();
    } else if (engine.tls_requested()) {
      check.output(engine.take_output(), 0, 0);
      TlsSummary tls;
      tls.version = "TLSv1.3";
      tls.cipher = "TLS_AES_256_GCM_SHA384";
      tls.bits = 256;
      tls.algorithm_bits = 256;
      engine.tls_started(tls, std::nullopt);
    } else if (pos < input.size()) {
      FUZZ_CHECK(!engine.awaiting_delivery(), "awaiting a delivery that was never offered");
      const size_t n = std::min<size_t>(input.size() - pos, 1 + rng.next() % max_chunk);
      engine.feed(input.substr(pos, n));
      pos += n;
      check.output(engine.take_output(), n, 0);
      check.closed(engine.closed());
      if (!engine.closed() && !engine.awaiting_delivery() && !engine.auth_delay() &&
          !engine.tls_requested()) {
        FUZZ_CHECK(engine.buffered_input() < line_bound, "%zu bytes of input held (limit %zu)",
                   engine.buffered_input(), line_bound);
      }
      continue;
    } else {
      break;  // the peer has said everything
    }
    check.output(engine.take_output(), held, answered);
    check.closed(engine.closed());
    FUZZ_CHECK(++idle_steps < 100000, "the engine does not make progress");
  }
  // The peer goes quiet: the idle timer fires.
  if (!engine.closed()) {
    engine.timeout();
    check.output(engine.take_output(), 0, 1000);
    FUZZ_CHECK(engine.closed(), "still open after timeout()");
  }
  FUZZ_CHECK(!check.multiline_open(), "the last reply is an unfinished multi-line reply");
  return 0;
}
