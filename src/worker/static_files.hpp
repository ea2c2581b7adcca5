#pragma once

// static-map: which file (if any) a request path names, and what the response should be.
// Pure decision logic over the filesystem, no sockets: the worker asks resolve() before
// Python runs, then writes the headers and sendfile()s the descriptor it gets back.
//
// The defence against leaving a mapped directory has two layers: the request path is
// refused outright if it holds '..' (also still-encoded "%2e%2e"), a NUL or a backslash;
// and the file is opened relative to a descriptor of the directory with openat2(2)
// RESOLVE_BENEATH (Linux 5.6+), so a symlink that leads outside is refused by the kernel
// at the moment of opening, with no window between a check and the open.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.hpp"
#include "config/config.hpp"

namespace ferry::worker {

// A request path longer than this is refused before any lookup (Linux's PATH_MAX).
inline constexpr std::size_t kMaxStaticPath = 4096;
// Longer "extensions" are not looked up: no registered type has one.
inline constexpr std::size_t kMaxExtension = 32;
// A mime.types file is read up to this size; Debian's is 72 KiB.
inline constexpr std::size_t kMaxMimeTypesBytes = 1 << 20;

inline constexpr const char* kSystemMimeTypes = "/etc/mime.types";

// One `static-map = PREFIX=DIR`, as the option table parsed it (config::StaticMap). DIR
// may be relative (to the working directory when StaticFiles is built) and may name a
// single file instead ("/favicon.ico=static/favicon.ico", as uWSGI allows), which then
// answers only for exactly PREFIX.
using StaticMapping = config::StaticMap;

// Extension -> Content-Type, from a mime.types file ("type ext ext ..." lines, '#'
// comments) laid over a small built-in table of the web's common types, so a container
// without /etc/mime.types still serves CSS as text/css. The file wins where both name an
// extension, and a later line wins over an earlier one.
//
// No "; charset=utf-8" is added to text types: neither uWSGI nor nginx (by default) does,
// and declaring a charset the file may not be in is worse than letting the browser use the
// page's; the types are exactly as mime.types spells them (Debian: text/css,
// text/javascript for .js and .mjs, font/woff2, image/svg+xml).
class MimeTypes {
 public:
  static constexpr std::string_view kDefault = "application/octet-stream";

  // Built-in table plus `path`. A file that cannot be read leaves the built-in table
  // alone; source() then is empty, so the caller can say so in the log.
  static MimeTypes load(const std::string& path = kSystemMimeTypes);
  // The built-in table only.
  static MimeTypes builtin();

  // `extension` without its dot, in any case.
  void add(std::string_view extension, std::string_view type);

  // The type for the last path segment's extension, case-insensitively ("X.CSS" is
  // text/css); kDefault for no extension, an unknown one, or a dot file (".htaccess").
  std::string_view lookup(std::string_view filename) const;

  std::size_t size() const { return types_.size(); }
  // The file the types were read from, or empty if only the built-in table is in use.
  const std::string& source() const { return source_; }

 private:
  struct CaseInsensitiveHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const;
  };
  struct CaseInsensitiveEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const;
  };
  std::unordered_map<std::string, std::string, CaseInsensitiveHash, CaseInsensitiveEqual> types_;
  std::string source_;
};

struct StaticDecision {
  enum class Kind {
    not_mapped,    // no static-map prefix matches: the app handles the request
    serve,         // 200 with `file`
    not_modified,  // 304: If-Modified-Since is not older than the file
    forbidden,     // 403: a refused path, a symlink out of the directory, an unreadable file
    not_found,     // nothing to serve; uWSGI lets the app have the request then
  };
  Kind kind = Kind::not_mapped;
  // With serve: opened O_RDONLY | O_CLOEXEC | O_NONBLOCK (harmless on a regular file; it
  // is there so that probing a fifo cannot block). The caller sendfile()s `size` bytes.
  UniqueFd file;
  std::uint64_t size = 0;
  // With serve and not_modified.
  std::string content_type;
  std::string last_modified;  // IMF-fixdate of the file's mtime
  // With forbidden and not_found: why, for the log line.
  std::string reason;
};

class StaticFiles {
 public:
  // How files are opened beneath the directory. `automatic` uses openat2 when the kernel
  // (and any seccomp filter) allows it; `portable` never does (realpath() check, then a
  // component-by-component O_NOFOLLOW walk), for old kernels and for the tests.
  enum class Opener { automatic, portable };

  // Resolves every directory with realpath() and opens it once, here: a mapping whose
  // directory does not exist throws std::runtime_error naming it (a startup error).
  // Build it in the worker after fork (not in the master) so a reload picks up a
  // directory that a deploy has since replaced. Trailing '/'s of a prefix are ignored.
  StaticFiles(std::vector<StaticMapping> mappings, MimeTypes types, Opener opener = Opener::automatic);

  // `path_info` is already percent-decoded (nginx sends PATH_INFO decoded; the HTTP
  // listener decodes too). The longest matching prefix wins, and a prefix matches only at
  // a '/' boundary ("/static" matches "/static" and "/static/x.css", not "/staticx").
  // Several mappings with the same prefix are tried in configuration order until one has
  // the file (uWSGI's behaviour); the first not_found is reported if none has.
  // `if_modified_since` is the raw header value, empty when absent; an unparseable one is
  // ignored. Thread-safe: const and without shared mutable state.
  StaticDecision resolve(std::string_view path_info, std::string_view if_modified_since) const;

  bool empty() const { return roots_.empty(); }
  bool uses_openat2() const { return use_openat2_; }
  const MimeTypes& mime_types() const { return types_; }

 private:
  struct Root {
    std::string prefix;     // without a trailing '/'; "" for a mapping of "/"
    std::string directory;  // realpath() of the mapped directory (of its parent for a file)
    std::string file_name;  // set when the mapping names one file
    UniqueFd fd;            // O_PATH descriptor of `directory`
  };

  // A descriptor, or the errno that stopped the open; EXDEV means "would leave the directory".
  struct Opened {
    UniqueFd fd;
    int error = 0;
  };

  StaticDecision open_under(const Root& root, std::string_view rest, std::string_view if_modified_since) const;
  Opened open_beneath(const Root& root, std::string_view relative) const;
  Opened open_canonical(const Root& root, std::string_view relative) const;

  std::vector<Root> roots_;  // longest prefix first; configuration order among equal ones
  MimeTypes types_;
  bool use_openat2_ = false;
};

}  // namespace ferry::worker
