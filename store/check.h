// Consistency check and space statistics of a store (cubbyctl check, cubbyctl stats).
//
// check() verifies that index and files agree and that the store invariants 3 and 4 (docs/store-protocol.md) hold:
//   - every mailbox directory exists; every row's <uid>. file exists and has the row's size;
//   - no <uid>. file lacks a row (a stray) and no UID is at or above its mailbox's uidnext;
//   - the rows of one delivery transaction on one partition share one inode (unless
//     singleinstancestore is off);
//   - no row is still pending (after recovery every link is durable);
//   - every quota root is set on an existing mailbox and its usage equals the bytes and messages
//     of the mailboxes it covers (cubbyctl quota recalc repairs a difference).
// On a Maildir partition (docs/dovecot.md) a row's file is its name in new/ or, moved by Dovecot,
// in cur/ with ":2,<flags>"; new/, cur/ and tmp/ must be directories. A durable row whose file is
// gone was expunged through Dovecot, which owns the file from then on: counted in `expunged`, not a
// problem (a pending row's missing file is). Files without a row are Dovecot's (IMAP APPEND,
// its index files): not strays.
// It reads only; each problem is one line of text naming the mailbox and UID or file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"

namespace cubby::store {

struct CheckReport {
  uint64_t mailboxes = 0;
  uint64_t messages = 0;
  uint64_t expunged = 0;  // Maildir rows whose file Dovecot expunged
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

CheckReport check(Store& store);

struct PartitionStats {
  std::string partition;
  uint64_t messages = 0;        // index rows
  uint64_t logical_bytes = 0;   // sum of message sizes, one per mailbox copy (what quota charges)
  uint64_t physical_bytes = 0;  // bytes of distinct inodes (what the disk holds)
  uint64_t inodes = 0;
  double ratio() const {
    return physical_bytes ? static_cast<double>(logical_bytes) / physical_bytes : 0.0;
  }
};

// Per partition (in name order), then a total named "total".
std::vector<PartitionStats> stats(Store& store);

}  // namespace cubby::store
