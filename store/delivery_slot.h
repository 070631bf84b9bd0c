// DeliverySlot: one of a user's lmtp_user_concurrency_limit delivery slots, held while a delivery to
// that user is in progress, counted across every worker process.
//
// A user's slots are the first `limit` bytes of the file {configdirectory}/proc/deliver-<XXH3-64 of
// the user's INBOX name, hex>; slot i is held by an open-file-description lock (F_OFD_SETLK) on
// byte i. Such a lock belongs to the descriptor, so two sessions of one worker exclude each other
// like two workers do, and a killed process never leaves a slot taken. Nothing waits: acquire()
// tries each slot once and returns nullopt when all are held. The files stay (one per user who ever
// had a delivery under a limit; a few bytes of metadata each).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"
#include "store/fs.h"

namespace cubby::store {

class DeliverySlot {
 public:
  // `user` names the user (its INBOX's internal name); `limit` >= 1.
  static Result<std::optional<DeliverySlot>, Error> acquire(const std::string& config_directory,
                                                            std::string_view user, int limit);
  DeliverySlot(DeliverySlot&&) noexcept = default;
  DeliverySlot& operator=(DeliverySlot&&) noexcept = default;
  int slot() const { return slot_; }

 private:
  DeliverySlot(Fd fd, int slot) : fd_(std::move(fd)), slot_(slot) {}
  Fd fd_;  // closing it releases the lock
  int slot_ = 0;
};

}  // namespace cubby::store
