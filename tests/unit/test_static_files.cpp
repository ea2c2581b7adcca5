// src/worker/static_files.cpp: which file a static-map serves, and every way it refuses.

#include "worker/static_files.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/http_date.hpp"

using namespace ferry;
using namespace ferry::worker;
namespace fs = std::filesystem;
using Kind = StaticDecision::Kind;

namespace {

constexpr std::time_t kMtime = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
  const timespec times[2] = {{kMtime, 0}, {kMtime, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

// A throwaway tree:
//   static/      the mapped directory, with files, links in and out, a fifo, an unreadable file
//   static2/     a sibling whose name starts with "static" (a prefix-compare trap)
//   outside/     what links from static/ must not reach
//   more/        a second directory mapped at /static, tried after static/
//   media/       mapped at the longer prefix /static/media
struct Tree {
  fs::path root;
  fs::path stat;  // root / "static"

  Tree() {
    std::string pattern = (fs::temp_directory_path() / "ferry-static-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    root = fs::canonical(pattern);
    stat = root / "static";
    for (const char* dir :
         {"static", "static/js", "static/img", "static/fonts", "static/sub", "static2", "outside", "more", "media"}) {
      fs::create_directory(root / dir);
    }
    write_file(stat / "app.css", "body{}");
    write_file(stat / "js/app.js", "alert(1)");
    write_file(stat / "img/LOGO.PNG", "png");
    write_file(stat / "fonts/font.woff2", "woff2");
    write_file(stat / "icon.svg", "<svg/>");
    write_file(stat / "README", "read me");
    write_file(stat / "only-here.txt", "static");
    write_file(root / "secret.txt", "secret");
    write_file(root / "outside/file.css", "outside");
    write_file(root / "static2/x.css", "sibling");
    write_file(root / "more/other.css", "more");
    write_file(root / "more/only-here.txt", "more");
    write_file(root / "media/photo.jpg", "jpg");
    write_file(root / "favicon.ico", "ico");

    fs::create_symlink("app.css", stat / "inside_link.css");
    fs::create_symlink(stat / "app.css", stat / "absolute_inside.css");
    fs::create_symlink("js", stat / "dirlink");
    fs::create_symlink("sub/../app.css", stat / "dotdot_inside.css");
    fs::create_symlink("/etc/passwd", stat / "passwd");
    fs::create_symlink("../secret.txt", stat / "escape.txt");
    fs::create_symlink("../outside", stat / "outdir");
    fs::create_symlink("../static2/x.css", stat / "sibling.css");
    fs::create_symlink("/nonexistent/file.css", stat / "dangling.css");
    fs::create_symlink(stat / "js", stat / "absolute_dirlink");
    REQUIRE(::mkfifo((stat / "fifo").c_str(), 0644) == 0);
    write_file(stat / "unreadable.css", "no");
    fs::permissions(stat / "unreadable.css", fs::perms::none);
  }
  ~Tree() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }

  StaticFiles files(StaticFiles::Opener opener) const {
    return StaticFiles({{"/static", stat.string()},
                        {"/static", (root / "more").string()},
                        {"/static/media/", (root / "media").string()},
                        {"/favicon.ico", (root / "favicon.ico").string()}},
                       MimeTypes::load(), opener);
  }
};

std::string read_all(int fd) {
  std::string content;
  char buffer[256];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) content.append(buffer, static_cast<std::size_t>(n));
  return content;
}

constexpr StaticFiles::Opener kOpeners[] = {StaticFiles::Opener::automatic, StaticFiles::Opener::portable};

}  // namespace

TEST_CASE("MIME types come from /etc/mime.types, case-insensitively") {
  const MimeTypes types = MimeTypes::load();
  CHECK(types.lookup("app.css") == "text/css");
  const std::string_view js = types.lookup("app.js");
  CHECK((js == "text/javascript" || js == "application/javascript"));
  CHECK(types.lookup("logo.png") == "image/png");
  CHECK(types.lookup("icon.svg") == "image/svg+xml");
  CHECK(types.lookup("font.woff2") == "font/woff2");
  CHECK(types.lookup("LOGO.PNG") == "image/png");
  CHECK(types.lookup("Style.Css") == "text/css");
  CHECK(types.lookup("/static/dir.d/page.html") == "text/html");
  CHECK(types.lookup("archive.tar.gz") == "application/gzip");
  CHECK(types.lookup("README") == MimeTypes::kDefault);
  CHECK(types.lookup("dir.d/README") == MimeTypes::kDefault);
  CHECK(types.lookup(".htaccess") == MimeTypes::kDefault);
  CHECK(types.lookup("trailing.") == MimeTypes::kDefault);
  CHECK(types.lookup("x.unknownextension") == MimeTypes::kDefault);
  CHECK(types.lookup("") == MimeTypes::kDefault);
  CHECK(types.lookup(std::string("x.") + std::string(kMaxExtension + 1, 'a')) == MimeTypes::kDefault);
  if (fs::exists(kSystemMimeTypes)) {
    CHECK(types.source() == kSystemMimeTypes);
    CHECK(types.size() > 500);
  }
}

TEST_CASE("MIME types: a missing file leaves the built-in table; the file wins over it") {
  const MimeTypes missing = MimeTypes::load("/nonexistent/mime.types");
  CHECK(missing.source().empty());
  CHECK(missing.lookup("a.css") == "text/css");
  CHECK(missing.lookup("a.woff2") == "font/woff2");
  CHECK(missing.lookup("a.svg") == "image/svg+xml");
  CHECK(missing.lookup("a.js") == "text/javascript");

  std::string dir = (fs::temp_directory_path() / "ferry-mime-XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  const fs::path file = fs::path(dir) / "mime.types";
  std::ofstream(file) << "# a comment line\n"
                         "application/javascript\t\tjs   mjs\n"
                         "text/x-made-up   MADE up # trailing comment ext\n"
                         "not-a-type foo\n"
                         "\n"
                         "   \t\n"
                         "text/plain\n"  // a type with no extensions
                         "text/later made\n";
  const MimeTypes types = MimeTypes::load(file.string());
  fs::remove_all(dir);
  CHECK(types.source() == file.string());
  CHECK(types.lookup("a.js") == "application/javascript");
  CHECK(types.lookup("a.mjs") == "application/javascript");
  CHECK(types.lookup("a.up") == "text/x-made-up");
  CHECK(types.lookup("a.made") == "text/later");  // the later line wins
  CHECK(types.lookup("a.MADE") == "text/later");
  CHECK(types.lookup("a.ext") == MimeTypes::kDefault);
  CHECK(types.lookup("a.foo") == MimeTypes::kDefault);
  CHECK(types.lookup("a.css") == "text/css");  // still the built-in one
}

TEST_CASE("a file under the mapping is served with its type, size and date") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    if (opener == StaticFiles::Opener::portable) CHECK_FALSE(files.uses_openat2());

    StaticDecision d = files.resolve("/static/app.css", "");
    REQUIRE(d.kind == Kind::serve);
    CHECK(d.size == 6);
    CHECK(d.content_type == "text/css");
    CHECK(d.last_modified == "Sun, 06 Nov 1994 08:49:37 GMT");
    REQUIRE(d.file);
    CHECK((::fcntl(d.file.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(read_all(d.file.get()) == "body{}");

    d = files.resolve("/static/js/app.js", "");
    REQUIRE(d.kind == Kind::serve);
    CHECK(read_all(d.file.get()) == "alert(1)");
    CHECK(files.resolve("/static/img/LOGO.PNG", "").content_type == "image/png");
    CHECK(files.resolve("/static/fonts/font.woff2", "").content_type == "font/woff2");
    CHECK(files.resolve("/static/icon.svg", "").content_type == "image/svg+xml");
    CHECK(files.resolve("/static/README", "").content_type == "application/octet-stream");

    // Doubled slashes and "." segments are harmless and resolve as a filesystem would.
    CHECK(files.resolve("/static//js///app.js", "").kind == Kind::serve);
    CHECK(files.resolve("/static/./js/./app.js", "").kind == Kind::serve);
  }
}

TEST_CASE("prefixes match at a '/' boundary, the longest first") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    CHECK(files.resolve("/", "").kind == Kind::not_mapped);
    CHECK(files.resolve("", "").kind == Kind::not_mapped);
    CHECK(files.resolve("/staticx", "").kind == Kind::not_mapped);
    CHECK(files.resolve("/staticx/app.css", "").kind == Kind::not_mapped);
    CHECK(files.resolve("/stati", "").kind == Kind::not_mapped);
    CHECK(files.resolve("/app/static/app.css", "").kind == Kind::not_mapped);
    CHECK(files.resolve("/STATIC/app.css", "").kind == Kind::not_mapped);  // paths are case-sensitive
    // The unmapped rest of the URL space is the app's, whatever it holds.
    CHECK(files.resolve("/admin/../static/app.css", "").kind == Kind::not_mapped);

    // The prefix alone names the directory.
    StaticDecision d = files.resolve("/static", "");
    CHECK(d.kind == Kind::not_found);
    CHECK(d.reason == "a directory");
    CHECK(files.resolve("/static/", "").kind == Kind::not_found);

    // /static/media (configured with a trailing '/') wins over /static.
    d = files.resolve("/static/media/photo.jpg", "");
    REQUIRE(d.kind == Kind::serve);
    CHECK(read_all(d.file.get()) == "jpg");
    CHECK(d.content_type == "image/jpeg");
    CHECK(files.resolve("/static/mediax", "").kind == Kind::not_found);  // under /static, not /static/media

    // A mapping of one file answers for exactly its prefix.
    d = files.resolve("/favicon.ico", "");
    REQUIRE(d.kind == Kind::serve);
    CHECK(read_all(d.file.get()) == "ico");
    CHECK(d.content_type == "image/vnd.microsoft.icon");
    CHECK(files.resolve("/favicon.ico/x", "").kind == Kind::not_found);
    CHECK(files.resolve("/favicon.icon", "").kind == Kind::not_mapped);
  }
}

TEST_CASE("mappings with the same prefix are tried in order") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    StaticDecision d = files.resolve("/static/other.css", "");
    REQUIRE(d.kind == Kind::serve);  // only in more/
    CHECK(read_all(d.file.get()) == "more");
    d = files.resolve("/static/only-here.txt", "");
    REQUIRE(d.kind == Kind::serve);  // in both: static/ is first
    CHECK(read_all(d.file.get()) == "static");
    // In neither: the first directory's answer is reported.
    d = files.resolve("/static/missing.css", "");
    CHECK(d.kind == Kind::not_found);
    CHECK(d.reason == "no such file in " + tree.stat.string());
    // A refusal from the first directory is final: the second is not asked.
    CHECK(files.resolve("/static/passwd", "").kind == Kind::forbidden);
  }
}

TEST_CASE("'..', an encoded '..', NUL and backslash are refused before the filesystem") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    for (std::string_view path : {"/static/../secret.txt", "/static/..", "/static/js/../app.css", "/static/js/..",
                                  "/static/../static/app.css", "/static/a/../../secret.txt"}) {
      CAPTURE(path);
      const StaticDecision d = files.resolve(path, "");
      CHECK(d.kind == Kind::forbidden);
      CHECK(d.reason == "'..' in the path");
      CHECK_FALSE(d.file);
    }
    for (std::string_view path : {"/static/%2e%2e/secret.txt", "/static/%2E%2e/secret.txt", "/static/.%2e/x",
                                  "/static/%2e./x", "/static/js/%2e%2e"}) {
      CAPTURE(path);
      const StaticDecision d = files.resolve(path, "");
      CHECK(d.kind == Kind::forbidden);
      CHECK(d.reason == "percent-encoded '..' in the path");
    }
    CHECK(files.resolve(std::string_view("/static/app.css\0.png", 20), "").reason == "NUL byte in the path");
    CHECK(files.resolve("/static/..\\secret.txt", "").reason == "backslash in the path");
    CHECK(files.resolve("/static/js\\app.js", "").kind == Kind::forbidden);
    CHECK(files.resolve("/static/" + std::string(kMaxStaticPath, 'a'), "").kind == Kind::forbidden);

    // Names that only look like it are ordinary files (here: missing ones).
    for (std::string_view path :
         {"/static/...", "/static/..a", "/static/a..", "/static/%2e", "/static/%2e%2e%2e", "/static/%2f..x"}) {
      CAPTURE(path);
      CHECK(files.resolve(path, "").kind == Kind::not_found);
    }
    CHECK(files.resolve("/static/.", "").kind == Kind::not_found);  // the directory itself
  }
}

TEST_CASE("symlinks are followed only while they stay inside the directory") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    for (std::string_view path :
         {"/static/inside_link.css", "/static/absolute_inside.css", "/static/dotdot_inside.css"}) {
      CAPTURE(path);
      StaticDecision d = files.resolve(path, "");
      REQUIRE(d.kind == Kind::serve);
      CHECK(read_all(d.file.get()) == "body{}");
      CHECK(d.content_type == "text/css");
    }
    CHECK(files.resolve("/static/dirlink/app.js", "").kind == Kind::serve);
    CHECK(files.resolve("/static/absolute_dirlink/app.js", "").kind == Kind::serve);
    CHECK(files.resolve("/static/dirlink", "").kind == Kind::not_found);

    const std::string outside = "symlink leads outside " + tree.stat.string();
    for (std::string_view path :
         {"/static/passwd", "/static/escape.txt", "/static/outdir/file.css", "/static/sibling.css"}) {
      CAPTURE(path);
      const StaticDecision d = files.resolve(path, "");
      CHECK(d.kind == Kind::forbidden);
      CHECK(d.reason == outside);
      CHECK_FALSE(d.file);
    }
    // A link to nowhere is nothing to serve, wherever it pointed.
    CHECK(files.resolve("/static/dangling.css", "").kind == Kind::not_found);
  }
}

TEST_CASE("directories, missing files and non-regular files are not found") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    StaticDecision d = files.resolve("/static/sub", "");
    CHECK(d.kind == Kind::not_found);
    CHECK(d.reason == "a directory");
    CHECK(files.resolve("/static/sub/", "").kind == Kind::not_found);
    CHECK(files.resolve("/static/nope.css", "").kind == Kind::not_found);
    CHECK(files.resolve("/static/nope/deeper.css", "").kind == Kind::not_found);
    CHECK(files.resolve("/static/app.css/", "").kind == Kind::not_found);  // a file is not a directory
    CHECK(files.resolve("/static/app.css/x", "").kind == Kind::not_found);

    d = files.resolve("/static/fifo", "");  // must not block waiting for a writer
    CHECK(d.kind == Kind::not_found);
    CHECK(d.reason == "not a regular file");
    CHECK_FALSE(d.file);
  }
}

TEST_CASE("a file the process cannot read is forbidden") {
  if (::geteuid() == 0) {
    MESSAGE("running as root: file permissions are not enforced, the unreadable case is skipped");
    return;
  }
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticDecision d = tree.files(opener).resolve("/static/unreadable.css", "");
    CHECK(d.kind == Kind::forbidden);
    CHECK(d.reason.starts_with("not readable by this process"));
  }
}

TEST_CASE("If-Modified-Since not older than the file gives not_modified") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files = tree.files(opener);
    for (std::string_view since :
         {"Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:38 GMT", "Thu, 01 Jan 2099 00:00:00 GMT",
          "Sun Nov  6 08:49:37 1994", "Sunday, 06-Nov-94 08:49:37 GMT"}) {
      CAPTURE(since);
      const StaticDecision d = files.resolve("/static/app.css", since);
      CHECK(d.kind == Kind::not_modified);
      CHECK(d.content_type == "text/css");
      CHECK(d.last_modified == "Sun, 06 Nov 1994 08:49:37 GMT");
      CHECK_FALSE(d.file);
    }
    for (std::string_view since : {"Sun, 06 Nov 1994 08:49:36 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "garbage",
                                   "Sun, 06 Nov 1994 08:49:37 GMT; length=6"}) {
      CAPTURE(since);
      const StaticDecision d = files.resolve("/static/app.css", since);
      CHECK(d.kind == Kind::serve);
      CHECK(d.file);
    }
    // Refusals come first: a date does not turn a 403 into a 304.
    CHECK(files.resolve("/static/passwd", "Thu, 01 Jan 2099 00:00:00 GMT").kind == Kind::forbidden);
  }
}

TEST_CASE("the mtime's sub-second part does not defeat If-Modified-Since") {
  Tree tree;
  const timespec times[2] = {{kMtime, 900000000}, {kMtime, 900000000}};
  REQUIRE(::utimensat(AT_FDCWD, (tree.stat / "app.css").c_str(), times, 0) == 0);
  const StaticFiles files = tree.files(StaticFiles::Opener::automatic);
  CHECK(files.resolve("/static/app.css", "Sun, 06 Nov 1994 08:49:37 GMT").kind == Kind::not_modified);
}

TEST_CASE("mapping a directory that does not exist is a startup error naming it") {
  try {
    StaticFiles files({{"/static", "/nonexistent/ferry/static"}}, MimeTypes::builtin());
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string_view(e.what()).find("/nonexistent/ferry/static") != std::string_view::npos);
    CHECK(std::string_view(e.what()).find("No such file or directory") != std::string_view::npos);
  }
}

TEST_CASE("a mapping of '/' covers every path") {
  Tree tree;
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files({{"/", tree.stat.string()}}, MimeTypes::builtin(), opener);
    CHECK(files.resolve("/app.css", "").kind == Kind::serve);
    CHECK(files.resolve("/js/app.js", "").kind == Kind::serve);
    CHECK(files.resolve("/", "").kind == Kind::not_found);
    CHECK(files.resolve("/../secret.txt", "").kind == Kind::forbidden);
    CHECK(files.resolve("/passwd", "").kind == Kind::forbidden);
  }
}

TEST_CASE("a mapped directory that is itself a symlink is resolved once, at startup") {
  Tree tree;
  fs::create_directory_symlink(tree.stat, tree.root / "current");
  for (auto opener : kOpeners) {
    CAPTURE(static_cast<int>(opener));
    const StaticFiles files({{"/static", (tree.root / "current").string()}}, MimeTypes::builtin(), opener);
    CHECK(files.resolve("/static/app.css", "").kind == Kind::serve);
    CHECK(files.resolve("/static/absolute_inside.css", "").kind == Kind::serve);
    CHECK(files.resolve("/static/passwd", "").reason == "symlink leads outside " + tree.stat.string());
  }
}

TEST_CASE("no mappings: nothing is mapped") {
  const StaticFiles files({}, MimeTypes::builtin());
  CHECK(files.empty());
  CHECK(files.resolve("/static/app.css", "").kind == Kind::not_mapped);
}
