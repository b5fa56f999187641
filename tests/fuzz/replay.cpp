// Runs the fuzz target once on each file of the given files or directories
// (the committed corpus), so the normal and sanitizer builds check that
// every input the fuzzer kept still passes, with no libFuzzer needed.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (const auto& entry : std::filesystem::directory_iterator(p))
                if (entry.is_regular_file()) files.push_back(entry.path());
        } else if (std::filesystem::is_regular_file(p)) {
            files.push_back(p);
        } else {
            fmt::print(stderr, "replay: {} is neither a file nor a directory\n", p.string());
            return 2;
        }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        fmt::print(stderr, "replay: no inputs found\n");
        return 2;
    }
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    fmt::print("replayed {} inputs without a failure\n", files.size());
    return 0;
}
