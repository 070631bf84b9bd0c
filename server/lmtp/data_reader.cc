// DATA end detection and dot-unstuffing over arbitrary chunk boundaries; see data_reader.h.
#include "server/lmtp/data_reader.h"

#include <cstring>

namespace cubby::lmtp {

DataReader::Progress DataReader::feed(std::string_view in, ContentConsumer& out) {
  const char* const data = in.data();
  const size_t n = in.size();
  size_t i = 0;
  size_t run = 0;  // start of the content run not yet handed to `out`
  auto flush_run = [&](size_t end) {
    if (end > run) out.content(std::string_view(data + run, end - run));
  };
  while (i < n) {
    switch (state_) {
      case State::kLineStart:
        if (data[i] == '.') {
          flush_run(i);
          run = ++i;
          state_ = State::kDot;
        } else {
          state_ = State::kMid;
        }
        break;
      case State::kDot:
        if (data[i] == '\r') {
          run = ++i;  // hold the CR back
          state_ = State::kDotCr;
        } else {
          state_ = State::kMid;
        }
        break;
      case State::kDotCr:
        if (data[i] == '\n') {
          state_ = State::kLineStart;
          return {i + 1, true};
        }
        out.content("\r");  // the held CR was a lone CR inside a stuffed line
        state_ = State::kMid;
        break;
      case State::kMid: {
        const void* cr = std::memchr(data + i, '\r', n - i);
        if (cr == nullptr) {
          i = n;
        } else {
          i = static_cast<const char*>(cr) - data + 1;
          state_ = State::kMidCr;
        }
        break;
      }
      case State::kMidCr:
        if (data[i] == '\n') {
          state_ = State::kLineStart;
        } else if (data[i] != '\r') {
          state_ = State::kMid;
        }
        ++i;
        break;
    }
  }
  flush_run(n);
  return {n, false};
}

}  // namespace cubby::lmtp
