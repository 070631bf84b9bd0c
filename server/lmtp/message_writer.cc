// Header checks, line-end normalisation and buffered writing of the stored message; see
// message_writer.h.
#include "server/lmtp/message_writer.h"

#include "server/lmtp/ascii.h"
#include "server/lmtp/message_headers.h"

namespace cubby::lmtp {
namespace {

constexpr size_t kBufferSize = 64 * 1024;
constexpr size_t kMaxFieldName = 998;  // RFC 5322 line limit; also bounds what we hold
constexpr size_t kMaxCaptured = 998;

bool high(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool wsp(char c) { return c == ' ' || c == '\t'; }
// RFC 5322 ftext: printable US-ASCII except the colon.
bool name_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 33 && u <= 57) || (u >= 59 && u <= 126);
}

}  // namespace

MessageWriter::MessageWriter(WriterConfig config) : config_(std::move(config)) {}

void MessageWriter::start(MessageSink* sink, std::string_view trace, time_t now) {
  sink_ = sink;
  now_ = now;
  out_.clear();
  size_ = 0;
  ends_with_lf_ = false;
  pending_cr_ = false;
  mode_ = Mode::kHeaders;
  content_fault_ = Fault::kNone;
  over_limit_ = false;
  sink_failed_ = false;
  field_ = Field::kLineStart;
  field_open_ = false;
  skip_field_ = false;
  name_.clear();
  name_len_ = 0;
  capture_ = Capture::kNone;
  capture_started_ = false;
  captured_.clear();
  have_message_id_ = false;
  have_date_ = false;
  header_bytes_ = 0;
  message_id_.clear();
  date_.clear();
  emit(trace);
}

void MessageWriter::content(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    switch (mode_) {
      case Mode::kHeaders:
        i = headers(bytes, i);
        break;
      case Mode::kBody:
        i = body(bytes, i);
        break;
      case Mode::kDiscard:
        return;
    }
  }
}

void MessageWriter::finish() {
  if (mode_ == Mode::kDiscard) return;
  pending_cr_ = false;  // a CR at the very end is a lone CR: dropped
  if (mode_ == Mode::kHeaders) {
    if (field_ == Field::kName || field_ == Field::kNameWs) {
      set_fault(Fault::kBadHeader);  // last line has no colon
      return;
    }
    if (field_ == Field::kValue && !skip_field_) emit("\r\n");
    field_ = Field::kLineStart;
    end_field();
    if (mode_ == Mode::kDiscard) return;
    end_header_section();
  } else if (!ends_with_lf_) {
    emit("\r\n");
  }
  flush();
}

MessageWriter::Fault MessageWriter::fault() const {
  if (content_fault_ != Fault::kNone) return content_fault_;
  if (over_limit_) return Fault::kTooLarge;
  if (sink_failed_) return Fault::kSinkFailed;
  return Fault::kNone;
}

Reply MessageWriter::fault_reply() const {
  switch (fault()) {
    case Fault::kNul:
      return make_reply(554, "5.6.0", "Message contains NUL characters");
    case Fault::kBadHeader:
      return make_reply(554, "5.6.0", "Message contains invalid header");
    case Fault::kEightBitHeader:
      return make_reply(554, "5.6.0", "Message contains non-ASCII characters in headers");
    case Fault::kHeaderTooLarge:
      return make_reply(552, "5.3.4", "Message header size exceeds limit");
    case Fault::kTooLarge:
      return make_reply(552, "5.2.3",
                        "Message size (" + std::to_string(size()) +
                            ") exceeds fixed maximum message size (" +
                            std::to_string(config_.max_message_size) + ")");
    case Fault::kSinkFailed:
      if (sink_ != nullptr && sink_->failure() != nullptr) return *sink_->failure();
      break;
    case Fault::kNone:
      break;
  }
  return make_reply(451, "4.3.0", "System I/O error");
}

// ---- header section: byte by byte (it is small and bounded) ----

size_t MessageWriter::headers(std::string_view in, size_t i) {
  const size_t n = in.size();
  for (; i < n; ++i) {
    if (field_ == Field::kValue && capture_ == Capture::kNone && !pending_cr_) {
      // Fast path through an ordinary value: printable ASCII runs go out at once.
      size_t j = i;
      while (j<n&& static_cast<unsigned char>(in[j])> '\r' &&
             static_cast<unsigned char>(in[j]) < 0x80) {
        ++j;
      }
      if (j > i) {
        if (!count_header_bytes(j - i)) return n;
        if (!skip_field_) emit(in.substr(i, j - i));
        i = j;
        if (i == n) return n;
      }
    }
    const char c = in[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        header_eol();
        if (mode_ != Mode::kHeaders) return i + 1;
        continue;
      }
      // the CR was a lone CR: dropped; c is handled below
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      header_eol();
      if (mode_ != Mode::kHeaders) return i + 1;
    } else if (c == '\0') {
      set_fault(Fault::kNul);
      return n;
    } else {
      header_byte(c);
      if (mode_ != Mode::kHeaders) return n;
    }
  }
  return n;
}

bool MessageWriter::count_header_bytes(size_t n) {
  header_bytes_ += n;
  if (config_.max_header_size != 0 && header_bytes_ > config_.max_header_size) {
    set_fault(Fault::kHeaderTooLarge);
    return false;
  }
  return true;
}

void MessageWriter::header_byte(char c) {
  if (!count_header_bytes(1)) return;
  switch (field_) {
    case Field::kLineStart:
      if (wsp(c)) {
        if (!field_open_) {
          set_fault(Fault::kBadHeader);  // the header section opens with a continuation line
          return;
        }
        field_ = Field::kValue;
        value_byte(c);
        return;
      }
      end_field();
      if (mode_ != Mode::kHeaders) return;
      name_.clear();
      field_ = Field::kName;
      [[fallthrough]];
    case Field::kName:
      if (c == ':') {
        if (name_.empty()) {
          set_fault(Fault::kBadHeader);
          return;
        }
        name_len_ = name_.size();
        start_value();
      } else if (wsp(c)) {
        name_len_ = name_.size();
        name_.push_back(c);
        field_ = Field::kNameWs;
      } else if (name_byte(c) && name_.size() < kMaxFieldName) {
        name_.push_back(c);
      } else {
        set_fault(Fault::kBadHeader);  // e.g. an mbox "From " line, a space in the name, 8-bit
      }
      return;
    case Field::kNameWs:
      if (c == ':') {
        start_value();
      } else if (wsp(c) && name_.size() < kMaxFieldName) {
        name_.push_back(c);
      } else {
        set_fault(Fault::kBadHeader);
      }
      return;
    case Field::kValue:
      value_byte(c);
      return;
  }
}

void MessageWriter::start_value() {
  const std::string_view name = std::string_view(name_).substr(0, name_len_);
  skip_field_ = iequals(name, "Return-Path");
  capture_ = Capture::kNone;
  if (iequals(name, "Message-ID")) {
    if (!have_message_id_) capture_ = Capture::kMessageId;
    have_message_id_ = true;
  } else if (iequals(name, "Date")) {
    if (!have_date_) capture_ = Capture::kDate;
    have_date_ = true;
  }
  capture_started_ = false;
  captured_.clear();
  if (!skip_field_) {
    emit(name_);
    emit_byte(':');
  }
  field_ = Field::kValue;
  field_open_ = true;
}

void MessageWriter::value_byte(char c) {
  if (high(c)) {
    if (config_.reject8bit) {
      set_fault(Fault::kEightBitHeader);
      return;
    }
    if (config_.munge8bit) c = 'X';
  }
  if (!skip_field_) emit_byte(c);
  if (capture_ != Capture::kNone) {
    if (!capture_started_ && wsp(c)) return;
    capture_started_ = true;
    if (captured_.size() < kMaxCaptured) captured_.push_back(c);
  }
}

void MessageWriter::header_eol() {
  switch (field_) {
    case Field::kLineStart:  // the blank line: end of the header section
      end_field();
      if (mode_ != Mode::kHeaders) return;
      end_header_section();
      emit("\r\n");
      mode_ = Mode::kBody;
      return;
    case Field::kName:
    case Field::kNameWs:
      set_fault(Fault::kBadHeader);  // a line without a colon
      return;
    case Field::kValue:
      if (!count_header_bytes(2)) return;
      if (!skip_field_) emit("\r\n");
      field_ = Field::kLineStart;
      return;
  }
}

void MessageWriter::end_field() {
  if (capture_ == Capture::kMessageId) {
    if (captured_.empty()) {
      set_fault(Fault::kBadHeader);  // Message-ID present but empty
      return;
    }
    message_id_ = captured_;
  } else if (capture_ == Capture::kDate) {
    date_ = captured_;
  }
  capture_ = Capture::kNone;
  skip_field_ = false;
  field_open_ = false;
}

void MessageWriter::end_header_section() {
  if (!have_message_id_) {
    message_id_ = generate_message_id(config_.servername, now_);
    emit("Message-ID: ");
    emit(message_id_);
    emit("\r\n");
  }
  if (!have_date_) {
    date_ = rfc5322_date(now_);
    emit("Date: ");
    emit(date_);
    emit("\r\n");
  }
}

// ---- body: runs of bytes, broken only where a line end must change ----

size_t MessageWriter::body(std::string_view in, size_t i) {
  const char* const d = in.data();
  const size_t n = in.size();
  if (pending_cr_) {
    pending_cr_ = false;
    if (d[i] == '\n') {
      emit("\r\n");
      ++i;
    }  // else: a lone CR, dropped
  }
  size_t run = i;
  while (i < n) {
    const auto c = static_cast<unsigned char>(d[i]);
    if (c > '\r') {  // NUL, LF and CR are all below
      ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 1 == n) {  // the next chunk decides
        emit(std::string_view(d + run, i - run));
        pending_cr_ = true;
        return n;
      }
      if (d[i + 1] == '\n') {
        i += 2;
        continue;
      }
      emit(std::string_view(d + run, i - run));  // a lone CR: dropped
      run = ++i;
    } else if (c == '\n') {
      emit(std::string_view(d + run, i - run));  // a bare LF: becomes CRLF
      emit("\r\n");
      run = ++i;
    } else if (c == '\0') {
      set_fault(Fault::kNul);
      return n;
    } else {
      ++i;
    }
  }
  emit(std::string_view(d + run, n - run));
  return n;
}

// ---- output ----

void MessageWriter::set_fault(Fault f) {
  if (content_fault_ == Fault::kNone) content_fault_ = f;
  mode_ = Mode::kDiscard;
  out_.clear();
}

void MessageWriter::emit(std::string_view s) {
  if (s.empty()) return;
  ends_with_lf_ = s.back() == '\n';
  if (out_.size() + s.size() > kBufferSize) {
    flush();
    if (s.size() >= kBufferSize) {
      write_out(s);
      return;
    }
  }
  out_.append(s);
}

void MessageWriter::emit_byte(char c) {
  if (out_.size() >= kBufferSize) flush();
  out_.push_back(c);
  ends_with_lf_ = c == '\n';
}

void MessageWriter::flush() {
  write_out(out_);
  out_.clear();
}

void MessageWriter::write_out(std::string_view s) {
  if (s.empty()) return;
  size_ += s.size();
  if (config_.max_message_size != 0 && size_ > config_.max_message_size) over_limit_ = true;
  if (over_limit_ || sink_failed_ || sink_ == nullptr) return;
  sink_->write(s);
  if (sink_->failure() != nullptr) sink_failed_ = true;
}

}  // namespace cubby::lmtp
