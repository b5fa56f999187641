#pragma once
// A scratch directory for the files a test writes. ctest runs every
// TEST_CASE as its own process, two at a time, so the directory is named
// after the process id; it is removed when the process exits.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

inline const std::filesystem::path& scratch_dir() {
    struct Dir {
        std::filesystem::path path =
            std::filesystem::temp_directory_path() / fmt::format("tapegrad_test_{}", ::getpid());
        Dir() { std::filesystem::create_directories(path); }
        ~Dir() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const Dir dir;
    return dir.path;
}

inline std::filesystem::path scratch_path(const std::string& name) { return scratch_dir() / name; }
