// Tensor MLP training step (issue 3): tapegrad against PyTorch, same models,
// same steps, timed the same way in the same run, on 1 and 2 threads.
//
// A step is: forward, loss, backward, SGD update (and zeroing the gradients).
//   small   64-128-64-10,      batch 64,  float32, cross-entropy
//   medium  784-512-256-10,    batch 128, float32, cross-entropy
//   large   1024-2048-2048-10, batch 256, float32, cross-entropy
//   demo    micrograd's demo model 2-16-16-1 on 100 moons points, full batch,
//           float64, mean hinge loss + 1e-4 * sum of squared parameters
// Hidden layers use ReLU; the inputs need no gradient (in both libraries).
//
// GFLOP/s counts the matrix products a step needs: forward X·W, backward
// G·Wᵀ (except for the first layer, whose input needs no gradient) and Xᵀ·G;
// the ceiling is cblas_sgemm on 1024³ measured here with the same threads.
// PyTorch runs as /usr/bin/python3 benchmarks/pytorch_mlp.py with
// OMP_WAIT_POLICY=passive and OPENBLAS_NUM_THREADS/OMP_NUM_THREADS set, so
// its threads do not spin against OpenBLAS's.
//
//     bench_mlp                 # full run, prints a Markdown table
//     bench_mlp --quick         # shorter, noisier
//     bench_mlp --no-pytorch    # tapegrad only
#include <autograd/autograd.hpp>

#include <CLI/CLI.hpp>
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Model {
    std::string name;
    std::vector<std::int64_t> sizes;
    std::int64_t batch;
};
const std::vector<Model> kClassifiers = {
    {"small", {64, 128, 64, 10}, 64},
    {"medium", {784, 512, 256, 10}, 128},
    {"large", {1024, 2048, 2048, 10}, 256},
};
const Model kDemo = {"demo", {2, 16, 16, 1}, 100};

struct Timing {
    double batch_seconds = 0.1;
    int repetitions = 7;
};

// The best over repetitions of the mean time of one step in a batch of
// steps, after a warm-up (the first step sizes the tape's buffers). Best,
// not median: on a machine shared with other jobs, interference only ever
// adds time. pytorch_mlp.py measures the same way.
template <class Step>
double seconds_per_step(Step&& step, const Timing& timing) {
    using clock = std::chrono::steady_clock;
    for (int i = 0; i < 3; ++i) step();
    auto t0 = clock::now();
    step();
    const double one = std::max(std::chrono::duration<double>(clock::now() - t0).count(), 1e-7);
    const int steps = std::max(1, static_cast<int>(timing.batch_seconds / one));
    std::vector<double> samples;
    for (int r = 0; r < timing.repetitions; ++r) {
        t0 = clock::now();
        for (int i = 0; i < steps; ++i) step();
        samples.push_back(std::chrono::duration<double>(clock::now() - t0).count() / steps);
    }
    return *std::min_element(samples.begin(), samples.end());
}

// The steps timed must be real training: a finite loss that went down over
// the run (the same batch every step), else no figure is printed.
void check_training(const std::string& model, double first, double last) {
    if (!std::isfinite(last) || !(last < first)) {
        fmt::print(stderr, "bench_mlp: {}: the loss went from {} to {}; not training, aborting\n", model, first, last);
        std::exit(1);
    }
}

double step_flops(const Model& m) {
    double f = 0;
    for (std::size_t l = 0; l + 1 < m.sizes.size(); ++l) {
        const double mac = static_cast<double>(m.batch * m.sizes[l] * m.sizes[l + 1]);
        f += 2 * mac * (l == 0 ? 2 : 3);  // forward, dW, and dX except for layer 0
    }
    return f;
}

// An MLP of ag tensors: W_l [in, out], b_l [out], uniform in ±1/sqrt(in)
// (PyTorch's default for nn.Linear).
template <class T>
struct Mlp {
    std::vector<ag::BasicTensor<T>> params;  // w0, b0, w1, b1, ...

    Mlp(const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
        ag::Rng rng(seed);
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
            const double bound = 1 / std::sqrt(static_cast<double>(sizes[l]));
            params.push_back(ag::BasicTensor<T>::rand({sizes[l], sizes[l + 1]}, rng, -bound, bound));
            params.push_back(ag::BasicTensor<T>::rand({sizes[l + 1]}, rng, -bound, bound));
        }
    }
    ag::BasicTensor<T> operator()(ag::BasicTensor<T> h) const {
        for (std::size_t l = 0; l < params.size(); l += 2) {
            h = ag::linear(h, params[l], params[l + 1]);
            if (l + 2 < params.size()) h = ag::relu(h);
        }
        return h;
    }
    void sgd(double lr) const {
        for (const auto& p : params) {
            const std::span<T> w = p.data(), g = p.grad();
            const auto rate = static_cast<T>(lr);
            for (std::size_t i = 0; i < w.size(); ++i) w[i] -= rate * g[i];
            p.zero_grad();
        }
    }
};

double time_classifier(const Model& m, const Timing& timing) {
    ag::Scope model_scope;  // frees the model and data when done
    const Mlp<float> mlp(m.sizes, 1);
    const auto x = ag::Tensor32::randn({m.batch, m.sizes.front()}, 2);
    x.set_requires_grad(false);
    ag::Rng rng(3);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(m.batch));
    for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(m.sizes.back())));
    double first = -1, last = 0;
    const double s = seconds_per_step(
        [&] {
            ag::Scope step;
            const auto loss = ag::cross_entropy(mlp(x), labels);
            loss.backward();
            mlp.sgd(0.01);
            last = loss.item();
            if (first < 0) first = last;
        },
        timing);
    check_training(m.name, first, last);
    return s;
}

// The same points as pytorch_mlp.py's moons(): two half circles, a fixed
// wiggle instead of random noise, labels -1 / +1.
void moons(std::vector<double>& xy, std::vector<double>& labels) {
    const int n = 100, half = n / 2;
    for (int i = 0; i < n; ++i) {
        const bool outer = i < half;
        const double t = std::numbers::pi * (outer ? i : i - half) / (half - 1);
        const double x = outer ? std::cos(t) : 1 - std::cos(t);
        const double y = outer ? std::sin(t) : 0.5 - std::sin(t);
        xy.push_back(x + 0.1 * std::sin(7.0 * i));
        xy.push_back(y + 0.1 * std::cos(5.0 * i));
        labels.push_back(outer ? -1.0 : 1.0);
    }
}

double time_demo(const Timing& timing) {
    ag::Scope model_scope;
    const Mlp<double> mlp(kDemo.sizes, 1);
    std::vector<double> xy, labels;
    moons(xy, labels);
    const ag::Tensor x({100, 2}, xy);
    const ag::Tensor y({100, 1}, labels);
    x.set_requires_grad(false);
    y.set_requires_grad(false);
    double first = -1, last = 0;
    const double s = seconds_per_step(
        [&] {
            ag::Scope step;
            const auto data_loss = ag::hinge(mlp(x), y);
            ag::Tensor reg = ag::sum(mlp.params[0] * mlp.params[0]);
            for (std::size_t p = 1; p < mlp.params.size(); ++p) reg = reg + ag::sum(mlp.params[p] * mlp.params[p]);
            const auto loss = data_loss + 1e-4 * reg;
            loss.backward();
            mlp.sgd(0.1);
            last = loss.item();
            if (first < 0) first = last;
        },
        timing);
    check_training("demo", first, last);
    return s;
}

double sgemm_gflops(const Timing& timing) {
    const int n = 1024;
    std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
    const double s = seconds_per_step(
        [&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(),
                        n);
        },
        timing);
    return 2.0 * n * n * n / s / 1e9;
}

// ms per step of one model in PyTorch, from pytorch_mlp.py's "RESULT" line
// (negative if the script failed).
double run_pytorch(const std::string& script, const std::string& model, int threads, bool quick) {
    const std::string cmd = fmt::format(
        "OMP_WAIT_POLICY=passive OMP_NUM_THREADS={0} OPENBLAS_NUM_THREADS={0} /usr/bin/python3 '{1}' --threads {0} "
        "--models {2}{3} 2>&1",
        threads, script, model, quick ? " --quick" : "");
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    double result = -1;
    char line[512];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::istringstream in(line);
        std::string tag, name;
        int th = 0;
        double ms = 0;
        if (in >> tag >> name >> th >> ms && tag == "RESULT" && name == model)
            result = ms;
        else
            fmt::print(stderr, "pytorch_mlp.py: {}", line);
    }
    if (pclose(pipe) != 0) {
        fmt::print(stderr, "pytorch_mlp.py failed (is python3-torch installed?)\n");
        return -1;
    }
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Tensor MLP training step: tapegrad vs PyTorch, 1 and 2 threads"};
    bool quick = false, no_pytorch = false;
    std::vector<int> thread_counts{1, 2};
    app.add_flag("--quick", quick, "shorter, noisier timings");
    app.add_flag("--no-pytorch", no_pytorch, "skip the PyTorch baseline");
    app.add_option("--threads", thread_counts, "thread counts to measure")->expected(1, 8);
    // The script sits next to this source file (__FILE__ is absolute in a CMake build).
    std::string script = (std::filesystem::path(__FILE__).parent_path() / "pytorch_mlp.py").string();
    app.add_option("--script", script, "path of pytorch_mlp.py");
    CLI11_PARSE(app, argc, argv);
    const Timing timing = quick ? Timing{0.02, 3} : Timing{0.1, 7};

    fmt::print("OpenBLAS {} ({})\n\n", openblas_get_config(), openblas_get_corename());
    fmt::print(
        "| model | threads | tapegrad ms/step | PyTorch ms/step | PyTorch / tapegrad | tapegrad GFLOP/s | "
        "PyTorch GFLOP/s | sgemm 1024³ GFLOP/s | tapegrad % of sgemm |\n");
    fmt::print("|---|---|---|---|---|---|---|---|---|\n");
    std::vector<Model> models = kClassifiers;
    models.push_back(kDemo);
    for (int threads : thread_counts) {
        openblas_set_num_threads(threads);
        const double ceiling = sgemm_gflops(timing);
        // Model by model, tapegrad then PyTorch, so that a change in the
        // machine's load between the two is as short-lived as possible.
        for (const Model& m : models) {
            const bool classifier = m.name != "demo";
            const double ms = 1e3 * (classifier ? time_classifier(m, timing) : time_demo(timing));
            const double theirs = no_pytorch ? -1 : run_pytorch(script, m.name, threads, quick);
            const double gflops = step_flops(m) / (ms * 1e-3) / 1e9;
            std::string their_ms = "-", ratio = "-", their_gflops = "-";
            if (theirs > 0) {
                their_ms = fmt::format("{:.3f}", theirs);
                ratio = fmt::format("{:.2f}×", theirs / ms);
                if (classifier) their_gflops = fmt::format("{:.1f}", step_flops(m) / (theirs * 1e-3) / 1e9);
            }
            fmt::print("| {} {} | {} | {:.3f} | {} | {} | {} | {} | {:.1f} | {} |\n", m.name, fmt::join(m.sizes, "-"),
                       threads, ms, their_ms, ratio, classifier ? fmt::format("{:.1f}", gflops) : "-", their_gflops,
                       ceiling, classifier ? fmt::format("{:.0f}%", 100 * gflops / ceiling) : "-");
            std::fflush(stdout);
        }
    }
}
