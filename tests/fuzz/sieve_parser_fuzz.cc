// Fuzz target: the Sieve lexer, parser and checker (sieve/parser.h), on any bytes.
//
// Input: a script. compile() must return, within the nesting limit whatever the input, either a
// script or an error that reads "line N: ..." (or names the size limit); the JSON of that error
// must be one object.
#include <cstdint>
#include <string>
#include <string_view>

#include "sieve/sieve.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cubby::sieve;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_script_bytes = 64 * 1024;
  auto script = compile(source, limits);
  if (!script.ok()) {
    const Error& e = script.error();
    FUZZ_CHECK(e.kind == Error::Kind::kCompile, "compile() gave a runtime error");
    FUZZ_CHECK(e.message.rfind("line ", 0) == 0 || e.message.rfind("script is ", 0) == 0,
               "error without its line: %s", e.message.c_str());
    Outcome o;
    o.error = e;
    const std::string json = to_json(o);
    FUZZ_CHECK(json.front() == '{' && json.back() == '}', "bad JSON: %s", json.c_str());
  }
  return 0;
}
