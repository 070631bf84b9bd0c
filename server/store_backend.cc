// The engine's Backend over the store; see store_backend.h.
#include "server/store_backend.h"

#include <cerrno>
#include <cstring>

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

}  // namespace

lmtp::Reply user_unknown_reply() {
  lmtp::Reply r = lmtp::make_reply(550, "5.1.1", "User unknown");
  r.preamble = {"Mailbox unknown.  Either there is no mailbox associated with this",
                "name or you do not have authorization to see it."};
  return r;
}

lmtp::RecipientVerdict StoreBackend::check_recipient(const lmtp::RecipientRequest& request) {
  lmtp::RecipientVerdict v;
  v.request = request;
  auto mapped = store::map_recipient(request.address, rules_);
  if (!mapped.ok()) {
    v.rejection = user_unknown_reply();
    return v;
  }
  auto& index = store_.index();
  if (mapped->folder) {
    if (auto folder = index.find_mailbox(mapped->folder->internal())) {
      v.accepted = true;
      v.target = folder->name;
      return v;
    }
  }
  if (auto inbox = index.find_mailbox(mapped->mailbox.internal())) {
    v.accepted = true;
    v.target = inbox->name;
    return v;
  }
  v.rejection = user_unknown_reply();
  return v;
}

Result<std::unique_ptr<lmtp::MessageSink>, lmtp::Reply> StoreBackend::open_message(
    const std::vector<lmtp::RecipientVerdict>& recipients) {
  std::string partition = store_.config().default_partition;
  if (!recipients.empty()) {
    if (auto box = store_.index().find_mailbox(recipients.front().target)) {
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
  store::DeliveryBatch b{sink->take(), {}};
  for (const auto& r : request.recipients) b.mailboxes.push_back(r.target);
  request.sink.reset();
  return b;
}

std::vector<lmtp::Reply> StoreBackend::replies(const store::DeliveryResult& result,
                                               const std::string& session_id) {
  std::vector<lmtp::Reply> out;
  for (const auto& o : result.outcomes) {
    if (!o.error) {
      out.push_back(lmtp::make_reply(250, "2.1.5", "Success SESSIONID=<" + session_id + ">"));
    } else if (o.error->code == store::Errc::kNotFound) {
      out.push_back(user_unknown_reply());
    } else if (o.error->code == store::Errc::kNoSpace) {
      out.push_back(lmtp::make_reply(451, "4.3.1", "mail system storage has been exceeded"));
    } else {
      out.push_back(lmtp::make_reply(451, "4.3.0", "System I/O error"));
    }
  }
  return out;
}

}  // namespace cubby::server
