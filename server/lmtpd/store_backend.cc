// The engine's Backend over the store; see store_backend.h.
#include "server/lmtpd/store_backend.h"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>

#include "conf/log.h"
#include "store/acl.h"
#include "store/fuzzy_match.h"
#include "store/maildir_delivery.h"

namespace cubby::server {
namespace {

// A MessageSink writing into a stage file.
class StageSink : public lmtp::MessageSink {
 public:
  explicit StageSink(store::StageFile stage) : stage_(std::move(stage)) {}
  void write(std::string_view bytes) override {
    if (failure_) return;
    if (auto e = stage_.append(bytes)) {
      failure_ = e->code == store::Errc::kNoSpace
                     ? lmtp::make_reply(451, "4.3.1", "mail system storage has been exceeded")
                     : lmtp::make_reply(451, "4.3.0", "System I/O error");
    }
  }
  const lmtp::Reply* failure() const override { return failure_ ? &*failure_ : nullptr; }
  uint64_t size() const override { return stage_.size(); }
  store::StageFile take() { return std::move(stage_); }

 private:
  store::StageFile stage_;
  std::optional<lmtp::Reply> failure_;
};

std::optional<int64_t> positive(int64_t v) { return v > 0 ? std::optional<int64_t>(v) : std::nullopt; }

}  // namespace

RecipientRules RecipientRules::from(const conf::Settings& s) {
  RecipientRules r;
  r.address = store::AddressRules::from(s);
  r.fuzzy_match = s.get_bool("lmtp_fuzzy_mailbox_match");
  r.catchall = s.get_string("lmtp_catchall_mailbox");
  r.autocreate = s.get_bool("autocreate_post") && s.get_int("autocreate_quota") >= 0;
  r.autocreate_storage = std::max<int64_t>(0, s.get_int("autocreate_quota"));
  r.autocreate_messages = std::max<int64_t>(0, s.get_int("autocreate_quota_messages"));
  r.strict_quota = s.get_bool("lmtp_strict_quota");
  r.over_quota_permanent = s.get_bool("lmtp_over_quota_perm_failure");
  r.user_concurrency_limit = static_cast<int>(s.get_int("lmtp_user_concurrency_limit"));
  r.postmaster = s.get_string("postmaster");
  return r;
}

lmtp::Reply user_unknown_reply() {
  lmtp::Reply r = lmtp::make_reply(550, "5.1.1", "User unknown");
  r.preamble = {"Mailbox unknown.  Either there is no mailbox associated with this",
                "name or you do not have authorization to see it."};
  return r;
}

lmtp::Reply permission_denied_reply(const std::string& postmaster) {
  lmtp::Reply r = lmtp::make_reply(550, "5.7.1", "Permission denied");
  r.preamble = {"You do not have permission to post a message to this mailbox.",
                "Please contact the owner of this mailbox in order to submit",
                "your message, or " + postmaster + " if you believe you",
                "received this message in error."};
  return r;
}

lmtp::Reply StoreBackend::reply_for(const store::Error& error, const std::string& session_id) const {
  using store::Errc;
  switch (error.code) {
    case Errc::kNotFound:
    case Errc::kBadName:
      return user_unknown_reply();
    case Errc::kPermission:
      return permission_denied_reply(rules_.postmaster);
    case Errc::kOverQuota:
      return rules_.over_quota_permanent
                 ? lmtp::make_reply(552, "5.2.2", "Over quota SESSIONID=<" + session_id + ">")
                 : lmtp::make_reply(452, "4.2.2", "Over quota SESSIONID=<" + session_id + ">");
    case Errc::kBusy:
      return lmtp::make_reply(451, "4.4.5", "Too many concurrent deliveries for this user");
    case Errc::kNoSpace:
      return lmtp::make_reply(451, "4.3.1", "mail system storage has been exceeded");
    default:
      return lmtp::make_reply(451, "4.3.0", "System I/O error");
  }
}

std::optional<store::Error> StoreBackend::verify(const store::RecipientMailbox& mapped,
                                                 const lmtp::RecipientRequest& request,
                                                 std::string* resolved) {
  using store::Errc;
  using store::Error;
  auto& index = store_.index();
  std::optional<store::MailboxRecord> box = cache_.find(mapped.mailbox.internal());
  if (mapped.shared) {
    if (!box && rules_.fuzzy_match) {
      if (auto name = store::fuzzy_match(index, mapped.mailbox)) box = cache_.find(*name);
    }
    if (!box) return Error{Errc::kNotFound, "no mailbox " + mapped.mailbox.internal()};
    if (auto e = store::check_post_right(box->acl, request.auth_id, box->name)) return e;
  } else if (!box && rules_.autocreate) {
    auto created = store_.create_mailbox(mapped.mailbox);
    if (created.ok()) {
      CUBBY_LOG_NOTICE("autocreate: created %s for %s", created->name.c_str(),
                       mapped.userid.c_str());
      if (rules_.autocreate_storage > 0 || rules_.autocreate_messages > 0) {
        if (auto e = store_.set_quota(mapped.mailbox, positive(rules_.autocreate_storage),
                                      positive(rules_.autocreate_messages))) {
          CUBBY_LOG_ERR("autocreate: quota of %s: %s", created->name.c_str(), e->detail.c_str());
        }
      }
    } else if (created.error().code != Errc::kExists) {
      CUBBY_LOG_ERR("autocreate: %s: %s", mapped.mailbox.internal().c_str(),
                    created.error().detail.c_str());
    }
    cache_.begin();  // the generation moved with the mailbox ours (or another worker's) made
    box = cache_.find(mapped.mailbox.internal());
  }
  if (!box) return Error{Errc::kNotFound, "no mailbox " + mapped.mailbox.internal()};

  if (!request.ignore_quota) {
    auto root = cache_.quota_root_of(box->name);
    if (!root.ok()) return root.error();
    const auto size = static_cast<int64_t>(std::min<uint64_t>(request.declared_size, INT64_MAX / 2));
    if (root.value()) {
      if (auto e = store::check_delivery_quota(*root.value(), size, rules_.strict_quota)) return e;
    }
    // Maildir++: the quota shared with Dovecot in the user's maildirsize (maildir_delivery.h).
    if (auto e = store::check_maildir_rcpt_quota(store_.config(), *box, size, rules_.strict_quota,
                                                  &maildir_quotas_)) {
      return e;
    }
  }

  *resolved = box->name;
  if (mapped.folder) {
    if (cache_.find(mapped.folder->internal())) {
      *resolved = mapped.folder->internal();
    } else if (rules_.fuzzy_match) {
      if (auto name = store::fuzzy_match(index, *mapped.folder)) *resolved = *name;
    }
  }
  return std::nullopt;
}

lmtp::RecipientVerdict StoreBackend::check_recipient(const lmtp::RecipientRequest& request) {
  lmtp::RecipientVerdict v;
  v.request = request;
  std::string target;
  std::optional<store::Error> error;
  cache_.begin();  // every change committed before this RCPT is seen (mailbox_cache.h)
  auto mapped = store::map_recipient(request.address, rules_.address);
  if (mapped.ok()) {
    error = verify(mapped.value(), request, &target);
  } else {
    error = mapped.error();
  }
  if (error && !rules_.catchall.empty()) {
    auto inbox = store::inbox_of_userid(rules_.catchall, rules_.address);
    if (inbox.ok()) {
      store::RecipientMailbox catchall{inbox.value(), std::nullopt, false,
                                       store::owner_of(inbox.value())};
      CUBBY_LOG_DEBUG("<%s>: %s; trying the catch-all %s", request.address.c_str(),
                      error->detail.c_str(), inbox->internal().c_str());
      error = verify(catchall, request, &target);
    } else {
      CUBBY_LOG_ERR("lmtp_catchall_mailbox \"%s\": %s", rules_.catchall.c_str(),
                    inbox.error().detail.c_str());
    }
  }
  if (error) {
    CUBBY_LOG_DEBUG("sessionid=<%s> rcpt <%s> refused: %s", request.session_id.c_str(),
                    request.address.c_str(), error->detail.c_str());
    v.rejection = reply_for(*error, request.session_id);
    return v;
  }
  v.accepted = true;
  v.target = std::move(target);
  return v;
}

Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> StoreBackend::open_message(
    const std::vector<lmtp::RecipientVerdict>& recipients) {
  std::string partition = store_.config().default_partition;
  if (!recipients.empty()) {
    cache_.begin();
    if (auto box = cache_.find(recipients.front().target)) {
      partition = box->partition;
    }
  }
  auto stage = store_.create_stage(partition);
  if (!stage.ok()) {
    const bool full = stage.error().code == store::Errc::kNoSpace;
    return fail(lmtp::make_reply(451, full ? "4.3.1" : "4.3.2",
                                 "cannot create temporary file: " + stage.error().detail));
  }
  return std::unique_ptr<lmtp::MessageSink>(new StageSink(std::move(stage.value())));
}

store::DeliveryBatch StoreBackend::batch(lmtp::DeliveryRequest& request) {
  auto* sink = static_cast<StageSink*>(request.sink.get());
  store::DeliveryBatch b{sink->take(), {}, request.info.auth_id, request.info.message_id,
                         request.info.date, {}};
  request.sink.reset();
  std::vector<PlannedRecipient> planned;
  planned.reserve(request.recipients.size());
  b.targets.reserve(request.recipients.size());
  // Each recipient's active script is resolved once for this message (a readlink and a stat):
  // the same answer decides whether the message is read and which script plans its delivery.
  std::vector<std::optional<sievedir::ScriptFile>> active;
  active.reserve(request.recipients.size());
  for (const auto& r : request.recipients) active.push_back(sieve_.active_script(r.target));
  const bool scripts =
      std::any_of(active.begin(), active.end(), [](const auto& file) { return file.has_value(); });
  if (scripts) {
    // The script reads the message as stored: the stage file's bytes (read only when a recipient
    // has an active script, so mail to users without one costs nothing more).
    std::optional<SieveMessage> message;  // parsed once for all recipients
    auto bytes = sievedir::read_file(b.stage.path());
    if (bytes.ok()) {
      message.emplace(std::move(bytes.value()));
    } else {
      CUBBY_LOG_ERR("sieve: reading %s: %s; no script runs", b.stage.path().c_str(),
                    bytes.error().c_str());
    }
    for (size_t i = 0; i < request.recipients.size(); ++i) {
      const auto& r = request.recipients[i];
      PlannedRecipient p;
      if (message) {
        p.plan = sieve_.plan(r.target, active[i], r.request.ignore_quota, r.request.address,
                             request.info.mail_from, *message, request.info.message_id);
      } else {
        p.plan.targets.push_back({r.target, r.request.ignore_quota, std::nullopt});
      }
      planned.push_back(std::move(p));
    }
  } else {
    for (const auto& r : request.recipients) {
      PlannedRecipient p;
      p.plan.targets.push_back({r.target, r.request.ignore_quota, std::nullopt});
      planned.push_back(std::move(p));
    }
  }
  // Per user: nullopt once a slot is held (or when the limit does not apply), else the refusal.
  std::map<std::string, std::optional<store::Error>> users;
  for (auto& p : planned) {
   p.first = b.targets.size();
   p.count = p.plan.targets.size();
   for (auto& target : p.plan.targets) {
    auto name = store::MailboxName::from_internal(target.mailbox);
    if (rules_.user_concurrency_limit > 0 && name.ok() && name->is_user()) {
      const std::string user = name->inbox()->internal();
      auto it = users.find(user);
      if (it == users.end()) {
        std::optional<store::Error> refusal;
        auto slot = store::DeliverySlot::acquire(store_.config().config_directory, user,
                                                 rules_.user_concurrency_limit);
        if (!slot.ok()) {  // the limit is a safeguard: a broken slot file does not stop mail
          CUBBY_LOG_ERR("delivery slots of %s: %s", user.c_str(), slot.error().detail.c_str());
        } else if (!slot.value()) {
          refusal = store::Error{store::Errc::kBusy,
                                 "too many concurrent deliveries to " + user + " (limit " +
                                     std::to_string(rules_.user_concurrency_limit) + ")"};
        } else {
          b.slots.push_back(std::move(*slot.value()));
        }
        it = users.emplace(user, refusal).first;
      }
      target.refused = it->second;
    }
    b.targets.push_back(std::move(target));
   }
   p.plan.targets.clear();
  }
  if (scripts) planned_[request.info.session_id] = std::move(planned);
  return b;
}

std::vector<lmtp::Reply> StoreBackend::replies(const store::DeliveryResult& result,
                                               const lmtp::MessageInfo& info) {
  auto planned = planned_.find(info.session_id);
  if (planned == planned_.end()) return target_replies(result, info);
  std::vector<PlannedRecipient> recipients = std::move(planned->second);
  planned_.erase(planned);
  const std::vector<lmtp::Reply> per_target = target_replies(result, info);
  std::vector<lmtp::Reply> out;
  // One log line per message, not per recipient: "action=fileinto recipients=10" when the scripts
  // agree, else each script's action in recipient order ("action=fileinto;keep recipients=2").
  std::string actions;
  const std::string* first = nullptr;
  size_t scripted = 0;
  bool agree = true;
  for (const auto& r : recipients) {
    if (r.plan.action == "no-sieve") continue;
    if (!first) first = &r.plan.action;
    agree = agree && r.plan.action == *first;
    actions += (scripted++ ? ";" : "") + r.plan.action;
  }
  if (first) {
    if (agree) actions = *first;
    CUBBY_LOG_INFO("sieve: sessionid=<%s> messageid=%s action=%s recipients=%zu",
                   info.session_id.c_str(), info.message_id.c_str(), actions.c_str(), scripted);
  }
  for (const auto& r : recipients) {
    if (r.plan.reply) {
      out.push_back(*r.plan.reply);
      continue;
    }
    if (r.count == 0) {  // discarded: nothing to store, success all the same
      sieve_.finish(r.plan);
      out.push_back(lmtp::make_reply(250, "2.1.5", "Success SESSIONID=<" + info.session_id + ">"));
      continue;
    }
    std::optional<lmtp::Reply> success, failure;
    for (size_t i = r.first; i < r.first + r.count && i < per_target.size(); ++i) {
      if (per_target[i].code / 100 == 2) {
        if (!success) success = per_target[i];
      } else if (!failure) {
        failure = per_target[i];
      }
    }
    if (success) sieve_.finish(r.plan);
    out.push_back(success ? *success
                          : failure ? *failure : lmtp::make_reply(451, "4.3.0", "System I/O error"));
  }
  return out;
}

std::vector<lmtp::Reply> StoreBackend::target_replies(const store::DeliveryResult& result,
                                                      const lmtp::MessageInfo& info) {
  std::vector<lmtp::Reply> out;
  const char* sid = info.session_id.c_str();
  const char* msgid = info.message_id.c_str();
  for (const auto& o : result.outcomes) {
    if (o.error) {
      CUBBY_LOG_ERR("delivery failed: sessionid=<%s> messageid=%s mailbox=%s: %s", sid, msgid,
                    o.mailbox.c_str(), o.error->detail.c_str());
      out.push_back(reply_for(*o.error, info.session_id));
      continue;
    }
    if (o.duplicate && !o.folded) {
      CUBBY_LOG_INFO("dupelim: eliminated duplicate message to %s id %s date %s (delivery) "
                     "sessionid=<%s> mailbox=%s uid=%lld",
                     o.uniqueid.c_str(), msgid, info.date.c_str(), sid, o.mailbox.c_str(),
                     static_cast<long long>(o.uid));
    } else {
      CUBBY_LOG_INFO("Delivered: sessionid=<%s> messageid=%s size=%llu mailbox=%s uid=%lld "
                     "uniqueid=%s target=%s links=%d",
                     sid, msgid, static_cast<unsigned long long>(result.size), o.mailbox.c_str(),
                     static_cast<long long>(o.uid), o.uniqueid.c_str(),
                     o.folded ? "folded" : o.fell_back ? "fallback" : "default", result.links);
    }
    out.push_back(lmtp::make_reply(250, "2.1.5", "Success SESSIONID=<" + info.session_id + ">"));
  }
  return out;
}

}  // namespace cubby::server
