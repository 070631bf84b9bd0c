// cubby-sieve-eval: evaluates a Sieve script on a message and prints the actions, the way
// `cubbyctl sieve test` will (an in-memory environment, empty histories). Test-only: the
// differential test against Pigeonhole drives it, and people use it to try a script.
//   cubby-sieve-eval [--from ADDR] [--to ADDR] [--json] [--mailbox NAME]...
//                    [--personal DIR] [--global DIR] [--now EPOCH] <script> <message>
// --personal/--global name directories whose files "<name>.sieve" `include` finds.
// Exit status: 0 when the script ran, 1 on a compile or runtime error (the output says which),
// 2 on a usage or file error.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "sieve/memory_environment.h"
#include "sieve/sieve.h"

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

void load_scripts(const std::string& dir, std::map<std::string, std::string>& into) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".sieve") continue;
    std::string text;
    if (read_file(entry.path().string(), text)) into[entry.path().stem().string()] = text;
  }
}

int usage() {
  std::fprintf(stderr,
               "usage: cubby-sieve-eval [--from ADDR] [--to ADDR] [--json] [--mailbox NAME]...\n"
               "                        [--personal DIR] [--global DIR] [--now EPOCH] <script> "
               "<message>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cubby::sieve;
  Envelope envelope{"sender@example.org", "user@example.com", {}};
  MemoryEnvironment env;
  bool json = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) return false;
      into = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--json") {
      json = true;
    } else if (arg == "--from") {
      if (!value(envelope.from)) return usage();
    } else if (arg == "--to") {
      if (!value(envelope.to)) return usage();
    } else if (arg == "--mailbox") {
      if (!value(v)) return usage();
      env.mailboxes.insert(v);
    } else if (arg == "--personal") {
      if (!value(v)) return usage();
      load_scripts(v, env.personal_scripts);
    } else if (arg == "--global") {
      if (!value(v)) return usage();
      load_scripts(v, env.global_scripts);
    } else if (arg == "--now") {
      if (!value(v)) return usage();
      env.clock = std::chrono::system_clock::time_point{} + std::chrono::seconds(std::stoll(v));
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      return usage();
    } else {
      files.push_back(arg);
    }
  }
  if (files.size() != 2) return usage();
  std::string script, message;
  if (!read_file(files[0], script)) {
    std::fprintf(stderr, "cubby-sieve-eval: cannot read %s\n", files[0].c_str());
    return 2;
  }
  if (!read_file(files[1], message)) {
    std::fprintf(stderr, "cubby-sieve-eval: cannot read %s\n", files[1].c_str());
    return 2;
  }
  const Outcome outcome = run(script, message, envelope, env);
  const std::string text = json ? to_json(outcome) + "\n" : to_text(outcome);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return outcome.error ? 1 : 0;
}
