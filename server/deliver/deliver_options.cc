// deliver's command line; see deliver_options.h.
#include "server/deliver/deliver_options.h"

#include <getopt.h>

#include <cstdio>

namespace cubby::deliver {
namespace {

// Cyrus's option string; the leading ':' makes a missing argument ':' instead of '?'.
constexpr const char* kShortOptions = ":C:DE:F:a:def:lm:qr:";

constexpr option kLongOptions[] = {
    {"auth-id", required_argument, nullptr, 'a'},
    {"lmtp", no_argument, nullptr, 'l'},
    {"mailbox", required_argument, nullptr, 'm'},
    {"ignore-quota", no_argument, nullptr, 'q'},
    {"return-path", required_argument, nullptr, 'r'},
    {"debug", no_argument, nullptr, 'D'},
    {nullptr, 0, nullptr, 0},
};

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

UsageError refusal(std::string reason) { return UsageError{"deliver: " + std::move(reason)}; }

// How getopt named the option it stopped at, for a message: a short option by its letter, a long
// one as written (getopt has moved optind past it by then).
std::string option_name(int argc, char** argv, int short_option) {
  if (optind >= 1 && optind <= argc) {
    const std::string_view arg = argv[optind - 1];
    if (arg.substr(0, 2) == "--") return std::string(arg.substr(0, arg.find('=')));
  }
  if (short_option != 0) return std::string("-") + static_cast<char>(short_option);
  return "?";
}

}  // namespace

Result<DeliverOptions, UsageError> parse_deliver_options(int argc, char** argv) {
  DeliverOptions o;
  optind = 0;  // glibc: start over, so that this can be called more than once
  opterr = 0;
  bool seen_mailbox = false;
  for (;;) {
    const int c = getopt_long(argc, argv, kShortOptions, kLongOptions, nullptr);
    if (c == -1) break;
    switch (c) {
      case 'C':
        o.config_path = optarg;
        break;
      case 'd':
        break;  // /bin/mail compatibility
      case 'e':
        break;  // duplicate suppression is lmtpd's business
      case 'D':
        o.debug = true;
        break;
      case 'l':
        o.lmtp_mode = true;
        break;
      case 'q':
        o.ignore_quota = true;
        break;
      case 'r':
      case 'f':
        o.return_path = optarg;
        break;
      case 'm':
        if (seen_mailbox) return fail(refusal("multiple -m options"));
        seen_mailbox = true;
        if (*optarg) o.mailbox = optarg;
        break;
      case 'a':
        if (o.auth_id) return fail(refusal("multiple -a options"));
        o.auth_id = optarg;
        break;
      case 'E':
        return fail(refusal("'E' option no longer supported"));
      case 'F':
        return fail(refusal("'F' option no longer supported"));
      case ':':
        return fail(refusal("option requires an argument: " + option_name(argc, argv, optopt)));
      default:
        return fail(refusal("unknown option: " + option_name(argc, argv, optopt)));
    }
  }
  for (int i = optind; i < argc; ++i) o.userids.emplace_back(argv[i]);

  if (!o.lmtp_mode && o.userids.empty() && !o.mailbox) return fail(UsageError{});
  auto check = [](const std::optional<std::string>& value, const char* what) {
    return value && has_line_break(*value)
               ? std::optional<UsageError>(refusal(std::string("line break in the ") + what))
               : std::nullopt;
  };
  if (auto e = check(o.return_path, "return path")) return fail(std::move(*e));
  if (auto e = check(o.mailbox, "mailbox")) return fail(std::move(*e));
  if (auto e = check(o.auth_id, "auth-id")) return fail(std::move(*e));
  for (const auto& u : o.userids) {
    if (has_line_break(u)) return fail(refusal("line break in a userid"));
  }
  return o;
}

std::string deliver_usage() {
  return "421-4.3.0 usage: deliver [-C <alt_config>] [-d] [-e] [-r return_path] [-m mailbox]"
         " [-a auth] [-q] [-D] [userid ...]\r\n"
         "421-4.3.0        deliver [-C <alt_config>] -l\r\n"
         "421 4.3.0 Cubby " CUBBY_VERSION "\n";
}

std::vector<std::string> recipient_addresses(const DeliverOptions& options,
                                             std::string_view postuser) {
  std::vector<std::string> out;
  if (options.userids.empty()) {
    if (options.mailbox) out.push_back(std::string(postuser) + "+" + *options.mailbox);
    return out;
  }
  for (const auto& user : options.userids) {
    if (!options.mailbox) {
      out.push_back(user);
      continue;
    }
    const size_t at = user.find('@');
    std::string address = user.substr(0, at) + "+" + *options.mailbox;
    if (at != std::string::npos) address += user.substr(at);
    out.push_back(std::move(address));
  }
  return out;
}

std::string mail_from_path(std::string_view return_path) {
  if (!return_path.empty() && return_path.front() == '<') return std::string(return_path);
  return "<" + std::string(return_path) + ">";
}

std::string encode_xtext(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace cubby::deliver
