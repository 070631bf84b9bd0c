// One LMTP transaction with all its replies; see transaction.h.
#include "tests/e2e/transaction.h"

namespace cubby::e2e {

int Transaction::accepted() const {
  int n = 0;
  for (const auto& r : rcpt) n += r.code == 250;
  return n;
}

Transaction run_transaction(LmtpClient& c, const std::string& mail,
                            const std::vector<std::string>& rcpts, const std::string& content,
                            bool greet) {
  Transaction t;
  if (greet) {
    c.read_reply();
    c.command("LHLO e2e.client");
  }
  t.mail = c.command("MAIL FROM:<" + mail + (mail.find('>') == std::string::npos ? ">" : ""));
  for (const auto& r : rcpts) {
    t.rcpt.push_back(c.command("RCPT TO:<" + r + (r.find('>') == std::string::npos ? ">" : "")));
  }
  t.data = c.command("DATA");
  if (t.data.code != 354) return t;
  c.send_data(content);
  t.final = c.read_replies(static_cast<size_t>(t.accepted()));
  return t;
}

}  // namespace cubby::e2e
