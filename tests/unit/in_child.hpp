#pragma once

// Runs a test's body in a forked child, for what must not leak into the other tests
// (signal handlers, nice values, privileges, the process title).

#include <sys/wait.h>
#include <unistd.h>

namespace ferry::test {

// The child's exit code (body's return value), or 128 + the signal that killed it, as a
// shell reports it: a crash never reads as a pass.
template <typename Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace ferry::test
