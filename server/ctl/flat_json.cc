// read_flat_json: see flat_json.h. The JSON itself is read by nlohmann::json (Debian's
// nlohmann-json3-dev); this file only checks the shape and flattens each object.
#include "server/ctl/flat_json.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace cubby::ctl {
namespace {

using nlohmann::json;

// One member's value as text, or nullopt for an array or object (not the shape cubbyctl prints).
std::optional<std::string> flat_value(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return std::string();
  if (value.is_structured()) return std::nullopt;
  return value.dump();  // a number, true or false
}

Result<FlatObject, std::string> flatten(const json& object) {
  if (!object.is_object()) return fail(std::string("an object expected"));
  FlatObject out;
  for (const auto& [name, value] : object.items()) {
    auto text = flat_value(value);
    if (!text) {
      return fail(std::string("member \"" + name + "\" is an array or object"));
    }
    out.emplace(name, std::move(*text));
  }
  return out;
}

}  // namespace

Result<std::vector<FlatObject>, std::string> read_flat_json(std::string_view text) {
  const json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return fail(std::string("not JSON"));
  std::vector<FlatObject> out;
  if (document.is_array()) {
    for (const auto& element : document) {
      auto object = flatten(element);
      if (!object.ok()) return fail(std::string(object.error()));
      out.push_back(std::move(object.value()));
    }
    return out;
  }
  auto object = flatten(document);
  if (!object.ok()) return fail(std::string(object.error()));
  out.push_back(std::move(object.value()));
  return out;
}

}  // namespace cubby::ctl
