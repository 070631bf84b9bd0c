// StageFile: one message in flight on one partition, <partition>/stage./<name>.
//
// The message body streams into it while the client sends DATA; its XXH3-128 (the message GUID) and
// size are computed on the way. While a StageFile object lives it holds an exclusive flock() on the
// file, so recovery running in another process can tell a live stage file (locked) from one left by
// a crash (unlocked). The file gets its name only once it is locked (it is made with O_TMPFILE and
// then linked in), so recovery never sees an unlocked live file.
//
// Destroying a StageFile removes the file unless keep() was called: a message that was never
// committed leaves nothing behind. After keep() the file outlives the object's lock only through a
// crash; the committer calls remove() once every mailbox link to it is durable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conf/result.h"
#include "store/error.h"
#include "store/fs.h"
#include "store/maildir_file_name.h"

namespace cubby::store {

// XXH3-128 of a message's stored bytes, as 32 lower-case hex digits.
std::string guid_hex(uint64_t high, uint64_t low);

class StageFile {
 public:
  // Creates a new stage file in <partition_root>/stage./ (the directory must exist).
  static Result<StageFile, Error> create(const std::string& partition_root,
                                         const std::string& partition);
  StageFile(StageFile&&) noexcept;
  StageFile& operator=(StageFile&&) noexcept;
  ~StageFile();

  // Appends bytes. On error nothing more is accepted and the error is returned again.
  [[nodiscard]] std::optional<Error> append(std::string_view bytes);
  // Makes the content and the file's size durable (fdatasync).
  [[nodiscard]] std::optional<Error> sync();
  // A durable copy of this file with the same name on another partition (used when a transaction's
  // recipients span partitions: one copy per partition). The copy is locked like any stage file.
  Result<StageFile, Error> copy_to(const std::string& partition_root,
                                   const std::string& partition) const;

  // From now on the destructor leaves the file in place (rows in the index name it).
  void keep() { keep_ = true; }
  // Whether the file's name in stage./ is durable already: a directory fsync after it was named
  // succeeded (a file made ahead by the StageReserve, stage_reserve.h). A delivery from such a
  // file needs only its fdatasync, not a directory fsync of its own.
  bool name_durable() const { return name_durable_; }
  void name_made_durable() { name_durable_ = true; }
  // Unlinks the file and releases it.
  void remove();
  // Tests only: drop the lock and forget the file as a crash would, leaving it on disk.
  void abandon();

  const std::string& name() const { return name_; }        // file name inside stage./
  const std::string& path() const { return path_; }        // absolute path
  const std::string& partition() const { return partition_; }
  uint64_t size() const { return size_; }
  // The sizes a Maildir name carries (,S= and ,W=: maildir_file_name.h) of the bytes appended.
  MessageSizes maildir_sizes() const { return sizes_.sizes(); }
  std::string guid() const;  // of the bytes appended so far
  int fd() const { return fd_.get(); }

 private:
  StageFile() = default;
  struct Hasher;
  Fd fd_;
  std::string name_, path_, partition_;
  uint64_t size_ = 0;
  MessageSizeCounter sizes_;
  std::unique_ptr<Hasher> hash_;
  std::optional<Error> error_;
  bool keep_ = false;
  bool name_durable_ = false;
};

// The stage directory of a partition root.
std::string stage_dir(const std::string& partition_root);

}  // namespace cubby::store
