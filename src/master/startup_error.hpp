#pragma once

#include <stdexcept>

namespace ferry::master {

// Something outside the config stops ferry from starting (a socket in use, a pidfile held
// by a running ferry, an unwritable log). The message names the resource and the fix.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ferry::master
