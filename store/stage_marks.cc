// The Message-ID and Date of a stage file's committed message; see stage_marks.h.
#include "store/stage_marks.h"

namespace cubby::store {

StageMarks::StageMarks(Db& db)
    : record_(db, "INSERT OR REPLACE INTO stage_marks(stage, message_id, date) VALUES(?, ?, ?)"),
      find_(db, "SELECT message_id, date FROM stage_marks WHERE stage = ?"),
      forget_(db, "DELETE FROM stage_marks WHERE stage = ?") {}

std::optional<Error> StageMarks::record(const std::string& stage, const std::string& message_id,
                                        const std::string& date) {
  return record_.bind(1, stage).bind(2, message_id).bind(3, date).run();
}

Result<std::optional<std::pair<std::string, std::string>>, Error> StageMarks::find(
    const std::string& stage) {
  find_.bind(1, stage);
  auto row = find_.step();
  if (!row.ok()) {
    find_.reset();
    return fail(row.error());
  }
  std::optional<std::pair<std::string, std::string>> found;
  if (row.value()) found.emplace(find_.text_at(0), find_.text_at(1));
  find_.reset();
  return found;
}

std::optional<Error> StageMarks::forget(const std::string& stage) {
  return forget_.bind(1, stage).run();
}

}  // namespace cubby::store
