// Large inputs to the tapegrad tool, its expression parser and the finite
// differences behind it: each finishes and gives the right result. Sizes
// are chosen so that the quadratic code these replace would run for hours
// (past ctest's TIMEOUT) or allocate gigabytes; no test measures time.
#if defined(TAPEGRAD_HAVE_EXPR) && defined(TAPEGRAD_CLI)
#include "tests/count_allocations.hpp"
#include "tests/scratch_dir.hpp"
#include "tools/expression.hpp"

#include <autograd/autograd.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

using ag::expr::Expression;

namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Run {
    int code = -1;
    std::string out, err;
};

// Runs tapegrad with `args` directly (no shell, whose command line is
// limited to 128 KiB), with a stack limit large enough for megabytes of
// arguments (the kernel allows a quarter of it).
Run tapegrad_direct(const std::vector<std::string>& args) {
    rlimit stack{};
    REQUIRE(::getrlimit(RLIMIT_STACK, &stack) == 0);
    constexpr rlim_t wanted = rlim_t{256} << 20;
    if (stack.rlim_cur != RLIM_INFINITY && stack.rlim_cur < wanted) {
        stack.rlim_cur = stack.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, stack.rlim_max);
        REQUIRE(::setrlimit(RLIMIT_STACK, &stack) == 0);
    }
    std::vector<char*> argv = {const_cast<char*>(TAPEGRAD_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const auto out = scratch_dir() / "stdout", err = scratch_dir() / "stderr";
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&files, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    const int spawned = ::posix_spawn(&pid, TAPEGRAD_CLI, &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    REQUIRE(spawned == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return {WEXITSTATUS(status), slurp(out), slurp(err)};
}

// "(x + x)" nested n - 1 times: the parenthesized form of x + x + ... + x.
std::string sum_of_x(std::size_t n) {
    std::string s = "x";
    for (std::size_t i = 1; i < n; ++i) s += " + x";
    return s;
}

}  // namespace

TEST_CASE("check_gradients over a million inputs of which f reads two: 2n evaluations of f, nothing quadratic") {
    constexpr std::size_t n = 1'000'000;
    std::vector<double> point(n, 1.0);
    point[0] = 2.0;
    point[n - 1] = -3.0;
    // f = x0 * x_last: the partials are x_last = -3 and x0 = 2, every
    // other one exactly 0. Fresh leaves for each of the 2n evaluations
    // made this 2 * 10^12 leaf creations.
    const ag::GradCheckReport report =
        ag::check_gradients([](const std::vector<ag::Value>& x) { return x.front() * x.back(); }, point);
    CHECK(report.f == -6);
    REQUIRE(report.inputs.size() == n);
    CHECK(report.inputs[0].analytic == -3);
    CHECK(report.inputs[0].numeric == doctest::Approx(-3).epsilon(1e-8));
    CHECK(report.inputs[n - 1].analytic == 2);
    CHECK(report.inputs[n - 1].numeric == doctest::Approx(2).epsilon(1e-8));
    std::size_t nonzero = 0;
    for (std::size_t k = 1; k + 1 < n; ++k) nonzero += report.inputs[k].analytic != 0 || report.inputs[k].numeric != 0;
    CHECK(nonzero == 0);
    CHECK(report.ok());
}

TEST_CASE("check_gradients puts each moved input back before moving the next") {
    // f = x0 * x1 * x2 at (2, 3, 5): each central difference needs the
    // other inputs at their own values, so an input left at x + h or x - h
    // shows up in the next one's partial.
    const ag::GradCheckReport report =
        ag::check_gradients([](const std::vector<ag::Value>& x) { return x[0] * x[1] * x[2]; }, {2.0, 3.0, 5.0});
    REQUIRE(report.inputs.size() == 3);
    CHECK(report.inputs[0].numeric == doctest::Approx(15).epsilon(1e-9));
    CHECK(report.inputs[1].numeric == doctest::Approx(10).epsilon(1e-9));
    CHECK(report.inputs[2].numeric == doctest::Approx(6).epsilon(1e-9));
    CHECK(report.ok());
}

TEST_CASE("to_string allocates in proportion to its result, however deep the tree") {
    // x + x + ... + x parses to a left-leaning chain as deep as it is long;
    // building each operand's text as its own string and copying it into
    // its parent's allocated about 3 n^2 bytes (300 MB here).
    constexpr std::size_t n = 10'000;
    const Expression e(sum_of_x(n));
    std::string text;
    const long long bytes = count_allocated_bytes([&] { text = e.to_string(); });
    // "(" * (n - 1), "x", " + x)" * (n - 1)
    CHECK(text.size() == (n - 1) * 6 + 1);
    CHECK(text.substr(0, 4) == "((((");
    CHECK(text.substr(text.size() - 12) == "x) + x) + x)");
    INFO("bytes allocated: ", bytes, " for a result of ", text.size(), " bytes");
    CHECK(bytes < 100 * static_cast<long long>(text.size()));
}

TEST_CASE("a 1 MiB expression prints (to_string) and evaluates") {
    // Its printed form nests 262143 parentheses, past what the parser
    // accepts back (Expression::max_depth), so it is compared with the
    // text it must be.
    const std::size_t n = (std::size_t{1} << 20) / 4;  // "x + " is 4 bytes
    const std::string source = sum_of_x(n);
    REQUIRE(source.size() >= (std::size_t{1} << 20) - 4);
    const Expression e(source);
    std::string expected(n - 1, '(');
    expected += "x";
    for (std::size_t i = 1; i < n; ++i) expected += " + x)";
    CHECK(e.to_string() == expected);
    ag::Scope scope;
    ag::Value x = 0.5;
    const ag::Value f = e.evaluate(std::vector<ag::Value>{x});
    CHECK(f.data() == 0.5 * static_cast<double>(n));
    CHECK(ag::grad(f, {x})[0] == static_cast<double>(n));
}

TEST_CASE("an expression of 100000 distinct variables keeps them in order of first appearance") {
    constexpr std::size_t n = 100'000;
    std::string text;
    for (std::size_t k = 0; k < n; ++k) text += fmt::format("{}v{}", k ? " + " : "", k);
    text += " + v0 + v99999";  // repeats: no new variables
    const Expression e(text);
    REQUIRE(e.variables().size() == n);
    std::size_t misplaced = 0;
    for (std::size_t k = 0; k < n; ++k) misplaced += e.variables()[k].name != fmt::format("v{}", k);
    CHECK(misplaced == 0);
    CHECK(e.variable_index("v0") == 0u);
    CHECK(e.variable_index("v54321") == 54321u);
    CHECK(e.variables()[54321].column == text.find("v54321"));
    CHECK_FALSE(e.variable_index("v100000").has_value());
}

TEST_CASE("tapegrad grad with 300000 assignments of which the expression uses two") {
    // Every unused assignment once made the tool scan all the others (the
    // twice-given check), re-create every leaf for each finite difference,
    // and build a value vector per evaluation: 10,000 took seconds.
    constexpr std::size_t n = 300'000;
    std::vector<std::string> args = {"grad", "--", "x * y"};
    for (std::size_t k = 0; k < n; ++k) args.push_back(fmt::format("u{}={}", k, k % 7));
    args.insert(args.begin() + 3 + 1234, "x=3");
    args.push_back("y=-2");
    const Run r = tapegrad_direct(args);
    REQUIRE(r.code == 0);
    // The table (lighter to read back than 300000 JSON objects): f, a blank
    // line, the header, one row per assignment in command-line order.
    std::vector<std::string_view> lines;
    for (std::size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
        lines.push_back(std::string_view(r.out).substr(at, nl - at));
    REQUIRE(lines.size() == 3 + n + 2);
    CHECK(lines[0] == "f = x * y = -6");
    auto words = [](std::string_view line) {
        std::vector<std::string_view> out;
        for (std::size_t at = 0; (at = line.find_first_not_of(' ', at)) != std::string_view::npos;) {
            const std::size_t end = std::min(line.find(' ', at), line.size());
            out.push_back(line.substr(at, end - at));
            at = end;
        }
        return out;
    };
    const auto x = words(lines[3 + 1234]), y = words(lines[3 + n + 1]);
    REQUIRE(x.size() == 5);
    REQUIRE(y.size() == 5);
    CHECK(x[0] == "x");
    CHECK(x[2] == "-2");
    CHECK(std::stod(std::string(x[3])) == doctest::Approx(-2).epsilon(1e-8));
    CHECK(y[0] == "y");
    CHECK(y[2] == "3");
    CHECK(std::stod(std::string(y[3])) == doctest::Approx(3).epsilon(1e-8));
    std::size_t wrong = 0;
    for (std::size_t k = 0; k < n + 2; ++k) {
        if (k == 1234 || k == n + 1) continue;
        const std::size_t u = k < 1234 ? k : k - 1;
        const auto row = words(lines[3 + k]);
        // name, value, gradient 0, finite difference exactly 0, difference 0
        wrong += row.size() != 5 || row[0] != fmt::format("u{}", u) || row[1] != fmt::format("{}", u % 7) ||
                 row[2] != "0" || row[3] != "0" || row[4] != "0.0e+00";
    }
    CHECK(wrong == 0);
    // One note for all of them, not 300000 lines.
    CHECK(r.err == fmt::format("note: u0, u1, u2, u3, u4, u5, u6, u7, u8, u9 and {} more do not occur in the "
                               "expression; their partials are 0\n",
                               n - 10));
}

#endif
