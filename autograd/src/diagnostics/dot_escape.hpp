#pragma once
// Text for a DOT double-quoted string, shared by to_dot and explain's DOT.
#include <string>
#include <string_view>

namespace ag::detail {

// Quotes and backslashes escaped, line breaks as DOT's "\n", and anything
// that is not printable UTF-8 (control bytes, broken sequences) as '?',
// since Graphviz rejects invalid UTF-8.
std::string dot_escape(std::string_view s);

}  // namespace ag::detail
