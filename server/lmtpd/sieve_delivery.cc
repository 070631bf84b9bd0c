// Sieve at delivery; see sieve_delivery.h.
#include "server/lmtpd/sieve_delivery.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "conf/log.h"
#include "store/recipient.h"

namespace cubby::server {
namespace {

constexpr const char* kLoopHeader = "X-Cubby-Loop";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string header_section(const std::string& message) {
  size_t end = message.find("\r\n\r\n");
  if (end == std::string::npos) end = message.find("\n\n");
  return end == std::string::npos ? message : message.substr(0, end + 1);
}

std::string rfc5322_now() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string vacation_message(const sieve::Action& a, const std::string& rcpt,
                             const std::string& message_id) {
  std::string m;
  m += "From: " + (a.from.empty() ? "<" + rcpt + ">" : a.from) + "\r\n";
  m += "To: <" + a.address + ">\r\n";
  m += "Subject: " + a.subject + "\r\n";
  m += "Date: " + rfc5322_now() + "\r\n";
  if (!message_id.empty()) m += "In-Reply-To: " + message_id + "\r\nReferences: " + message_id + "\r\n";
  m += "Auto-Submitted: auto-replied (vacation)\r\n";
  m += "MIME-Version: 1.0\r\n";
  if (a.mime) {
    m += a.reason;
  } else {
    m += "Content-Type: text/plain; charset=utf-8\r\n\r\n" + a.reason;
  }
  if (m.empty() || m.back() != '\n') m += "\r\n";
  return m;
}

}  // namespace

SieveMessage::SieveMessage(std::string bytes)
    : bytes_(std::move(bytes)), parsed_(bytes_), lower_header_(lower(header_section(bytes_))) {}

bool SieveMessage::has_loop_mark(const std::string& rcpt) const {
  const std::string mark = lower(std::string(kLoopHeader) + ": " + rcpt);
  return lower_header_.find("\n" + mark) != std::string::npos ||
         lower_header_.rfind(mark, 0) == 0;
}

const sieve::Outcome* SieveMessage::shared_outcome(const SharedKey& key) const {
  auto it = shared_.find(key);
  return it == shared_.end() ? nullptr : &it->second;
}

const sieve::Outcome& SieveMessage::share_outcome(SharedKey key, sieve::Outcome outcome) {
  return shared_.insert_or_assign(std::move(key), std::move(outcome)).first->second;
}

SieveRules SieveRules::from(const conf::Settings& s, const std::string& config_directory) {
  SieveRules r;
  r.sievedir = s.get_string("sievedir");
  if (r.sievedir.empty()) r.sievedir = config_directory + "/sieve";
  r.sendmail = s.get_string("sendmail");
  r.history_path = config_directory + "/sieve-history.sqlite";
  r.limits.max_script_bytes = static_cast<size_t>(s.get_int("sieve_maxscriptsize")) * 1024;
  r.outbox.max_children = static_cast<size_t>(s.get_int("sieve_sendmail_max_children"));
  r.outbox.timeout = s.get_duration("sieve_sendmail_timeout");
  return r;
}

SieveDelivery::SieveDelivery(store::Store& store, SieveRules rules, boost::asio::io_context* io)
    : store_(store),
      rules_(std::move(rules)),
      scripts_(rules_.sievedir),
      history_(rules_.history_path) {
  if (io && enabled()) outbox_ = std::make_unique<Outbox>(*io, rules_.sendmail, rules_.outbox);
}

std::optional<sievedir::ScriptFile> SieveDelivery::active_script(const std::string& target) {
  if (!enabled()) return std::nullopt;
  auto name = store::MailboxName::from_internal(target);
  if (!name.ok() || !name->is_user()) return std::nullopt;
  auto inbox = name->inbox();
  if (!inbox) return std::nullopt;
  ++resolutions_;
  return scripts_.active(store::owner_of(*inbox));
}

RecipientPlan SieveDelivery::plan(const std::string& target,
                                  const std::optional<sievedir::ScriptFile>& file,
                                  bool ignore_quota, const std::string& rcpt,
                                  const std::string& from, SieveMessage& message,
                                  const std::string& message_id) {
  RecipientPlan p;
  p.action = "no-sieve";
  auto keep_target = [&](std::vector<std::string> flags) {
    store::DeliveryTarget t{target, ignore_quota, std::nullopt};
    t.flags = std::move(flags);
    return t;
  };
  auto name = store::MailboxName::from_internal(target);
  std::optional<store::MailboxName> inbox = name.ok() && name->is_user() ? name->inbox() : std::nullopt;
  if (!enabled() || !inbox) {
    p.targets.push_back(keep_target({}));
    return p;
  }
  const std::string user = store::owner_of(*inbox);
  if (!file) {
    p.targets.push_back(keep_target({}));
    return p;
  }
  auto compiled = cache_.get(*file, rules_.limits);
  sievedir::StoreEnvironment env(store_, *inbox, scripts_, &history_);
  sieve::Outcome outcome;
  if (!compiled->script) {
    outcome.error = compiled->error;
  } else if (!compiled->script->recipient_independent()) {
    sieve::Envelope envelope{from, rcpt, {}};
    ++evaluations_;
    outcome = sieve::evaluate(*compiled->script, message.parsed(), envelope, env, rules_.limits);
  } else {
    SieveMessage::SharedKey key{compiled->source_hash, from};
    if (const sieve::Outcome* shared = message.shared_outcome(key)) {
      outcome = *shared;
    } else {
      sieve::Envelope envelope{from, rcpt, {}};
      ++evaluations_;
      outcome = message.share_outcome(
          std::move(key),
          sieve::evaluate(*compiled->script, message.parsed(), envelope, env, rules_.limits));
    }
  }
  if (outcome.error) {
    if (cache_.first_failure(*file, outcome.error->kind == sieve::Error::Kind::kCompile ? "compile"
                                                                                       : "runtime")) {
      CUBBY_LOG_ERR("sieve: %s script %s of %s: %s; the message is kept",
                    outcome.error->kind == sieve::Error::Kind::kCompile ? "cannot compile"
                                                                        : "runtime error in",
                    file->path.c_str(), user.c_str(), outcome.error->message.c_str());
    }
    p.action = "keep";
    p.targets.push_back(keep_target({"$SieveFailed"}));
    return p;
  }
  std::vector<std::string> actions;
  const bool looped = message.has_loop_mark(rcpt);
  bool keep_for_loop = false;
  for (const auto& a : outcome.actions) {
    switch (a.kind) {
      case sieve::Action::Kind::kKeep:
        p.targets.push_back(keep_target(a.flags));
        actions.push_back("keep");
        break;
      case sieve::Action::Kind::kFileInto: {
        auto box = sievedir::sieve_mailbox(*inbox, a.mailbox);
        if (!box) {
          CUBBY_LOG_WARNING("sieve: %s: fileinto \"%s\": bad mailbox name; kept instead",
                            user.c_str(), a.mailbox.c_str());
          p.targets.push_back(keep_target(a.flags));
          break;
        }
        if (a.create && !store_.index().find_mailbox(*box)) {
          auto made = store::MailboxName::from_internal(*box);
          if (made.ok()) {
            auto created = store_.create_mailbox(made.value());
            if (!created.ok() && created.error().code != store::Errc::kExists) {
              CUBBY_LOG_ERR("sieve: %s: fileinto :create %s: %s", user.c_str(), box->c_str(),
                            created.error().detail.c_str());
            }
          }
        }
        store::DeliveryTarget t{*box, ignore_quota, std::nullopt};
        t.flags = a.flags;
        t.by_owner = true;  // a missing folder falls back to the INBOX (delivery.h)
        p.targets.push_back(std::move(t));
        actions.push_back("fileinto");
        break;
      }
      case sieve::Action::Kind::kReject:
      case sieve::Action::Kind::kEreject:
        p.reply = lmtp::make_reply(550, "5.7.1", a.reason.empty() ? "rejected" : a.reason);
        actions.push_back(a.kind == sieve::Action::Kind::kReject ? "reject" : "ereject");
        break;
      case sieve::Action::Kind::kDiscard:
        actions.push_back("discard");
        break;
      case sieve::Action::Kind::kRedirect: {
        if (looped) {
          CUBBY_LOG_NOTICE("sieve: %s: redirect to %s refused: the message has been here "
                           "before (%s); kept instead", user.c_str(), a.address.c_str(),
                           kLoopHeader);
          keep_for_loop = !a.copy;
          break;
        }
        const std::string key = "r\n" + user + "\n" + message_id + "\n" + lower(a.address);
        if (!message_id.empty() && history_.seen(key, std::chrono::hours(24 * 14))) {
          CUBBY_LOG_INFO("sieve: %s: redirect of %s to %s already done", user.c_str(),
                         message_id.c_str(), a.address.c_str());
          break;
        }
        Sendout s{{from, a.address, std::string(kLoopHeader) + ": " + rcpt + "\r\n" + message.bytes()},
                  message_id.empty() ? "" : key, std::chrono::hours(24 * 14)};
        p.sendouts.push_back(std::move(s));
        actions.push_back("redirect");
        break;
      }
      case sieve::Action::Kind::kVacation:
        if (a.sent) {
          p.sendouts.push_back(Sendout{{"", a.address, vacation_message(a, rcpt, message_id)},
                                       sievedir::StoreEnvironment::vacation_key(user, a.address, a.handle),
                                       a.period});
          actions.push_back("vacation");
        }
        break;
    }
  }
  if (keep_for_loop &&
      std::none_of(p.targets.begin(), p.targets.end(), [&](const auto& t) { return t.mailbox == target; })) {
    p.targets.push_back(keep_target({}));
  }
  for (const auto& d : outcome.duplicates) {
    p.history_keys.emplace_back(sievedir::StoreEnvironment::duplicate_key(user, d.key), d.period);
  }
  p.action.clear();
  for (const auto& a : actions) p.action += (p.action.empty() ? "" : ",") + a;
  if (p.action.empty()) p.action = "none";
  return p;
}

void SieveDelivery::finish(const RecipientPlan& plan) {
  for (const auto& [key, period] : plan.history_keys) history_.mark(key, period);
  for (const auto& s : plan.sendouts) {
    if (!outbox_) {
      CUBBY_LOG_ERR("sieve: cannot send to %s: no event loop to run %s on", s.mail.to.c_str(),
                    rules_.sendmail.c_str());
      continue;
    }
    // Recorded now, not when sendmail is done: the next message from the same sender may be
    // planned before this child exits, and must not be answered twice. A failed send forgets it.
    if (!s.history_key.empty()) history_.mark(s.history_key, s.period);
    // `this` outlives every callback: the Outbox is a member, and its destructor calls none.
    outbox_->send(s.mail, [this, to = s.mail.to, key = s.history_key](std::optional<std::string> error) {
      if (!error) {
        CUBBY_LOG_INFO("sieve: sent to %s through %s", to.c_str(), rules_.sendmail.c_str());
        return;
      }
      CUBBY_LOG_ERR("sieve: sending to %s through %s failed: %s (the delivery stands)", to.c_str(),
                    rules_.sendmail.c_str(), error->c_str());
      if (!key.empty()) history_.forget(key);
    });
  }
}

}  // namespace cubby::server
