// open_directory: the directory the settings name, with the front end's cache in front of it.
//
// directory_backend: postgresql gives a BoundedDirectory (its cache: directory_cache_seconds,
// directory_stale_seconds; its wait: directory_lookup_wait) over a PostgresDirectory
// (directory_conninfo), whose lookups run on the BoundedDirectory's own thread. `local` means
// there is no directory (a single machine): an error saying so, as is an empty
// directory_conninfo. Nothing is connected yet: the first lookup connects.
#pragma once

#include <memory>
#include <string>

#include "conf/result.h"
#include "conf/settings.h"
#include "directory/directory.h"

namespace cubby::directory {

Result<std::unique_ptr<Directory>, std::string> open_directory(const conf::Settings& settings);

}  // namespace cubby::directory
