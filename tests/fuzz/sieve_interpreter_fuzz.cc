// Fuzz target: the Sieve interpreter (sieve/sieve.h evaluate) over one fixed MIME message.
//
// Input: a script. Whatever it does, the outcome must be usable: on an error, exactly the
// implicit keep; otherwise an action list within the limits where, if nothing cancelled the
// implicit keep, a keep is present. Includes resolve to two small fixed scripts (one recursive).
#include <strings.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "sieve/memory_environment.h"
#include "sieve/sieve.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string kMessage =
    "Received: from a.example by b.example; Mon, 13 Nov 2023 09:00:00 +0100\r\n"
    "From: \"Doe, Jane\" <jane+tag@example.com>, (comment) bob@example.org\r\n"
    "To: user+lists@example.com\r\nCc: group: a@b.c, d@e.f;\r\n"
    "Subject: =?UTF-8?B?w6l0w6k=?= [list] Re: hello *?\\\r\n"
    "Date: Mon, 13 Nov 2023 09:00:00 +0100\r\nMessage-ID: <m1@example.com>\r\n"
    "List-Id: <list.example.com>\r\nX-Score: 0042\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
    "--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =\r\nsoft break\r\n"
    "--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "PHA+aGk8L3A+\r\n--b1--\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cubby::sieve;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  MemoryEnvironment env;
  env.mailboxes.insert("Work");
  env.personal_scripts["a"] = "require [\"include\", \"fileinto\"]; fileinto \"A\"; return;";
  env.personal_scripts["loop"] = "require \"include\"; include \"loop\";";
  env.global_scripts["g"] = "require \"variables\"; global \"x\"; set \"x\" \"${x}g\";";
  Limits limits;
  limits.max_script_bytes = 64 * 1024;
  limits.max_time = std::chrono::milliseconds(5000);
  const Envelope envelope{"sender@example.org", "user+lists@example.com", {}};
  const Outcome o = run(source, kMessage, envelope, env, limits);
  if (o.error) {
    FUZZ_CHECK(
        o.actions.size() == 1 && o.actions[0].kind == Action::Kind::kKeep && o.actions[0].implicit,
        "an error without the implicit keep alone: %s", o.error->message.c_str());
    FUZZ_CHECK(
        o.error->message.rfind("line ", 0) == 0 || o.error->message.rfind("script is ", 0) == 0,
        "error without its line: %s", o.error->message.c_str());
  } else {
    FUZZ_CHECK(static_cast<int>(o.actions.size()) <= limits.max_actions + 1, "%zu actions",
               o.actions.size());
    bool cancelled = false, kept = false;
    for (const Action& a : o.actions) {
      if (a.kind == Action::Kind::kKeep ||
          (a.kind == Action::Kind::kFileInto && strcasecmp(a.mailbox.c_str(), "INBOX") == 0))
        kept = true;  // fileinto "INBOX" is the keep (RFC 5228 2.10.3)
      if (a.kind == Action::Kind::kDiscard || a.kind == Action::Kind::kReject ||
          a.kind == Action::Kind::kEreject ||
          ((a.kind == Action::Kind::kFileInto || a.kind == Action::Kind::kRedirect) && !a.copy))
        cancelled = true;
      if (a.kind == Action::Kind::kFileInto) FUZZ_CHECK(!a.mailbox.empty(), "fileinto \"\"");
    }
    FUZZ_CHECK(cancelled || kept, "the implicit keep was lost");
  }
  const std::string json = to_json(o);
  FUZZ_CHECK(json.front() == '{' && json.back() == '}', "bad JSON: %s", json.c_str());
  (void)to_text(o);
  return 0;
}
