// deliver's LMTP session with lmtpd; see deliver_session.h.
#include "server/deliver/deliver_session.h"

#include <algorithm>
#include <cctype>

#include "server/deliver/deliver_options.h"

namespace cubby::deliver {
namespace {

using Outcome = Recipient::Outcome;

constexpr int kExitOk = 0, kExitDataErr = 65, kExitTempFail = 75;

struct Capabilities {
  bool auth = false;
  bool ignore_quota = false;
  bool eight_bit_mime = false;
  bool size = false;
};

bool keyword_is(std::string_view line, std::string_view keyword) {
  const std::string_view word = line.substr(0, line.find(' '));
  return std::equal(word.begin(), word.end(), keyword.begin(), keyword.end(), [](char a, char b) {
    return std::toupper(static_cast<unsigned char>(a)) == b;
  });
}

// The LHLO reply's lines after the first (which names the server) are the capabilities.
Capabilities capabilities_of(const lmtp::Reply& lhlo) {
  std::vector<std::string> lines(lhlo.preamble.begin(), lhlo.preamble.end());
  lines.push_back(reply_text(lhlo));
  Capabilities caps;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (keyword_is(l, "AUTH")) caps.auth = true;
    if (keyword_is(l, "IGNOREQUOTA")) caps.ignore_quota = true;
    if (keyword_is(l, "8BITMIME")) caps.eight_bit_mime = true;
    if (keyword_is(l, "SIZE")) caps.size = true;
  }
  return caps;
}

Outcome outcome_of(int code) {
  if (code >= 200 && code < 300) return Outcome::kDelivered;
  if (code >= 500 && code < 600) return Outcome::kPermFail;
  return Outcome::kTempFail;
}

// A reply for a failure of the connection itself.
lmtp::Reply connection_failure(const std::string& why) {
  return lmtp::make_reply(451, "4.4.2", why);
}

class Session {
 public:
  Session(LmtpConnection& c, const Envelope& envelope, const SpooledMessage& message)
      : c_(c), envelope_(envelope), message_(message), decided_(envelope.recipients.size()) {
    for (const auto& a : envelope.recipients)
      results_.push_back(Recipient{a, Outcome::kTempFail, {}});
  }

  std::vector<Recipient> run(const std::string& lhlo_name) {
    std::vector<size_t> open(results_.size());
    for (size_t i = 0; i < open.size(); ++i) open[i] = i;
    auto greeting = c_.read_reply();
    if (!greeting.ok()) return finish_broken();
    if (greeting->code != 220) return finish(open, Outcome::kTempFail, *greeting);
    auto lhlo = command("LHLO " + lhlo_name);
    if (!lhlo) return finish_broken();
    if (lhlo->code != 250) return finish(open, Outcome::kTempFail, *lhlo);
    caps_ = capabilities_of(*lhlo);

    while (!open.empty()) {
      if (!transaction(&open)) return finish_broken();
    }
    command("QUIT");  // the outcome is known; a failure here changes nothing
    return results_;
  }

 private:
  // Sends a command and reads its reply; nullopt when the connection failed.
  std::optional<lmtp::Reply> command(const std::string& line) {
    if (!c_.send_command(line)) return std::nullopt;
    auto reply = c_.read_reply();
    if (!reply.ok()) return std::nullopt;
    return std::move(reply.value());
  }

  void decide(size_t i, Outcome outcome, const lmtp::Reply& reply) {
    if (decided_[i]) return;
    decided_[i] = true;
    results_[i].outcome = outcome;
    results_[i].reply = reply;
  }

  std::vector<Recipient> finish(const std::vector<size_t>& open, Outcome outcome,
                                const lmtp::Reply& reply) {
    for (size_t i : open) decide(i, outcome, reply);
    return results_;
  }

  // The connection failed: every recipient not yet decided failed temporarily.
  std::vector<Recipient> finish_broken() {
    const lmtp::Reply reply = connection_failure(c_.error());
    for (size_t i = 0; i < results_.size(); ++i) decide(i, Outcome::kTempFail, reply);
    return results_;
  }

  std::string mail_command() const {
    std::string line = "MAIL FROM:" + envelope_.mail_from;
    if (caps_.auth) {
      line += " AUTH=";
      line += envelope_.auth_id && !envelope_.auth_id->empty() ? encode_xtext(*envelope_.auth_id)
                                                               : "<>";
    }
    if (message_.has_8bit() && caps_.eight_bit_mime) line += " BODY=8BITMIME";
    if (caps_.size) line += " SIZE=" + std::to_string(message_.size());
    return line;
  }

  // One transaction for the recipients in *open. Returns false when the connection failed (the
  // caller then fails what is still undecided); otherwise leaves in *open the recipients to try
  // again.
  bool transaction(std::vector<size_t>* open) {
    auto rset = command("RSET");
    if (!rset) return false;
    if (rset->code / 100 != 2) {
      finish(*open, Outcome::kTempFail, *rset);
      open->clear();
      return true;
    }
    auto mail = command(mail_command());
    if (!mail) return false;
    if (mail->code / 100 != 2) {
      finish(*open, outcome_of(mail->code), *mail);
      open->clear();
      return true;
    }

    std::vector<size_t> accepted, too_many;
    for (size_t i : *open) {
      std::string line = "RCPT TO:<" + results_[i].address + ">";
      if (envelope_.ignore_quota && caps_.ignore_quota) line += " IGNOREQUOTA";
      auto reply = command(line);
      if (!reply) return false;
      if (reply->code / 100 == 2) {
        accepted.push_back(i);
      } else if (reply->code == 452 && reply->enhanced == "4.5.3") {
        too_many.push_back(i);
        results_[i].reply = *reply;
      } else {
        decide(i, outcome_of(reply->code), *reply);
      }
    }
    const auto give_up_on_too_many = [&] {
      for (size_t i : too_many) decide(i, Outcome::kTempFail, results_[i].reply);
      open->clear();
    };
    if (accepted.empty()) {
      give_up_on_too_many();
      return true;
    }

    auto data = command("DATA");
    if (!data) return false;
    if (data->code != 354) {
      const Outcome o = data->code / 100 == 2 ? Outcome::kTempFail : outcome_of(data->code);
      finish(accepted, o, *data);
      give_up_on_too_many();
      return true;
    }
    const std::string unsent =
        message_.write_stuffed([&](std::string_view piece) { return c_.send(piece); });
    if (!unsent.empty()) {
      // The server may have said why before it stopped reading.
      c_.set_timeout(std::chrono::seconds(1));
      auto early = c_.read_reply();
      if (early.ok() && early->code / 100 != 2) {
        finish(accepted, outcome_of(early->code), *early);
      } else {
        finish(accepted, Outcome::kTempFail,
               connection_failure(c_.error().empty() ? unsent : c_.error()));
      }
      return false;  // closing without the final dot: lmtpd delivers nothing
    }

    bool progress = false;
    for (size_t k = 0; k < accepted.size(); ++k) {
      auto reply = c_.read_reply();
      if (!reply.ok()) return false;
      decide(accepted[k], outcome_of(reply->code), *reply);
      progress = progress || reply->code / 100 == 2;
    }
    if (!progress) {
      give_up_on_too_many();
      return true;
    }
    *open = too_many;
    return true;
  }

  LmtpConnection& c_;
  const Envelope& envelope_;
  const SpooledMessage& message_;
  Capabilities caps_;
  std::vector<Recipient> results_;
  std::vector<bool> decided_;
};

}  // namespace

std::vector<Recipient> deliver_message(LmtpConnection& connection, const std::string& lhlo_name,
                                       const Envelope& envelope, const SpooledMessage& message) {
  return Session(connection, envelope, message).run(lhlo_name);
}

int exit_code(const std::vector<Recipient>& recipients) {
  int code = kExitOk;
  for (const auto& r : recipients) {
    if (r.outcome == Outcome::kTempFail) return kExitTempFail;
    if (r.outcome == Outcome::kPermFail) code = kExitDataErr;
  }
  return code;
}

}  // namespace cubby::deliver
