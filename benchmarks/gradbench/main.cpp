// tapegrad-gradbench: a GradBench tool. Reads protocol messages on stdin,
// one JSON object a line, answers each on stdout, and exits 0 at the end of
// its input. See README.md beside this file.
#include "protocol.hpp"

#include <iostream>

int main() {
    std::ios::sync_with_stdio(false);
    return gradbench::serve(std::cin, std::cout);
}
