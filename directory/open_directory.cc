// The directory the settings name; see open_directory.h.
#include "directory/open_directory.h"

#include "directory/bounded_directory.h"
#include "directory/directory_cache.h"
#include "directory/postgres_directory.h"

namespace cubby::directory {

Result<std::unique_ptr<Directory>, std::string> open_directory(const conf::Settings& settings) {
  if (settings.get_string("directory_backend") != "postgresql") {
    return fail(std::string("directory_backend is not postgresql: there is no directory to ask"));
  }
  const std::string conninfo = settings.get_string("directory_conninfo");
  if (conninfo.empty()) return fail(std::string("directory_conninfo is empty"));
  CachePolicy policy;
  policy.fresh = settings.get_duration("directory_cache_seconds");
  policy.stale = settings.get_duration("directory_stale_seconds");
  std::unique_ptr<Directory> directory = std::make_unique<BoundedDirectory>(
      std::make_unique<PostgresDirectory>(conninfo), policy,
      settings.get_duration("directory_lookup_wait"));
  return directory;
}

}  // namespace cubby::directory
