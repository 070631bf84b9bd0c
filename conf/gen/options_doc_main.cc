// cubby-options-doc [FILE]: writes docs/options.md (the option reference generated from the option
// table) to FILE, or to standard output. Built and run by the CMake target `options-doc`.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "conf/options_doc.h"

int main(int argc, char** argv) {
  const std::string text = cubby::conf::options_markdown();
  if (argc < 2) {
    std::cout << text;
    return std::cout ? 0 : 1;
  }
  std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "cubby-options-doc: cannot write %s\n", argv[1]);
    return 1;
  }
  return 0;
}
