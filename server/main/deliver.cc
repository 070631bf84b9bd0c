// deliver: placeholder until the deliver issue builds the Cyrus-compatible command. It exits with
// EX_TEMPFAIL so an MTA that pipes mail into it defers the mail instead of bouncing it.
#include <cstdio>

int main() {
  fprintf(stderr,
          "421 4.3.0 deliver: not built yet in this version of Cubby; deliver over LMTP to "
          "lmtpd's socket instead\n");
  return 75;  // EX_TEMPFAIL
}
