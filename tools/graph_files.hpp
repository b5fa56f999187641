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

struct RenderResult {
    bool rendered = false;  // false: `dot` is not installed
    std::string dot_path;   // where the DOT text went instead (when not rendered)
};

// Renders DOT text to `path` in `format` ("svg" or "png") with `dot`. When
// `dot` is not on PATH, writes the DOT text next to `path` (same name,
// extension .dot) instead and says so in the result. Throws
// std::runtime_error when a file cannot be written or `dot` fails.
RenderResult render_graph(std::string_view dot_text, const std::string& path, std::string_view format);

}  // namespace tapegrad_cli
