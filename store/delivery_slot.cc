// Per-user delivery slots held with open-file-description locks; see delivery_slot.h.
#include "store/delivery_slot.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>

namespace cubby::store {

Result<std::optional<DeliverySlot>, Error> DeliverySlot::acquire(
    const std::string& config_directory, std::string_view user, int limit) {
  const std::string dir = config_directory + "/proc";
  char name[40];
  std::snprintf(name, sizeof name, "/deliver-%016llx",
                static_cast<unsigned long long>(XXH3_64bits(user.data(), user.size())));
  const std::string path = dir + name;
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd && errno == ENOENT) {
    if (auto e = make_dirs(dir)) return fail(*e);
    fd = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  }
  if (!fd) return fail(sys_error("open " + path));
  for (int i = 0; i < limit; ++i) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = i;
    lock.l_len = 1;
    if (::fcntl(fd.get(), F_OFD_SETLK, &lock) == 0) {
      return std::optional<DeliverySlot>(DeliverySlot(std::move(fd), i));
    }
    if (errno != EAGAIN && errno != EACCES) return fail(sys_error("lock " + path));
  }
  return std::optional<DeliverySlot>();
}

}  // namespace cubby::store
