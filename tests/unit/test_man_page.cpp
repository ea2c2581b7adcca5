// src/config/man_page.cpp: ferry(1), written from the option table.

#include "config/man_page.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "config/options.hpp"

using namespace ferry::config;

namespace {
const std::set<std::string> kMacros{"TH", "SH", "TP", "PP", "B", "I", "BI", "BR", "IR", "RI", "RB", "br"};
}  // namespace

TEST_CASE("roff_escape keeps hyphens and backslashes literal and never starts a request") {
  CHECK(roff_escape("chmod-socket") == "chmod\\-socket");
  CHECK(roff_escape("a\\b") == "a\\eb");
  CHECK(roff_escape(".hidden") == "\\&.hidden");
  CHECK(roff_escape("'quoted'") == "\\&'quoted'");
  CHECK(roff_escape("x.y") == "x.y");
}

TEST_CASE("the man page has every option of the table, with its metavar and help") {
  const auto page = man_page("9.8.7");
  CHECK(page.starts_with(".TH FERRY 1 \"\" \"ferry 9.8.7\""));
  REQUIRE(!options().empty());
  for (const auto& option : options()) {
    CAPTURE(option.name);
    // The option's own paragraph: a tag line with the flag, then its help.
    const auto flag = "\\-\\-" + roff_escape(option.name);
    const auto tag = option.metavar.empty() ? ".B " + flag + "\n" : ".BI \"" + flag + " \"";
    const auto at = page.find(".TP\n" + tag);
    REQUIRE(at != std::string::npos);
    const auto help = page.find(roff_escape(option.help), at);
    CHECK(help != std::string::npos);
    CHECK(page.find(".TP\n", at + 1) > help);
  }
}

TEST_CASE("the man page lists the uWSGI spellings an option also answers to") {
  const auto page = man_page("1");
  const Option* home = find_option("home");
  REQUIRE(home != nullptr);
  REQUIRE(home->aliases.find("virtualenv") != std::string_view::npos);
  CHECK(page.find("\\-\\-virtualenv") != std::string::npos);
}

TEST_CASE("no line of the man page starts with a character roff would take as a request") {
  const auto page = man_page("1");
  std::size_t start = 0;
  while (start < page.size()) {
    const auto end = page.find('\n', start);
    const auto line = std::string_view(page).substr(start, end - start);
    CAPTURE(line);
    // Requests are the man macros written on purpose; any other '.' line is text roff would
    // swallow as an unknown request.
    if (line.starts_with('.')) {
      const auto name = line.substr(1, line.find(' ') == std::string_view::npos ? line.npos : line.find(' ') - 1);
      CHECK(kMacros.contains(std::string(name)));
    }
    CHECK(!line.starts_with('\''));
    start = end == std::string::npos ? page.size() : end + 1;
  }
}
