// The cubby.header file of a mailbox directory; see mailbox_header.h.
#include "store/mailbox_header.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "store/fs.h"

namespace cubby::store {
namespace {

constexpr std::string_view kMagic = "Cubby mailbox header 1";

std::optional<int64_t> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string limit_text(const std::optional<int64_t>& v) {
  return v ? std::to_string(*v) : "none";
}

}  // namespace

std::string MailboxHeader::str() const {
  std::string out(kMagic);
  out += "\nname\t" + name;
  out += "\nuniqueid\t" + uniqueid;
  out += "\nuidvalidity\t" + std::to_string(uidvalidity);
  out += "\nuidnext\t" + std::to_string(uidnext);
  out += "\nacl\t" + acl;
  if (quota_root) {
    out += "\nquota\tstorage=" + limit_text(storage_limit) + " message=" + limit_text(message_limit);
  }
  return out + "\n";
}

Result<MailboxHeader, Error> MailboxHeader::parse(const std::string& text) {
  auto corrupt = [](const std::string& why) { return Error{Errc::kCorrupt, why}; };
  size_t pos = text.find('\n');
  if (pos == std::string::npos || std::string_view(text).substr(0, pos) != kMagic) {
    return fail(corrupt("not a Cubby mailbox header"));
  }
  MailboxHeader h;
  bool have_name = false, have_uniqueid = false;
  while (++pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    const std::string key = line.substr(0, tab), value = line.substr(tab + 1);
    if (key == "name") {
      h.name = value;
      have_name = !value.empty();
    } else if (key == "uniqueid") {
      h.uniqueid = value;
      have_uniqueid = !value.empty();
    } else if (key == "uidvalidity" || key == "uidnext") {
      auto n = parse_number(value);
      if (!n) return fail(corrupt("bad " + key + " \"" + value + "\""));
      (key == "uidnext" ? h.uidnext : h.uidvalidity) = *n;
    } else if (key == "acl") {
      h.acl = value;
    } else if (key == "quota") {
      h.quota_root = true;
      for (const char* resource : {"storage=", "message="}) {
        const size_t at = value.find(resource);
        if (at == std::string::npos) continue;
        const size_t start = at + std::string_view(resource).size();
        const std::string v = value.substr(start, value.find(' ', start) - start);
        auto n = parse_number(v);
        (resource[0] == 's' ? h.storage_limit : h.message_limit) = n;
      }
    }
  }
  if (!have_name || !have_uniqueid) return fail(corrupt("mailbox header without name or uniqueid"));
  return h;
}

Result<MailboxHeader, Error> MailboxHeader::read(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) {
    if (errno == ENOENT) return fail(Error{Errc::kNotFound, dir + ": no mailbox directory"});
    return fail(sys_error("open " + dir));
  }
  return read_at(d.get(), dir);
}

Result<MailboxHeader, Error> MailboxHeader::read_at(int dir, const std::string& shown) {
  const std::string path = shown + "/" + kMailboxHeaderFile;
  auto text = read_small_file_at(dir, shown, kMailboxHeaderFile);
  if (!text.ok()) {
    if (text.error().code == Errc::kNotFound) {
      return fail(Error{Errc::kNotFound, path + ": no mailbox header"});
    }
    return fail(text.error());
  }
  auto h = parse(text.value());
  if (!h.ok()) return fail(Error{Errc::kCorrupt, path + ": " + h.error().detail});
  return h;
}

std::optional<Error> MailboxHeader::write_at(int dir, const std::string& shown) const {
  return write_file_atomically_at(dir, shown, kMailboxHeaderFile, str());
}

}  // namespace cubby::store
