#include "graph_files.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

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

std::string write_dot_beside(const std::string& picture_path, std::string_view dot_text) {
    std::filesystem::path p(picture_path);
    if (p.extension() == ".dot")
        p += ".dot";
    else
        p.replace_extension(".dot");
    write_text_file(p.string(), dot_text);
    return p.string();
}

namespace {

// An empty file beside `near` (same directory, so a rename to `near` is
// atomic), removed on destruction unless kept. Its mode is what a new file
// gets under the umask, not mkstemp's 0600, since a picture may be renamed
// from it.
class TempFile {
public:
    explicit TempFile(const std::string& near) {
        std::string name = near + ".XXXXXX";
        const int fd = ::mkstemp(name.data());
        if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", near, std::strerror(errno)));
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd, 0666 & ~mask);
        ::close(fd);
        path_ = std::move(name);
    }
    ~TempFile() {
        if (!path_.empty()) std::remove(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }
    void keep() { path_.clear(); }

private:
    std::string path_;
};

// While alive, SIGINT, SIGTERM and SIGHUP (Ctrl-C, kill, a closed
// terminal) first remove the temporary files, then end the process as they
// would have; `dot` itself dies with us through PR_SET_PDEATHSIG. The
// handler only reads these pointers and calls unlink(), which is
// async-signal-safe.
class RemoveOnSignal {
public:
    RemoveOnSignal(const std::string& a, const std::string& b) {
        paths_[0] = a.c_str();
        paths_[1] = b.c_str();
        struct sigaction action {};
        action.sa_handler = &handle;
        sigemptyset(&action.sa_mask);
        for (std::size_t k = 0; k < std::size(signals_); ++k) ::sigaction(signals_[k], &action, &previous_[k]);
    }
    ~RemoveOnSignal() {
        for (std::size_t k = 0; k < std::size(signals_); ++k) ::sigaction(signals_[k], &previous_[k], nullptr);
        paths_[0] = nullptr;
        paths_[1] = nullptr;
    }
    RemoveOnSignal(const RemoveOnSignal&) = delete;
    RemoveOnSignal& operator=(const RemoveOnSignal&) = delete;

private:
    static void handle(int sig) {
        for (const char* p : paths_)
            if (p != nullptr) ::unlink(p);
        ::signal(sig, SIG_DFL);
        ::raise(sig);
    }
    static constexpr int signals_[] = {SIGINT, SIGTERM, SIGHUP};
    static inline const char* volatile paths_[2] = {nullptr, nullptr};
    struct sigaction previous_[std::size(signals_)]{};
};

struct Finished {
    bool timed_out = false;
    int status = 0;  // from waitpid, when not timed out
};

// Runs `argv` (argv[0] a full path) for at most `timeout_seconds`, then
// kills it. The child gets PR_SET_PDEATHSIG, so it is killed too if we die
// first (Ctrl-C, kill) instead of drawing on for minutes.
Finished run_with_timeout(const std::vector<std::string>& argv, double timeout_seconds) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    // The child reports a failed exec through this pipe; a successful exec
    // closes it (O_CLOEXEC) with nothing written.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0)
        throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(errno)));
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(report[0]);
        ::close(report[1]);
        throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(err)));
    }
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec. If the parent
        // died before prctl took effect, nobody would kill us: stop.
        ::close(report[0]);
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && ::getppid() == parent) ::execv(args[0], args.data());
        const int err = errno;
        [[maybe_unused]] const auto written = ::write(report[1], &err, sizeof err);
        ::_exit(127);
    }
    ::close(report[1]);
    int exec_error = 0;
    ssize_t got;
    while ((got = ::read(report[0], &exec_error, sizeof exec_error)) < 0 && errno == EINTR) {
    }
    ::close(report[0]);

    auto reap = [pid] {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return status;
    };
    if (got > 0) {
        reap();
        throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(exec_error)));
    }

    using clock = std::chrono::steady_clock;
    // Past about four months, "no limit" in practice; also keeps the
    // conversion below in range.
    const double seconds = std::min(timeout_seconds, 1e7);
    const auto deadline =
        clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    auto pause = std::chrono::milliseconds(1);
    while (true) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return {false, status};
        if (r < 0 && errno != EINTR) {
            const int err = errno;
            ::kill(pid, SIGKILL);
            reap();
            throw std::runtime_error(fmt::format("waiting for {}: {}", argv[0], std::strerror(err)));
        }
        const auto now = clock::now();
        if (now >= deadline) {
            ::kill(pid, SIGKILL);
            reap();
            return {true, 0};
        }
        std::this_thread::sleep_for(std::min<clock::duration>(pause, deadline - now));
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
}

}  // namespace

RenderResult render_graph(std::string_view dot_text, const std::string& path, std::string_view format,
                          double timeout_seconds) {
    const std::string dot = find_on_path("dot");
    if (dot.empty()) return {RenderStatus::NoGraphviz, write_dot_beside(path, dot_text)};
    // `dot` reads the graph from a temporary file (no pipe, so no SIGPIPE
    // if it exits early) and draws into another, renamed to `path` only
    // when complete: a killed or failed `dot` leaves no half picture.
    TempFile input(path), output(path);
    const RemoveOnSignal remove_on_signal(input.path(), output.path());
    write_text_file(input.path(), dot_text);
    const Finished run =
        run_with_timeout({dot, fmt::format("-T{}", format), "-o", output.path(), input.path()}, timeout_seconds);
    if (run.timed_out) return {RenderStatus::TimedOut, write_dot_beside(path, dot_text)};
    if (!WIFEXITED(run.status))
        throw std::runtime_error(fmt::format("{} was killed by signal {}", dot, WTERMSIG(run.status)));
    if (WEXITSTATUS(run.status) != 0)
        throw std::runtime_error(fmt::format("{} -T{} exited with status {}", dot, format, WEXITSTATUS(run.status)));
    if (std::rename(output.path().c_str(), path.c_str()) != 0)
        throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    output.keep();
    return {RenderStatus::Drawn, ""};
}

}  // namespace tapegrad_cli
