#pragma once

// Where a request body too large for memory goes, on either path (post-buffering's
// wsgi.input, a chunked upload on the HTTP listener): an unlinked temp file.

namespace ferry {

// $TMPDIR if set and not empty, else /tmp.
const char* temp_directory();

// An unlinked file in temp_directory() (O_TMPFILE), read-write: nothing to clean up if the
// worker dies, invisible to other users. -1 with errno set on failure.
int open_unlinked_temp_file();

}  // namespace ferry
