#pragma once
// Writing graph pictures for the tapegrad tool: DOT text as is, or rendered
// to SVG/PNG by Graphviz's `dot` program when it is on PATH.
#include <string>
#include <string_view>

namespace tapegrad_cli {

// Writes `text` to `path`; throws std::runtime_error naming the file and
// the reason when it cannot.
void write_text_file(const std::string& path, std::string_view text);

// The full path of `program` in a PATH directory, or "" if it is not there.
std::string find_on_path(std::string_view program);

// Writes DOT text beside the picture `picture_path` would have been (same
// name, extension .dot; "g.dot" for a picture named "g.dot" is "g.dot.dot")
// and returns that path.
std::string write_dot_beside(const std::string& picture_path, std::string_view dot_text);

enum class RenderStatus {
    Drawn,
    NoGraphviz,  // `dot` is not on PATH
    TimedOut,    // `dot` ran past the time limit and was killed
};

struct RenderResult {
    RenderStatus status = RenderStatus::Drawn;
    std::string dot_path;  // where the DOT text went instead (when not drawn)
};

// Renders DOT text to `path` in `format` ("svg" or "png") with `dot`, giving
// it at most `timeout_seconds`. When `dot` is not on PATH or runs out of
// time (it is then killed), writes the DOT text beside `path` instead
// (write_dot_beside) and says so in the result; `path` is then left as it
// was, because `dot` draws into a temporary file renamed to `path` only
// once complete. `dot` dies with tapegrad if tapegrad is killed
// (PR_SET_PDEATHSIG). Throws std::runtime_error when a file cannot be
// written or `dot` fails.
RenderResult render_graph(std::string_view dot_text, const std::string& path, std::string_view format,
                          double timeout_seconds);

}  // namespace tapegrad_cli
