// Checks for the fuzz targets: FUZZ_CHECK(condition, message...) aborts with a message when the
// condition is false, in every build type (assert() is compiled out by NDEBUG in RelWithDebInfo),
// so libFuzzer records the input as a crash and the corpus regression test fails on it.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
