#include "config/man_page.hpp"

#include <array>
#include <fmt/format.h>

#include "config/client_commands.hpp"
#include "config/options.hpp"

namespace ferry::config {
namespace {

// The uWSGI spellings an option also answers to, as --help shows them.
std::string aliases_of(const Option& option) {
  std::string out;
  for (const auto alias : long_aliases(option)) {
    out += fmt::format("{}\\-\\-{}", out.empty() ? "" : ", ", roff_escape(alias));
  }
  return out;
}

// "--name METAVAR" in bold and italics: .BI alternates the two fonts.
std::string option_tag(std::string_view flag, std::string_view metavar) {
  if (metavar.empty()) return fmt::format(".B \\-\\-{}\n", roff_escape(flag));
  return fmt::format(".BI \"\\-\\-{} \" \"{}\"\n", roff_escape(flag), roff_escape(metavar));
}

constexpr std::string_view kHead = R"(.SH NAME
ferry \- WSGI application server for nginx's uwsgi_pass, configured by uWSGI ini files
.SH SYNOPSIS
.B ferry
.IR FILE .ini
.RI [ \-\-option " " value " ...]"
.br
.B ferry
.RI [ \-\-option " " value " ...]"
.br
.B ferry
.RB ( \-\-stop | \-\-reload | \-\-chain\-reload )
.I PIDFILE
.br
.B ferry \-\-ping
.I SOCKET
.SH DESCRIPTION
.B ferry
runs a WSGI application (Django, Flask, ...) in a master process and a pool of workers and
serves it over the uwsgi protocol that nginx speaks with
.BR uwsgi_pass ,
or over plain HTTP.
It reads the [uwsgi] section of uWSGI ini files: every option below works in an ini file as
.RI \(dq name " = " value \(dq
and on the command line as
.RI \(dq\-\- name " " value \(dq;
later ones override earlier ones, and list options accumulate.
.B ferry FILE.ini
is the same as
.BR "ferry \-\-ini FILE.ini" .
.PP
In ini files, %(name) expands an earlier key, $(NAME) an environment variable, %d the
file's directory (with a trailing slash), %n its name without extension and %p its path.
An unknown key is an error that suggests the closest option; a uWSGI option that ferry
does not need is accepted with a warning.
.SH OPTIONS
)";

constexpr std::string_view kTail = R"(.SH SIGNALS
.TP
.B SIGTERM, SIGINT
stop gracefully: the workers finish their requests in flight, then ferry exits 0.
.TP
.B SIGHUP
reload: new workers load the application again, without refusing a connection.
.TP
.B SIGUSR1
reopen the log file (after logrotate has moved it).
.TP
.B SIGUSR2
replace the workers one at a time (chain reload).
.SH EXIT STATUS
0 after a graceful stop; 2 for a configuration error (the message names the file, the line
and the fix); 4 when the application cannot be imported; other non-zero values when
ferry cannot start.
.SH FILES
.TP
.I /etc/ferry/sites/SITE.ini
one application per file, started by
.BR "systemctl enable \-\-now ferry@SITE.socket ferry@SITE" .
.TP
.I /var/log/ferry/SITE.log
the log of a site that sets
.BR "logger = file:/var/log/ferry/SITE.log" ,
rotated by /etc/logrotate.d/ferry.
.TP
.I /usr/share/doc/ferry/examples/
example ini files and an nginx site.
.SH SEE ALSO
.BR nginx (8),
.BR systemd.socket (5),
.BR logrotate (8)
)";

}  // namespace

std::string roff_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      if ((c == '.' || c == '\'') && out.empty()) out += "\\&";
      out += c;
    }
  }
  return out;
}

std::string man_page(std::string_view version) {
  std::string page = fmt::format(".TH FERRY 1 \"\" \"ferry {}\" \"User Commands\"\n", roff_escape(version));
  page += kHead;
  for (const auto& option : options()) {
    page += ".TP\n";
    page += option_tag(option.name, option.metavar);
    page += roff_escape(option.help);
    const auto aliases = aliases_of(option);
    if (!aliases.empty()) page += fmt::format(" (also {})", aliases);
    page += '\n';
  }
  page += ".SH CLIENT COMMANDS\n";
  for (const auto& command : kClientCommands) {
    const auto space = command.usage.find(' ');
    const auto flag = command.usage.substr(2, space == std::string_view::npos ? std::string_view::npos : space - 2);
    const auto rest = space == std::string_view::npos ? std::string_view() : command.usage.substr(space + 1);
    page += ".TP\n";
    page += option_tag(flag, rest);
    page += roff_escape(command.help);
    page += '\n';
  }
  page += kTail;
  return page;
}

}  // namespace ferry::config
