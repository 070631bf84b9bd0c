// Lookups on a thread of their own, with a bounded wait; see bounded_directory.h.
#include "directory/bounded_directory.h"

#include <utility>

#include "conf/log.h"

namespace cubby::directory {

BoundedDirectory::BoundedDirectory(std::unique_ptr<Directory> source, CachePolicy policy,
                                   std::chrono::milliseconds wait)
    : source_(std::move(source)), wait_(wait), cache_(nullptr, policy) {
  thread_ = std::thread([this] { run(); });
}

BoundedDirectory::~BoundedDirectory() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  asked_.notify_all();
  thread_.join();
}

Result<Location, LookupError> BoundedDirectory::locate(const std::string& userid) {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  if (auto known = cache_.fresh(userid)) return *known;

  const auto now = Clock::now();
  std::shared_ptr<Question> question;
  if (auto open = open_.find(userid); open != open_.end()) {
    question = open->second;
  } else if (queue_.size() < kMaxQueued) {
    question = std::make_shared<Question>(Question{userid, std::nullopt});
    queue_.push_back(question);
    open_.emplace(userid, question);
    asked_.notify_one();
  }
  const bool hanging = busy_since_ && now - *busy_since_ >= wait_;
  if (question && !hanging) {
    answered_.wait_until(lock, now + wait_, [&] { return question->answer.has_value(); });
  }
  std::string why = "directory did not answer within " + std::to_string(wait_.count()) + " ms";
  if (question && question->answer) {
    const auto& answer = *question->answer;
    if (answer.ok() || answer.error().fault == Fault::kUnknownUser) return answer;
    why = answer.error().detail;
  }
  if (auto known = cache_.usable(userid)) {
    CUBBY_LOG_INFO("directory: %s; %s served from the cache", why.c_str(), userid.c_str());
    return *known;
  }
  return fail(LookupError{Fault::kUnreachable, why});
}

void BoundedDirectory::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    asked_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Question> question = std::move(queue_.front());
    queue_.pop_front();
    busy_since_ = std::chrono::steady_clock::now();
    lock.unlock();
    auto answer = source_->locate(question->userid);
    lock.lock();
    busy_since_.reset();
    cache_.record(question->userid, answer);
    question->answer = std::move(answer);
    open_.erase(question->userid);
    answered_.notify_all();
  }
}

}  // namespace cubby::directory
