// Engine: one LMTP session (RFC 2033) as a state machine with no I/O.
//
// Bytes from the peer go in through feed(); replies come out of take_output(). Between the two the
// engine parses commands, judges recipients through its Backend, streams the message
// (dot-unstuffed, line ends normalised to CRLF, Return-Path and Received prepended, Message-ID and
// Date added when missing) into a MessageSink, and when the message is complete stops with a
// DeliveryRequest for the session to carry to the store. Nothing is delivered and no reply is owed
// for the message until the session calls delivered() with one Reply per recipient.
//
// Replies to a pipelined batch accumulate: the session sends take_output() when feed() returns,
// i.e. when every complete command in hand has been answered or the engine waits for a delivery.
//
// A command line ends at LF, with or without the CR before it (as Cyrus reads them: a trailing LF,
// then one CR, is stripped); message data ends only at <CRLF>.<CRLF> (data_reader.h).
//
// Memory is bounded whatever the peer sends: a command line is held up to the configured limit
// (beyond it the line is discarded to its end and refused whole with `500 5.5.2 Line too long`),
// message data is never held beyond a small buffer, and header names are bounded.
//
// Authentication (engine.cc has the replies): a pre-authenticated peer (UNIX socket, lmtpd -a) is
// "postman" and is offered AUTH EXTERNAL only; any other peer must authenticate before MAIL,
// through the session's Authenticator (SASL) or a TLS client certificate the session accepted
// (tls_started() with an identity). A failed AUTH is answered only after a delay the session
// serves (auth_delay(), then auth_delay_over()): auth_failure_delay, doubled at each further
// failure up to kMaxAuthDelay; the max_auth_failures-th failure is answered `421 4.7.0 Too many
// authentication failures` and closes the session. While the delay runs, input is held as while a
// delivery is awaited. With an AuthPenalty (the client address's, across connections), a SASL
// attempt is first admitted: when the address has failed before, the AUTH waits its turn the
// same way (auth_delay(), auth_delay_over()) before its credentials are checked; each SASL failure
// and success is reported to it.
//
// STARTTLS (RFC 3207): once the engine has said `220 2.0.0 Ready to start TLS` it reads nothing
// more (tls_requested()); whatever the peer sent after the command is discarded, never executed
// after the handshake. The session runs the handshake and calls tls_started(), which forgets
// everything the peer said before (LHLO, the transaction) and issues a new session id; the session
// closes the connection when the handshake fails.
//
// Replies, codes and capability order are Cyrus lmtpd's (imap/lmtpengine.c) with the corrections
// docs/guide.md lists under "Moving from Cyrus"; see server/lmtp/engine.cc for the table.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/lmtp/auth_penalty.h"
#include "server/lmtp/authenticator.h"
#include "server/lmtp/backend.h"
#include "server/lmtp/message_headers.h"
#include "server/lmtp/reply.h"

namespace cubby::lmtp {

struct EngineConfig {
  std::string servername = "localhost";
  uint64_t max_message_size = 0;   // stored bytes; 0 = unlimited (advertised as SIZE 2147483647)
  size_t max_command_line = 4096;  // bytes including the line end
  size_t max_recipients = 1000;    // per transaction; beyond: 452 4.5.3 Too many recipients
  uint64_t max_header_size = 1 << 20;  // header section bytes; beyond: 552 5.3.4 per recipient
  bool soft_noauth = true;  // 430 4.7.0 (true) or 530 5.7.0 (false) at MAIL when unauthenticated
  bool munge8bit = false;   // replace 8-bit header bytes with 'X'
  bool reject8bit = false;  // refuse 8-bit header bytes (554 5.6.0)
  bool serverinfo = true;   // "(Cubby <version>)" in Received
  bool starttls = false;    // STARTTLS may be offered (TLS configured, a TCP peer)
  size_t max_auth_failures = 5;  // failed AUTH attempts; the last is answered 421 and closes
  std::chrono::milliseconds auth_failure_delay{1000};  // before the first 535; doubles after
};

// The longest delay before a failed AUTH is answered.
inline constexpr std::chrono::milliseconds kMaxAuthDelay{30000};
// AUTH command lines and SASL responses may be this long (CRLF included) whatever the command
// limit, as RFC 4954 asks of servers (12288 octets).
inline constexpr size_t kMaxAuthLine = 12288;

// What the session knows about the peer.
struct PeerInfo {
  bool preauth = false;           // UNIX socket, or lmtpd -a: authenticated as "postman"
  std::string client_host;        // for Received: "[unix socket]", "[1.2.3.4]" or "name [1.2.3.4]"
  std::optional<TlsSummary> tls;  // the connection is already under TLS
};

// What the peer is in the middle of sending, for the session's deadline (lmtp_request_deadline):
// a command line (serial: lines begun so far) or a message's content (serial: messages begun;
// bytes: received since it began, counting BDAT chunks and the lines between them).
struct RequestProgress {
  bool message = false;
  uint64_t serial = 0;
  uint64_t bytes = 0;
};

class Engine {
 public:
  // `authenticator` (may be null: only AUTH EXTERNAL of a pre-authenticated peer is possible)
  // and `penalty` (may be null: no penalty per client address) must outlive the engine.
  Engine(EngineConfig config, PeerInfo peer, Backend& backend, std::string session_id,
         Authenticator* authenticator = nullptr, AuthPenalty* penalty = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues the greeting `220 <servername> Cubby LMTP server ready`.
  void start();
  // Takes bytes from the peer and processes every complete command (and message data) in hand,
  // stopping early when a delivery is awaited or the session is closed.
  void feed(std::string_view bytes);
  // The delivery the engine is waiting for, once; empty when none.
  std::optional<DeliveryRequest> take_delivery();
  // Ends the awaited delivery: `replies` holds one Reply per recipient of the request, in order.
  // Queues them, resets the transaction and goes on with any input still in hand.
  void delivered(std::vector<Reply> replies);

  // Replies queued since the last call.
  std::string take_output();
  bool has_output() const { return !output_.empty(); }
  // The peer said QUIT, or the session was ended; send the output and close.
  bool closed() const { return closed_; }
  // True between the final dot and delivered().
  bool awaiting_delivery() const;
  // True while a MAIL transaction is open (recipients or data in progress).
  bool in_transaction() const;
  // Bytes of peer input held unprocessed: the start of a command line (always shorter than
  // max_command_line), or what arrived while a delivery was awaited. For back-pressure and tests.
  size_t buffered_input() const;

  // The idle timer fired: `451 4.3.0 System I/O error` per recipient if inside a message (DATA,
  // or BDAT chunks begun), then `421 4.4.1 bye idle for too long`; the session is closed. While a
  // delivery is awaited only the 421 is queued (the replies belong to the delivery).
  void timeout();
  // The peer took longer than its deadline over one command line or one message (the session
  // keeps the time): as timeout(), with `451 4.4.2 Message transfer took too long` per recipient
  // and `421 4.4.2 bye, request took too long`. The transaction is dropped, nothing of it kept.
  void deadline_exceeded();
  // The request the peer is sending now; empty between requests and while the engine waits for
  // the session (a delivery, an AUTH delay, STARTTLS) rather than for the peer.
  std::optional<RequestProgress> request_in_progress() const;
  // The server is stopping: the session closes with `421 4.3.2 Shutting down` as soon as no
  // transaction is open (at once if none is).
  void shutdown();

  // True once STARTTLS was accepted (its 220 queued): run the TLS handshake after sending the
  // output, then call tls_started(); feed() discards input meanwhile.
  bool tls_requested() const;
  // The handshake succeeded. `identity`: a client certificate authenticated the peer as this
  // LMTP admin (the session checked the certificate and the admin list).
  void tls_started(TlsSummary tls, std::optional<std::string> identity);

  // Set while a failed AUTH waits for its answer: wait this long, then call auth_delay_over().
  std::optional<std::chrono::milliseconds> auth_delay() const;
  void auth_delay_over();
  // Who the peer authenticated as ("postman" when pre-authenticated), "" when not yet.
  const std::string& identity() const;

  const std::string& session_id() const { return session_id_; }

  struct Impl;  // the state machine (engine.cc)

 private:
  std::string session_id_;
  std::string output_;
  bool closed_ = false;
  std::unique_ptr<Impl> impl_;
};

// A fresh session id: "<servername>-<unixtime>-<pid>-<n>-<random>", as Cyrus forms them.
std::string new_session_id(const std::string& servername);

}  // namespace cubby::lmtp
