// Reading back what another cubbyctl printed with --json (cubbyctl mailbox through the directory
// runs cubbyctl on the back ends and merges their answers). Only the shape cubbyctl prints is
// read: one object, or an array of objects, whose members are strings, numbers, true, false or
// null (no nested objects or arrays). Each object becomes a map from member name to its value as
// text: a string unescaped, a number, true or false as written, null as "".
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"

namespace cubby::ctl {

using FlatObject = std::map<std::string, std::string>;

// The objects of `text` (one for a lone object), or why it is not that shape.
Result<std::vector<FlatObject>, std::string> read_flat_json(std::string_view text);

}  // namespace cubby::ctl
