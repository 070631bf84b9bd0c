// STARTTLS from the front end to a back end; see backend_tls.h.
#include "server/proxy/backend_tls.h"

namespace cubby::proxy {
namespace {

// The records of one established connection.
class TlsLayer : public deliver::ByteLayer {
 public:
  explicit TlsLayer(std::unique_ptr<tls::ClientStream> stream) : stream_(std::move(stream)) {}
  ssize_t read(char* buf, size_t len, short* wait, std::string* why) override {
    return stream_->read(buf, len, wait, why);
  }
  ssize_t write(const char* buf, size_t len, short* wait, std::string* why) override {
    return stream_->write(buf, len, wait, why);
  }

 private:
  std::unique_ptr<tls::ClientStream> stream_;
};

// The host part of "host:port" or "[v6]:port"; "" for a UNIX socket address.
std::string host_of(const std::string& address) {
  if (address.empty() || address[0] == '/' || address.rfind("unix:", 0) == 0) return "";
  if (address[0] == '[') return address.substr(1, address.find(']') - 1);
  return address.substr(0, address.rfind(':'));
}

}  // namespace

Result<std::shared_ptr<const BackendTls>, std::string> BackendTls::from(
    const conf::Settings& settings) {
  if (!settings.get_bool("proxy_tls")) return std::shared_ptr<const BackendTls>();
  auto context = tls::ClientContext::from(settings);
  if (!context.ok()) return fail(context.error());
  return std::shared_ptr<const BackendTls>(new BackendTls(std::move(context.value())));
}

std::optional<std::string> BackendTls::start(deliver::LmtpConnection& connection,
                                             const std::string& address) const {
  if (connection.has_unread()) return std::string("the back end sent more after its 220");
  auto stream = context_.handshake(connection.fd(), host_of(address), connection.timeout());
  if (!stream.ok()) return stream.error();
  connection.set_layer(std::make_unique<TlsLayer>(std::move(stream.value())));
  return std::nullopt;
}

}  // namespace cubby::proxy
