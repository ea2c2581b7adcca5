#include "worker/static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "common/http_date.hpp"

// glibc has no openat2() wrapper yet; the kernel's header gives struct open_how and the
// RESOLVE_* flags, and syscall(2) does the rest. Without the header only the portable
// opener is built.
#if __has_include(<linux/openat2.h>) && defined(SYS_openat2)
#include <linux/openat2.h>
#define FERRY_HAVE_OPENAT2 1
#else
#define FERRY_HAVE_OPENAT2 0
#endif

namespace ferry::worker {
namespace {

// O_NONBLOCK so that opening a fifo someone left in the directory returns at once (and
// is then refused as not regular) instead of waiting for a writer; O_NOCTTY so that a
// terminal device cannot become the worker's controlling terminal.
constexpr int kFileFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

// What a bare system still needs to serve a Django project's static files right.
constexpr std::pair<std::string_view, std::string_view> kBuiltinTypes[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "text/javascript"},
    {"mjs", "text/javascript"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
};

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string errno_text(int error) {
  char buffer[128];
  return strerror_r(error, buffer, sizeof buffer);  // the GNU variant: returns the text
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// ".." spelled with "%2e" for either dot. Seeing one means the caller did not decode
// the path (or the client encoded twice): refusing it keeps the attempt in the log as a
// 403 instead of a quiet 404 for a file literally named "%2e%2e".
bool is_encoded_dot_dot(std::string_view segment) {
  int dots = 0;
  bool encoded = false;
  while (!segment.empty()) {
    if (segment.front() == '.') {
      segment.remove_prefix(1);
    } else if (segment.size() >= 3 && segment[0] == '%' && segment[1] == '2' && ascii_lower(segment[2]) == 'e') {
      segment.remove_prefix(3);
      encoded = true;
    } else {
      return false;
    }
    ++dots;
  }
  return encoded && dots == 2;
}

// Why the part of the path after the prefix must not reach the filesystem, or nullptr.
// NUL would cut the name short for the kernel; a backslash is a separator to no one here
// but a sign of a Windows-style traversal attempt.
const char* refused_path(std::string_view rest) {
  if (rest.find('\0') != std::string_view::npos) return "NUL byte in the path";
  if (rest.find('\\') != std::string_view::npos) return "backslash in the path";
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment == "..") return "'..' in the path";
    if (is_encoded_dot_dot(segment)) return "percent-encoded '..' in the path";
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return nullptr;
}

StaticDecision decided(StaticDecision::Kind kind, std::string reason) {
  StaticDecision decision;
  decision.kind = kind;
  decision.reason = std::move(reason);
  return decision;
}

#if FERRY_HAVE_OPENAT2
long openat2_call(int dirfd, const char* path, int flags, std::uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// A kernel older than 5.6 says ENOSYS; a seccomp filter that does not know the call
// (older Docker profiles) says EPERM.
bool openat2_works() {
  const long fd = openat2_call(AT_FDCWD, "/", O_PATH | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return false;
  ::close(static_cast<int>(fd));
  return true;
}
#endif

}  // namespace

std::size_t MimeTypes::CaseInsensitiveHash::operator()(std::string_view key) const {
  std::size_t hash = 14695981039346656037ULL;  // FNV-1a
  for (char c : key) hash = (hash ^ static_cast<unsigned char>(ascii_lower(c))) * 1099511628211ULL;
  return hash;
}

bool MimeTypes::CaseInsensitiveEqual::operator()(std::string_view a, std::string_view b) const {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

MimeTypes MimeTypes::builtin() {
  MimeTypes types;
  for (const auto& [extension, type] : kBuiltinTypes) types.add(extension, type);
  return types;
}

MimeTypes MimeTypes::load(const std::string& path) {
  MimeTypes types = builtin();
  std::FILE* file = std::fopen(path.c_str(), "re");
  if (file == nullptr) return types;
  std::string text(kMaxMimeTypesBytes, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file));
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return types;

  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(std::min(end + 1, rest.size()));
    line = line.substr(0, line.find('#'));

    std::string_view type;
    while (!line.empty()) {
      while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
      std::size_t length = 0;
      while (length < line.size() && !is_blank(line[length])) ++length;
      const std::string_view word = line.substr(0, length);
      line.remove_prefix(length);
      if (word.empty()) break;
      if (type.empty()) {
        type = word;
        if (type.find('/') == std::string_view::npos) break;  // not a type: skip the line
      } else {
        types.add(word, type);
      }
    }
  }
  types.source_ = path;
  return types;
}

void MimeTypes::add(std::string_view extension, std::string_view type) {
  if (extension.empty() || extension.size() > kMaxExtension) return;
  types_.insert_or_assign(std::string(extension), std::string(type));
}

std::string_view MimeTypes::lookup(std::string_view filename) const {
  if (const std::size_t slash = filename.rfind('/'); slash != std::string_view::npos) {
    filename.remove_prefix(slash + 1);
  }
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return kDefault;
  const std::string_view extension = filename.substr(dot + 1);
  if (extension.empty() || extension.size() > kMaxExtension) return kDefault;
  const auto found = types_.find(extension);
  return found == types_.end() ? kDefault : std::string_view(found->second);
}

StaticFiles::StaticFiles(std::vector<StaticMapping> mappings, MimeTypes types, Opener opener)
    : types_(std::move(types)) {
  for (StaticMapping& mapping : mappings) {
    const std::string where = "static-map " + mapping.prefix + "=" + mapping.directory + ": ";
    char resolved[PATH_MAX];
    if (::realpath(mapping.directory.c_str(), resolved) == nullptr) {
      throw std::runtime_error(where + mapping.directory + ": " + errno_text(errno));
    }
    struct stat st {};
    if (::stat(resolved, &st) != 0) throw std::runtime_error(where + resolved + ": " + errno_text(errno));

    Root root;
    std::string_view prefix = mapping.prefix;
    while (prefix.ends_with('/')) prefix.remove_suffix(1);
    root.prefix = prefix;
    if (S_ISDIR(st.st_mode)) {
      root.directory = resolved;
    } else if (S_ISREG(st.st_mode)) {
      // A single file: keep its directory's descriptor and open the file by name from it,
      // so one code path serves both kinds of mapping.
      const std::string_view full = resolved;
      const std::size_t slash = full.rfind('/');
      root.directory = slash == 0 ? "/" : std::string(full.substr(0, slash));
      root.file_name = full.substr(slash + 1);
    } else {
      throw std::runtime_error(where + resolved + " is neither a directory nor a regular file");
    }
    // O_PATH: the descriptor only anchors lookups, so the directory needs no read permission.
    root.fd.reset(::open(root.directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.fd) throw std::runtime_error(where + root.directory + ": " + errno_text(errno));
    roots_.push_back(std::move(root));
  }
  std::stable_sort(roots_.begin(), roots_.end(),
                   [](const Root& a, const Root& b) { return a.prefix.size() > b.prefix.size(); });

#if FERRY_HAVE_OPENAT2
  use_openat2_ = opener == Opener::automatic && openat2_works();
#else
  (void)opener;
#endif
}

StaticDecision StaticFiles::resolve(std::string_view path_info, std::string_view if_modified_since) const {
  const auto first = std::find_if(roots_.begin(), roots_.end(),
                                  [&](const Root& root) { return prefix_matches(root.prefix, path_info); });
  if (first == roots_.end()) return {};
  if (path_info.size() > kMaxStaticPath) {
    return decided(StaticDecision::Kind::forbidden, "path longer than " + std::to_string(kMaxStaticPath) + " bytes");
  }
  const std::string_view rest = path_info.substr(first->prefix.size());
  if (const char* why = refused_path(rest)) return decided(StaticDecision::Kind::forbidden, why);

  StaticDecision first_miss;
  for (auto root = first; root != roots_.end() && root->prefix == first->prefix; ++root) {
    StaticDecision decision = open_under(*root, rest, if_modified_since);
    if (decision.kind != StaticDecision::Kind::not_found) return decision;
    if (root == first) first_miss = std::move(decision);
  }
  return first_miss;
}

StaticDecision StaticFiles::open_under(const Root& root, std::string_view rest,
                                       std::string_view if_modified_since) const {
  using Kind = StaticDecision::Kind;
  std::string_view relative = rest;
  if (!root.file_name.empty()) {
    if (!rest.empty()) return decided(Kind::not_found, "the mapping names the single file " + root.file_name);
    relative = root.file_name;
  }
  while (relative.starts_with('/')) relative.remove_prefix(1);
  if (relative.empty()) relative = ".";

  Opened opened = open_beneath(root, relative);
  if (!opened.fd) {
    switch (opened.error) {
      case EXDEV: return decided(Kind::forbidden, "symlink leads outside " + root.directory);
      case EACCES:
      case EPERM: return decided(Kind::forbidden, "not readable by this process: " + errno_text(opened.error));
      case ENOENT:
      case ENOTDIR: return decided(Kind::not_found, "no such file in " + root.directory);
      default: return decided(Kind::not_found, errno_text(opened.error));
    }
  }

  struct stat st {};
  if (::fstat(opened.fd.get(), &st) != 0) return decided(Kind::not_found, errno_text(errno));
  if (S_ISDIR(st.st_mode)) return decided(Kind::not_found, "a directory");
  if (!S_ISREG(st.st_mode)) return decided(Kind::not_found, "not a regular file");

  StaticDecision decision;
  decision.size = static_cast<std::uint64_t>(st.st_size);
  // The type follows the name that was asked for, not a symlink's target: that is the
  // name the browser sees.
  decision.content_type = types_.lookup(relative);
  decision.last_modified = format_http_date(st.st_mtime);
  // Last-Modified has whole seconds, so the comparison does too.
  const auto since = if_modified_since.empty() ? std::nullopt : parse_http_date(if_modified_since);
  if (since && *since >= st.st_mtime) {
    decision.kind = Kind::not_modified;
  } else {
    decision.kind = Kind::serve;
    decision.file = std::move(opened.fd);
  }
  return decision;
}

StaticFiles::Opened StaticFiles::open_beneath(const Root& root, std::string_view relative) const {
#if FERRY_HAVE_OPENAT2
  if (use_openat2_) {
    char path[kMaxStaticPath + 1];
    if (relative.size() > kMaxStaticPath) return {{}, ENAMETOOLONG};
    relative.copy(path, relative.size());
    path[relative.size()] = '\0';
    // RESOLVE_BENEATH: the kernel refuses (EXDEV) any step of the walk, through '..' or a
    // symlink, that would leave the directory, checked while it walks, so no rename
    // between a check and the open can slip a file from outside in.
    const long fd = openat2_call(root.fd.get(), path, kFileFlags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    if (fd >= 0) return {UniqueFd(static_cast<int>(fd)), 0};
    const int error = errno;
    // EXDEV also comes from an absolute symlink, even one that points back inside (a
    // deploy tool may well make those); EAGAIN from a rename racing a '..' in a
    // symlink. Either way the canonical path decides.
    if (error != EXDEV && error != EAGAIN && error != ENOSYS) return {{}, error};
  }
#endif
  return open_canonical(root, relative);
}

StaticFiles::Opened StaticFiles::open_canonical(const Root& root, std::string_view relative) const {
  std::string full = root.directory;
  if (!full.ends_with('/')) full += '/';
  full += relative;
  char resolved[PATH_MAX];
  if (::realpath(full.c_str(), resolved) == nullptr) return {{}, errno};

  // Inside means the directory itself or below it; "/srv/static2" is not inside "/srv/static".
  const std::string_view canonical = resolved;
  const std::string_view directory = root.directory;
  std::size_t inner_start = 0;
  if (directory == "/") {
    inner_start = 1;
  } else if (canonical == directory) {
    inner_start = canonical.size();
  } else if (canonical.starts_with(directory) && canonical[directory.size()] == '/') {
    inner_start = directory.size() + 1;
  } else {
    return {{}, EXDEV};
  }
  char* inner = resolved + inner_start;
  if (*inner == '\0') inner = const_cast<char*>(".");

    // realpath() has removed every symlink and '..', so from here on none is allowed: one
    // that appears now was swapped in after the check, and following it could lead out.
#if FERRY_HAVE_OPENAT2
  if (use_openat2_) {
    const long fd = openat2_call(root.fd.get(), inner, kFileFlags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (fd >= 0) return {UniqueFd(static_cast<int>(fd)), 0};
    return {{}, errno == ELOOP ? EXDEV : errno};
  }
#endif
  // Without openat2, walk the components with O_NOFOLLOW. O_PATH keeps a directory that
  // is searchable but not readable walkable, as it is for an ordinary open.
  UniqueFd directory_fd;
  int at = root.fd.get();
  char* component = inner;
  for (char* slash = std::strchr(component, '/'); slash != nullptr; slash = std::strchr(component, '/')) {
    *slash = '\0';
    directory_fd.reset(::openat(at, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    // A symlink here fails with ENOTDIR (O_PATH | O_NOFOLLOW opens the link itself).
    if (!directory_fd) return {{}, errno};
    at = directory_fd.get();
    component = slash + 1;
  }
  const int fd = ::openat(at, component, kFileFlags | O_NOFOLLOW);
  if (fd < 0) return {{}, errno == ELOOP ? EXDEV : errno};
  return {UniqueFd(fd), 0};
}

}  // namespace ferry::worker
