// The `tapegrad` executable, run as a user would: its table and JSON against
// the library's own values, every error class with its message and exit
// code, and the graph files (checked with Graphviz when it is installed).
#if defined(TAPEGRAD_HAVE_EXPR) && defined(TAPEGRAD_CLI)
#include "tests/scratch_dir.hpp"
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <numbers>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

struct Run {
    int code = -1;
    std::string out, err;
};

// Runs tapegrad with `args`; `env` (e.g. "PATH=/nonexistent") is set for it,
// and it runs in directory `cwd` when one is given.
Run tapegrad(const std::vector<std::string>& args, const std::string& env = "", const fs::path& cwd = {}) {
    std::string cmd = fmt::format("env {} {}", env, shell_quote(TAPEGRAD_CLI));
    if (!cwd.empty()) cmd = fmt::format("cd {} && {}", shell_quote(cwd.string()), cmd);
    for (const auto& a : args) cmd += fmt::format(" {}", shell_quote(a));
    const fs::path out = scratch_dir() / "stdout", err = scratch_dir() / "stderr";
    cmd += fmt::format(" > {} 2> {}", shell_quote(out.string()), shell_quote(err.string()));
    const int status = std::system(cmd.c_str());
    Run r;
    REQUIRE(WIFEXITED(status));
    r.code = WEXITSTATUS(status);
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

bool have_graphviz() { return std::system("command -v dot > /dev/null 2>&1") == 0; }

struct JsonRow {
    double value, grad, numeric, difference;
};
struct JsonResult {
    double f = 0;
    std::map<std::string, JsonRow> rows;
    std::vector<std::string> order;
};

// The tool's JSON result: {"expression": .., "f": .., "variables": [{..}, ..]}.
// Json::parse also rejects invalid UTF-8.
JsonResult parse_json(const std::string& text) {
    REQUIRE(text.size() > 0);
    CHECK(text.back() == '\n');
    CHECK(text.find('\n') == text.size() - 1);  // one line
    const Json j = Json::parse(text);
    JsonResult r;
    r.f = j.at("f").get<double>();
    for (const Json& row : j.at("variables")) {
        const std::string name = row.at("name").get<std::string>();
        auto number = [&](const char* key) { return row.at(key).is_null() ? std::nan("") : row.at(key).get<double>(); };
        r.rows[name] = {number("value"), number("grad"), number("finite_difference"), number("difference")};
        r.order.push_back(name);
    }
    return r;
}

// The error object of a --json error: {"error": {"kind": .., "message": .., ["column": ..]}}.
Json json_error(const std::string& kind, const std::string& message, std::optional<int> column = std::nullopt) {
    Json error = {{"kind", kind}, {"message", message}};
    if (column) error["column"] = *column;
    return Json{{"error", error}};
}

// Whitespace-separated words.
std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = line.find_first_not_of(' ', at)) != std::string::npos) {
        const auto end = line.find(' ', at);
        out.push_back(line.substr(at, end - at));
        at = end;
    }
    return out;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        out.push_back(text.substr(start, nl - start));
    return out;
}

}  // namespace

TEST_CASE("tapegrad grad prints f and a table of value, engine gradient, finite difference, difference") {
    const Run r = tapegrad({"grad", "(x + y) * z", "x=-2", "y=5", "z=-4"});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    const auto out = lines(r.out);
    REQUIRE(out.size() == 6);
    CHECK(out[0] == "f = (x + y) * z = -12");
    CHECK(out[1].empty());
    CHECK(out[2] == "variable  value  ∂f/∂var (engine)  finite difference  difference");
    // Each row: name, value, the engine's gradient (exact), the central
    // difference (10 digits) and engine - numeric.
    const std::map<std::string, std::pair<double, double>> expected = {{"x", {-2, -4}}, {"y", {5, -4}}, {"z", {-4, 3}}};
    const char* names[] = {"x", "y", "z"};
    for (int k = 0; k < 3; ++k) {
        const auto m = words(out[3 + k]);
        REQUIRE(m.size() == 5);
        CHECK(m[0] == names[k]);
        CHECK(std::stod(m[1]) == expected.at(names[k]).first);
        CHECK(std::stod(m[2]) == expected.at(names[k]).second);
        CHECK(std::stod(m[3]) == doctest::Approx(expected.at(names[k]).second).epsilon(1e-8));
        CHECK(std::fabs(std::stod(m[4])) < 1e-8);
        CHECK(std::fabs(std::stod(m[4])) > 0);  // a real finite difference, not a copy of the engine's
    }
}

TEST_CASE("tapegrad grad --json matches the library for expressions using every function") {
    struct Case {
        std::string text;
        std::vector<std::pair<std::string, double>> values;
        std::function<ag::Value(const std::vector<ag::Value>&)> same_in_cpp;
    };
    const Case cases[] = {
        {"exp(x) * log(y) + sqrt(z)",
         {{"x", 0.3}, {"y", 2.5}, {"z", 4.0}},
         [](auto& v) { return ag::exp(v[0]) * ag::log(v[1]) + ag::sqrt(v[2]); }},
        {"tanh(x) - sigmoid(y) / relu(z)",
         {{"x", -0.4}, {"y", 1.2}, {"z", 0.8}},
         [](auto& v) { return ag::tanh(v[0]) - ag::sigmoid(v[1]) / ag::relu(v[2]); }},
        {"sin(x) * cos(y) + abs(z)",
         {{"x", 1.1}, {"y", -0.6}, {"z", -2.25}},
         [](auto& v) { return ag::sin(v[0]) * ag::cos(v[1]) + ag::abs(v[2]); }},
        {"pow(x, y) + min(x, z) * max(y, z)",
         {{"x", 1.5}, {"y", 2.5}, {"z", 0.5}},
         [](auto& v) { return ag::pow(v[0], v[1]) + ag::min(v[0], v[2]) * ag::max(v[1], v[2]); }},
        {"x ^ y ^ z", {{"x", 1.2}, {"y", 1.5}, {"z", 2.0}}, [](auto& v) { return ag::pow(v[0], ag::pow(v[1], v[2])); }},
        {"-x^2 + 2^-x + pi*e*x",
         {{"x", 0.75}},
         [](auto& v) { return -ag::pow(v[0], 2.0) + ag::pow(2.0, -v[0]) + std::numbers::pi * std::numbers::e * v[0]; }},
        {"1.5e-3 * x / (y - 2.5E+1)", {{"x", 3.0}, {"y", 7.0}}, [](auto& v) { return 1.5e-3 * v[0] / (v[1] - 2.5e1); }},
    };
    for (const Case& c : cases) {
        INFO("expression: ", c.text);
        std::vector<std::string> args = {"grad", "--json", "--", c.text};
        std::vector<double> point;
        for (const auto& [name, value] : c.values) {
            args.push_back(fmt::format("{}={}", name, value));
            point.push_back(value);
        }
        const Run r = tapegrad(args);
        REQUIRE(r.code == 0);
        const JsonResult j = parse_json(r.out);

        ag::Scope scope;
        std::vector<ag::Value> xs(point.begin(), point.end());
        const ag::Value f = c.same_in_cpp(xs);
        const std::vector<double> g = ag::grad(f, xs);
        CHECK(j.f == doctest::Approx(f.data()).epsilon(1e-14));
        REQUIRE(j.rows.size() == c.values.size());
        for (std::size_t k = 0; k < c.values.size(); ++k) {
            const JsonRow& row = j.rows.at(c.values[k].first);
            CHECK(j.order[k] == c.values[k].first);
            CHECK(row.value == point[k]);
            CHECK(row.grad == doctest::Approx(g[k]).epsilon(1e-14));
            CHECK(row.numeric == doctest::Approx(g[k]).epsilon(1e-6));
            CHECK(row.difference == doctest::Approx(row.grad - row.numeric).epsilon(1e-12));
        }
    }
}

TEST_CASE("tapegrad notes unused variables, infinite gradients and kinks") {
    Run r = tapegrad({"grad", "x * 3", "x=2", "w=7", "--json"});
    CHECK(r.code == 0);
    JsonResult j = parse_json(r.out);
    CHECK(j.f == 6);
    CHECK(j.rows.at("x").grad == 3);
    CHECK(j.rows.at("w").grad == 0);
    CHECK(j.rows.at("w").numeric == 0);
    CHECK(r.err == "note: w does not occur in the expression; ∂f/∂w = 0\n");

    // sqrt at 0: f is fine, its derivative is infinite; JSON has no inf.
    r = tapegrad({"grad", "sqrt(x)", "x=0", "--json"});
    CHECK(r.code == 0);
    CHECK(Json::parse(r.out).at("variables").at(0).at("grad").is_null());
    CHECK(r.err.find("note: ∂f/∂x is inf: anomaly in backward pass: sqrt") != std::string::npos);
    r = tapegrad({"grad", "sqrt(x)", "x=0"});
    CHECK(r.code == 0);
    CHECK(lines(r.out).at(3).rfind("x         0      inf", 0) == 0);

    // Two infinite gradients from one sweep: each row gets the same anomaly report.
    r = tapegrad({"grad", "sqrt(x) + sqrt(y)", "x=0", "y=0", "--json"});
    CHECK(r.code == 0);
    const auto notes = lines(r.err);
    REQUIRE(notes.size() == 2);
    const std::string x_note = "note: ∂f/∂x is inf: anomaly in backward pass: sqrt";
    const std::string y_note = "note: ∂f/∂y is inf: anomaly in backward pass: sqrt";
    REQUIRE(notes[0].rfind(x_note, 0) == 0);
    REQUIRE(notes[1].rfind(y_note, 0) == 0);
    CHECK(notes[0].substr(x_note.size()) == notes[1].substr(y_note.size()));
    CHECK(notes[0].size() > x_note.size() + 10);  // the report goes on to name the nodes

    // relu at its kink: the engine says 0 (PyTorch's choice), the central difference 0.5.
    r = tapegrad({"grad", "relu(x)", "x=0", "--json"});
    CHECK(r.code == 0);
    j = parse_json(r.out);
    CHECK(j.rows.at("x").grad == 0);
    CHECK(j.rows.at("x").numeric == doctest::Approx(0.5));
    CHECK(r.err.find("note: for x, the engine and the finite difference disagree") != std::string::npos);

    // No variables at all: just f.
    r = tapegrad({"grad", "2 ^ 10 - 24"});
    CHECK(r.code == 0);
    CHECK(r.out == "f = 2 ^ 10 - 24 = 1000\n");
}

TEST_CASE("syntax errors exit 2 and point at the column") {
    Run r = tapegrad({"grad", "(x + y", "x=1", "y=2"});
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "tapegrad: error: expected ')' to close the '(' at column 1, found the end of the expression\n"
          "  (x + y\n"
          "        ^\n");
    r = tapegrad({"grad", "x ** 2", "x=1"});
    CHECK(r.code == 2);
    CHECK(
        r.err ==
        "tapegrad: error: expected a number, a variable, a function call or '(', found '*' (write powers as x ^ 2, not "
        "x ** 2)\n"
        "  x ** 2\n"
        "     ^\n");
    r = tapegrad({"grad", "2x + 1", "x=1", "--json"});
    CHECK(r.code == 2);
    CHECK(Json::parse(r.out) == json_error("syntax",
                                           "expected an operator (+ - * / ^) or the end of the expression, found 'x' "
                                           "(multiplication needs an explicit '*')",
                                           2));
}

TEST_CASE("unknown functions and variables without values exit 2, named") {
    Run r = tapegrad({"grad", "x + foo(x)", "x=1"});
    CHECK(r.code == 2);
    CHECK(r.err ==
          "tapegrad: error: unknown function 'foo' (functions: exp log sqrt tanh sigmoid relu sin cos abs tan atan "
          "sinh cosh log1p expm1 erf softplus gelu pow min max)\n"
          "  x + foo(x)\n"
          "      ^^^\n");
    r = tapegrad({"grad", "x * rate + z", "x=1"});
    CHECK(r.code == 2);
    CHECK(r.err ==
          "tapegrad: error: no value for variables rate, z (give them on the command line: rate=VALUE z=VALUE)\n"
          "  x * rate + z\n"
          "      ^^^^\n");
    r = tapegrad({"grad", "x * y", "x=1", "--json"});
    CHECK(r.code == 2);
    CHECK(Json::parse(r.out) ==
          json_error("missing value", "no value for variable y (give it on the command line: y=VALUE)", 5));
}

TEST_CASE("domain errors exit 1 and name the operation") {
    Run r = tapegrad({"grad", "x + log(y)", "x=1", "y=-1"});
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "tapegrad: error: log(-1) is nan (not a number)\n"
          "  x + log(y)\n"
          "      ^^^\n");
    r = tapegrad({"grad", "1 / (x - 2)", "x=2", "--json"});
    CHECK(r.code == 1);
    CHECK(Json::parse(r.out) == json_error("domain", "1 / 0 is inf (infinite)", 3));
}

TEST_CASE("usage errors under --json still print one error object on stdout") {
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    const Case cases[] = {
        {{"grad", "x", "x=1", "--bogus", "--json"}, "The following argument was not expected: --bogus"},
        {{"grad", "--json"}, "expression is required"},
        {{"frobnicate", "x", "--json"}, "unknown command 'frobnicate' (commands: grad, hessian, explain)"},
        {{"hessian", "x", "x=1", "--json", "--step", "0"}, "--step must be a positive number, found '0'"},
        {{"explain", "x", "x=1", "--bogus", "--json"}, "The following argument was not expected: --bogus"},
        {{"grad", "x", "x=1", "--json", "--step", "0"}, "--step must be a positive number, found '0'"},
    };
    for (const Case& c : cases) {
        INFO("args: ", fmt::format("{}", fmt::join(c.args, " ")));
        const Run r = tapegrad(c.args);
        CHECK(r.code == 2);
        CHECK(r.out.find('\n') == r.out.size() - 1);  // the whole of stdout: one line
        CHECK(Json::parse(r.out) == json_error("usage", c.message));
        CHECK_FALSE(r.err.empty());  // the human-readable message stays on stderr
    }
    // Without --json, stdout stays empty; after --, "--json" is an argument.
    CHECK(tapegrad({"grad", "x", "x=1", "--bogus"}).out.empty());
    const Run after_dashes = tapegrad({"grad", "--", "x", "x=1", "--json"});
    CHECK(after_dashes.code == 2);
    CHECK(after_dashes.out.empty());
    CHECK(after_dashes.err.find("expected NAME=VALUE, found '--json'") != std::string::npos);
}

TEST_CASE("usage errors exit 2") {
    struct Case {
        std::vector<std::string> args;
        const char* message;  // part of stderr
    };
    const Case cases[] = {
        {{}, "A subcommand is required"},
        {{"grad"}, "expression is required"},
        {{"frobnicate", "x"}, "tapegrad: error: unknown command 'frobnicate' (commands: grad, hessian, explain)"},
        {{"hessian"}, "expression is required"},
        {{"explain"}, "expression is required"},
        {{"hessian", "x*y", "x=1", "y"}, "tapegrad: error: expected NAME=VALUE, found 'y'"},
        {{"explain", "x*y", "x=1", "x=2"}, "tapegrad: error: x is given twice (x=1 and x=2)"},
        {{"hessian", "x", "x=1", "--step", "0"}, "tapegrad: error: --step must be a positive number, found '0'\n"},
        {{"hessian", "x", "x=1", "--svg", "g.svg"}, "--svg"},  // hessian draws no graph
        {{"explain", "x", "x=1", "--svg", "-"}, "tapegrad: error: --svg needs a file name"},
        {{"explain", "x", "x=1", "--dot", "-", "--json"}, "tapegrad: error: --dot - and --json both write"},
        {{"hessian", "-x^2", "x=1"},
         "hint: an expression that starts with '-' goes after --: tapegrad hessian -- \"-x^2\""},
        {{"explain", "-x^2", "x=1"},
         "hint: an expression that starts with '-' goes after --: tapegrad explain -- \"-x^2\""},
        {{"grad", "x", "x"}, "tapegrad: error: expected NAME=VALUE, found 'x'"},
        {{"grad", "x", "x=abc"}, "tapegrad: error: in 'x=abc': the value of x, 'abc', is not a number"},
        {{"grad", "x", "x="}, "the value of x, '', is not a number"},
        {{"grad", "x", "x=1e999"}, "tapegrad: error: in 'x=1e999': the value of x must be finite"},
        {{"grad", "x", "x=nan"}, "the value of x must be finite"},
        {{"grad", "x", "2x=1"}, "'2x' is not a variable name"},
        {{"grad", "x", "x=1", "a-b=1"},
         "tapegrad: error: in 'a-b=1': 'a-b' is not a variable name (letters, digits and _, not starting with a "
         "digit)"},
        {{"grad", "x", "x=1", "pi=3"},
         "tapegrad: error: in 'pi=3': 'pi' is a built-in function or constant, not a variable"},
        {{"grad", "x", "x=1", "x=2"}, "tapegrad: error: x is given twice (x=1 and x=2)"},
        {{"grad", "x", "x=1", "--step", "-1"}, "tapegrad: error: --step must be a positive number, found '-1'\n"},
        {{"grad", "x", "x=1", "--step", "0"}, "tapegrad: error: --step must be a positive number, found '0'\n"},
        {{"grad", "x", "x=1", "--step", "nan"}, "tapegrad: error: --step must be a positive number, found 'nan'\n"},
        {{"grad", "x", "x=1", "--step", "inf"},
         "tapegrad: error: --step must be a positive finite number, found 'inf'\n"},
        {{"grad", "x", "x=1", "--step", "1e999"},
         "tapegrad: error: --step must be a positive finite number, found '1e999'\n"},
        {{"grad", "x", "x=1", "--step", "small"}, "tapegrad: error: --step must be a positive number, found 'small'\n"},
        {{"grad", "x", "x=1", "--render-timeout", "0"},
         "tapegrad: error: --render-timeout must be a positive number, found '0'\n"},
        {{"grad", "x", "x=1", "--svg", "-"},
         "tapegrad: error: --svg needs a file name: '-' (standard output) is for --dot"},
        {{"grad", "x", "x=1", "--png", "-"}, "tapegrad: error: --png needs a file name"},
        {{"grad", "x", "x=1", "--dot", "-", "--json"},
         "tapegrad: error: --dot - and --json both write to standard output; give --dot a file name, or drop --json\n"},
        {{"grad", "x", "x=1", "--bogus"}, "--bogus"},
        {{"grad", "-x^2", "x=1"}, "hint: an expression that starts with '-' goes after --: tapegrad grad -- \"-x^2\""},
    };
    for (const Case& c : cases) {
        INFO("args: ", fmt::format("{}", fmt::join(c.args, " ")));
        const Run r = tapegrad(c.args);
        CHECK(r.code == 2);
        CHECK(r.err.find(c.message) != std::string::npos);
        if (r.err.find(c.message) == std::string::npos) MESSAGE(r.err);
    }
    // Variable names are ASCII, as the parser reads them, whatever the locale.
    for (const char* env : {"", "LC_ALL=C.UTF-8"}) {
        INFO("env: ", env);
        Run bad = tapegrad({"grad", "x", "x=1", "\xc3\xa9=2"}, env);
        CHECK(bad.code == 2);
        CHECK(bad.err ==
              "tapegrad: error: in '\xc3\xa9=2': '\xc3\xa9' is not a variable name (letters, digits and _, not "
              "starting with a digit)\n");
        bad = tapegrad({"grad", "x", "x=1", "\xe9=2"}, env);
        CHECK(bad.code == 2);
        CHECK(bad.err.find("is not a variable name") != std::string::npos);
        const Run good = tapegrad({"grad", "_a1 + B_2", "_a1=1", "B_2=3"}, env);
        CHECK(good.code == 0);
        CHECK(lines(good.out).at(0) == "f = _a1 + B_2 = 4");
    }

    // After --, an expression may start with '-'.
    const Run r = tapegrad({"grad", "--", "-x^2", "x=3"});
    CHECK(r.code == 0);
    CHECK(lines(r.out).at(0) == "f = -x^2 = -9");
}

TEST_CASE("--help and --version exit 0") {
    Run r = tapegrad({"--help"});
    CHECK(r.code == 0);
    CHECK(r.out.find("Usage: tapegrad") != std::string::npos);
    CHECK(r.out.find("tapegrad grad \"(x + y) * z\" x=-2 y=5 z=-4") != std::string::npos);
    CHECK(r.out.find("Exit codes: 0 ok, 1 evaluation error") != std::string::npos);
    r = tapegrad({"grad", "--help"});
    CHECK(r.code == 0);
    for (const char* option : {"--dot", "--svg", "--png", "--json", "--step"})
        CHECK(r.out.find(option) != std::string::npos);
    r = tapegrad({"--version"});
    CHECK(r.code == 0);
    CHECK(r.out == fmt::format("{}\n", TAPEGRAD_VERSION_TEXT));
}

TEST_CASE("--dot writes the graph, and Graphviz parses it") {
    const fs::path dot_file = scratch_dir() / "neuron.dot";
    const Run r = tapegrad({"grad", "tanh(x1*w1 + x2*w2 + b)", "x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8813735870195432",
                            "--dot", dot_file.string()});
    CHECK(r.code == 0);
    CHECK(r.err == fmt::format("wrote {}\n", dot_file.string()));
    const std::string dot = slurp(dot_file);
    CHECK(dot.rfind("digraph tapegrad {", 0) == 0);
    // micrograd's neuron, with its published gradients.
    CHECK(dot.find("[label=\"x1\\nvalue 2\\ngrad -1.5\"") != std::string::npos);
    CHECK(dot.find("[label=\"w1\\nvalue -3\\ngrad 1\"") != std::string::npos);
    CHECK(dot.find("[label=\"x2\\nvalue 0\\ngrad 0.5\"") != std::string::npos);
    CHECK(dot.find("[label=\"tanh\\nvalue 0.707107\\ngrad 1\"") != std::string::npos);
    if (have_graphviz()) {
        const fs::path svg = scratch_dir() / "neuron_by_hand.svg";
        CHECK(std::system(fmt::format("dot -Tsvg {} -o {}", shell_quote(dot_file.string()), shell_quote(svg.string()))
                              .c_str()) == 0);
        CHECK(slurp(svg).find("<svg") != std::string::npos);
    }
    const Run bad = tapegrad({"grad", "x", "x=1", "--dot", (scratch_dir() / "no/such/dir/g.dot").string()});
    CHECK(bad.code == 1);
    CHECK(bad.err.find("tapegrad: error: cannot write") != std::string::npos);
    CHECK(bad.out.empty());
}

TEST_CASE("--svg and --png draw with Graphviz, or write .dot and say how without it") {
    const fs::path svg = scratch_dir() / "g.svg", png = scratch_dir() / "g.png";
    if (have_graphviz()) {
        const Run r =
            tapegrad({"grad", "sigmoid(a)^2 + log(b)", "a=1", "b=3", "--svg", svg.string(), "--png", png.string()});
        CHECK(r.code == 0);
        const std::string text = slurp(svg);
        CHECK(text.find("<svg") != std::string::npos);
        CHECK(text.find("sigmoid") != std::string::npos);
        CHECK(slurp(png).substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    }
    // No `dot` on PATH (as on a machine without Graphviz).
    const fs::path svg2 = scratch_dir() / "h.svg";
    const Run r = tapegrad({"grad", "x * y", "x=1", "y=2", "--svg", svg2.string()}, "PATH=/nonexistent");
    CHECK(r.code == 3);  // the result is there, the picture is not
    CHECK_FALSE(fs::exists(svg2));
    const fs::path written = scratch_dir() / "h.dot";
    CHECK(slurp(written).rfind("digraph tapegrad {", 0) == 0);
    CHECK(r.err.find(
              fmt::format("note: Graphviz's 'dot' is not on PATH, so {} was not drawn; wrote the graph to {} instead.",
                          svg2.string(), written.string())) != std::string::npos);
    CHECK(r.err.find(fmt::format("Render it with: dot -Tsvg {} -o {}", written.string(), svg2.string())) !=
          std::string::npos);
    CHECK(lines(r.out).at(0) == "f = x * y = 2");

    // --dot, --svg and --png together: the same graph in each file.
    const fs::path both_dot = scratch_dir() / "both.dot", both_svg = scratch_dir() / "both_svg.svg",
                   both_png = scratch_dir() / "both_png.png";
    const Run all = tapegrad({"grad", "x * y + y", "x=1", "y=2", "--dot", both_dot.string(), "--svg", both_svg.string(),
                              "--png", both_png.string()},
                             "PATH=/nonexistent");
    CHECK(all.code == 3);
    const std::string graph = slurp(both_dot);
    CHECK(graph.rfind("digraph tapegrad {", 0) == 0);
    CHECK(graph.find("[label=\"y\\nvalue 2\\ngrad 2\"") != std::string::npos);
    CHECK(slurp(scratch_dir() / "both_svg.dot") == graph);
    CHECK(slurp(scratch_dir() / "both_png.dot") == graph);
    CHECK(all.err.rfind(fmt::format("wrote {}\nnote: Graphviz's 'dot' is not on PATH, so {} was not drawn",
                                    both_dot.string(), both_svg.string()),
                        0) == 0);
}

TEST_CASE("without Graphviz, --svg/--png exit 3 and the JSON says which picture was not drawn and why") {
    const fs::path svg = scratch_dir() / "j.svg", png = scratch_dir() / "j.png", dot = scratch_dir() / "j.dot";
    const Run r = tapegrad(
        {"grad", "x * y", "x=1", "y=2", "--json", "--dot", dot.string(), "--svg", svg.string(), "--png", png.string()},
        "PATH=/nonexistent");
    CHECK(r.code == 3);
    const Json j = Json::parse(r.out);
    CHECK(j.at("f") == 2.0);
    CHECK(j.at("variables").size() == 2);
    const Json expected = Json::array({
        {{"format", "dot"}, {"file", dot.string()}, {"written", true}},
        {{"format", "svg"},
         {"file", svg.string()},
         {"written", false},
         {"reason", "graphviz not found"},
         {"dot_file", dot.string()}},
        {{"format", "png"},
         {"file", png.string()},
         {"written", false},
         {"reason", "graphviz not found"},
         {"dot_file", dot.string()}},
    });
    CHECK(j.at("graphs") == expected);
    CHECK_FALSE(fs::exists(svg));
    CHECK_FALSE(fs::exists(png));
    CHECK(slurp(dot).rfind("digraph tapegrad {", 0) == 0);
    // No graph asked for: no "graphs" key, exit 0.
    const Run plain = tapegrad({"grad", "x * y", "x=1", "y=2", "--json"}, "PATH=/nonexistent");
    CHECK(plain.code == 0);
    CHECK_FALSE(Json::parse(plain.out).contains("graphs"));
    if (have_graphviz()) {
        const Run drawn = tapegrad({"grad", "x * y", "x=1", "y=2", "--json", "--svg", svg.string()});
        CHECK(drawn.code == 0);
        CHECK(Json::parse(drawn.out).at("graphs") ==
              Json::array({{{"format", "svg"}, {"file", svg.string()}, {"written", true}}}));
        CHECK(slurp(svg).find("<svg") != std::string::npos);
    }
}

TEST_CASE("--dot - writes the graph to standard output, not to a file named -") {
    const fs::path dir = scratch_dir() / "dash";
    fs::create_directories(dir);
    const Run r = tapegrad({"grad", "tanh(x1*w1 + b)", "x1=2", "w1=-3", "b=6.8813735870195432", "--dot", "-"}, "", dir);
    CHECK(r.code == 0);
    CHECK(r.out.rfind("digraph tapegrad {", 0) == 0);
    CHECK(r.out.find("[label=\"x1\\nvalue 2\\ngrad -1.5\"") != std::string::npos);
    CHECK(r.out.substr(r.out.size() - 2) == "}\n");                               // the DOT text and nothing else
    CHECK(lines(r.err).at(0).rfind("f = tanh(x1*w1 + b) = 0.70710678", 0) == 0);  // the table went to stderr
    CHECK(fs::is_empty(dir));  // no file named "-" (or anything else)
    if (have_graphviz()) {
        const fs::path dot_file = dir / "from_stdout.dot";
        std::ofstream(dot_file, std::ios::binary) << r.out;
        CHECK(std::system(fmt::format("dot -Tsvg {} -o /dev/null", shell_quote(dot_file.string())).c_str()) == 0);
    }
}

TEST_CASE("--json prints valid UTF-8 whatever bytes the arguments hold") {
    // Latin-1 é, a lone continuation byte, a truncated sequence, an overlong
    // '/', a UTF-16 surrogate, 0xff: each becomes U+FFFD in the JSON.
    const char* bad[] = {"\xe9", "\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff"};
    const std::string replacement = "\xef\xbf\xbd";
    for (std::size_t k = 0; k < std::size(bad); ++k) {
        INFO("case ", k);
        const char* bytes = bad[k];
        const std::string name = fmt::format("a{}b", bytes);
        // In an assignment's name (a usage error quoting it) ...
        Run r = tapegrad({"grad", "x", "x=1", name + "=2", "--json"});
        CHECK(r.code == 2);
        Json j = Json::parse(r.out);  // throws on invalid UTF-8
        const std::string message = j.at("error").at("message").get<std::string>();
        CHECK(message.find("a" + replacement) != std::string::npos);
        CHECK(r.err.find(name) != std::string::npos);  // stderr keeps the bytes as given
        // ... in an assignment's value ...
        r = tapegrad({"grad", "x", fmt::format("x=1{}", bytes), "--json"});
        CHECK(r.code == 2);
        CHECK(Json::parse(r.out).at("error").at("message").get<std::string>().find("1" + replacement) !=
              std::string::npos);
        // ... and in the expression itself.
        r = tapegrad({"grad", fmt::format("x + {}", bytes), "x=1", "--json"});
        CHECK(r.code == 2);
        j = Json::parse(r.out);
        CHECK(j.at("error").at("kind") == "syntax");
    }
    // Valid UTF-8 passes through unchanged.
    const Run ok = tapegrad({"grad", "x", "x=1", "\xc3\xa9=2", "--json"});
    CHECK(Json::parse(ok.out).at("error").at("message").get<std::string>().find("'\xc3\xa9'") != std::string::npos);
}

TEST_CASE("--step changes the finite difference and nothing else") {
    // f = x^3 at 2: the central difference is 12 + h^2 exactly (in exact
    // arithmetic), so a step of 1e-2 (relative: h = 0.02) gives 12.0004.
    const JsonResult fine = parse_json(tapegrad({"grad", "x^3", "x=2", "--json"}).out);
    const JsonResult coarse = parse_json(tapegrad({"grad", "x^3", "x=2", "--json", "--step", "1e-2"}).out);
    CHECK(fine.rows.at("x").grad == 12);
    CHECK(coarse.rows.at("x").grad == 12);
    CHECK(fine.rows.at("x").numeric == doctest::Approx(12).epsilon(1e-9));
    CHECK(coarse.rows.at("x").numeric == doctest::Approx(12.0004).epsilon(1e-10));
}

namespace {

// A stand-in for Graphviz's `dot` that never finishes: it records its
// process id (atomically, via rename) and then becomes `sleep`.
fs::path hanging_dot(const std::string& name) {
    const fs::path bin = scratch_dir() / name;
    fs::create_directories(bin);
    std::ofstream(bin / "dot") << fmt::format("#!/bin/sh\necho $$ > {0}.tmp && mv {0}.tmp {0}\nexec sleep 600\n",
                                              shell_quote((bin / "pid").string()));
    fs::permissions(bin / "dot", fs::perms::owner_all);
    return bin;
}

// The pid a hanging_dot wrote, once it has (up to a minute).
pid_t wait_for_pid(const fs::path& bin) {
    for (int i = 0; i < 6000 && !fs::exists(bin / "pid"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(fs::exists(bin / "pid"));
    return static_cast<pid_t>(std::stol(slurp(bin / "pid")));
}

// Whether `pid` has ended (gone, or a zombie nobody has reaped yet).
bool ended(pid_t pid) {
    const std::string stat = slurp(fmt::format("/proc/{}/stat", pid));
    if (stat.empty()) return true;
    const auto close = stat.rfind(')');
    return close != std::string::npos && stat.substr(close + 2, 1) == "Z";
}

bool ends_within_a_minute(pid_t pid) {
    for (int i = 0; i < 6000; ++i) {
        if (ended(pid)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// Starts tapegrad with `args` and PATH=`path`, without waiting.
pid_t start_tapegrad(const std::vector<std::string>& args, const std::string& path) {
    std::vector<std::string> words = {"env", fmt::format("PATH={}", path), TAPEGRAD_CLI};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    // env then execs tapegrad in the same process, so this pid is tapegrad's.
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int spawned = ::posix_spawnp(&pid, "env", &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    REQUIRE(spawned == 0);
    return pid;
}

// The files in `dir` whose names start with `prefix`.
std::vector<std::string> files_starting(const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().filename().string().rfind(prefix, 0) == 0) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("a graph too large for Graphviz is not handed to it: exit 3, the .dot written, --dot suggested") {
    // 1500 terms sin(x*k): 4500 nodes. Graphviz ran for over ten minutes on it.
    std::string text = "sin(x*0)";
    for (int k = 1; k < 1500; ++k) text += fmt::format(" + sin(x*{})", k);
    const fs::path dir = scratch_dir() / "large";
    fs::create_directories(dir);
    const Run r = tapegrad({"grad", text, "x=0.5", "--json", "--svg", (dir / "big.svg").string()});
    CHECK(r.code == 3);
    const Json j = Json::parse(r.out);
    // f = sum sin(k/2), ∂f/∂x = sum k cos(k x).
    double f = 0, df = 0;
    for (int k = 0; k < 1500; ++k) {
        f += std::sin(0.5 * k);
        df += k * std::cos(0.5 * k);
    }
    CHECK(j.at("f").get<double>() == doctest::Approx(f).epsilon(1e-12));
    CHECK(j.at("variables").at(0).at("grad").get<double>() == doctest::Approx(df).epsilon(1e-12));
    CHECK(j.at("graphs") == Json::array({{{"format", "svg"},
                                          {"file", (dir / "big.svg").string()},
                                          {"written", false},
                                          {"reason", "graph too large"},
                                          {"dot_file", (dir / "big.dot").string()}}}));
    CHECK(r.err.find("note: the graph has 4500 nodes, and Graphviz can take many minutes past 1000, so") !=
          std::string::npos);
    CHECK(r.err.find("--dot FILE writes only the DOT text") != std::string::npos);
    CHECK(files_starting(dir, "") == std::vector<std::string>{"big.dot"});
    CHECK(slurp(dir / "big.dot").find("n4499 [") != std::string::npos);
}

TEST_CASE("Graphviz past --render-timeout is killed: exit 3, the .dot written, no temporary file left") {
    const fs::path bin = hanging_dot("slow_bin");
    const fs::path dir = scratch_dir() / "slow";
    fs::create_directories(dir);
    const fs::path svg = dir / "g.svg";
    const Run r = tapegrad({"grad", "x * y", "x=1", "y=2", "--json", "--svg", svg.string(), "--render-timeout", "2"},
                           fmt::format("PATH={}:/usr/bin:/bin", bin.string()));
    CHECK(r.code == 3);
    CHECK(Json::parse(r.out).at("graphs") == Json::array({{{"format", "svg"},
                                                           {"file", svg.string()},
                                                           {"written", false},
                                                           {"reason", "graphviz timed out"},
                                                           {"dot_file", (dir / "g.dot").string()}}}));
    CHECK(r.err.find("note: Graphviz's 'dot' did not finish within 2 s (--render-timeout) and was stopped, so") !=
          std::string::npos);
    CHECK(files_starting(dir, "") == std::vector<std::string>{"g.dot"});
    // Killed and reaped before tapegrad returned (on a machine so loaded that
    // the stand-in had not yet written its pid in 2 s, there is none to check).
    if (fs::exists(bin / "pid")) {
        const pid_t dot_pid = wait_for_pid(bin);
        CHECK(ended(dot_pid));
        ::kill(dot_pid, SIGKILL);  // in case it was not
    }
}

TEST_CASE("killing tapegrad while Graphviz draws also ends Graphviz, and SIGTERM removes the temporary files") {
    const fs::path dir = scratch_dir() / "killed";
    fs::create_directories(dir);
    for (const int sig : {SIGKILL, SIGTERM}) {
        INFO("signal ", sig);
        const fs::path bin = hanging_dot(fmt::format("kill_bin_{}", sig));
        const pid_t tapegrad_pid = start_tapegrad({"grad", "x * y", "x=1", "y=2", "--svg", (dir / "g.svg").string()},
                                                  fmt::format("{}:/usr/bin:/bin", bin.string()));
        const pid_t dot_pid = wait_for_pid(bin);
        REQUIRE(::kill(tapegrad_pid, sig) == 0);
        int status = 0;
        REQUIRE(::waitpid(tapegrad_pid, &status, 0) == tapegrad_pid);
        CHECK(WIFSIGNALED(status));
        CHECK(ends_within_a_minute(dot_pid));  // PR_SET_PDEATHSIG
        ::kill(dot_pid, SIGKILL);              // in case it did not
        // SIGKILL cannot be caught, so only SIGTERM can clean up.
        if (sig == SIGTERM) CHECK(files_starting(dir, "g.svg").empty());
        for (const auto& f : files_starting(dir, "")) fs::remove(dir / f);
    }
}

// --- tapegrad hessian ---------------------------------------------------------

namespace {
// f = x^2 y + sin(xy) and its derivatives by hand.
struct HandHessian {
    double x, y;
    double f() const { return x * x * y + std::sin(x * y); }
    std::vector<double> gradient() const { return {2 * x * y + y * std::cos(x * y), x * x + x * std::cos(x * y)}; }
    ag::Matrix hessian() const {
        const double xy = 2 * x + std::cos(x * y) - x * y * std::sin(x * y);
        return {{2 * y - y * y * std::sin(x * y), xy}, {xy, -x * x * std::sin(x * y)}};
    }
};
}  // namespace

TEST_CASE("tapegrad hessian prints f, the gradient and the Hessian beside finite differences") {
    const Run r = tapegrad({"hessian", "x^2*y + sin(x*y)", "x=1", "y=2"});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    const HandHessian hand{1, 2};
    const auto out = lines(r.out);
    REQUIRE(out.size() == 17);
    CHECK(out[0].rfind("f = x^2*y + sin(x*y) = ", 0) == 0);
    CHECK(std::stod(out[0].substr(out[0].rfind(' ') + 1)) == doctest::Approx(hand.f()).epsilon(1e-15));
    CHECK(out[2] == "variable  value  ∂f/∂var (engine)    finite difference  difference");
    for (int k = 0; k < 2; ++k) {
        const auto m = words(out[3 + k]);
        REQUIRE(m.size() == 5);
        CHECK(m[0] == (k == 0 ? "x" : "y"));
        CHECK(std::stod(m[2]) == doctest::Approx(hand.gradient()[k]).epsilon(1e-15));
        CHECK(std::stod(m[3]) == doctest::Approx(hand.gradient()[k]).epsilon(1e-8));
        CHECK(std::fabs(std::stod(m[4])) < 1e-8);
    }
    CHECK(out[6] == "Hessian ∂²f/∂row∂col (engine):");
    CHECK(words(out[7]) == std::vector<std::string>{"x", "y"});
    CHECK(out[11] == "Hessian by finite differences of the gradient:");
    CHECK(words(out[12]) == std::vector<std::string>{"x", "y"});
    for (int i = 0; i < 2; ++i) {
        const auto engine = words(out[8 + i]), numeric = words(out[13 + i]);
        REQUIRE(engine.size() == 3);
        REQUIRE(numeric.size() == 3);
        for (int j = 0; j < 2; ++j) {
            INFO("entry ", i, ", ", j);
            CHECK(std::stod(engine[1 + j]) == doctest::Approx(hand.hessian()[i][j]).epsilon(1e-14));
            CHECK(std::stod(numeric[1 + j]) == doctest::Approx(hand.hessian()[i][j]).epsilon(1e-7));
            CHECK(std::stod(numeric[1 + j]) != std::stod(engine[1 + j]));  // a real estimate, not a copy
        }
    }
    CHECK(out[16].rfind("largest difference in the Hessian: ", 0) == 0);
    CHECK(std::stod(out[16].substr(out[16].rfind(' ') + 1)) < 1e-7);
}

TEST_CASE("tapegrad hessian --json gives value, gradient and Hessian, equal to ag::hessian") {
    const Run r = tapegrad({"hessian", "x^2*y + sin(x*y)", "x=1", "y=2", "--json"});
    REQUIRE(r.code == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);
    const Json j = Json::parse(r.out);
    const HandHessian hand{1, 2};
    CHECK(j.at("variables") == Json{"x", "y"});
    CHECK(j.at("point") == Json{1.0, 2.0});
    CHECK(j.at("value").get<double>() == doctest::Approx(hand.f()).epsilon(1e-15));
    const ag::Matrix library = ag::hessian(
        [](const std::vector<ag::Value>& v) { return ag::pow(v[0], 2.0) * v[1] + ag::sin(v[0] * v[1]); }, {1.0, 2.0});
    for (int i = 0; i < 2; ++i) {
        CHECK(j.at("gradient")[i].get<double>() == doctest::Approx(hand.gradient()[i]).epsilon(1e-15));
        CHECK(j.at("gradient_finite_difference")[i].get<double>() == doctest::Approx(hand.gradient()[i]).epsilon(1e-8));
        for (int k = 0; k < 2; ++k) {
            CHECK(j.at("hessian")[i][k].get<double>() == doctest::Approx(library[i][k]).epsilon(1e-15));
            CHECK(j.at("hessian")[i][k].get<double>() == doctest::Approx(hand.hessian()[i][k]).epsilon(1e-14));
            CHECK(j.at("hessian_finite_difference")[i][k].get<double>() ==
                  doctest::Approx(hand.hessian()[i][k]).epsilon(1e-7));
        }
    }
}

TEST_CASE("tapegrad hessian: a variable not in the expression has zero rows, and errors are reported as in grad") {
    Run r = tapegrad({"hessian", "x^3", "w=5", "x=2", "--json"});
    CHECK(r.code == 0);
    Json j = Json::parse(r.out);
    CHECK(j.at("variables") == Json{"w", "x"});
    CHECK(j.at("gradient") == Json{0.0, 12.0});
    CHECK(j.at("hessian") == Json{Json{0.0, 0.0}, Json{0.0, 12.0}});
    CHECK(r.err == "note: w does not occur in the expression; ∂f/∂w = 0\n");

    r = tapegrad({"hessian", "x + log(y)", "x=1", "y=-1", "--json"});
    CHECK(r.code == 1);
    CHECK(Json::parse(r.out) == json_error("domain", "log(-1) is nan (not a number)", 5));
    r = tapegrad({"hessian", "x + ", "x=1"});
    CHECK(r.code == 2);
    CHECK(r.err.rfind("tapegrad: error: ", 0) == 0);
    r = tapegrad({"hessian", "x * y", "x=1", "--json"});
    CHECK(r.code == 2);
    CHECK(Json::parse(r.out).at("error").at("kind") == "missing value");
    // Second derivatives that do not exist: null in JSON, and a note.
    r = tapegrad({"hessian", "abs(x) * y", "x=0", "y=1", "--json"});
    CHECK(r.code == 0);
    CHECK(r.err.find("disagree") != std::string::npos);
    r = tapegrad({"hessian", "sqrt(x)", "x=0", "--json", "--step", "1e-3"});
    CHECK(r.code == 0);
    CHECK(Json::parse(r.out).at("hessian")[0][0].is_null());
    CHECK(r.err.find("not finite") != std::string::npos);
}

// --- tapegrad explain ---------------------------------------------------------

TEST_CASE("tapegrad explain walks (x + y) * z at (-2, 5, -4) as the textbook does") {
    const Run r = tapegrad({"explain", "(x + y) * z", "x=-2", "y=5", "z=-4"});
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    // Every number by hand: q = x + y = 3, f = q z = -12; df/dq = z = -4,
    // df/dz = q = 3, df/dx = df/dy = df/dq * 1 = -4.
    CHECK(r.out ==
          "f = (x + y) * z\n"
          "\n"
          "Forward pass (f = -12):\n"
          "  x  = -2   (input)\n"
          "  y  = 5   (input)\n"
          "  z  = -4   (input)\n"
          "  #3 = x + y = 3\n"
          "  f  = #3 * z = -12\n"
          "\n"
          "Reverse sweep (adjoint = ∂f/∂node; each node sends adjoint × local derivative to its inputs):\n"
          "  f = #3 * z = -12: adjoint 1 (the seed)\n"
          "    in its rule: a = #3, b = z, y = f (the output)\n"
          "    to #3: ∂f/∂#3 = b = -4; sends 1 × -4 = -4\n"
          "    to z: ∂f/∂z = a = 3; sends 1 × 3 = 3\n"
          "  #3 = x + y = 3: adjoint -4 (from f)\n"
          "    in its rule: a = x, b = y, y = #3 (the output)\n"
          "    to x: ∂#3/∂x = 1; sends -4 × 1 = -4\n"
          "    to y: ∂#3/∂y = 1; sends -4 × 1 = -4\n"
          "  z (input): adjoint 3 (from f)\n"
          "  y (input): adjoint -4 (from #3)\n"
          "  x (input): adjoint -4 (from #3)\n"
          "\n"
          "Gradient:\n"
          "  ∂f/∂x = -4\n"
          "  ∂f/∂y = -4\n"
          "  ∂f/∂z = 3\n");
}

TEST_CASE("tapegrad explain --json: the trace as data, its numbers the engine's") {
    const Run r = tapegrad({"explain", "x*x + tanh(2*x) - 3/y", "x=0.5", "y=2", "w=1", "--json"});
    CHECK(r.code == 0);
    CHECK(r.err == "note: w does not occur in the expression; ∂f/∂w = 0\n");
    const Json j = Json::parse(r.out);

    ag::Scope scope;
    const ag::Value x(0.5), y(2.0);
    const ag::Value f = x * x + ag::tanh(2.0 * x) - 3.0 / y;
    const std::vector<double> g = ag::grad(f, {x, y});
    const double t = std::tanh(1.0);
    CHECK(j.at("f").get<double>() == f.data());
    CHECK(j.at("gradient") == Json::parse(fmt::format(R"([{{"name":"x","value":0.5,"gradient":{}}},)"
                                                      R"({{"name":"y","value":2.0,"gradient":{}}},)"
                                                      R"({{"name":"w","value":1.0,"gradient":0.0}}])",
                                                      g[0], g[1])));
    CHECK(g[0] == doctest::Approx(1 + 2 * (1 - t * t)).epsilon(1e-15));
    CHECK(g[1] == 0.75);

    // Forward: creation order, leaves first.
    const Json& forward = j.at("forward");
    REQUIRE(forward.size() == 8);
    const char* computes[] = {"", "", "x * x", "x * 2", "tanh(#3)", "#2 + #4", "3 / y", "#5 - #6"};
    const double values[] = {0.5, 2, 0.25, 1, t, 0.25 + t, 1.5, 0.25 + t - 1.5};
    for (std::size_t k = 0; k < 8; ++k) {
        INFO("node ", k);
        CHECK(forward[k].at("node") == k);
        CHECK(forward[k].at("kind") == (k < 2 ? "input" : "op"));
        if (k >= 2) CHECK(forward[k].at("computes") == computes[k]);
        CHECK(forward[k].at("value").get<double>() == doctest::Approx(values[k]).epsilon(1e-15));
    }
    CHECK(forward[3].at("constant") == 2.0);
    CHECK(forward[3].at("constant_letter") == "b");
    CHECK(forward[6].at("constant_letter") == "a");  // 3 / y is Div's db with a = 3

    // Reverse: sweep order; each node's adjoint is what ag::grad gives for
    // it, each input gets adjoint × local derivative, the local derivative
    // by hand.
    const Json& reverse = j.at("reverse");
    REQUIRE(reverse.size() == 8);
    std::map<int, const Json*> at;
    for (std::size_t k = 0; k < 8; ++k) {
        CHECK(reverse[k].at("node") == 7 - k);
        at[reverse[k].at("node").get<int>()] = &reverse[k];
    }
    const double hand_adjoint[] = {g[0], 0.75, 1, 1 - t * t, 1, 1, -1, 1};
    for (int k = 0; k < 8; ++k) {
        INFO("node ", k);
        CHECK(at[k]->at("adjoint").get<double>() == doctest::Approx(hand_adjoint[k]).epsilon(1e-15));
        double sum = 0;
        for (const Json& c : at[k]->at("received")) sum += c.at("amount").get<double>();
        if (k < 7) CHECK(sum == at[k]->at("adjoint").get<double>());
        for (const Json& in : at[k]->at("inputs"))
            CHECK(in.at("sends").get<double>() ==
                  at[k]->at("adjoint").get<double>() * in.at("local_derivative").get<double>());
    }
    auto input = [&](int node, int k) { return at[node]->at("inputs")[k]; };
    CHECK(input(2, 0).at("formula") == "b");
    CHECK(input(2, 0).at("local_derivative") == 0.5);
    CHECK(input(2, 1).at("formula") == "a");
    CHECK(input(4, 0).at("formula") == "1 - y^2");
    CHECK(input(4, 0).at("local_derivative").get<double>() == doctest::Approx(1 - t * t).epsilon(1e-15));
    CHECK(input(3, 0).at("local_derivative") == 2.0);
    CHECK(input(6, 0).at("letter") == "b");
    CHECK(input(6, 0).at("formula") == "-y/b");
    CHECK(input(6, 0).at("local_derivative") == -0.75);  // d(3/y)/dy = -3/y^2
    CHECK(input(7, 1).at("local_derivative") == -1.0);
    // x receives from #3 (2 (1 - t^2)) and twice from #2 (0.5 each).
    CHECK(at[0]->at("received").size() == 3);
}

TEST_CASE("tapegrad explain --dot and --svg draw each edge with its local derivative") {
    const fs::path dot_file = scratch_path("explain.dot");
    Run r = tapegrad({"explain", "(x + y) * z", "x=-2", "y=5", "z=-4", "--dot", dot_file.string()});
    CHECK(r.code == 0);
    const std::string dot = slurp(dot_file);
    CHECK(dot.find("n3 [label=\"#3 = x + y\\nvalue 3\\nadjoint -4\"];") != std::string::npos);
    CHECK(dot.find("n4 [label=\"f = #3 * z\\nvalue -12\\nadjoint 1\", peripheries=2];") != std::string::npos);
    CHECK(dot.find("n3 -> n4 [label=\"∂/∂a = b\\n= -4\"];") != std::string::npos);
    CHECK(dot.find("n2 -> n4 [label=\"∂/∂b = a\\n= 3\"];") != std::string::npos);
    CHECK(dot.find("n0 -> n3 [label=\"∂/∂a = 1\\n= 1\"];") != std::string::npos);
    CHECK(r.out.find("∂f/∂z = 3") != std::string::npos);  // the text still on stdout

    const fs::path svg = scratch_path("explain.svg");
    r = tapegrad({"explain", "(x + y) * z", "x=-2", "y=5", "z=-4", "--svg", svg.string(), "--json"});
    const Json j = Json::parse(r.out);
    if (have_graphviz()) {
        CHECK(r.code == 0);
        CHECK(slurp(svg).find("<svg") != std::string::npos);
        CHECK(j.at("graphs")[0].at("written") == true);
    } else {
        CHECK(r.code == 3);
        CHECK(j.at("graphs")[0].at("reason") == "graphviz not found");
    }
    CHECK(j.at("gradient")[2].at("gradient") == 3.0);
}

TEST_CASE("tapegrad explain of an expression without the given variables: f, an empty trace, zero gradients") {
    const Run r = tapegrad({"explain", "2 * 3", "x=1", "--json"});
    CHECK(r.code == 0);
    const Json j = Json::parse(r.out);
    CHECK(j.at("f") == 6.0);
    CHECK(j.at("forward").empty());
    CHECK(j.at("reverse").empty());
    CHECK(j.at("gradient") == Json::parse(R"([{"name":"x","value":1.0,"gradient":0.0}])"));
    CHECK(r.err == "note: x does not occur in the expression; ∂f/∂x = 0\n");
}

TEST_CASE("tapegrad explain: errors as in grad") {
    Run r = tapegrad({"explain", "x + log(y)", "x=1", "y=0", "--json"});
    CHECK(r.code == 1);
    CHECK(Json::parse(r.out) == json_error("domain", "log(0) is -inf (infinite)", 5));
    r = tapegrad({"explain", "x +* y", "x=1", "y=2"});
    CHECK(r.code == 2);
    r = tapegrad({"explain", "foo(x)", "x=1", "--json"});
    CHECK(r.code == 2);
    CHECK(Json::parse(r.out).at("error").at("kind") == "unknown function");
}

#endif
