// The GradBench tool's evals on small inputs, through the same entry point
// the protocol uses (gradbench::evaluate): every derivative against central
// differences of the tool's own primal (and against a hand-derived formula
// where there is one), every primal against an independent plain-double
// evaluation written here, and, for gmm, lstm, ba and ht, against the value
// GradBench's own hand-written reference (its `manual` tool, commit
// f26651a7) prints for the same input.
#include "gradbench.hpp"
#include "nested.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

using gradbench::json;

namespace {

json run(const char* module, const char* function, const json& input) {
    return gradbench::evaluate(module, function, input).output;
}

// Every number in `v`, depth first (object members in key order).
void collect(json& v, std::vector<json*>& out) {
    if (v.is_number())
        out.push_back(&v);
    else if (v.is_array() || v.is_object())
        for (auto& item : v) collect(item, out);
}
std::vector<double> flat(const json& v) {
    json copy = v;
    std::vector<json*> refs;
    collect(copy, refs);
    std::vector<double> out;
    for (const json* r : refs) out.push_back(r->get<double>());
    return out;
}

// d output / d input, for every number under input[field]: one row of
// central differences of the flattened primal output per input number.
std::vector<std::vector<double>> central_differences(const char* module, const char* primal, json input,
                                                     const std::string& field, double h = 1e-6) {
    std::vector<json*> refs;
    collect(input[field], refs);
    std::vector<std::vector<double>> rows;
    for (json* r : refs) {
        const double x = r->get<double>();
        *r = x + h;
        const std::vector<double> up = flat(run(module, primal, input));
        *r = x - h;
        const std::vector<double> down = flat(run(module, primal, input));
        *r = x;
        std::vector<double> row(up.size());
        for (std::size_t k = 0; k < up.size(); ++k) row[k] = (up[k] - down[k]) / (2 * h);
        rows.push_back(row);
    }
    return rows;
}

bool close(double a, double b, double tol) { return std::abs(a - b) <= tol * std::max(1.0, std::abs(b)); }

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("entry " << i << ": got " << got[i] << ", expected " << want[i]);
        CHECK(close(got[i], want[i], tol));
    }
}

// Deterministic inputs without libm: exact in binary, the same everywhere.
double sample(std::size_t i, double lo = -0.5, double hi = 0.5) {
    return lo + (hi - lo) * static_cast<double>((i * 7919 + 13) % 1000) / 1000.0;
}
std::vector<double> samples(std::size_t n, std::size_t seed, double lo = -0.5, double hi = 0.5) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = sample(seed * 101 + i, lo, hi);
    return v;
}
json rows_of(const std::vector<double>& v, std::size_t rows) {
    json out = json::array();
    const std::size_t w = v.size() / rows;
    for (std::size_t r = 0; r < rows; ++r)
        out.push_back(std::vector<double>(v.begin() + r * w, v.begin() + (r + 1) * w));
    return out;
}

std::string error_of(const char* module, const char* function, const json& input) {
    try {
        run(module, function, input);
    } catch (const gradbench::InputError& e) {
        return e.what();
    }
    return "(no error)";
}

// ------------------------------------------------ independent formulas ---

double det_lu(std::vector<double> a, std::size_t n) {  // Gaussian elimination, partial pivoting
    double det = 1;
    for (std::size_t c = 0; c < n; ++c) {
        std::size_t p = c;
        for (std::size_t r = c + 1; r < n; ++r)
            if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
        if (a[p * n + c] == 0) return 0;
        if (p != c) {
            for (std::size_t k = 0; k < n; ++k) std::swap(a[p * n + k], a[c * n + k]);
            det = -det;
        }
        det *= a[c * n + c];
        for (std::size_t r = c + 1; r < n; ++r) {
            const double f = a[r * n + c] / a[c * n + c];
            for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
        }
    }
    return det;
}

// d det / d a_ij = the cofactor (−1)^(i+j) det(minor_ij).
std::vector<double> cofactors(const std::vector<double>& a, std::size_t n) {
    std::vector<double> out(n * n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            std::vector<double> minor;
            for (std::size_t r = 0; r < n; ++r)
                for (std::size_t c = 0; c < n; ++c)
                    if (r != i && c != j) minor.push_back(a[r * n + c]);
            out[i * n + j] = ((i + j) % 2 ? -1.0 : 1.0) * (n == 1 ? 1.0 : det_lu(minor, n - 1));
        }
    return out;
}

}  // namespace

TEST_CASE("gradbench hello: square and its derivative") {
    CHECK(run("hello", "square", 3.0).get<double>() == 9.0);
    CHECK(run("hello", "double", 3.0).get<double>() == 6.0);
    CHECK(run("hello", "double", -0.25).get<double>() == -0.5);
}

TEST_CASE("gradbench det: primal against LU, gradient against cofactors and central differences") {
    for (const std::size_t n : {1u, 2u, 3u, 4u, 5u}) {
        INFO("ell = " << n);
        const std::vector<double> a = samples(n * n, n, 0, 1);
        const json input{{"A", a}, {"ell", n}};
        CHECK(close(run("det", "primal", input).get<double>(), det_lu(a, n), 1e-12));
        const std::vector<double> g = run("det", "gradient", input).get<std::vector<double>>();
        check_close(g, cofactors(a, n), 1e-12);
        const auto cd = central_differences("det", "primal", input, "A");
        for (std::size_t k = 0; k < g.size(); ++k) CHECK(close(g[k], cd[k][0], 1e-7));
    }
}

TEST_CASE("gradbench llsq: primal and gradient against the direct sums") {
    const std::size_t n = 7, m = 5;  // n odd: the middle t is 0, where sign(t) = 0
    const std::vector<double> x = samples(m, 3, 0, 1);
    const json input{{"x", x}, {"n", n}};
    double f = 0;
    std::vector<double> g(m, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        const double t = -1 + 2.0 * static_cast<double>(i) / static_cast<double>(n - 1);
        double r = (t > 0) - (t < 0);
        for (std::size_t j = 0; j < m; ++j) r -= x[j] * std::pow(t, static_cast<double>(j));
        f += 0.5 * r * r;
        for (std::size_t j = 0; j < m; ++j) g[j] -= r * std::pow(t, static_cast<double>(j));
    }
    CHECK(close(run("llsq", "primal", input).get<double>(), f, 1e-13));
    const std::vector<double> got = run("llsq", "gradient", input).get<std::vector<double>>();
    check_close(got, g, 1e-12);
    const auto cd = central_differences("llsq", "primal", input, "x");
    for (std::size_t j = 0; j < m; ++j) CHECK(close(got[j], cd[j][0], 1e-7));
}

TEST_CASE("gradbench lse: log-sum-exp and softmax, stable for large inputs") {
    const std::vector<double> x{0.1, 2.0, -1.3, 0.7};
    double s = 0;
    for (const double v : x) s += std::exp(v);
    CHECK(close(run("lse", "primal", json{{"x", x}}).get<double>(), std::log(s), 1e-14));
    std::vector<double> softmax;
    for (const double v : x) softmax.push_back(std::exp(v) / s);
    check_close(run("lse", "gradient", json{{"x", x}}).get<std::vector<double>>(), softmax, 1e-14);
    const auto cd = central_differences("lse", "primal", json{{"x", x}}, "x");
    for (std::size_t j = 0; j < x.size(); ++j) CHECK(close(softmax[j], cd[j][0], 1e-8));
    // exp(1000) overflows; the shifted form does not.
    const json big{{"x", {1000.0, 1001.0}}};
    const double e = std::exp(-1.0);
    CHECK(close(run("lse", "primal", big).get<double>(), 1001.0 + std::log1p(e), 1e-15));
    check_close(run("lse", "gradient", big).get<std::vector<double>>(), {e / (1 + e), 1 / (1 + e)}, 1e-14);
}

TEST_CASE("gradbench ode: RK4 is exact for n <= 4, and matches an independent RK4 beyond") {
    // y_i(t) = t^(i+1)/(i+1)! · x_0···x_i is a polynomial of degree <= 4 for
    // n <= 4, which RK4 integrates exactly, in any number of steps.
    const std::vector<double> x{0.9, 0.4, 0.7, 0.3};
    for (const int s : {1, 3}) {
        const json input{{"x", x}, {"s", s}};
        std::vector<double> exact;
        double product = 1, factorial = 1;
        for (std::size_t i = 0; i < x.size(); ++i) {
            product *= x[i];
            factorial *= static_cast<double>(i + 1);
            exact.push_back(std::pow(2.0, static_cast<double>(i + 1)) / factorial * product);
        }
        check_close(run("ode", "primal", input).get<std::vector<double>>(), exact, 1e-13);
        std::vector<double> g;  // d y_3 / d x_j = y_3 / x_j
        for (const double v : x) g.push_back(exact.back() / v);
        check_close(run("ode", "gradient", input).get<std::vector<double>>(), g, 1e-13);
    }
    // n = 7, s = 5: against an RK4 written on whole vectors.
    const std::vector<double> xs = samples(7, 5, 0, 1);
    const std::size_t steps = 5;
    const auto f = [&](const std::vector<double>& y) {
        std::vector<double> z(y.size());
        for (std::size_t i = 0; i < y.size(); ++i) z[i] = i == 0 ? xs[0] : xs[i] * y[i - 1];
        return z;
    };
    const auto axpy = [](const std::vector<double>& y, double a, const std::vector<double>& k) {
        std::vector<double> z(y);
        for (std::size_t i = 0; i < y.size(); ++i) z[i] += a * k[i];
        return z;
    };
    std::vector<double> y(xs.size(), 0.0);
    const double h = 2.0 / steps;
    for (std::size_t s = 0; s < steps; ++s) {
        const auto k1 = f(y), k2 = f(axpy(y, h / 2, k1)), k3 = f(axpy(y, h / 2, k2)), k4 = f(axpy(y, h, k3));
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
    const json input{{"x", xs}, {"s", steps}};
    check_close(run("ode", "primal", input).get<std::vector<double>>(), y, 1e-13);
    const std::vector<double> g = run("ode", "gradient", input).get<std::vector<double>>();
    const auto cd = central_differences("ode", "primal", input, "x");
    for (std::size_t j = 0; j < xs.size(); ++j) CHECK(close(g[j], cd[j].back(), 1e-7));
}

namespace {

struct Gmm {
    std::size_t d, k, n;
    int m;
    double gamma;
    std::vector<double> x, alpha, mu, q, l;
    json input() const {
        return json{{"d", d},
                    {"k", k},
                    {"n", n},
                    {"m", m},
                    {"gamma", gamma},
                    {"x", rows_of(x, n)},
                    {"alpha", alpha},
                    {"mu", rows_of(mu, k)},
                    {"q", rows_of(q, k)},
                    {"l", d > 1 ? rows_of(l, k) : json(std::vector<json>(k, json::array()))}};
    }
};

// The GMM log-posterior with explicit matrices Q_c.
double gmm_direct(const Gmm& g) {
    const std::size_t d = g.d, tri = d * (d - 1) / 2;
    const auto lse = [](const std::vector<double>& v) {
        const double top = *std::max_element(v.begin(), v.end());
        double s = 0;
        for (const double e : v) s += std::exp(e - top);
        return top + std::log(s);
    };
    double f = 0;
    for (std::size_t i = 0; i < g.n; ++i) {
        std::vector<double> terms;
        for (std::size_t c = 0; c < g.k; ++c) {
            std::vector<double> Q(d * d, 0.0);  // row-major, lower triangular
            std::size_t next = 0;
            for (std::size_t col = 0; col < d; ++col) {
                Q[col * d + col] = std::exp(g.q[c * d + col]);
                for (std::size_t row = col + 1; row < d; ++row) Q[row * d + col] = g.l[c * tri + next++];
            }
            double norm2 = 0, sum_q = 0;
            for (std::size_t r = 0; r < d; ++r) {
                double v = 0;
                for (std::size_t s = 0; s < d; ++s) v += Q[r * d + s] * (g.x[i * d + s] - g.mu[c * d + s]);
                norm2 += v * v;
                sum_q += g.q[c * d + r];
            }
            terms.push_back(g.alpha[c] + sum_q - 0.5 * norm2);
        }
        f += lse(terms);
    }
    const double n = static_cast<double>(g.n), dd = static_cast<double>(d);
    f -= n * lse(g.alpha) + n * dd / 2 * std::log(2 * std::numbers::pi);
    const double nw = dd + g.m + 1;
    double log_gamma_d = dd * (dd - 1) / 4 * std::log(std::numbers::pi);
    for (std::size_t j = 1; j <= d; ++j) log_gamma_d += std::lgamma(nw / 2 + (1.0 - static_cast<double>(j)) / 2);
    for (std::size_t c = 0; c < g.k; ++c) {
        double frob = 0, sum_q = 0;
        for (std::size_t j = 0; j < d; ++j) {
            frob += std::exp(2 * g.q[c * d + j]);
            sum_q += g.q[c * d + j];
        }
        for (std::size_t j = 0; j < tri; ++j) frob += g.l[c * tri + j] * g.l[c * tri + j];
        f += -0.5 * g.gamma * g.gamma * frob + g.m * sum_q + nw * dd * std::log(g.gamma / std::sqrt(2.0)) - log_gamma_d;
    }
    return f;
}

Gmm small_gmm(std::size_t d) {
    const std::size_t k = 2, n = 4;
    return Gmm{d,
               k,
               n,
               2,
               0.7,
               samples(n * d, 1, -1, 1),
               samples(k, 2, -1, 1),
               samples(k * d, 3, 0, 1),
               samples(k * d, 4, -0.5, 0.5),
               samples(k * d * (d - 1) / 2, 5, -1, 1)};
}

}  // namespace

TEST_CASE(
    "gradbench gmm: objective against explicit matrices and GradBench's reference, jacobian against central "
    "differences") {
    for (const std::size_t d : {1u, 3u}) {
        INFO("d = " << d);
        const Gmm g = small_gmm(d);
        const json input = g.input();
        const double f = run("gmm", "objective", input).get<double>();
        CHECK(close(f, gmm_direct(g), 1e-12));
        // GradBench's manual tool, `objective` on this input.
        if (d == 3) CHECK(close(f, -49.41449628953415, 1e-12));
        const json jac = run("gmm", "jacobian", input);
        for (const char* field : {"alpha", "mu", "q", "l"}) {
            INFO("field " << field);
            const std::vector<double> got = flat(jac[field]);
            const auto cd = central_differences("gmm", "objective", input, field);
            REQUIRE(got.size() == cd.size());
            for (std::size_t j = 0; j < got.size(); ++j) CHECK(close(got[j], cd[j][0], 1e-6));
        }
        CHECK(jac["l"].size() == g.k);
    }
}

namespace {

struct Lstm {
    std::size_t l = 2, b = 3, c = 4;
    std::vector<double> main = samples(2 * l * 4 * b, 6, 0, 1), extra = samples(3 * b, 7, 0, 1),
                        state = samples(2 * l * b, 8, 0, 1), text{1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1};
    json input() const {
        return json{{"main_params", rows_of(main, 2 * l)},
                    {"extra_params", rows_of(extra, 3)},
                    {"state", rows_of(state, 2 * l)},
                    {"sequence", rows_of(text, c)}};
    }
};

double lstm_direct(const Lstm& s) {
    const auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
    std::vector<double> state = s.state;
    const std::size_t b = s.b;
    double total = 0;
    for (std::size_t t = 0; t + 1 < s.c; ++t) {
        std::vector<double> in(b);
        for (std::size_t i = 0; i < b; ++i) in[i] = s.text[t * b + i] * s.extra[i];
        for (std::size_t layer = 0; layer < s.l; ++layer) {
            const double* w = &s.main[layer * 8 * b];
            double* hidden = &state[layer * 2 * b];
            double* cell = hidden + b;
            for (std::size_t i = 0; i < b; ++i) {
                const double f = sig(in[i] * w[i] + w[4 * b + i]);
                const double g = sig(hidden[i] * w[b + i] + w[5 * b + i]);
                const double o = sig(in[i] * w[2 * b + i] + w[6 * b + i]);
                const double z = std::tanh(hidden[i] * w[3 * b + i] + w[7 * b + i]);
                cell[i] = cell[i] * f + g * z;
                hidden[i] = o * std::tanh(cell[i]);
            }
            in.assign(hidden, hidden + b);
        }
        double sum = 2;
        std::vector<double> y(b);
        for (std::size_t i = 0; i < b; ++i) {
            y[i] = in[i] * s.extra[b + i] + s.extra[2 * b + i];
            sum += std::exp(y[i]);
        }
        for (std::size_t i = 0; i < b; ++i) total += s.text[(t + 1) * b + i] * (y[i] - std::log(sum));
    }
    return -total / static_cast<double>((s.c - 1) * b);
}

}  // namespace

TEST_CASE(
    "gradbench lstm: objective against a direct loop and GradBench's reference, jacobian against central differences") {
    const Lstm s;
    const json input = s.input();
    const double f = run("lstm", "objective", input).get<double>();
    CHECK(close(f, lstm_direct(s), 1e-13));
    CHECK(close(f, 0.6782069892069869, 1e-12));  // GradBench's manual tool on this input
    const std::vector<double> jac = run("lstm", "jacobian", input).get<std::vector<double>>();
    const auto cd_main = central_differences("lstm", "objective", input, "main_params");
    const auto cd_extra = central_differences("lstm", "objective", input, "extra_params");
    REQUIRE(jac.size() == cd_main.size() + cd_extra.size());
    for (std::size_t j = 0; j < cd_main.size(); ++j) CHECK(close(jac[j], cd_main[j][0], 1e-7));
    for (std::size_t j = 0; j < cd_extra.size(); ++j) CHECK(close(jac[cd_main.size() + j], cd_extra[j][0], 1e-7));
}

namespace {

// Reprojection error with the rotation as a matrix, R = I + sin θ K + (1 − cos θ) K².
std::array<double, 3> ba_direct(const std::vector<double>& cam, const std::vector<double>& x, double w,
                                const std::vector<double>& feat) {
    const double theta = std::sqrt(cam[0] * cam[0] + cam[1] * cam[1] + cam[2] * cam[2]);
    const double k[3] = {cam[0] / theta, cam[1] / theta, cam[2] / theta};
    const double K[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
    double R[9];
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
            double k2 = 0;
            for (int s = 0; s < 3; ++s) k2 += K[3 * i + s] * K[3 * s + j];
            R[3 * i + j] = (i == j) + std::sin(theta) * K[3 * i + j] + (1 - std::cos(theta)) * k2;
        }
    double p[3];
    for (int i = 0; i < 3; ++i)
        p[i] = R[3 * i] * (x[0] - cam[3]) + R[3 * i + 1] * (x[1] - cam[4]) + R[3 * i + 2] * (x[2] - cam[5]);
    const double u = p[0] / p[2], v = p[1] / p[2], r2 = u * u + v * v;
    const double scale = cam[6] * (1 + cam[9] * r2 + cam[10] * r2 * r2);
    return {w * (u * scale + cam[7] - feat[0]), w * (v * scale + cam[8] - feat[1]), 1 - w * w};
}

}  // namespace

TEST_CASE(
    "gradbench ba: objective against a rotation matrix and GradBench's reference, the sparse jacobian against central "
    "differences") {
    const std::vector<double> cam{0.12, -0.31, 0.25, 0.4, -0.2, -5.0, 1.3, 0.05, -0.07, 0.02, -0.01};
    const std::vector<double> x{0.3, 0.7, 1.1}, feat{0.21, -0.4};
    const double w = 0.8;
    const json input{{"n", 2}, {"m", 3}, {"p", 5}, {"cam", cam}, {"x", x}, {"w", w}, {"feat", feat}};
    const json obj = run("ba", "objective", input);
    const std::array<double, 3> e = ba_direct(cam, x, w, feat);
    CHECK(close(obj["reproj_error"]["elements"][0].get<double>(), e[0], 1e-13));
    CHECK(close(obj["reproj_error"]["elements"][1].get<double>(), e[1], 1e-13));
    CHECK(close(obj["w_err"]["element"].get<double>(), e[2], 1e-15));
    CHECK(obj["reproj_error"]["repeated"] == 5);
    CHECK(obj["w_err"]["repeated"] == 5);
    // GradBench's manual tool, `objective` on this input.
    CHECK(close(e[0], -0.500348229063985, 1e-12));
    CHECK(close(e[1], 0.24593496678846521, 1e-12));

    const json jac = run("ba", "jacobian", input);
    // CSR of 2p + p = 15 rows over 11n + 3m + p = 36 columns: rows 0 and 1
    // (observation 0: camera 0, point 0, weight 0) have 15 entries each;
    // the last row (weight 4) has one, in column 35.
    std::vector<std::int64_t> cols;
    for (int r = 0; r < 2; ++r) {
        for (int c = 0; c < 11; ++c) cols.push_back(c);
        for (int c = 0; c < 3; ++c) cols.push_back(22 + c);
        cols.push_back(31);
    }
    CHECK(jac["rows"].get<std::vector<std::int64_t>>() ==
          std::vector<std::int64_t>{0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 151, 152, 153, 154, 155, 155});
    cols.push_back(35);
    CHECK(jac["cols"].get<std::vector<std::int64_t>>() == cols);
    const std::vector<double> vals = jac["vals"].get<std::vector<double>>();
    REQUIRE(vals.size() == 31);
    CHECK(close(vals.back(), -2 * w, 1e-15));
    // Replicated inputs: moving input.cam moves every camera, and
    // observation 0's residuals depend on camera 0 only (likewise x, w).
    json plain = input;
    const auto cd_cam = central_differences("ba", "objective", plain, "cam");
    const auto cd_x = central_differences("ba", "objective", plain, "x");
    const auto cd_w = central_differences("ba", "objective", plain, "w");
    // flat(objective) in key order: reproj elements e0, e1, repeated, w_err element, repeated
    for (int r = 0; r < 2; ++r) {
        for (int c = 0; c < 11; ++c) CHECK(close(vals[15 * r + c], cd_cam[c][r], 1e-7));
        for (int c = 0; c < 3; ++c) CHECK(close(vals[15 * r + 11 + c], cd_x[c][r], 1e-7));
        CHECK(close(vals[15 * r + 14], cd_w[0][r], 1e-7));
    }
    // At rotation 0 Rodrigues' formula divides by 0; the tool uses its limit.
    json still = input;
    still["cam"][0] = still["cam"][1] = still["cam"][2] = 0.0;
    const std::vector<double> vals0 = run("ba", "jacobian", still)["vals"].get<std::vector<double>>();
    const auto cd0 = central_differences("ba", "objective", still, "cam");
    for (int c = 0; c < 11; ++c) CHECK(close(vals0[c], cd0[c][0], 1e-6));
}

namespace {

// A made-up hand: 22 bones in a chain of fingers, 6 vertices, 4 triangles.
struct Hand {
    static constexpr std::size_t bones = 22, vertices = 6;
    std::vector<int> parents;
    std::vector<std::vector<double>> relatives, inverses;  // 4 x 4, row-major
    std::vector<double> positions, weights, theta, points, us;
    std::vector<std::array<int, 3>> triangles{{0, 1, 2}, {1, 2, 3}, {2, 4, 5}, {0, 3, 5}};
    std::vector<int> correspondences{1, 3, 0};
    bool mirrored = false;

    Hand() {
        for (std::size_t b = 0; b < bones; ++b) {
            parents.push_back(b == 0 ? -1 : (b % 4 == 2 ? 0 : static_cast<int>(b) - 1));
            for (auto* m : {&relatives, &inverses}) {
                std::vector<double> t = samples(16, 20 + 2 * b + (m == &inverses), -0.6, 0.6);
                for (int i = 0; i < 4; ++i) t[5 * i] += 1;  // near the identity
                t[12] = t[13] = t[14] = 0;
                t[15] = 1;
                m->push_back(t);
            }
        }
        for (std::size_t v = 0; v < vertices; ++v) {
            const std::vector<double> p = samples(3, 70 + v, -1, 1);
            positions.insert(positions.end(), {p[0], p[1], p[2], 1.0});
            std::vector<double> w(bones, 0.0);  // two bones a vertex, like the real model's few
            w[(3 * v) % bones] = 0.6;
            w[(3 * v + 7) % bones] = 0.4;
            weights.insert(weights.end(), w.begin(), w.end());
        }
        theta = samples(26, 90, -0.5, 0.5);
        points = samples(9, 91, -1, 1);
        us = samples(6, 92, 0, 0.5);
    }
    json input(bool complicated) const {
        json rel = json::array(), inv = json::array();
        for (std::size_t b = 0; b < bones; ++b) {
            rel.push_back(rows_of(relatives[b], 4));
            inv.push_back(rows_of(inverses[b], 4));
        }
        std::vector<std::string> names;
        for (std::size_t b = 0; b < bones; ++b) names.push_back("bone" + std::to_string(b));
        json model{{"bone_count", bones},
                   {"bone_names", names},
                   {"parents", parents},
                   {"base_relatives", rel},
                   {"inverse_base_absolutes", inv},
                   {"base_positions", rows_of(positions, vertices)},
                   {"weights", rows_of(weights, vertices)},
                   {"triangles", triangles},
                   {"is_mirrored", mirrored}};
        std::vector<int> corr = correspondences;
        if (!complicated) corr = {1, 5, 2};  // vertices
        return json{{"theta", theta},
                    {"data", {{"model", model}, {"correspondences", corr}, {"points", rows_of(points, 3)}}},
                    {"us", complicated ? rows_of(us, 3) : json::array()}};
    }
};

using M4 = std::array<double, 16>;
M4 mul(const M4& a, const M4& b) {
    M4 c{};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 4; ++k) c[4 * i + j] += a[4 * i + k] * b[4 * k + j];
    return c;
}
M4 to_m4(const std::vector<double>& v) {
    M4 m;
    std::copy(v.begin(), v.end(), m.begin());
    return m;
}

// Skins every vertex with 4 x 4 matrices throughout; the global motion is
// one more 4 x 4 matrix (the angle-axis rotation as a matrix exponential
// series would be overkill: Rodrigues' matrix form, R = I + sin K + (1−cos) K²).
std::vector<double> hand_direct(const Hand& h, bool complicated) {
    std::vector<M4> absolute(Hand::bones);
    std::vector<std::array<double, 3>> angles(Hand::bones, {0, 0, 0});
    std::size_t next = 6;
    for (std::size_t f = 0; f < 5; ++f)
        for (std::size_t j = 0; j < 3; ++j) {
            angles[2 + 4 * f + j][0] = h.theta[next++];              // about x
            if (j == 0) angles[2 + 4 * f + j][2] = h.theta[next++];  // about z
        }
    for (std::size_t b = 0; b < Hand::bones; ++b) {
        const double x = angles[b][0], z = angles[b][2];
        const M4 rx{1, 0, 0, 0, 0, std::cos(x), -std::sin(x), 0, 0, std::sin(x), std::cos(x), 0, 0, 0, 0, 1};
        const M4 rz{std::cos(z), -std::sin(z), 0, 0, std::sin(z), std::cos(z), 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
        const M4 rel = mul(to_m4(h.relatives[b]), mul(rz, rx));  // Ry is the identity: its angle is always 0
        absolute[b] = h.parents[b] < 0 ? rel : mul(absolute[static_cast<std::size_t>(h.parents[b])], rel);
    }
    const double* a = h.theta.data();
    const double angle = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    const double k[3] = {a[0] / angle, a[1] / angle, a[2] / angle};
    const double K[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
    M4 global{};
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
            double k2 = 0;
            for (int s = 0; s < 3; ++s) k2 += K[3 * i + s] * K[3 * s + j];
            global[4 * i + j] = (i == j) + std::sin(angle) * K[3 * i + j] + (1 - std::cos(angle)) * k2;
        }
        global[4 * i + 3] = h.theta[3 + static_cast<std::size_t>(i)];
    }
    global[15] = 1;
    std::vector<std::array<double, 3>> vert(Hand::vertices);
    for (std::size_t v = 0; v < Hand::vertices; ++v) {
        std::array<double, 4> p{0, 0, 0, 1};
        for (std::size_t b = 0; b < Hand::bones; ++b) {
            const M4 t = mul(absolute[b], to_m4(h.inverses[b]));
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 4; ++j)
                    p[static_cast<std::size_t>(i)] +=
                        h.weights[v * Hand::bones + b] * t[4 * i + j] * h.positions[4 * v + j];
        }
        for (int i = 0; i < 3; ++i) {
            double s = global[4 * i + 3];
            for (int j = 0; j < 3; ++j) s += global[4 * i + j] * p[static_cast<std::size_t>(j)];
            vert[v][static_cast<std::size_t>(i)] = s;
        }
    }
    std::vector<double> out;
    const std::vector<int> corr = complicated ? h.correspondences : std::vector<int>{1, 5, 2};
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t r = 0; r < 3; ++r) {
            double surface;
            if (complicated) {
                const auto& t = h.triangles[static_cast<std::size_t>(corr[i])];
                const double u = h.us[2 * i], u2 = h.us[2 * i + 1];
                surface = u * vert[t[0]][r] + u2 * vert[t[1]][r] + (1 - u - u2) * vert[t[2]][r];
            } else {
                surface = vert[static_cast<std::size_t>(corr[i])][r];
            }
            out.push_back(h.points[3 * i + r] - surface);
        }
    return out;
}

}  // namespace

TEST_CASE(
    "gradbench ht: objective against 4x4 matrices and GradBench's reference, jacobian against central differences") {
    const Hand hand;
    for (const bool complicated : {true, false}) {
        INFO("complicated " << complicated);
        const json input = hand.input(complicated);
        const std::vector<double> r = run("ht", "objective", input).get<std::vector<double>>();
        check_close(r, hand_direct(hand, complicated), 1e-12);
        // GradBench's manual tool on this input: its first and last residuals.
        CHECK(close(r.front(), complicated ? 0.7759644496437192 : 1.1808319685191946, 1e-12));
        CHECK(close(r.back(), complicated ? 0.4933074955113758 : -1.7765307686850507, 1e-12));
        const json jac = run("ht", "jacobian", input);
        const std::size_t width = complicated ? 28 : 26;
        REQUIRE(jac.size() == 9);
        for (const json& row : jac) REQUIRE(row.size() == width);
        const auto cd_theta = central_differences("ht", "objective", input, "theta");
        for (std::size_t row = 0; row < 9; ++row)
            for (std::size_t j = 0; j < 26; ++j) {
                INFO("row " << row << ", theta " << j);
                CHECK(close(jac[row][width - 26 + j].get<double>(), cd_theta[j][row], 1e-6));
            }
        if (complicated) {
            const auto cd_us = central_differences("ht", "objective", input, "us");
            for (std::size_t row = 0; row < 9; ++row)
                for (std::size_t j = 0; j < 2; ++j) {
                    INFO("row " << row << ", u " << j);
                    CHECK(close(jac[row][j].get<double>(), cd_us[2 * (row / 3) + j][row], 1e-6));
                }
        }
    }
}

TEST_CASE("gradbench kmeans: cost against the direct sum, the Newton step against differences and cluster means") {
    // 600 points: the nearest centroids are found in blocks of 256.
    for (const std::size_t n : {std::size_t{40}, std::size_t{600}}) {
        CAPTURE(n);
        const std::size_t k = 4, d = 3;
        const std::vector<double> points = samples(n * d, 17, 0.0, 1.0);
        // The last k points as centroids, as GradBench's inputs, so no cluster is empty.
        std::vector<double> centroids(points.end() - static_cast<std::ptrdiff_t>(k * d), points.end());
        json input{{"points", rows_of(points, n)}, {"centroids", rows_of(centroids, k)}};
        const auto nearest = [&](const std::vector<double>& c, std::size_t i, double* distance) {
            std::size_t best = 0;
            double best_d = INFINITY;
            for (std::size_t j = 0; j < k; ++j) {
                double s = 0;
                for (std::size_t e = 0; e < d; ++e)
                    s += (points[i * d + e] - c[j * d + e]) * (points[i * d + e] - c[j * d + e]);
                if (s < best_d) best_d = s, best = j;
            }
            if (distance) *distance = best_d;
            return best;
        };
        double direct = 0;
        for (std::size_t i = 0; i < n; ++i) {
            double di = 0;
            nearest(centroids, i, &di);
            direct += di;
        }
        CHECK(run("kmeans", "cost", input).get<double>() == doctest::Approx(direct).epsilon(1e-12));

        const std::vector<double> dir = flat(run("kmeans", "dir", input));
        REQUIRE(dir.size() == k * d);
        // By hand: the step is C_j minus the mean of the points nearest to C_j.
        std::vector<double> sum(k * d, 0.0), count(k, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t j = nearest(centroids, i, nullptr);
            count[j] += 1;
            for (std::size_t e = 0; e < d; ++e) sum[j * d + e] += points[i * d + e];
        }
        std::vector<double> by_hand(k * d);
        for (std::size_t j = 0; j < k; ++j) {
            REQUIRE(count[j] > 0);
            for (std::size_t e = 0; e < d; ++e) by_hand[j * d + e] = centroids[j * d + e] - sum[j * d + e] / count[j];
        }
        check_close(dir, by_hand, 1e-12);
        if (n > 40) continue;
        // And as the gradient over the Hessian's diagonal, from differences of the
        // cost (piecewise quadratic: exact while no point changes cluster).
        const double h = 1e-4;
        std::vector<double> by_differences(k * d);
        const double c0 = run("kmeans", "cost", input).get<double>();
        for (std::size_t m = 0; m < k * d; ++m) {
            json up = input, down = input;
            up["centroids"][m / d][m % d] = centroids[m] + h;
            down["centroids"][m / d][m % d] = centroids[m] - h;
            const double cu = run("kmeans", "cost", up).get<double>(), cd = run("kmeans", "cost", down).get<double>();
            by_differences[m] = ((cu - cd) / (2 * h)) / ((cu - 2 * c0 + cd) / (h * h));
        }
        check_close(dir, by_differences, 1e-5);
    }
}

TEST_CASE("gradbench saddle: ff, fr and rf give the published saddle point") {
    // GradBench's expected output: 8.246324826140356e-06 for x and y alike.
    for (const char* f : {"ff", "fr", "rf"}) {
        INFO(f);
        const std::vector<double> out = flat(run("saddle", f, json{{"start", {1.0, 1.0}}}));
        REQUIRE(out.size() == 4);
        for (const double v : out) CHECK(v == doctest::Approx(8.246324826140356e-06).epsilon(1e-9));
    }
    // rr takes ~20 s here from any start that moves (README: the recorded
    // sweep reaches back over the whole descent); the nested test below
    // checks its machinery, the real eval its answer.
}

TEST_CASE("gradbench particle: ff, fr and rf give the published w (rr: see the nested test and README)") {
    // GradBench's expected output: 0.2071918746486116.
    for (const char* f : {"ff", "fr", "rf"}) {
        INFO(f);
        CHECK(run("particle", f, json{{"w", 0.0}}).get<double>() == doctest::Approx(0.2071918746486116).epsilon(1e-9));
    }
}

TEST_CASE("gradbench nested: all four nestings of a gradient inside a derivative against the hand formula") {
    using gradbench::nested::Mode;
    using gradbench::nested::Point;
    // F(w) = ∂g/∂x at x = w², with g(x, w) = x² w³ + sin(x w):
    //   ∂g/∂x = 2 x w³ + w cos(x w), so F(w) = 2 w⁵ + w cos(w³) and
    //   F'(w) = 10 w⁴ + cos(w³) − 3 w³ sin(w³).
    const auto g = [](const auto& x, const auto& params) {
        using std::sin;
        const auto& w = params[0];
        return x[0] * x[0] * (w * w * w) + sin(x[0] * w);
    };
    const double w = 0.7;
    const double want = 10 * std::pow(w, 4) + std::cos(w * w * w) - 3 * w * w * w * std::sin(w * w * w);
    const auto F = [&]<Mode inner>(const auto& at) {
        using T = std::remove_cvref_t<decltype(at[0])>;
        const Point<1, T> x = {at[0] * at[0]};
        return gradbench::nested::gradient<inner>(g, x, Point<1, T>{at[0]})[0];
    };
    const auto check = [&]<Mode outer, Mode inner>() {
        const auto Fi = [&](const auto& at) { return F.template operator()<inner>(at); };
        CHECK(gradbench::nested::outer_gradient<outer>(Fi, std::array<double, 1>{w})[0] ==
              doctest::Approx(want).epsilon(1e-13));
        CHECK(Fi(Point<1, double>{w}) == doctest::Approx(2 * std::pow(w, 5) + w * std::cos(w * w * w)).epsilon(1e-13));
    };
    check.template operator()<Mode::reverse, Mode::reverse>();
    check.template operator()<Mode::reverse, Mode::forward>();
    check.template operator()<Mode::forward, Mode::reverse>();
    check.template operator()<Mode::forward, Mode::forward>();
}

TEST_CASE("gradbench evals: bad inputs are refused with the field and values named") {
    CHECK(error_of("det", "primal", json{{"A", {1.0, 2.0, 3.0}}, {"ell", 2}}) ==
          "det input.A (ell = 2) has 3 numbers; 4 expected");
    CHECK(error_of("det", "gradient", json{{"A", {1.0}}, {"ell", 13}}) ==
          "det input.ell is 13; it must be between 1 and 12");
    CHECK(error_of("det", "primal", json{{"A", {1.0, "two", 3.0, 4.0}}, {"ell", 2}}) ==
          "det input.A (ell = 2)[1] is a string (\"two\"), not a number");
    CHECK(error_of("det", "primal", json{{"ell", 2}}) == "det input has no field 'A'");
    CHECK(error_of("det", "primal", json::array()) == "det input is a list, not an object");
    CHECK(error_of("llsq", "gradient", json{{"x", {1.0}}, {"n", 1}}) ==
          "llsq input.n is 1; it must be between 2 and 2147483647");
    CHECK(error_of("lse", "gradient", json{{"x", json::array()}}) ==
          "lse input.x is empty; log-sum-exp needs at least one number");
    CHECK(error_of("ode", "primal", json{{"x", {1.0}}, {"s", 0}}) ==
          "ode input.s is 0; it must be between 1 and 2147483647");
    json gmm = small_gmm(3).input();
    gmm["mu"][1] = {0.0, 1.0};
    CHECK(error_of("gmm", "jacobian", gmm) == "gmm input.mu (k x d = 2 x 3)[1] has 2 numbers; 3 expected");
    json lstm = Lstm{}.input();
    lstm["sequence"] = {{1.0, 0.0, 1.0}};
    CHECK(error_of("lstm", "objective", lstm) ==
          "lstm input.sequence has 1 characters; the loss predicts each from the one before, so it needs at least 2");
    CHECK(error_of("ba", "jacobian",
                   json{{"n", 1},
                        {"m", 1},
                        {"p", 1},
                        {"cam", {1.0}},
                        {"x", {1.0, 2.0, 3.0}},
                        {"w", 1.0},
                        {"feat", {0.0, 0.0}}}) == "ba input.cam has 1 numbers; 11 expected");
    json hand = Hand{}.input(true);
    hand["data"]["correspondences"][2] = 4;
    CHECK(error_of("ht", "jacobian", hand) ==
          "ht input.data.correspondences (triangle indices, below 4)[2] is 4; it must be between 0 and 3");
    CHECK(error_of("kmeans", "cost", json{{"points", {{0.0, 1.0}, {2.0, 3.0}}}, {"centroids", {{0.0, 1.0, 2.0}}}}) ==
          "kmeans input.centroids[0] has 3 numbers; 2 expected");
    CHECK(error_of("kmeans", "dir", json{{"points", json::array()}, {"centroids", json::array()}}) ==
          "kmeans input.points is 0 x 0; the cost needs at least one point of one coordinate");
    // No point is nearest to the second centroid: no curvature there, a 0/0 step.
    const std::string empty_cluster =
        error_of("kmeans", "dir", json{{"points", {{0.0}, {1.0}}}, {"centroids", {{0.5}, {9.0}}}});
    CHECK(empty_cluster.starts_with("kmeans::dir: the output holds "));  // nan or -nan, as the division gives it
    CHECK(empty_cluster.ends_with("nan at output[1][0], which JSON cannot carry"));
    CHECK(error_of("saddle", "rr", json{{"start", {1.0}}}) == "saddle input.start has 1 numbers; 2 expected");
    CHECK(error_of("particle", "ff", json{{"w", "zero"}}) == "particle input.w is a string (\"zero\"), not a number");
    CHECK(error_of("nope", "f", json::object()) == "unknown module 'nope'");
    CHECK(error_of("det", "hessian", json::object()) == "det has no function 'hessian' (it has 'primal', 'gradient')");
    // det of [[1e200, 1e200], [1e200, -1e200]] overflows to -inf, which JSON cannot carry.
    CHECK(error_of("det", "primal", json{{"A", {1e200, 1e200, 1e200, -1e200}}, {"ell", 2}}) ==
          "det::primal: the output holds -inf at output, which JSON cannot carry");
}

TEST_CASE("gradbench runs: min_runs and min_seconds give one evaluate timing a run") {
    const json input{{"A", {1.0, 2.0, 3.0, 4.0}}, {"ell", 2}, {"min_runs", 7}, {"min_seconds", 0}};
    const gradbench::Evaluation e = gradbench::evaluate("det", "gradient", input);
    CHECK(e.evaluate_ns.size() == 7);
    CHECK(e.output.get<std::vector<double>>() == std::vector<double>{4, -3, -2, 1});
    json timed = input;
    timed["min_runs"] = 1;
    timed["min_seconds"] = 0.02;
    const gradbench::Evaluation t = gradbench::evaluate("det", "primal", timed);
    std::int64_t total = 0;
    for (const std::int64_t ns : t.evaluate_ns) total += ns;
    CHECK(total >= 20'000'000);
    // More than one run, unless the first alone reached min_seconds (a run
    // of this tiny det can take 20 ms when a loaded machine deschedules it).
    CHECK((t.evaluate_ns.size() > 1 || t.evaluate_ns.front() >= 20'000'000));
    // The sum before the last run was still short of min_seconds.
    CHECK(total - t.evaluate_ns.back() < 20'000'000);
    timed["min_runs"] = 0;
    CHECK(error_of("det", "primal", timed) == "input.min_runs is 0; it must be between 1 and 1099511627776");
    timed["min_runs"] = 1;
    timed["min_seconds"] = -1;
    CHECK(error_of("det", "primal", timed) == "input.min_seconds is -1; it must be >= 0");
}
