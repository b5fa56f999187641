// The scalar and tensor engines agree: the same small MLP built from
// ag::Value neurons and from tensor layers gives the same loss and the same
// gradients (to 1e-12); and float32 tensors agree with float64 within float
// precision.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace {

// Weights of an MLP as plain numbers: w[l] is [in, out] row-major, b[l] [out].
struct Weights {
    std::vector<std::int64_t> sizes;
    std::vector<std::vector<double>> w, b;
};

Weights random_weights(const std::vector<std::int64_t>& sizes, std::uint64_t seed) {
    ag::Rng rng(seed);
    Weights p{sizes, {}, {}};
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        std::vector<double> w(static_cast<std::size_t>(sizes[l] * sizes[l + 1])),
            b(static_cast<std::size_t>(sizes[l + 1]));
        for (double& v : w) v = rng.uniform(-1, 1);
        for (double& v : b) v = rng.uniform(-0.5, 0.5);
        p.w.push_back(w);
        p.b.push_back(b);
    }
    return p;
}

enum class Act { Tanh, Relu };
enum class Loss { CrossEntropy, Mse };

struct Result {
    double loss = 0;
    std::vector<std::vector<double>> dw, db;
};

// The scalar engine: one ag::Value per weight; neuron j of layer l computes
// act(sum_i x_i w[i][j] + b[j]), exactly the micrograd way.
Result scalar_mlp(const Weights& p, const std::vector<double>& x, std::int64_t rows, const std::vector<int>& labels,
                  const std::vector<double>& targets, Act act, Loss loss_kind) {
    ag::Scope scope;
    std::vector<std::vector<ag::Value>> W, B;
    for (std::size_t l = 0; l < p.w.size(); ++l) {
        W.emplace_back(p.w[l].begin(), p.w[l].end());
        B.emplace_back(p.b[l].begin(), p.b[l].end());
    }
    ag::Value total = 0.0;
    const std::size_t layers = p.w.size();
    for (std::int64_t r = 0; r < rows; ++r) {
        std::vector<ag::Value> h;
        for (std::int64_t i = 0; i < p.sizes[0]; ++i) h.emplace_back(x[static_cast<std::size_t>(r * p.sizes[0] + i)]);
        for (std::size_t l = 0; l < layers; ++l) {
            const std::int64_t in = p.sizes[l], out = p.sizes[l + 1];
            std::vector<ag::Value> next;
            for (std::int64_t j = 0; j < out; ++j) {
                ag::Value a = B[l][static_cast<std::size_t>(j)];
                for (std::int64_t i = 0; i < in; ++i)
                    a = a + h[static_cast<std::size_t>(i)] * W[l][static_cast<std::size_t>(i * out + j)];
                if (l + 1 < layers) a = act == Act::Tanh ? ag::tanh(a) : ag::relu(a);
                next.push_back(a);
            }
            h = next;
        }
        if (loss_kind == Loss::CrossEntropy) {
            ag::Value denom = 0.0;
            for (const ag::Value& z : h) denom = denom + ag::exp(z);
            total = total + (ag::log(denom) - h[static_cast<std::size_t>(labels[static_cast<std::size_t>(r)])]);
        } else {
            for (std::size_t j = 0; j < h.size(); ++j) {
                const ag::Value d = h[j] - targets[static_cast<std::size_t>(r) * h.size() + j];
                total = total + d * d;
            }
        }
    }
    const double count =
        loss_kind == Loss::CrossEntropy ? static_cast<double>(rows) : static_cast<double>(rows * p.sizes.back());
    const ag::Value loss = total / count;
    loss.backward();
    Result res{loss.data(), {}, {}};
    for (std::size_t l = 0; l < layers; ++l) {
        res.dw.emplace_back();
        res.db.emplace_back();
        for (const ag::Value& v : W[l]) res.dw.back().push_back(v.grad());
        for (const ag::Value& v : B[l]) res.db.back().push_back(v.grad());
    }
    return res;
}

// The tensor engine: h = act(h @ W + b) per layer.
template <class T>
Result tensor_mlp(const Weights& p, const std::vector<double>& x, std::int64_t rows, const std::vector<int>& labels,
                  const std::vector<double>& targets, Act act, Loss loss_kind) {
    using Tn = ag::BasicTensor<T>;
    ag::Scope scope;
    std::vector<Tn> W, B;
    for (std::size_t l = 0; l < p.w.size(); ++l) {
        W.push_back(ag::Tensor({p.sizes[l], p.sizes[l + 1]}, p.w[l]).to<T>());
        B.push_back(ag::Tensor({p.sizes[l + 1]}, p.b[l]).to<T>());
    }
    Tn h = ag::Tensor({rows, p.sizes[0]}, x).to<T>().set_requires_grad(false);
    for (std::size_t l = 0; l < W.size(); ++l) {
        h = ag::linear(h, W[l], B[l]);
        if (l + 1 < W.size()) h = act == Act::Tanh ? ag::tanh(h) : ag::relu(h);
    }
    const Tn target = ag::Tensor({rows, p.sizes.back()}, targets).to<T>().set_requires_grad(false);
    const Tn loss = loss_kind == Loss::CrossEntropy ? ag::cross_entropy(h, labels) : ag::mse_loss(h, target);
    loss.backward();
    Result res{loss.item(), {}, {}};
    for (std::size_t l = 0; l < W.size(); ++l) {
        res.dw.emplace_back(W[l].grad().begin(), W[l].grad().end());
        res.db.emplace_back(B[l].grad().begin(), B[l].grad().end());
    }
    return res;
}

void check_close(const Result& a, const Result& b, double tol) {
    CHECK(a.loss == doctest::Approx(b.loss).epsilon(tol));
    REQUIRE(a.dw.size() == b.dw.size());
    for (std::size_t l = 0; l < a.dw.size(); ++l) {
        // Relative to the layer's largest gradient, so that tiny entries
        // (sums that nearly cancel) are held to the same absolute standard.
        double scale = 0;
        for (double g : b.dw[l]) scale = std::max(scale, std::fabs(g));
        for (double g : b.db[l]) scale = std::max(scale, std::fabs(g));
        REQUIRE(scale > 0);
        for (std::size_t i = 0; i < a.dw[l].size(); ++i) CHECK(std::fabs(a.dw[l][i] - b.dw[l][i]) <= tol * scale);
        for (std::size_t i = 0; i < a.db[l].size(); ++i) CHECK(std::fabs(a.db[l][i] - b.db[l][i]) <= tol * scale);
    }
}

struct Problem {
    Weights p;
    std::vector<double> x, targets;
    std::vector<int> labels;
    std::int64_t rows;
};

Problem make_problem(const std::vector<std::int64_t>& sizes, std::int64_t rows, std::uint64_t seed) {
    Problem pr{random_weights(sizes, seed), {}, {}, {}, rows};
    ag::Rng rng(seed + 1);
    for (std::int64_t i = 0; i < rows * sizes.front(); ++i) pr.x.push_back(rng.uniform(-2, 2));
    for (std::int64_t i = 0; i < rows * sizes.back(); ++i) pr.targets.push_back(rng.uniform(-1, 1));
    for (std::int64_t r = 0; r < rows; ++r)
        pr.labels.push_back(static_cast<int>(rng.below(static_cast<std::uint64_t>(sizes.back()))));
    return pr;
}

}  // namespace

TEST_CASE("scalar and tensor MLPs agree to 1e-12: tanh + MSE") {
    const Problem pr = make_problem({3, 8, 6, 2}, 5, 11);
    const Result s = scalar_mlp(pr.p, pr.x, pr.rows, pr.labels, pr.targets, Act::Tanh, Loss::Mse);
    const Result t = tensor_mlp<double>(pr.p, pr.x, pr.rows, pr.labels, pr.targets, Act::Tanh, Loss::Mse);
    CHECK(s.loss > 0.01);
    check_close(t, s, 1e-12);
}

TEST_CASE("scalar and tensor MLPs agree to 1e-12: relu + cross-entropy") {
    const Problem pr = make_problem({4, 16, 16, 3}, 8, 12);
    const Result s = scalar_mlp(pr.p, pr.x, pr.rows, pr.labels, pr.targets, Act::Relu, Loss::CrossEntropy);
    const Result t = tensor_mlp<double>(pr.p, pr.x, pr.rows, pr.labels, pr.targets, Act::Relu, Loss::CrossEntropy);
    CHECK(s.loss > 0.01);
    check_close(t, s, 1e-12);
}

TEST_CASE("float32 tensors agree with float64 within float precision") {
    const Problem pr = make_problem({10, 32, 16, 4}, 16, 13);
    for (Act act : {Act::Tanh, Act::Relu}) {
        for (Loss loss : {Loss::CrossEntropy, Loss::Mse}) {
            const Result d = tensor_mlp<double>(pr.p, pr.x, pr.rows, pr.labels, pr.targets, act, loss);
            const Result f = tensor_mlp<float>(pr.p, pr.x, pr.rows, pr.labels, pr.targets, act, loss);
            check_close(f, d, 2e-5);
            // ... and float32 is really float32: not bit-equal to float64.
            CHECK(f.loss != d.loss);
        }
    }
}

TEST_CASE("a few SGD steps reduce the loss identically in both engines") {
    // Train the tensor model for 20 steps and the scalar model for 20 steps
    // from the same start; the losses stay equal along the way.
    Problem pr = make_problem({2, 8, 2}, 6, 14);
    Weights ps = pr.p, pt = pr.p;
    double first = 0, last = 0;
    for (int step = 0; step < 20; ++step) {
        const Result s = scalar_mlp(ps, pr.x, pr.rows, pr.labels, pr.targets, Act::Tanh, Loss::CrossEntropy);
        const Result t = tensor_mlp<double>(pt, pr.x, pr.rows, pr.labels, pr.targets, Act::Tanh, Loss::CrossEntropy);
        CHECK(t.loss == doctest::Approx(s.loss).epsilon(1e-12));
        if (step == 0) first = s.loss;
        last = s.loss;
        for (std::size_t l = 0; l < ps.w.size(); ++l) {
            for (std::size_t i = 0; i < ps.w[l].size(); ++i) {
                ps.w[l][i] -= 0.5 * s.dw[l][i];
                pt.w[l][i] -= 0.5 * t.dw[l][i];
            }
            for (std::size_t i = 0; i < ps.b[l].size(); ++i) {
                ps.b[l][i] -= 0.5 * s.db[l][i];
                pt.b[l][i] -= 0.5 * t.db[l][i];
            }
        }
    }
    CHECK(last < 0.8 * first);
}
