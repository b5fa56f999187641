#include "graph_files.hpp"

#include <fmt/format.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace tapegrad_cli {

void write_text_file(const std::string& path, std::string_view text) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size() || std::fflush(f.get()) != 0)
        throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
}

std::string find_on_path(std::string_view program) {
    const char* path = std::getenv("PATH");
    if (path == nullptr) return "";
    std::string_view dirs(path);
    while (true) {
        const std::size_t colon = dirs.find(':');
        const std::string_view dir = dirs.substr(0, colon);
        // An empty PATH entry means the current directory.
        const std::string candidate = fmt::format("{}/{}", dir.empty() ? std::string_view(".") : dir, program);
        if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate;
        if (colon == std::string_view::npos) return "";
        dirs.remove_prefix(colon + 1);
    }
}

namespace {

// Runs `argv` (argv[0] a full path) and waits; returns its exit status, or
// throws if it could not start or died from a signal.
int run(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    if (const int err = ::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ); err != 0)
        throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(err)));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw std::runtime_error(fmt::format("waiting for {}: {}", argv[0], std::strerror(errno)));
    if (!WIFEXITED(status)) throw std::runtime_error(fmt::format("{} was killed by signal {}", argv[0], WTERMSIG(status)));
    return WEXITSTATUS(status);
}

}  // namespace

RenderResult render_graph(std::string_view dot_text, const std::string& path, std::string_view format) {
    RenderResult result;
    const std::string dot = find_on_path("dot");
    if (dot.empty()) {
        std::filesystem::path p(path);
        if (p.extension() == ".dot")
            p += ".dot";
        else
            p.replace_extension(".dot");
        result.dot_path = p.string();
        write_text_file(result.dot_path, dot_text);
        return result;
    }
    // `dot` reads the graph from a temporary file next to the output, so no
    // pipe (and no SIGPIPE if `dot` exits early) is involved.
    std::string tmp = path + ".XXXXXX";
    std::vector<char> name(tmp.begin(), tmp.end());
    name.push_back('\0');
    const int fd = ::mkstemp(name.data());
    if (fd < 0) throw std::runtime_error(fmt::format("cannot create a temporary file {}: {}", tmp, std::strerror(errno)));
    ::close(fd);
    tmp = name.data();
    try {
        write_text_file(tmp, dot_text);
        const int status = run({dot, fmt::format("-T{}", format), "-o", path, tmp});
        if (status != 0) throw std::runtime_error(fmt::format("{} -T{} exited with status {}", dot, format, status));
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
    std::remove(tmp.c_str());
    result.rendered = true;
    return result;
}

}  // namespace tapegrad_cli
