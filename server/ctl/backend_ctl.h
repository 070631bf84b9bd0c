// Running cubbyctl on a back end, as cubbyctl mailbox does on an admin host whose settings name
// the mailbox directory (docs/scale-out.md, "Mailboxes through the directory").
//
// The command is directory_admin_command ("ssh %h cubbyctl" by default) with %h replaced by the
// back end's host (the address "host:port" without ":port"; a "unix:" address has none, so the
// setting must then not use %h), %b by the back end's address as the directory holds it, and %%
// by '%'; the arguments follow, each quoted for the shell, and the whole is run with /bin/sh -c.
// The back end's cubbyctl gets `--local` after the mailbox verb, so it works on its own store
// even if its settings name the directory too. Its stderr is ours (its complaints reach the
// administrator unchanged); its stdout is captured, or passed through when asked.
#pragma once

#include <string>
#include <vector>

#include "conf/result.h"

namespace cubby::ctl {

struct BackendRun {
  int exit_code = 0;    // the back end's cubbyctl's exit code (127: not found, 255: ssh failed)
  bool exited = true;   // false: killed by a signal
  std::string out;      // its stdout, when captured
  std::string command;  // what ran, for messages
};

// The shell command for `backend` from the `admin_command` template, or why there is none.
Result<std::string, std::string> backend_command(const std::string& admin_command,
                                                 const std::string& backend);

// Runs `command` followed by `args` (quoted) and waits for it; the result, or why it could not
// be started. With `capture` its stdout is returned in out, else it goes to our stdout.
Result<BackendRun, std::string> run_on_backend(const std::string& command,
                                               const std::vector<std::string>& args, bool capture);

// `arg` quoted for /bin/sh: 'it'\''s'.
std::string shell_quote(const std::string& arg);

}  // namespace cubby::ctl
