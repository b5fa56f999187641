// Scalar tape benchmark (issue 2): the cost of recording a scalar graph and
// sweeping it backward, as a multiple of evaluating the same function on
// plain doubles, and against ADOL-C when it is installed.
//
// Workloads, n = 1000 leaves x_i = ((i * 7919) mod 1000) / 1000 - 0.5:
//   chain: f = 0; 250 rounds of f = f + tanh(x_i * x_{(i+1) mod n} + 0.5)
//   poly:  the same without tanh, so the tape's own overhead dominates.
// A chain term is 4 operations (*, +0.5, tanh, +), 10^6 a run; a poly term
// is 3 (*, +0.5, +), 750,000 a run. "ns/op" below is the time of one run
// divided by those counts, whatever the library actually records.
//
// Before timing, every library's f and all 1000 partials are checked against
// the plain-double value and the hand-derived gradient; a wrong result
// aborts the program instead of producing a figure.
//
// Run from the build tree with `cmake --build build --target run_benchmarks`
// (it runs in build/benchmarks, where CMake writes the .adolcrc that keeps
// ADOL-C's tape in memory). Google Benchmark flags work as usual.
#include <autograd/autograd.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#ifdef TAPEGRAD_HAVE_ADOLC
#include <adolc/adolc.h>
#endif

namespace {

constexpr int kLeaves = 1000;
constexpr int kRounds = 250;
constexpr double kChainF = 123548.10650067689;  // given in the issue
constexpr int kRepetitions = 5;

enum class Workload { Chain, Poly };
const char* workload_name(Workload w) { return w == Workload::Chain ? "chain" : "poly"; }
double ops_per_run(Workload w) { return (w == Workload::Chain ? 4.0 : 3.0) * kLeaves * kRounds; }

std::vector<double> leaf_values() {
    std::vector<double> x(kLeaves);
    for (int i = 0; i < kLeaves; ++i) x[i] = static_cast<double>((i * 7919) % kLeaves) / kLeaves - 0.5;
    return x;
}

// The workload, written once for double, ag::Value and ADOL-C's adouble
// (tanh found by argument-dependent lookup for the last two).
template <Workload W, class Scalar>
Scalar evaluate(const std::vector<Scalar>& x) {
    using std::tanh;
    Scalar f = 0.0;
    for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i < kLeaves; ++i) {
            const int next = i + 1 == kLeaves ? 0 : i + 1;
            if constexpr (W == Workload::Chain)
                f = f + tanh(x[i] * x[next] + 0.5);
            else
                f = f + (x[i] * x[next] + 0.5);
        }
    }
    return f;
}

// df/dx_k by hand: x_k appears in term k (with x_{k+1}) and term k-1 (with
// x_{k-1}), each kRounds times; tanh' = 1 - tanh^2.
std::vector<double> hand_gradient(Workload w, const std::vector<double>& x) {
    std::vector<double> g(kLeaves);
    auto outer = [&](int i) {  // d term_i / d (x_i * x_{i+1})
        const double u = x[i] * x[(i + 1) % kLeaves] + 0.5;
        return w == Workload::Chain ? 1.0 - std::tanh(u) * std::tanh(u) : 1.0;
    };
    for (int k = 0; k < kLeaves; ++k) {
        const int prev = (k + kLeaves - 1) % kLeaves, next = (k + 1) % kLeaves;
        g[k] = kRounds * (outer(k) * x[next] + outer(prev) * x[prev]);
    }
    return g;
}

double plain_f(Workload w, const std::vector<double>& x) {
    return w == Workload::Chain ? evaluate<Workload::Chain>(x) : evaluate<Workload::Poly>(x);
}

[[noreturn]] void fail(const std::string& what) {
    fmt::print(stderr, "bench_scalar: WRONG RESULT, no figures reported: {}\n", what);
    std::exit(1);
}

void check_close(const std::string& what, double got, double want, double rel_tol) {
    if (!(std::fabs(got - want) <= rel_tol * std::max(1.0, std::fabs(want))))
        fail(fmt::format("{} = {:.17g}, expected {:.17g} (relative tolerance {:g})", what, got, want, rel_tol));
}

void check_result(const std::string& library, Workload w, double f, const std::vector<double>& grad,
                  const std::vector<double>& x) {
    const std::string name = fmt::format("{} {}", library, workload_name(w));
    check_close(name + ": f", f, plain_f(w, x), 1e-12);
    const std::vector<double> want = hand_gradient(w, x);
    for (int k = 0; k < kLeaves; ++k) check_close(fmt::format("{}: df/dx[{}]", name, k), grad[k], want[k], 1e-9);
}

// Shows ns per operation in Google Benchmark's own table (CPU time).
void count_ops(benchmark::State& state, Workload w) {
    state.counters["time/op"] =
        benchmark::Counter(ops_per_run(w), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// --- tapegrad ---

// Created once, before any Scope, so they outlive every recorded graph.
const std::vector<ag::Value>& tapegrad_leaves() {
    static const std::vector<ag::Value> leaves = [] {
        std::vector<ag::Value> v;
        for (double xi : leaf_values()) v.emplace_back(xi);
        return v;
    }();
    return leaves;
}

struct TapeMemory {
    double actual_bytes_per_op = 0;    // nodes and constants recorded by one run
    double reserved_bytes_per_op = 0;  // everything the tape holds (capacity)
};
std::map<Workload, TapeMemory> tape_memory;

template <Workload W>
void verify_tapegrad() {
    const auto& x = tapegrad_leaves();
    ag::zero_grad(x);
    ag::Tape& tape = ag::tape();
    const ag::Tape::Mark before = tape.mark();
    std::vector<double> grad(kLeaves);
    double f_value = 0;
    {
        ag::Scope scope;
        ag::Value f = evaluate<W>(x);
        f.backward();
        f_value = f.data();
        const ag::Tape::Mark after = tape.mark();
        const double used = static_cast<double>(ag::Tape::bytes_per_node) * (after.nodes - before.nodes) +
                            sizeof(double) * (after.constants - before.constants);
        tape_memory[W] = {used / ops_per_run(W), static_cast<double>(tape.bytes_reserved()) / ops_per_run(W)};
    }
    for (int k = 0; k < kLeaves; ++k) grad[k] = x[k].grad();
    ag::zero_grad(x);
    check_result("tapegrad", W, f_value, grad, leaf_values());
}

template <Workload W>
void BM_tapegrad(benchmark::State& state) {
    const auto& x = tapegrad_leaves();
    for (auto _ : state) {
        ag::Scope scope;  // the graph is freed at the end of each run
        ag::Value f = evaluate<W>(x);
        f.backward();
    }
    count_ops(state, W);
    ag::zero_grad(x);
}

// --- plain doubles: the same f, no derivative ---

template <Workload W>
void BM_double(benchmark::State& state) {
    std::vector<double> x = leaf_values();
    for (auto _ : state) {
        benchmark::DoNotOptimize(x.data());  // x may have changed: no hoisting
        double f = evaluate<W>(x);
        benchmark::DoNotOptimize(f);
    }
    count_ops(state, W);
}

// --- ADOL-C: trace_on/trace_off, then gradient() (a forward and a reverse
// sweep over the tape), the tape kept in memory ---

#ifdef TAPEGRAD_HAVE_ADOLC
constexpr short kAdolcTag = 1;

template <Workload W>
double adolc_record(const std::vector<double>& x) {
    trace_on(kAdolcTag);
    std::vector<adouble> xa(kLeaves);
    for (int i = 0; i < kLeaves; ++i) xa[i] <<= x[i];
    adouble f = evaluate<W>(xa);
    double f_value = 0;
    f >>= f_value;
    trace_off();
    return f_value;
}

struct AdolcTapeInfo {
    std::size_t operations = 0;  // what ADOL-C recorded for the run
    double bytes_per_op = 0;     // operations, locations and constants on its tape
    bool spilled = false;        // part of the tape went to files
};
std::map<Workload, AdolcTapeInfo> adolc_tape;

template <Workload W>
void verify_adolc() {
    const std::vector<double> x = leaf_values();
    std::vector<double> grad(kLeaves);
    const double f_value = adolc_record<W>(x);
    if (gradient(kAdolcTag, kLeaves, x.data(), grad.data()) < 0) fail("ADOL-C gradient() reported an error");
    size_t stats[STAT_SIZE];
    tapestats(kAdolcTag, stats);
    const double bytes =
        1.0 * stats[NUM_OPERATIONS] + sizeof(locint) * stats[NUM_LOCATIONS] + sizeof(double) * stats[NUM_VALUES];
    adolc_tape[W] = {stats[NUM_OPERATIONS], bytes / ops_per_run(W),
                     stats[OP_FILE_ACCESS] || stats[LOC_FILE_ACCESS] || stats[VAL_FILE_ACCESS]};
    check_result("ADOL-C", W, f_value, grad, x);
}

template <Workload W>
void BM_adolc(benchmark::State& state) {
    const std::vector<double> x = leaf_values();
    std::vector<double> grad(kLeaves);
    for (auto _ : state) {
        adolc_record<W>(x);
        gradient(kAdolcTag, kLeaves, x.data(), grad.data());
        benchmark::DoNotOptimize(grad.data());
    }
    count_ops(state, W);
}

// Tape files ADOL-C left in the working directory (there should be none).
std::vector<std::string> adolc_tape_files() {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator("."))
        if (entry.path().filename().string().starts_with("ADOLC-")) found.push_back(entry.path().string());
    return found;
}
#endif

// Collects every single run's CPU time so the summary can use medians.
class SummaryReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs)
            if (run.run_type == Run::RT_Iteration && !run.error_occurred)
                ns_per_run[run.run_name.function_name].push_back(run.GetAdjustedCPUTime() * 1e9 /
                                                                 benchmark::GetTimeUnitMultiplier(run.time_unit));
        ConsoleReporter::ReportRuns(runs);
    }
    std::optional<double> median_ns_per_run(const std::string& name) const {
        auto it = ns_per_run.find(name);
        if (it == ns_per_run.end() || it->second.empty()) return std::nullopt;
        std::vector<double> t = it->second;
        std::sort(t.begin(), t.end());
        const size_t m = t.size() / 2;
        const double median = t.size() % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]);
        return median;
    }

private:
    std::map<std::string, std::vector<double>> ns_per_run;
};

template <Workload W>
void register_workload() {
    const std::string w = workload_name(W);
    std::vector<std::pair<std::string, void (*)(benchmark::State&)>> runs = {{"tapegrad", &BM_tapegrad<W>},
                                                                             {"double", &BM_double<W>}};
#ifdef TAPEGRAD_HAVE_ADOLC
    runs.emplace_back("adolc", &BM_adolc<W>);
#endif
    for (const auto& [library, fn] : runs)
        benchmark::RegisterBenchmark((w + "/" + library).c_str(), fn)
            ->Unit(benchmark::kMillisecond)
            ->Repetitions(kRepetitions);
}

std::string cell(std::optional<double> v, const char* format = "{:.2f}") {
    return v ? fmt::format(fmt::runtime(format), *v) : std::string("-");
}

void print_summary(const SummaryReporter& reporter) {
    fmt::print(
        "\nScalar tape summary: ns per operation (median CPU time of {} repetitions of a run / its {:.0f} or "
        "{:.0f} operations)\n",
        kRepetitions, ops_per_run(Workload::Chain), ops_per_run(Workload::Poly));
    const char* row = "{:<9}{:>15}{:>13}{:>8}{:>11}{:>12}{:>10}{:>11}\n";
    fmt::print(fmt::runtime(row), "workload", "tapegrad ns/op", "double ns/op", "ratio", "tape B/op", "tape B/op",
               "ADOL-C", "tapegrad");
    fmt::print(fmt::runtime(row), "", "rec+backward", "f only", "", "(used)", "(reserved)", "ns/op", "speed-up");
    for (Workload w : {Workload::Chain, Workload::Poly}) {
        const std::string name = workload_name(w);
        auto per_op = [&](const std::string& library) -> std::optional<double> {
            if (auto t = reporter.median_ns_per_run(name + "/" + library)) return *t / ops_per_run(w);
            return std::nullopt;
        };
        const auto ours = per_op("tapegrad"), plain = per_op("double"), adolc = per_op("adolc");
        std::optional<double> ratio, speedup, used, reserved;
        if (ours && plain) ratio = *ours / *plain;
        if (ours && adolc) speedup = *adolc / *ours;
        if (auto it = tape_memory.find(w); it != tape_memory.end()) {
            used = it->second.actual_bytes_per_op;
            reserved = it->second.reserved_bytes_per_op;
        }
        fmt::print(fmt::runtime(row), name, cell(ours), cell(plain), cell(ratio, "{:.2f}x"), cell(used, "{:.1f}"),
                   cell(reserved, "{:.1f}"), cell(adolc), cell(speedup, "{:.1f}x"));
    }
#ifdef TAPEGRAD_HAVE_ADOLC
    for (Workload w : {Workload::Chain, Workload::Poly})
        fmt::print("ADOL-C {}: {} operations recorded, tape {:.1f} bytes/op (operations, locations, constants), {}\n",
                   workload_name(w), adolc_tape[w].operations, adolc_tape[w].bytes_per_op,
                   adolc_tape[w].spilled ? "PARTLY ON DISK (raise the buffers in .adolcrc)" : "in memory");
#else
    fmt::print(
        "ADOL-C: left out at configure time (install libadolc-dev, keep TAPEGRAD_BENCH_ADOLC=ON, re-run cmake)\n");
#endif
    fmt::print("Targets: chain ratio <= 3x; speed-up over ADOL-C >= 5x on both; tape <= 32 bytes/op.\n");
}

// Cold tape: a first big graph on a fresh thread (its tape has no memory
// yet) against the same graph again on that thread. The 10^7-node chain
// y = y * 1.0000001 with its backward sweep; three fresh threads, medians.
void print_cold_tape() {
    constexpr int kNodes = 10'000'000;
    auto run = [] {
        const auto start = std::chrono::steady_clock::now();
        ag::Scope scope;
        ag::Value x = 1.0, y = x;
        for (int i = 0; i < kNodes; ++i) y = y * 1.0000001;
        y.backward();
        check_close("cold chain: dy/dx", x.grad(), std::pow(1.0000001, kNodes), 1e-9);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::vector<double> cold, warm;
    for (int k = 0; k < 3; ++k)
        std::thread([&] {
            cold.push_back(run());
            warm.push_back(run());
        }).join();
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    fmt::print(
        "Cold tape: record + backward of a {}-node chain on a fresh thread {:.0f} ms, again on the same "
        "thread {:.0f} ms: {:.2f}x (median of 3 threads; each run: {}). Target: within 3x.\n",
        kNodes, 1e3 * median(cold), 1e3 * median(warm), median(cold) / median(warm), [&] {
            std::string runs;
            for (std::size_t k = 0; k < cold.size(); ++k)
                runs += fmt::format("{}{:.0f}/{:.0f} ms", k ? ", " : "", 1e3 * cold[k], 1e3 * warm[k]);
            return runs;
        }());
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    const std::vector<double> x = leaf_values();
    check_close("plain double chain: f", plain_f(Workload::Chain, x), kChainF, 1e-12);
    verify_tapegrad<Workload::Chain>();
    verify_tapegrad<Workload::Poly>();
#ifdef TAPEGRAD_HAVE_ADOLC
    if (!std::filesystem::exists(".adolcrc"))
        fmt::print(stderr,
                   "bench_scalar: no .adolcrc in the working directory; ADOL-C will spill its tape to files "
                   "here. Run it through `cmake --build build --target run_benchmarks`.\n");
    verify_adolc<Workload::Chain>();
    verify_adolc<Workload::Poly>();
#endif
    fmt::print("All results verified (f and all {} partials, both workloads).\n", kLeaves);

    register_workload<Workload::Chain>();
    register_workload<Workload::Poly>();
    SummaryReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    print_summary(reporter);
    print_cold_tape();

#ifdef TAPEGRAD_HAVE_ADOLC
    removeTape(kAdolcTag, ADOLC_REMOVE_COMPLETELY);
    if (const auto left = adolc_tape_files(); !left.empty()) {
        fmt::print(stderr, "bench_scalar: ADOL-C left tape files (its timings include disk I/O):\n");
        for (const auto& f : left) fmt::print(stderr, "  {}\n", f);
        return 1;
    }
#endif
    return 0;
}
