// A small, real in-memory Backend for driving the LMTP engine in tests (no mocking framework):
// recipients whose local part is in a set are accepted, others get Cyrus's 550 User unknown; each
// message is written to a string that the test can read back, and the sink can be told to fail
// with ENOSPC once it holds a given number of bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/lmtp/backend.h"
#include "server/lmtp/engine.h"

namespace cubby::lmtp::test {

inline Reply user_unknown() {
  Reply r = make_reply(550, "5.1.1", "User unknown");
  r.preamble = {"Mailbox unknown.  Either there is no mailbox associated with this",
                "name or you do not have authorization to see it."};
  return r;
}

inline Reply no_space() {
  return make_reply(451, "4.3.1", "cannot write stage file: No space left on device");
}

// Shared between a sink and the backend that opened it, so the test sees the bytes after the sink
// was moved into a DeliveryRequest or destroyed.
struct StoredMessage {
  std::string bytes;
  size_t writes = 0;
  size_t largest_write = 0;
  bool alive = true;  // the sink still exists (false: delivered and released, or discarded)
};

class StringSink : public MessageSink {
 public:
  StringSink(std::shared_ptr<StoredMessage> stored, uint64_t fail_after)
      : stored_(std::move(stored)), fail_after_(fail_after) {}
  ~StringSink() override { stored_->alive = false; }

  void write(std::string_view bytes) override {
    if (failure_) return;
    if (stored_->bytes.size() + bytes.size() > fail_after_) {
      failure_ = no_space();
      return;
    }
    stored_->bytes.append(bytes);
    ++stored_->writes;
    if (bytes.size() > stored_->largest_write) stored_->largest_write = bytes.size();
  }
  const Reply* failure() const override { return failure_ ? &*failure_ : nullptr; }
  uint64_t size() const override { return stored_->bytes.size(); }

 private:
  std::shared_ptr<StoredMessage> stored_;
  uint64_t fail_after_;
  std::optional<Reply> failure_;
};

class TestBackend : public Backend {
 public:
  std::set<std::string> users = {"alice", "bob", "carol"};
  std::optional<Reply> open_failure;  // open_message() fails with this
  uint64_t fail_after = UINT64_MAX;   // sinks fail once they would hold more
  std::vector<RecipientRequest> checked;
  std::vector<std::shared_ptr<StoredMessage>> messages;

  RecipientVerdict check_recipient(const RecipientRequest& request) override {
    checked.push_back(request);
    RecipientVerdict v;
    const size_t at = request.address.rfind('@');
    const std::string local = request.address.substr(0, at);
    if (users.count(local) == 0) {
      v.rejection = user_unknown();
      return v;
    }
    v.accepted = true;
    v.target = "user." + local;
    return v;
  }

  Result<std::unique_ptr<MessageSink>, Reply> open_message(
      const std::vector<RecipientVerdict>& recipients) override {
    opened_for.push_back(recipients.size());
    if (open_failure) return fail(*open_failure);
    messages.push_back(std::make_shared<StoredMessage>());
    return std::unique_ptr<MessageSink>(std::make_unique<StringSink>(messages.back(), fail_after));
  }
  std::vector<size_t> opened_for;

  const std::string& last_message() const { return messages.back()->bytes; }
};

// An engine on a preauthenticated UNIX-socket peer, with helpers that return the output of each
// step.
struct Harness {
  TestBackend backend;
  EngineConfig config;
  PeerInfo peer;
  std::unique_ptr<Engine> engine;
  std::optional<DeliveryRequest> last_delivery;

  Harness() {
    config.servername = "mail.example.com";
    peer.preauth = true;
    peer.client_host = "[unix socket]";
  }

  // Creates the engine and returns its greeting.
  std::string open(std::string session_id = "sid-1") {
    engine = std::make_unique<Engine>(config, peer, backend, std::move(session_id));
    engine->start();
    return engine->take_output();
  }
  std::string send(std::string_view bytes) {
    engine->feed(bytes);
    return engine->take_output();
  }
  // Sends `wire` in pieces of the sizes `chunks` names, in turn and over again; returns the output.
  std::string send_in_pieces(std::string_view wire, const std::vector<size_t>& chunks) {
    std::string out;
    size_t pos = 0, k = 0;
    while (pos < wire.size()) {
      const size_t n = std::min(chunks[k++ % chunks.size()], wire.size() - pos);
      out += send(wire.substr(pos, n));
      pos += n;
    }
    return out;
  }
  // Takes the awaited delivery and answers every recipient `250 2.1.5 Success`; returns output.
  std::string deliver() {
    last_delivery = engine->take_delivery();
    if (!last_delivery) return "<no delivery>";
    std::vector<Reply> replies;
    for (size_t i = 0; i < last_delivery->recipients.size(); ++i) {
      replies.push_back(
          make_reply(250, "2.1.5", "Success SESSIONID=<" + last_delivery->info.session_id + ">"));
    }
    engine->delivered(std::move(replies));
    return engine->take_output();
  }
  std::string success_replies(size_t n) const {
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out += "250 2.1.5 Success SESSIONID=<" + engine->session_id() + ">\r\n";
    return out;
  }
  // LHLO, MAIL, and RCPT for each of `rcpts`; returns the output.
  std::string envelope(std::vector<std::string> rcpts, std::string mail_args = "") {
    std::string cmd = "LHLO mx.example.com\r\nMAIL FROM:<sender@example.org>" + mail_args + "\r\n";
    for (const auto& r : rcpts) cmd += "RCPT TO:<" + r + ">\r\n";
    return send(cmd);
  }
};

// Repeats `s` n times.
inline std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The stored message without its trace headers (Return-Path, Received), which carry the time.
inline std::string after_trace(const std::string& stored) {
  const size_t semi = stored.find(";\r\n\t ");
  if (semi == std::string::npos) return "<no Received>";
  const size_t end = stored.find("\r\n", semi + 3);
  return stored.substr(end + 2);
}

}  // namespace cubby::lmtp::test
