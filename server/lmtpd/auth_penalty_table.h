// AuthPenaltyTable: failed AUTH attempts per client address, shared by every lmtpd process of an
// instance, so that guessing passwords over many connections (and workers) is as slow as over one
// (Dovecot's auth penalty is the model).
//
// The rule, per address: after its n-th failure (n counted since the last success, forgotten after
// `forget_after` without a failure) every AUTH attempt from that address waits for its turn before
// it is checked, and turns are `base`·2^(n−1) apart, at most `max` (lmtp_auth_failure_delay,
// 30 s, lmtp_auth_penalty_timeout). So once an address has failed, it gets at most one attempt
// checked per `base` whatever number of connections it holds, and fewer as it keeps failing. A
// successful login from the address forgets its failures. Attempts that arrive together before
// the address's first failure is recorded are not slowed (nothing is known about it yet).
//
// The table is a fixed array of slots (kPenaltySlots) in a small file in the configuration
// directory ({configdirectory}/auth_penalty), mapped MAP_SHARED by each worker: the master needs
// no part in it, and workers started by inetd or systemd share it too. A slot holds a 64-bit hash
// of the address and one 64-bit word (failure count and the time of the next turn) changed by
// compare-and-swap, so no lock is held across processes and a worker killed at any point leaves
// the table usable. When the addresses of one probe run are taken, the slot of the oldest is
// reused. Times are CLOCK_REALTIME milliseconds (the same in every process and after a restart).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/lmtp/auth_penalty.h"

namespace cubby::server {

inline constexpr size_t kPenaltySlots = 4096;
inline constexpr const char* kPenaltyFile = "auth_penalty";

struct PenaltyRules {
  std::chrono::milliseconds base{1000};            // lmtp_auth_failure_delay
  std::chrono::milliseconds max{30000};            // the longest spacing
  std::chrono::milliseconds forget_after{3600000};  // lmtp_auth_penalty_timeout
};

class AuthPenaltyTable {
 public:
  // Maps the table file at `path` (created 0600 when missing, never through a link). On failure
  // returns a table private to this process and sets *error, for the log.
  static std::unique_ptr<AuthPenaltyTable> open(const std::string& path, PenaltyRules rules,
                                                std::string* error);
  // A table in this process's memory only (tests, or when the file cannot be used).
  static std::unique_ptr<AuthPenaltyTable> in_memory(PenaltyRules rules);
  ~AuthPenaltyTable();
  AuthPenaltyTable(const AuthPenaltyTable&) = delete;
  AuthPenaltyTable& operator=(const AuthPenaltyTable&) = delete;

  // The three steps of lmtp::AuthPenalty for `address` at `now_ms` (realtime milliseconds).
  std::chrono::milliseconds admit(std::string_view address, int64_t now_ms);
  void failed(std::string_view address, int64_t now_ms);
  void succeeded(std::string_view address);
  // Failures counted for `address` (0 when unknown or forgotten).
  uint32_t failures(std::string_view address, int64_t now_ms);

  // The engine's view of one address, with the real clock; must not outlive the table.
  std::unique_ptr<lmtp::AuthPenalty> for_address(std::string address);

  static int64_t now_ms();

  struct Slot {
    std::atomic<uint64_t> key{0};    // hash of the address; 0: free
    std::atomic<uint64_t> state{0};  // failures << 56 | time of the next turn (ms)
  };
  struct Region;  // the mapped layout (auth_penalty_table.cc)

 private:
  AuthPenaltyTable(Region* region, size_t size, bool mapped, PenaltyRules rules)
      : region_(region), size_(size), mapped_(mapped), rules_(rules) {}
  Slot* slot_for(std::string_view address, bool claim, int64_t now_ms);
  std::chrono::milliseconds spacing(uint64_t failures) const;
  uint64_t live_state(uint64_t state, int64_t now_ms) const;  // 0 when forgotten

  Region* region_;
  size_t size_;
  bool mapped_;
  PenaltyRules rules_;
};

}  // namespace cubby::server
