#pragma once
// tapegrad as a GradBench tool (github.com/gradbench/gradbench): the parts
// every eval shares. Each eval is one file (hello.cpp, det.cpp, ...) holding
// its function, written once on tapegrad's public API, and the module entry
// that parses the eval's input, runs the function under GradBench's rule for
// repeated runs and returns the output. protocol.hpp speaks the JSON-lines
// protocol on top of this.
//
// Convention (the strict one, as CoDiPack, CppAD and Adept follow): every
// timed run records its tape from scratch, leaves included, inside an
// ag::Scope, and rewinds it at the end, so repeated runs reuse the same
// memory. Parsing the input and printing the output are not timed.
#include <autograd/value.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gradbench {

using json = nlohmann::json;

// An input the tool cannot use (missing field, wrong type or shape, value
// out of range); the text names the field and the values involved.
struct InputError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

// ------------------------------------------------------------ the runs ---

// GradBench's rule: run at least min_runs times and until the runs add up
// to min_seconds. Without the fields (hello, or a hand-made input): one run.
struct Runs {
    std::int64_t min_runs = 1;
    double min_seconds = 0;
};
Runs runs_of(const json& input);

// Calls `compute` under the rule and returns the duration of each call in
// nanoseconds (GradBench's "evaluate" timings).
template <class F>
std::vector<std::int64_t> run_timed(const Runs& runs, F&& compute) {
    using clock = std::chrono::steady_clock;
    std::vector<std::int64_t> ns;
    double seconds = 0;
    while (static_cast<std::int64_t>(ns.size()) < runs.min_runs || seconds < runs.min_seconds) {
        const auto start = clock::now();
        compute();
        const auto stop = clock::now();
        const std::int64_t d = std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count();
        ns.push_back(d);
        seconds += static_cast<double>(d) * 1e-9;
    }
    return ns;
}

// ----------------------------------------------------------- the evals ---

struct Evaluation {
    json output;
    std::vector<std::int64_t> evaluate_ns;  // one per run
};

using Function = Evaluation (*)(const json& input);

struct Module {
    std::string_view name;
    std::vector<std::pair<std::string_view, Function>> functions;
    // Empty when the module is implemented; else why `define` refuses it.
    std::string_view missing;
};

// Every module the tool knows, implemented or not.
std::span<const Module> modules();
const Module* find_module(std::string_view name);

// Runs module::function on `input`. Throws InputError for an unknown module
// or function, a bad input, or an output holding NaN or infinity (which
// JSON cannot carry); other exceptions (std::bad_alloc, ...) pass through.
Evaluation evaluate(std::string_view module, std::string_view function, const json& input);

// ------------------------------------------------------ reading inputs ---
// Each takes `what`, the path of the value in the message (e.g.
// "det input.A"), for its error text.

// The member `name` of an object; throws if `object` is no object or lacks it.
const json& member(const json& object, std::string_view name, std::string_view what);
// A finite number (JSON integer or float).
double number(const json& v, std::string_view what);
// An integer in [lo, hi].
std::int64_t integer(const json& v, std::string_view what, std::int64_t lo, std::int64_t hi);
// A list of finite numbers, of length n when n is given.
std::vector<double> numbers(const json& v, std::string_view what, std::optional<std::size_t> n = {});
// A list of lists of numbers, rows x cols (either left open), flattened row
// by row. Returns the values and the shape found.
struct Matrix {
    std::vector<double> values;
    std::size_t rows = 0, cols = 0;
};
Matrix matrix(const json& v, std::string_view what, std::optional<std::size_t> rows, std::optional<std::size_t> cols);
// A list of integers in [lo, hi], of length n when n is given.
std::vector<std::int64_t> integers(const json& v, std::string_view what, std::int64_t lo, std::int64_t hi,
                                   std::optional<std::size_t> n = {});

// ------------------------------------------------------ leaves, gradients ---

// Leaves holding `values`, for the derivative runs.
std::vector<ag::Value> leaves(std::span<const double> values);
// The gradients of `values`, in order.
std::vector<double> grads(std::span<const ag::Value> values);

}  // namespace gradbench
