// The client end of TLS over a socket that is already connected (the front end's STARTTLS to its
// back ends, server/proxy/backend_tls.h), through Boost.Asio's ssl::stream; this header shows no
// Asio, so blocking code without an event loop can use it.
//
// ClientContext::from() builds the context once from the front end's settings: TLS 1.2 and 1.3
// as tls_versions and tls_ciphers say (tls_protocols.h); the server's certificate must verify
// against proxy_tls_ca_file (or the system's trust store when it is empty); when
// proxy_tls_client_cert and proxy_tls_client_key are set it presents that certificate. An
// unreadable file or a key that does not match is an error naming the setting. Copies share one
// context; thread-safe.
//
// ClientContext::handshake() runs the client handshake on the connected stream socket `fd` (TCP or
// UNIX; not owned, and it must stay open while the ClientStream lives): the server's certificate
// must verify and, when `host` is not empty, name it (a host name, checked as RFC 6125 says
// without partial wildcards, and sent as SNI; or an IP address, against the certificate's IP
// addresses). The whole handshake lasts at most `timeout`. Returns the stream, or why it failed:
// "the back end's certificate: <why>" when the certificate did not verify, "no TLS handshake within
// the timeout", or the TLS error.
//
// ClientStream::read() and write() follow deliver::ByteLayer's contract (like recv and send with
// MSG_DONTWAIT: bytes moved, 0 at the end of the stream for read, or -1 with `*wait` POLLIN or
// POLLOUT to repeat once the socket is ready, or `*wait` 0 and `*why` when the stream failed).
// A write that has begun sending a TLS record finishes it within `timeout` (a record cannot be
// half sent and taken back). Used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "conf/result.h"
#include "conf/settings.h"

namespace cubby::tls {

class ClientStream;

class ClientContext {
 public:
  static Result<ClientContext, std::string> from(const conf::Settings& settings);

  [[nodiscard]] Result<std::unique_ptr<ClientStream>, std::string> handshake(
      int fd, const std::string& host, std::chrono::milliseconds timeout) const;
  // A client certificate is presented.
  bool presents_certificate() const;

  struct Shared;

 private:
  explicit ClientContext(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  std::shared_ptr<Shared> shared_;
};

class ClientStream {
 public:
  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  ssize_t read(char* buf, size_t len, short* wait, std::string* why);
  ssize_t write(const char* buf, size_t len, short* wait, std::string* why);

  struct Impl;

 private:
  friend class ClientContext;
  explicit ClientStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cubby::tls
