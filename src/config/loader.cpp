#include "config/loader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "config/environment.hpp"
#include "config/ini.hpp"
#include "config/log_options.hpp"
#include "config/options.hpp"

namespace ferry::config {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxIncludeDepth = 16;

// The file whose values are being read, for %d, %n, %p and %c.
struct Origin {
  fs::path path;  // empty on the command line
};

class Loader {
 public:
  void set(const std::string& key, std::string_view raw_value, bool bare, const Location& where, const Origin& origin,
           int depth) {
    // log-format and log-date are templates of their own: %(status), strftime's %d. A
    // variable's value is taken as it is: the shell that set it has expanded it already.
    const std::string value = bare                      ? std::string("true")
                              : is_log_template(key)    ? log_template(raw_value)
                              : !where.variable.empty() ? std::string(raw_value)
                                                        : expand(raw_value, where, origin);
    if (key == "ini") {
      include(value, where, depth);
      return;
    }
    if (key == "set-placeholder" || key == "set-ph") {
      const auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw ConfigError(where, fmt::format("{} expects NAME=VALUE, got '{}'", key, value));
      }
      placeholders_[value.substr(0, eq)] = value.substr(eq + 1);
      return;
    }
    placeholders_[key] = value;

    if (const Option* option = find_option(key)) {
      if (bare && option->kind != OptionKind::flag && key != "chmod-socket") {
        throw ConfigError(where, fmt::format("{} needs a value: '{} = ...'", key, key));
      }
      option->apply(result_.config, value, where, result_.warnings);
      return;
    }
    if (const auto reason = meaningless_uwsgi_option(key); !reason.empty()) {
      result_.warnings.push_back(fmt::format("{}: '{}' is a uWSGI option ferry does not need ({}); ignoring it",
                                             where.describe(), key, reason));
      return;
    }
    if (const auto reason = unsupported_uwsgi_option(key); !reason.empty()) {
      throw ConfigError(where, fmt::format("'{}' is not supported by ferry: {}", key, reason));
    }
    if (where.file.empty()) throw unknown(key, where, "--");
    // In an ini file an unknown key may be a placeholder (`base = /srv/app` used later as
    // %(base)); it is an error only if nothing refers to it.
    custom_keys_.emplace_back(key, where);
  }

  void include(const std::string& spec, const Location& where, int depth) {
    if (depth >= kMaxIncludeDepth) {
      throw ConfigError(where, fmt::format("ini files include each other more than {} levels deep "
                                           "(a loop?)",
                                           kMaxIncludeDepth));
    }
    auto [path, section] = split_ini_spec(spec);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw ConfigError(where, fmt::format("cannot read ini file '{}': {}", path,
                                           std::error_code(errno, std::generic_category()).message()));
    }
    std::stringstream stream;
    stream << in.rdbuf();
    std::string text = stream.str();
    if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // a UTF-8 byte-order mark from Windows editors
    const IniText ini =
        parse_ini(text, path, section,
                  // One-letter aliases (b, p, s) are too common in values to count.
                  [](std::string_view name) { return name.size() > 1 && find_option(name) != nullptr; });
    if (!ini.section_found) {
      throw ConfigError(where, fmt::format("'{}' has no [{}] section; ferry reads the [uwsgi] section, or "
                                           "another one named as FILE:SECTION",
                                           path, section));
    }
    if (!ini.inline_comment_lines.empty()) {
      std::string lines;
      for (int line : ini.inline_comment_lines) lines += (lines.empty() ? "" : ", ") + std::to_string(line);
      result_.warnings.push_back(
          fmt::format("{}: stripped the inline comment on line{} {} (uWSGI would have kept ' #...' as part of "
                      "the value; put comments on their own lines)",
                      path, ini.inline_comment_lines.size() > 1 ? "s" : "", lines));
    }
    result_.config.ini_files.push_back(path);
    const Origin origin{fs::absolute(path).lexically_normal()};
    for (const auto& entry : ini.entries) {
      set(entry.key, entry.value, entry.bare, entry.where, origin, depth + 1);
    }
  }

  Loaded finish() {
    for (const auto& [key, where] : custom_keys_) {
      if (!referenced_.contains(key)) throw unknown(key, where, "");
    }
    check(result_.config);
    return std::move(result_);
  }

 private:
  static ConfigError unknown(const std::string& key, const Location& where, std::string_view dashes) {
    const std::string suggestion = closest_option(key);
    std::string message = fmt::format("unknown option '{}{}'", dashes, key);
    if (!suggestion.empty()) message += fmt::format("; did you mean '{}{}'?", dashes, suggestion);
    message += " (ferry --help lists every option";
    if (dashes.empty()) message += fmt::format("; a placeholder must be used later as %({})", key);
    return ConfigError(where, message + ")");
  }

  // %(key), $(ENV), %d %n %p %c %%, as uWSGI expands them.
  std::string expand(std::string_view value, const Location& where, const Origin& origin) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      const char c = value[i];
      const bool has_next = i + 1 < value.size();
      if ((c == '%' || c == '$') && has_next && value[i + 1] == '(') {
        const auto close = value.find(')', i + 2);
        if (close == std::string_view::npos) {
          throw ConfigError(where, fmt::format("'{}(' is not closed with ')' in '{}'", c, value));
        }
        const std::string name(value.substr(i + 2, close - i - 2));
        if (c == '$') {
          const char* env = std::getenv(name.c_str());
          if (env == nullptr) {
            throw ConfigError(where, fmt::format("$({}) refers to an environment variable that is not "
                                                 "set; export {} before starting ferry",
                                                 name, name));
          }
          out += env;
        } else {
          const auto it = placeholders_.find(name);
          if (it == placeholders_.end()) {
            throw ConfigError(where, fmt::format("%({}) refers to a key that is not set before this "
                                                 "line; define '{} = ...' above it",
                                                 name, name));
          }
          referenced_.insert(name);
          out += it->second;
        }
        i = close;
      } else if (c == '%' && has_next) {
        out += magic(value[i + 1], where, origin, value);
        ++i;
      } else {
        out += c;
      }
    }
    return out;
  }

  static std::string magic(char name, const Location& where, const Origin& origin, std::string_view value) {
    if (name == '%') return "%";
    fs::path path = origin.path.empty() ? fs::current_path() / "command-line" : origin.path;
    switch (name) {
      case 'd': return path.parent_path().string() + "/";
      case 'p': return path.string();
      case 'n': return path.stem().string();
      case 'c': return path.parent_path().filename().string();
      case 'x': return path.extension().string().substr(path.extension().empty() ? 0 : 1);
      default:
        throw ConfigError(where, fmt::format("unknown magic variable '%{}' in '{}'; ferry knows %d (the "
                                             "ini file's directory), %n, %p, %c, %x, %(key) and %%",
                                             name, value));
    }
  }

  // Whole-config rules that no single option can check.
  static void check(Config& c) {
    const Location cli;
    if (!c.module.empty() && !c.wsgi_file.empty()) {
      throw ConfigError(cli, "both 'module' and 'wsgi-file' are set; keep the one that names your app");
    }
    if (c.module.empty() && c.wsgi_file.empty() && c.mounts.empty()) {
      throw ConfigError(cli,
                        "no app to serve: set 'module = yourproject.wsgi:application' (or "
                        "'wsgi-file = path/to/wsgi.py', or 'mount = /prefix=app.wsgi:application')");
    }
    for (std::size_t i = 0; i < c.mounts.size(); ++i) {
      const bool main_too = c.mounts[i].mountpoint.empty() && (!c.module.empty() || !c.wsgi_file.empty());
      bool twice = main_too;
      for (std::size_t j = 0; j < i; ++j) twice |= c.mounts[j].mountpoint == c.mounts[i].mountpoint;
      if (twice) {
        throw ConfigError(cli, fmt::format("two apps are mounted at '{}'; give each its own prefix",
                                           c.mounts[i].mountpoint.empty() ? "/" : c.mounts[i].mountpoint));
      }
    }
    if (const auto colon = c.module.find(':'); colon != std::string::npos) {
      if (c.callable.empty()) c.callable = c.module.substr(colon + 1);
      c.module.resize(colon);
    }
    if (c.sockets.empty()) {
      throw ConfigError(cli,
                        "no socket to listen on: set 'socket = /run/app.sock' (nginx: "
                        "uwsgi_pass unix:/run/app.sock;), 'socket = 127.0.0.1:3031' or, to serve "
                        "browsers directly, 'http = :8000'");
    }
  }

  Loaded result_;
  std::map<std::string, std::string, std::less<>> placeholders_;
  std::set<std::string, std::less<>> referenced_;
  std::vector<std::pair<std::string, Location>> custom_keys_;
};

// One setting from the command line: `--key value`, `--key=value`, a bare `--flag`, or an
// ini file named alone (key "ini").
struct Argument {
  std::string key;
  std::string value;
  bool bare = false;
};

std::vector<Argument> read_arguments(std::span<const std::string> arguments) {
  std::vector<Argument> out;
  const Location cli;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string& arg = arguments[i];
    if (!arg.starts_with("-") || arg == "-") {
      out.push_back({"ini", arg});
      continue;
    }
    // uWSGI's one-letter forms: -s /tmp/app.sock, -M, -p 4.
    const bool short_form = arg.size() == 2 && arg[1] != '-';
    if (!short_form && (!arg.starts_with("--") || arg.size() == 2)) {
      throw ConfigError(cli, fmt::format("'{}': options are spelled --name value (see ferry --help)", arg));
    }
    Argument& setting = out.emplace_back();
    std::string& key = setting.key = arg.substr(short_form ? 1 : 2);
    if (const auto eq = key.find('='); eq != std::string::npos) {
      setting.value = key.substr(eq + 1);
      key.resize(eq);
      continue;
    }
    const Option* option = find_option(key);
    const bool is_flag = option != nullptr && option->kind == OptionKind::flag;
    const bool next_is_value = i + 1 < arguments.size() && !arguments[i + 1].starts_with("-");
    if (is_flag) {
      // `--master` alone, or `--master false`.
      static const std::set<std::string> literals{"true", "false", "1", "0", "on", "off", "yes", "no"};
      if (next_is_value && literals.contains(arguments[i + 1])) {
        setting.value = arguments[++i];
      } else {
        setting.bare = true;
      }
    } else if (next_is_value) {
      setting.value = arguments[++i];
    } else if (option != nullptr) {
      throw ConfigError(cli, fmt::format("--{} needs a value (see ferry --help)", key));
    } else {
      setting.bare = true;  // reported as unknown by set()
    }
  }
  return out;
}

}  // namespace

Loaded load(std::span<const std::string> arguments, std::span<const std::string> environment) {
  Loader loader;
  const Origin command_line{};
  const Location cli;
  const std::vector<Argument> settings = read_arguments(arguments);
  EnvironmentOptions from_environment = environment_options(environment);
  // The environment comes first, as uWSGI reads UWSGI_* before its command line: an ini or
  // a flag given there overrides a variable. An ini named on the command line replaces
  // FERRY_INI, as a container's command replaces its image's default.
  const bool ini_on_command_line =
      std::any_of(settings.begin(), settings.end(), [](const Argument& a) { return a.key == "ini"; });
  for (const auto& option : from_environment.options) {
    if (option.key == "ini" && ini_on_command_line) continue;
    loader.set(option.key, option.value, false, Location::environment(option.variable), command_line, 0);
  }
  for (const auto& setting : settings) loader.set(setting.key, setting.value, setting.bare, cli, command_line, 0);
  Loaded loaded = loader.finish();
  loaded.warnings.insert(loaded.warnings.begin(), from_environment.warnings.begin(), from_environment.warnings.end());
  loaded.config.arguments.assign(arguments.begin(), arguments.end());
  std::copy_if(environment.begin(), environment.end(), std::back_inserter(loaded.config.environment),
               [](const std::string& entry) { return entry.starts_with("FERRY_"); });
  if (loaded.config.log_maxsize > 0 && loaded.config.logfile.empty()) {
    loaded.warnings.push_back("log-maxsize has no effect: the log goes to stderr; set logger = file:PATH to rotate it");
  }
  return loaded;
}

}  // namespace ferry::config
