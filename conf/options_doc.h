// docs/options.md, generated from the option table (conf/options.cc), so the reference cannot
// drift from what Cubby honours. `cmake --build build --target options-doc` rewrites the file;
// tests/conf/options_doc_test.cc fails when the checked-in copy differs from this text.
#pragma once

#include <string>

namespace cubby::conf {

// The whole Markdown text of docs/options.md.
std::string options_markdown();

}  // namespace cubby::conf
