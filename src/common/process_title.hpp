#pragma once

// Readable process titles (auto-procname, procname-prefix): what `ps` and `top` show
// for the master and each worker. The title overwrites the memory of the original
// command line, so it is cut to that length; the kernel's short name (comm) is set too.

#include <string_view>

namespace ferry {

// Remembers where argv lives; call first thing in main().
void init_process_title(int argc, char** argv);
void set_process_title(std::string_view title);

}  // namespace ferry
