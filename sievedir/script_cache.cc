// The per-worker compiled-script cache; see script_cache.h.
#include "sievedir/script_cache.h"

#include <xxhash.h>

namespace cubby::sievedir {

std::shared_ptr<const CompiledScript> ScriptCache::get(const ScriptFile& file,
                                                       const sieve::Limits& limits) {
  auto it = by_path_.find(file.path);
  if (it != by_path_.end() && it->second->file.same_version(file)) {
    return it->second;
  }
  auto compiled = std::make_shared<CompiledScript>();
  compiled->file = file;
  ++compiles_;
  auto source = read_file(file.path);
  if (!source.ok()) {
    compiled->error = sieve::Error{sieve::Error::Kind::kCompile, source.error()};
  } else {
    const XXH128_hash_t h = XXH3_128bits(source.value().data(), source.value().size());
    compiled->source_hash = {h.high64, h.low64};
    auto script = sieve::compile(source.value(), limits);
    if (script.ok()) {
      compiled->script = std::make_shared<const sieve::Script>(std::move(script.value()));
    } else {
      compiled->error = script.error();
    }
  }
  if (by_path_.size() >= capacity_ && it == by_path_.end()) by_path_.clear();  // crude bound
  by_path_[file.path] = compiled;
  return compiled;
}

bool ScriptCache::first_failure(const ScriptFile& file, const std::string& what) {
  if (failures_.size() >= capacity_) failures_.clear();
  return failures_
      .insert(file.version() + "\n" + what)
      .second;
}

std::optional<std::string> include_source(const ScriptStore& store, const std::string& user,
                                          std::string_view name, sieve::ScriptLocation where) {
  const std::string n(name);
  auto file = where == sieve::ScriptLocation::kGlobal ? store.global(n) : store.personal(user, n);
  if (!file) return std::nullopt;
  auto source = read_file(file->path);
  if (!source.ok()) return std::nullopt;
  return std::move(source.value());
}

}  // namespace cubby::sievedir
