#pragma once
// GradBench's JSON-lines protocol, tool side: one message per line in, one
// response per line out, carrying the message's id.
//
//   start     -> {"id", "tool": "tapegrad", "config": {...}}
//   define    -> {"id", "success"} (+ "error" when the module is missing)
//   evaluate  -> {"id", "success": true, "output", "timings"} or
//                {"id", "success": false, "error"}
//   analysis  -> {"id"}   (also "end", which upstream reserves)
//
// A message the tool cannot act on (not JSON, no id, unknown kind, missing
// field, an input of the wrong shape, ...) is answered with
// "success": false and an error naming what was wrong ("id": null when the
// id itself is unreadable); the session carries on with the next line.
#include <iosfwd>
#include <string>
#include <string_view>

namespace gradbench {

// The response line (no newline) to one message line.
std::string respond(std::string_view line);

// Answers every line of `in` on `out`, flushing after each, until the end of
// `in`. Blank lines are skipped. Returns the process exit status (0).
int serve(std::istream& in, std::ostream& out);

}  // namespace gradbench
