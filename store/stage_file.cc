// Stage files: creation under lock, streaming with hashing, copy, removal; see stage_file.h.
#include "store/stage_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <cstdio>
#include <random>

namespace cubby::store {

struct StageFile::Hasher {
  Hasher() : state(XXH3_createState()) { XXH3_128bits_reset(state); }
  ~Hasher() { XXH3_freeState(state); }
  XXH3_state_t* state;
};

namespace {

std::string new_stage_name() {
  static std::atomic<uint64_t> counter{0};
  static const uint32_t salt = std::random_device{}();
  char buf[64];
  snprintf(buf, sizeof buf, "%d-%llu-%08x", static_cast<int>(getpid()),
           static_cast<unsigned long long>(++counter), salt);
  return buf;
}

// Opens an unnamed file in `dir`, locks it, then gives it `name`. Falls back to a named create
// where O_TMPFILE is unsupported (the lock is then taken right after creation).
Result<Fd, Error> create_locked(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  Fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) {
    if (::flock(fd.get(), LOCK_EX) != 0) return fail(sys_error("flock " + path));
    std::string proc = "/proc/self/fd/" + std::to_string(fd.get());
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      return fail(sys_error("link " + path));
    }
    return fd;
  }
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return fail(sys_error("create " + path));
  }
  fd = Fd(::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return fail(sys_error("create " + path));
  if (::flock(fd.get(), LOCK_EX) != 0) {
    Error e = sys_error("flock " + path);
    ::unlink(path.c_str());
    return fail(e);
  }
  return fd;
}

}  // namespace

std::string guid_hex(uint64_t high, uint64_t low) {
  char buf[33];
  snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(high),
           static_cast<unsigned long long>(low));
  return buf;
}

std::string stage_dir(const std::string& partition_root) { return partition_root + "/stage."; }

Result<StageFile, Error> StageFile::create(const std::string& partition_root,
                                           const std::string& partition) {
  StageFile f;
  f.name_ = new_stage_name();
  f.path_ = stage_dir(partition_root) + "/" + f.name_;
  f.partition_ = partition;
  auto fd = create_locked(stage_dir(partition_root), f.name_);
  if (!fd.ok()) return fail(fd.error());
  f.fd_ = std::move(fd.value());
  f.hash_ = std::make_unique<Hasher>();
  return f;
}

StageFile::StageFile(StageFile&&) noexcept = default;
StageFile& StageFile::operator=(StageFile&& o) noexcept {
  if (this != &o) {
    if (fd_ && !keep_) ::unlink(path_.c_str());
    fd_ = std::move(o.fd_);
    name_ = std::move(o.name_);
    path_ = std::move(o.path_);
    partition_ = std::move(o.partition_);
    size_ = o.size_;
    sizes_ = o.sizes_;
    hash_ = std::move(o.hash_);
    error_ = std::move(o.error_);
    keep_ = o.keep_;
    name_durable_ = o.name_durable_;
  }
  return *this;
}

StageFile::~StageFile() {
  if (fd_ && !keep_) ::unlink(path_.c_str());
}

std::optional<Error> StageFile::append(std::string_view bytes) {
  if (error_) return error_;
  XXH3_128bits_update(hash_->state, bytes.data(), bytes.size());
  sizes_.add(bytes);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = sys_error("write " + path_);
      return error_;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
  }
  return std::nullopt;
}

std::optional<Error> StageFile::sync() {
  if (error_) return error_;
  if (::fdatasync(fd_.get()) != 0) {
    error_ = sys_error("fdatasync " + path_);
    return error_;
  }
  return std::nullopt;
}

Result<StageFile, Error> StageFile::copy_to(const std::string& partition_root,
                                            const std::string& partition) const {
  StageFile f;
  f.name_ = name_;
  f.path_ = stage_dir(partition_root) + "/" + name_;
  f.partition_ = partition;
  f.size_ = size_;
  f.sizes_ = sizes_;
  auto fd = create_locked(stage_dir(partition_root), name_);
  if (!fd.ok()) return fail(fd.error());
  f.fd_ = std::move(fd.value());
  f.hash_ = std::make_unique<Hasher>();
  XXH3_copyState(f.hash_->state, hash_->state);
  off_t in_off = 0;
  while (static_cast<uint64_t>(in_off) < size_) {
    ssize_t n = ::copy_file_range(fd_.get(), &in_off, f.fd_.get(), nullptr, size_ - in_off, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(sys_error("copy to " + f.path_));
    }
    if (n == 0) return fail(Error{Errc::kIo, "copy to " + f.path_ + ": short copy"});
  }
  if (auto e = f.sync()) return fail(*e);
  return f;
}

void StageFile::remove() {
  if (fd_) ::unlink(path_.c_str());
  fd_ = Fd();
  keep_ = true;
}

void StageFile::abandon() {
  fd_ = Fd();
  keep_ = true;
}

std::string StageFile::guid() const {
  XXH128_hash_t h = XXH3_128bits_digest(hash_->state);
  return guid_hex(h.high64, h.low64);
}

}  // namespace cubby::store
