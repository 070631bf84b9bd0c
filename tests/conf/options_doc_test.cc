// docs/options.md must be exactly what the option table generates (conf/options_doc.h).
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "conf/options.h"
#include "conf/options_doc.h"

namespace cubby::conf {
namespace {

TEST(OptionsDoc, CheckedInReferenceMatchesTheTable) {
  std::ifstream in(std::string(CUBBY_SOURCE_DIR) + "/docs/options.md", std::ios::binary);
  ASSERT_TRUE(in) << "docs/options.md is missing: cmake --build build --target options-doc";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(text.str() == options_markdown())
      << "docs/options.md is out of date with conf/options.cc: "
         "run `cmake --build build --target options-doc` and commit the result";
}

TEST(OptionsDoc, NamesEveryOption) {
  const std::string text = options_markdown();
  for (const OptionSpec& spec : option_table()) {
    EXPECT_NE(text.find("| `" + std::string(spec.name) + "` |"), std::string::npos) << spec.name;
  }
}

}  // namespace
}  // namespace cubby::conf
