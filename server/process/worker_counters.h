// WorkerCounters: what one lmtpd worker has done (transactions, recipients by reply code, bytes,
// fsyncs, delivery latency), kept where cubby-master can read it while the worker runs and after it
// has died: a small shared-memory region that the master creates for each worker (a memfd, passed
// as fd 5, kCountersFd, see worker_protocol.h) and that both map. A worker started without the
// master (inetd, systemd) counts into private memory instead, so the counting code never needs to
// know how it was started.
//
// Every counter is a lock-free std::atomic<uint64_t>, incremented by the worker with relaxed
// ordering and read by the master: each counter is exact on its own, a reader may see one counter
// move before another. A worker can spoil only its own numbers; the master checks the header
// before it believes a region. A layout change must change kCountersVersion.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "conf/result.h"

namespace cubby::server {

// Upper bounds (milliseconds) of the delivery latency histogram's buckets; +Inf is implicit.
inline constexpr uint64_t kLatencyBoundsMs[] = {1,   2,   5,    10,   25,   50,    100,
                                                250, 500, 1000, 2500, 5000, 10000, 30000};
inline constexpr size_t kLatencyBuckets = sizeof kLatencyBoundsMs / sizeof kLatencyBoundsMs[0] + 1;
// Reply codes 200..599 are counted one by one; anything else in the last slot, kOtherCode.
inline constexpr int kFirstCode = 200;
inline constexpr int kCodeSlots = 401;
inline constexpr int kOtherCode = kFirstCode + kCodeSlots - 1;

inline constexpr uint32_t kCountersMagic = 0x43554243;  // "CBUC"
inline constexpr uint32_t kCountersVersion = 2;

struct WorkerCounters {
  uint32_t magic = kCountersMagic;
  uint32_t version = kCountersVersion;
  std::atomic<uint64_t> transactions{0};    // messages handed to the store
  std::atomic<uint64_t> deliveries{0};      // recipients that got 250 after their message
  std::atomic<uint64_t> bytes_received{0};  // stored message bytes, once per transaction
  std::atomic<uint64_t> bytes_written{0};   // message bytes written: stage files and copies
  std::atomic<uint64_t> bytes_linked{0};    // bytes a copy per recipient would have written more
  std::atomic<uint64_t> fsyncs{0};          // fsync() and fdatasync() calls, the index's included
  std::atomic<uint64_t> unsettled_refusals{0};  // recipients refused: partition not yet settled
  std::atomic<uint64_t> latency_count{0};
  std::atomic<uint64_t> latency_sum_us{0};
  std::atomic<uint64_t> latency_buckets[kLatencyBuckets]{};  // per bucket, not cumulative
  std::atomic<uint64_t> recipients[kCodeSlots]{};            // by reply code - kFirstCode

  void add_recipient(int code) {
    int slot = code >= kFirstCode && code < kOtherCode ? code - kFirstCode : kCodeSlots - 1;
    recipients[slot].fetch_add(1, std::memory_order_relaxed);
  }
  void add_latency(std::chrono::microseconds latency);
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "counters are shared between processes");

// A plain copy of WorkerCounters, for adding up and printing.
struct CounterSnapshot {
  uint64_t transactions = 0, deliveries = 0, bytes_received = 0, bytes_written = 0,
           bytes_linked = 0, fsyncs = 0, unsettled_refusals = 0, latency_count = 0,
           latency_sum_us = 0;
  uint64_t latency_buckets[kLatencyBuckets] = {};
  uint64_t recipients[kCodeSlots] = {};

  static CounterSnapshot of(const WorkerCounters& c);
  CounterSnapshot& operator+=(const CounterSnapshot& other);
};

// The master's side: one region per worker. Created before the fork; fd() goes to the worker;
// close_fd() once the worker has it. The mapping stays until the object goes, so the counters of a
// dead worker can still be read.
class CountersRegion {
 public:
  static Result<std::unique_ptr<CountersRegion>, std::string> create();
  ~CountersRegion();
  CountersRegion(const CountersRegion&) = delete;
  CountersRegion& operator=(const CountersRegion&) = delete;

  int fd() const { return fd_; }
  void close_fd();
  // What the worker has counted; zeros if it spoiled the header.
  CounterSnapshot snapshot() const;

 private:
  CountersRegion(int fd, WorkerCounters* counters) : fd_(fd), counters_(counters) {}
  int fd_;
  WorkerCounters* counters_;
};

// The worker's side: the counters of this process. Private memory until
// attach_worker_counters() maps the master's region.
WorkerCounters& worker_counters();
// Maps the region on `fd` (the master's kCountersFd) and counts there from now on, carrying over
// what was counted before. False, and nothing changes, when `fd` holds no such region.
bool attach_worker_counters(int fd);

}  // namespace cubby::server
