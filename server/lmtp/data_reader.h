// DataReader: the wire side of DATA (RFC 5321 §4.5.2): finds the end of the message and removes
// dot-stuffing, whatever the chunking of the input.
//
// Contract: construct (or reset()) right after the DATA command's CRLF; then call feed() with the
// bytes from the peer, in order, in chunks of any size (down to one byte). feed() hands every byte
// of message content, unstuffed and otherwise untouched, to `out` in order, and stops right after
// the terminating <CRLF>.<CRLF>: it returns how many input bytes it used (all of them unless the
// end was found) and whether the end was found. Bytes after the end are not looked at.
//
// Lines are delimited by CRLF only: a CRLF-delimited line that starts with '.' loses the dot, and
// the line "." alone ends the data. A bare LF or bare CR never starts a line, so <LF>.<LF>,
// <CR>.<CR> and <LF>.<CRLF> are content. The CRLF before the final dot is content (it ends the last
// line). Content reaches `out` in runs as long as the input allows (a run breaks only where a
// stuffing dot is removed), so the cost per call is amortised over many bytes. Memory use is
// constant.
#pragma once

#include <cstddef>
#include <string_view>

namespace cubby::lmtp {

// Where DataReader (and BDAT) deliver message content.
class ContentConsumer {
 public:
  virtual ~ContentConsumer() = default;
  virtual void content(std::string_view bytes) = 0;
};

class DataReader {
 public:
  struct Progress {
    size_t consumed = 0;
    bool done = false;  // the terminating "." line was read
  };

  DataReader() = default;
  void reset() { state_ = State::kLineStart; }
  Progress feed(std::string_view in, ContentConsumer& out);

 private:
  enum class State {
    kLineStart,  // after a CRLF (or at the start)
    kDot,        // a '.' opened the line and was removed
    kDotCr,      // ".\r" opened the line; the CR is held back until we know it is not the end
    kMid,        // inside a line
    kMidCr,      // inside a line, right after a CR
  };
  State state_ = State::kLineStart;
};

}  // namespace cubby::lmtp
