// The shared table of AUTH failures per client address; see auth_penalty_table.h.
#include "server/lmtpd/auth_penalty_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>

namespace cubby::server {

namespace {

constexpr uint32_t kMagic = 0x43425041;  // "CBPA"
constexpr uint32_t kVersion = 1;
constexpr size_t kProbe = 8;  // slots looked at for one address
constexpr int kCountShift = 56;
constexpr uint64_t kTimeMask = (uint64_t{1} << kCountShift) - 1;
constexpr uint64_t kMaxCount = 255;

uint64_t count_of(uint64_t state) { return state >> kCountShift; }
int64_t time_of(uint64_t state) { return static_cast<int64_t>(state & kTimeMask); }
uint64_t make_state(uint64_t count, int64_t time_ms) {
  return (std::min(count, kMaxCount) << kCountShift) |
         (static_cast<uint64_t>(std::max<int64_t>(time_ms, 0)) & kTimeMask);
}

// FNV-1a: the same in every process (std::hash need not be); never 0, which marks a free slot.
uint64_t hash_of(std::string_view address) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : address) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

class AddressPenalty : public lmtp::AuthPenalty {
 public:
  AddressPenalty(AuthPenaltyTable& table, std::string address)
      : table_(table), address_(std::move(address)) {}
  std::chrono::milliseconds admit() override {
    return table_.admit(address_, AuthPenaltyTable::now_ms());
  }
  void failed() override { table_.failed(address_, AuthPenaltyTable::now_ms()); }
  void succeeded() override { table_.succeeded(address_); }

 private:
  AuthPenaltyTable& table_;
  std::string address_;
};

}  // namespace

struct AuthPenaltyTable::Region {
  std::atomic<uint32_t> magic{0};
  uint32_t version = 0;
  uint64_t slots = 0;
  Slot slot[kPenaltySlots];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "slots are shared between processes");

std::unique_ptr<AuthPenaltyTable> AuthPenaltyTable::in_memory(PenaltyRules rules) {
  auto* region = new Region();
  region->version = kVersion;
  region->slots = kPenaltySlots;
  region->magic.store(kMagic);
  return std::unique_ptr<AuthPenaltyTable>(
      new AuthPenaltyTable(region, sizeof(Region), false, rules));
}

std::unique_ptr<AuthPenaltyTable> AuthPenaltyTable::open(const std::string& path,
                                                         PenaltyRules rules, std::string* error) {
  const size_t size = sizeof(Region);
  auto fallback = [&](const std::string& why) {
    if (error) *error = path + ": " + why + "; AUTH failures are counted per process only";
    return in_memory(rules);
  };
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fallback(std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fallback("not a regular file");
  }
  // A new file is sized by whoever gets here first; zeros are a valid empty table.
  if (static_cast<size_t>(st.st_size) < size && ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return fallback(why);
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return fallback(std::strerror(errno));
  auto* region = static_cast<Region*>(p);
  uint32_t magic = region->magic.load();
  if (magic == 0) {
    region->version = kVersion;
    region->slots = kPenaltySlots;
    uint32_t expected = 0;
    region->magic.compare_exchange_strong(expected, kMagic);
    magic = region->magic.load();
  }
  if (magic != kMagic || region->version != kVersion || region->slots != kPenaltySlots) {
    ::munmap(p, size);
    return fallback("written by another version of Cubby (remove it to reset)");
  }
  return std::unique_ptr<AuthPenaltyTable>(new AuthPenaltyTable(region, size, true, rules));
}

AuthPenaltyTable::~AuthPenaltyTable() {
  if (mapped_) {
    ::munmap(region_, size_);
  } else {
    delete region_;
  }
}

int64_t AuthPenaltyTable::now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::chrono::milliseconds AuthPenaltyTable::spacing(uint64_t failures) const {
  if (failures == 0) return std::chrono::milliseconds(0);
  std::chrono::milliseconds wait = rules_.base;
  for (uint64_t i = 1; i < failures && wait < rules_.max; ++i) wait *= 2;
  return std::min(wait, rules_.max);
}

uint64_t AuthPenaltyTable::live_state(uint64_t state, int64_t now_ms) const {
  if (count_of(state) == 0) return 0;
  // Forgotten after forget_after without a failure, and after a clock jump far into the past.
  const int64_t next = time_of(state);
  if (now_ms - next > rules_.forget_after.count()) return 0;
  if (next - now_ms > 24 * 3600 * 1000) return 0;
  return state;
}

AuthPenaltyTable::Slot* AuthPenaltyTable::slot_for(std::string_view address, bool claim,
                                                   int64_t now_ms) {
  const uint64_t h = hash_of(address);
  const size_t first = static_cast<size_t>(h % kPenaltySlots);
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = region_->slot[(first + i) % kPenaltySlots];
    if (s.key.load(std::memory_order_acquire) == h) return &s;
  }
  if (!claim) return nullptr;
  Slot* oldest = nullptr;
  int64_t oldest_time = INT64_MAX;
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = region_->slot[(first + i) % kPenaltySlots];
    uint64_t free_key = 0;
    if (s.key.compare_exchange_strong(free_key, h, std::memory_order_acq_rel)) {
      s.state.store(0, std::memory_order_release);
      return &s;
    }
    if (free_key == h) return &s;  // claimed by another process meanwhile
    const uint64_t st = live_state(s.state.load(std::memory_order_acquire), now_ms);
    const int64_t t = st == 0 ? INT64_MIN : time_of(st);
    if (t < oldest_time) {
      oldest_time = t;
      oldest = &s;
    }
  }
  // Every slot near this hash is taken: the one whose address was heard of least recently goes.
  oldest->key.store(h, std::memory_order_release);
  oldest->state.store(0, std::memory_order_release);
  return oldest;
}

std::chrono::milliseconds AuthPenaltyTable::admit(std::string_view address, int64_t now_ms) {
  Slot* s = slot_for(address, false, now_ms);
  if (!s) return std::chrono::milliseconds(0);
  uint64_t state = s->state.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t live = live_state(state, now_ms);
    if (live == 0) return std::chrono::milliseconds(0);
    // This attempt takes the next turn; the one after it comes a spacing later.
    const int64_t turn = std::max(now_ms, time_of(live));
    const uint64_t next = make_state(count_of(live), turn + spacing(count_of(live)).count());
    if (s->state.compare_exchange_weak(state, next, std::memory_order_acq_rel)) {
      return std::chrono::milliseconds(turn - now_ms);
    }
  }
}

void AuthPenaltyTable::failed(std::string_view address, int64_t now_ms) {
  Slot* s = slot_for(address, true, now_ms);
  uint64_t state = s->state.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t live = live_state(state, now_ms);
    const uint64_t count = count_of(live) + 1;
    // The next turn is a spacing after now, or later if turns are already handed out.
    const int64_t next = std::max(now_ms + spacing(count).count(), live ? time_of(live) : 0);
    if (s->state.compare_exchange_weak(state, make_state(count, next),
                                       std::memory_order_acq_rel)) {
      return;
    }
  }
}

void AuthPenaltyTable::succeeded(std::string_view address) {
  if (Slot* s = slot_for(address, false, 0)) s->state.store(0, std::memory_order_release);
}

uint32_t AuthPenaltyTable::failures(std::string_view address, int64_t now_ms) {
  Slot* s = slot_for(address, false, now_ms);
  if (!s) return 0;
  return static_cast<uint32_t>(count_of(live_state(s->state.load(), now_ms)));
}

std::unique_ptr<lmtp::AuthPenalty> AuthPenaltyTable::for_address(std::string address) {
  return std::make_unique<AddressPenalty>(*this, std::move(address));
}

}  // namespace cubby::server
