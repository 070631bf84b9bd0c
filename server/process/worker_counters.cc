// Worker counters in shared memory; see worker_counters.h.
#include "server/process/worker_counters.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace cubby::server {
namespace {

// Whole pages, so that the region can be mapped and nothing else shares them.
size_t region_size() {
  long page = sysconf(_SC_PAGESIZE);
  size_t p = page > 0 ? static_cast<size_t>(page) : 4096;
  return (sizeof(WorkerCounters) + p - 1) / p * p;
}

WorkerCounters g_private;
std::atomic<WorkerCounters*> g_current{&g_private};

}  // namespace

void WorkerCounters::add_latency(std::chrono::microseconds latency) {
  uint64_t us = latency.count() < 0 ? 0 : static_cast<uint64_t>(latency.count());
  size_t bucket = 0;
  while (bucket < kLatencyBuckets - 1 && us > kLatencyBoundsMs[bucket] * 1000) ++bucket;
  latency_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us.fetch_add(us, std::memory_order_relaxed);
  latency_count.fetch_add(1, std::memory_order_relaxed);
}

CounterSnapshot CounterSnapshot::of(const WorkerCounters& c) {
  CounterSnapshot s;
  if (c.magic != kCountersMagic || c.version != kCountersVersion) return s;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.transactions = get(c.transactions);
  s.deliveries = get(c.deliveries);
  s.bytes_received = get(c.bytes_received);
  s.bytes_written = get(c.bytes_written);
  s.bytes_linked = get(c.bytes_linked);
  s.fsyncs = get(c.fsyncs);
  s.unsettled_refusals = get(c.unsettled_refusals);
  s.latency_count = get(c.latency_count);
  s.latency_sum_us = get(c.latency_sum_us);
  for (size_t i = 0; i < kLatencyBuckets; ++i) s.latency_buckets[i] = get(c.latency_buckets[i]);
  for (int i = 0; i < kCodeSlots; ++i) s.recipients[i] = get(c.recipients[i]);
  return s;
}

CounterSnapshot& CounterSnapshot::operator+=(const CounterSnapshot& o) {
  transactions += o.transactions;
  deliveries += o.deliveries;
  bytes_received += o.bytes_received;
  bytes_written += o.bytes_written;
  bytes_linked += o.bytes_linked;
  fsyncs += o.fsyncs;
  unsettled_refusals += o.unsettled_refusals;
  latency_count += o.latency_count;
  latency_sum_us += o.latency_sum_us;
  for (size_t i = 0; i < kLatencyBuckets; ++i) latency_buckets[i] += o.latency_buckets[i];
  for (int i = 0; i < kCodeSlots; ++i) recipients[i] += o.recipients[i];
  return *this;
}

Result<std::unique_ptr<CountersRegion>, std::string> CountersRegion::create() {
  int fd = memfd_create("cubby-worker-counters", MFD_CLOEXEC);
  if (fd < 0) return fail(std::string("memfd_create: ") + strerror(errno));
  const size_t size = region_size();
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::string err = strerror(errno);
    close(fd);
    return fail("cannot size the counters region: " + err);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    std::string err = strerror(errno);
    close(fd);
    return fail("cannot map the counters region: " + err);
  }
  auto* counters = new (p) WorkerCounters();
  return std::unique_ptr<CountersRegion>(new CountersRegion(fd, counters));
}

CountersRegion::~CountersRegion() {
  close_fd();
  munmap(counters_, region_size());
}

void CountersRegion::close_fd() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

CounterSnapshot CountersRegion::snapshot() const { return CounterSnapshot::of(*counters_); }

WorkerCounters& worker_counters() { return *g_current.load(std::memory_order_acquire); }

bool attach_worker_counters(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<size_t>(st.st_size) != region_size())
    return false;
  void* p = mmap(nullptr, region_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return false;
  auto* shared = static_cast<WorkerCounters*>(p);
  if (shared->magic != kCountersMagic || shared->version != kCountersVersion) {
    munmap(p, region_size());
    return false;
  }
  // What was counted before (start-up fsyncs) moves over; the region stays mapped for good.
  CounterSnapshot before = CounterSnapshot::of(g_private);
  shared->fsyncs.fetch_add(before.fsyncs, std::memory_order_relaxed);
  g_current.store(shared, std::memory_order_release);
  return true;
}

}  // namespace cubby::server
