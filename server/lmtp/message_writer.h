// MessageWriter: turns the client's message content (already unstuffed) into the stored bytes and
// writes them to a MessageSink.
//
// Contract: start() a message with the sink and the trace headers (Return-Path, Received; see
// message_headers.h); pass the content in order, in chunks of any size, through content(); call
// finish() at its end. After finish() everything has been handed to the sink (in spans of up to
// about 64 KiB, never byte by byte) and fault() says whether the message may be delivered. The sink
// must stay alive from start() to finish(); the writer does not own it. A writer may be reused for
// the next message by calling start() again.
//
// What is stored, in order: the trace headers; the client's header fields, with every Return-Path
// field (and its continuation lines) removed and 8-bit bytes in values kept, replaced by 'X'
// (munge8bit) or refused (reject8bit); at the end of the header section, only if missing,
// `Message-ID: <generated>` and `Date: <now>`; then the blank line and the body. Line ends are
// normalised: CRLF stays, a bare LF becomes CRLF, a lone CR is dropped; the stored bytes end with
// CRLF. A content without a blank line is all header section (accepted, as Cyrus; no blank line is
// added).
//
// Checks, as Cyrus lmtpd's (savemsg in imap/lmtpengine.c): a field name is 1-998 bytes in 33-57 / 59-126, with
// optional whitespace before the colon; a line without a colon, or a header section that opens with
// a continuation line, is an invalid header; so is an empty first Message-ID. NUL anywhere is
// refused. The header section is bounded by max_header_size and the stored size by
// max_message_size (0: unlimited for either). Once a fault is found nothing more is written;
// once the stored size passes max_message_size nothing more is written but bytes are still counted,
// so that the reply can state the size. Memory: the output buffer, one field name (<= 998 bytes)
// and the captured Message-ID and Date values (<= 998 bytes each).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "server/lmtp/backend.h"
#include "server/lmtp/data_reader.h"
#include "server/lmtp/reply.h"

namespace cubby::lmtp {

struct WriterConfig {
  std::string servername = "localhost";  // for a generated Message-ID
  uint64_t max_message_size = 0;         // stored bytes; 0 = unlimited
  uint64_t max_header_size = 0;          // client header section bytes; 0 = unlimited
  bool munge8bit = false;
  bool reject8bit = false;
};

class MessageWriter : public ContentConsumer {
 public:
  enum class Fault {
    kNone,
    kNul,             // 554 5.6.0 Message contains NUL characters
    kBadHeader,       // 554 5.6.0 Message contains invalid header
    kEightBitHeader,  // 554 5.6.0 Message contains non-ASCII characters in headers
    kHeaderTooLarge,  // 552 5.3.4 Message header size exceeds limit
    kTooLarge,        // 552 5.2.3 Message size (n) exceeds fixed maximum message size (max)
    kSinkFailed,      // the sink's failure()
  };

  explicit MessageWriter(WriterConfig config);
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;

  // Begins a message written to `*sink`, opening with `trace`; `now` dates a generated Date and
  // Message-ID.
  void start(MessageSink* sink, std::string_view trace, time_t now);
  // The client's content, unstuffed.
  void content(std::string_view bytes) override;
  // The content is complete: adds what is missing and flushes everything to the sink.
  void finish();

  // After finish(): the first content fault found, else kTooLarge, else kSinkFailed, else kNone.
  Fault fault() const;
  // The reply each recipient gets for fault() (which must not be kNone).
  Reply fault_reply() const;

  // Stored size: bytes handed to the sink, plus those counted after passing max_message_size.
  uint64_t size() const { return size_ + out_.size(); }
  // Message-ID and Date values as stored (leading whitespace and folding removed; at most 998
  // bytes); valid after finish().
  const std::string& message_id() const { return message_id_; }
  const std::string& date() const { return date_; }

 private:
  enum class Mode { kHeaders, kBody, kDiscard };
  enum class Field { kLineStart, kName, kNameWs, kValue };
  enum class Capture { kNone, kMessageId, kDate };

  size_t headers(std::string_view in, size_t i);
  size_t body(std::string_view in, size_t i);
  void header_byte(char c);
  void header_eol();
  void start_value();
  void value_byte(char c);
  void end_field();
  void end_header_section();
  bool count_header_bytes(size_t n);
  void set_fault(Fault f);

  void emit(std::string_view s);
  void emit_byte(char c);
  void flush();
  void write_out(std::string_view s);

  const WriterConfig config_;
  MessageSink* sink_ = nullptr;
  time_t now_ = 0;
  std::string out_;  // stored bytes not yet handed to the sink
  uint64_t size_ = 0;
  bool ends_with_lf_ = false;
  bool pending_cr_ = false;  // a CR ended the last chunk: CRLF or a lone CR, the next byte tells
  Mode mode_ = Mode::kHeaders;
  Fault content_fault_ = Fault::kNone;
  bool over_limit_ = false;
  bool sink_failed_ = false;

  // Header section state.
  Field field_ = Field::kLineStart;
  bool field_open_ = false;  // a field is open, so a continuation line may follow
  bool skip_field_ = false;  // the open field is a Return-Path being removed
  std::string name_;         // field name and any whitespace before the colon
  size_t name_len_ = 0;      // field name without that whitespace
  Capture capture_ = Capture::kNone;
  bool capture_started_ = false;
  std::string captured_;
  bool have_message_id_ = false;
  bool have_date_ = false;
  uint64_t header_bytes_ = 0;
  std::string message_id_;
  std::string date_;
};

}  // namespace cubby::lmtp
