// Reading a whole configuration file into memory, with errors worded for an administrator.
#pragma once

#include <string>

#include "conf/result.h"

namespace cubby::conf {

// The file's bytes, or what went wrong ("cannot open: No such file or directory", "cannot read:
// Is a directory").
Result<std::string, std::string> read_text_file(const std::string& path);

}  // namespace cubby::conf
