// ht: hand tracking (ADBench, "complicated" and "simple" variants). A hand
// mesh of V vertices hangs off B bones; 26 pose angles θ turn the bones, each
// vertex follows a blend of its bones' transforms (linear blend skinning),
// then the whole hand is rotated by θ[0..3) (angle-axis) and moved by
// θ[3..6). Residual i is observed point i minus the skinned point it
// corresponds to: a vertex (simple) or the point u·v0 + u'·v1 + (1−u−u')·v2
// of a triangle (complicated, (u, u') from `us`).
//
// The Jacobian has 3 rows a correspondence and a column per θ (plus, in the
// complicated variant, two for the correspondence's own (u, u'), whose
// block-diagonal part GradBench sends compressed to two columns): 3c rows,
// at most 28 columns. So it is computed in forward mode (ag::Dual), one
// pass of the residuals a column, as ag::jacobian's Auto mode would choose
// for a tall Jacobian: reverse mode needs a sweep a row, and each sweep
// visits every bone's transform below the row's few nodes (that was 46 % of
// the time, and ~33x slower at c = 51200). Every pair's u is seeded in the
// same pass: row i depends on its own pair only.
#include "gradbench.hpp"

#include <autograd/dual.hpp>

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace gradbench {

namespace {

constexpr std::size_t pose_size = 26;

template <class T>
using Mat4 = std::array<T, 16>;  // row-major 4 x 4

template <class A, class B>
auto product(const Mat4<A>& a, const Mat4<B>& b) {
    using T = decltype(a[0] * b[0]);
    Mat4<T> out;
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) {
            T sum = a[4 * r] * b[c];
            for (std::size_t k = 1; k < 4; ++k) sum = sum + a[4 * r + k] * b[4 * k + c];
            out[4 * r + c] = sum;
        }
    return out;
}

struct Model {
    std::size_t bones = 0, vertices = 0;
    std::vector<std::int64_t> parents;         // −1 for the root; a parent comes before its children
    std::vector<Mat4<double>> base_relatives;  // bone to parent at rest
    std::vector<Mat4<double>> inverse_base_absolutes;
    std::vector<double> positions;  // V x 4, homogeneous
    std::vector<double> weights;    // V x B
    std::vector<std::array<std::int64_t, 3>> triangles;
    bool mirrored = false;
};

struct Input {
    Model model;
    std::vector<double> theta;                  // 26
    std::vector<std::int64_t> correspondences;  // triangle (complicated) or vertex (simple) of each point
    std::vector<double> points;                 // c x 3
    std::vector<double> us;                     // c x 2, empty in the simple variant
    bool complicated() const { return !us.empty(); }
};

// The rotation by Euler angles, R = Rz(z)·Ry(y)·Rx(x).
template <class T>
std::array<T, 9> euler_rotation(const T& x, const T& y, const T& z) {
    using std::cos, std::sin;
    const T cx = cos(x), sx = sin(x), cy = cos(y), sy = sin(y), cz = cos(z), sz = sin(z);
    return {cz * cy,
            cz * sy * sx - sz * cx,
            cz * sy * cx + sz * sx,
            sz * cy,
            sz * sy * sx + cz * cx,
            sz * sy * cx - cz * sx,
            -sy,
            cy * sx,
            cy * cx};
}

// The rotation by angle |a| about a/|a|; the identity below 10⁻⁴ rad.
template <class T>
std::array<T, 9> angle_axis_rotation(const T* a) {
    using std::cos, std::sin, std::sqrt;
    const T norm = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    if (ag::primal(norm) < 1e-4) return {T(1.0), T(0.0), T(0.0), T(0.0), T(1.0), T(0.0), T(0.0), T(0.0), T(1.0)};
    const T x = a[0] / norm, y = a[1] / norm, z = a[2] / norm;
    const T s = sin(norm), c = cos(norm), v = 1.0 - c;
    return {x * x + (1.0 - x * x) * c, x * y * v - z * s,         x * z * v + y * s,
            x * y * v + z * s,         y * y + (1.0 - y * y) * c, y * z * v - x * s,
            x * z * v - y * s,         z * y * v + x * s,         z * z + (1.0 - z * z) * c};
}

// Where the pose puts every bone and the hand.
template <class T>
struct Pose {
    std::vector<Mat4<T>> transforms;  // bone transform: rest position to posed position (before the global move)
    std::array<T, 9> rotation;        // global
    std::array<T, 3> translation;
};

template <class T>
Pose<T> pose(std::span<const T> theta, const Model& model) {
    // Euler angles (x, z, y order in the pose layout) of each bone: the
    // wrist and the finger bases' twist stay 0; each finger f has a two-
    // angle base joint (bone 2 + 4f) and two one-angle joints after it.
    std::vector<std::array<T, 3>> angles(model.bones, {T(0.0), T(0.0), T(0.0)});
    std::size_t next = 6;
    for (std::size_t finger = 0; finger < 5; ++finger)
        for (std::size_t joint = 0; joint < 3; ++joint) {
            std::array<T, 3>& a = angles[2 + 4 * finger + joint];
            a[0] = theta[next++];
            if (joint == 0) a[1] = theta[next++];
        }
    Pose<T> p;
    std::vector<Mat4<T>> absolutes(model.bones);
    p.transforms.resize(model.bones);
    for (std::size_t b = 0; b < model.bones; ++b) {
        const std::array<T, 9> r = euler_rotation(angles[b][0], angles[b][2], angles[b][1]);
        // base_relative · [r 0; 0 1]
        const Mat4<double>& base = model.base_relatives[b];
        Mat4<T> relative;
        for (std::size_t row = 0; row < 4; ++row) {
            for (std::size_t c = 0; c < 3; ++c)
                relative[4 * row + c] =
                    base[4 * row] * r[c] + base[4 * row + 1] * r[3 + c] + base[4 * row + 2] * r[6 + c];
            relative[4 * row + 3] = T(base[4 * row + 3]);
        }
        const std::int64_t parent = model.parents[b];
        absolutes[b] = parent < 0 ? relative : product(absolutes[static_cast<std::size_t>(parent)], relative);
        p.transforms[b] = product(absolutes[b], model.inverse_base_absolutes[b]);
    }
    p.rotation = angle_axis_rotation(&theta[0]);
    p.translation = {theta[3], theta[4], theta[5]};
    return p;
}

// Vertex v of the posed, skinned, globally moved hand.
template <class T>
std::array<T, 3> skinned(const Pose<T>& p, const Model& model, std::size_t v) {
    const double* rest = &model.positions[4 * v];
    // Rest position moved by bone b, times the vertex's weight for b.
    const auto weighted = [&](std::size_t b, std::size_t r) {
        const Mat4<T>& m = p.transforms[b];
        const T moved = m[4 * r] * rest[0] + m[4 * r + 1] * rest[1] + m[4 * r + 2] * rest[2] + m[4 * r + 3] * rest[3];
        return moved * model.weights[model.bones * v + b];
    };
    std::array<T, 3> local{weighted(0, 0), weighted(0, 1), weighted(0, 2)};
    for (std::size_t b = 1; b < model.bones; ++b)
        for (std::size_t r = 0; r < 3; ++r) local[r] = local[r] + weighted(b, r);
    if (model.mirrored) local[0] = -local[0];
    const std::array<T, 9>& g = p.rotation;
    std::array<T, 3> out;
    for (std::size_t r = 0; r < 3; ++r)
        out[r] = g[3 * r] * local[0] + g[3 * r + 1] * local[1] + g[3 * r + 2] * local[2] + p.translation[r];
    return out;
}

// The three residuals of correspondence i, from its skinned vertex (simple)
// or triangle's vertices (complicated, with u = (u, u')).
template <class T>
std::array<T, 3> residual(const Input& in, std::size_t i, const std::array<T, 3>* corners, const T* u) {
    std::array<T, 3> out;
    for (std::size_t r = 0; r < 3; ++r) {
        const T surface = u == nullptr
                              ? corners[0][r]
                              : u[0] * corners[0][r] + u[1] * corners[1][r] + ((1.0 - u[0]) - u[1]) * corners[2][r];
        out[r] = in.points[3 * i + r] - surface;
    }
    return out;
}

// All 3c residuals, each vertex a correspondence uses skinned once; `us`
// holds the (u, u') pairs in the complicated variant.
template <class T>
std::vector<T> residuals(const Input& in, std::span<const T> theta, const T* us) {
    const Pose<T> p = pose<T>(theta, in.model);
    std::vector<std::array<T, 3>> vertex(in.model.vertices);
    std::vector<char> done(in.model.vertices, 0);
    const auto at = [&](std::int64_t v) -> const std::array<T, 3>& {
        const auto k = static_cast<std::size_t>(v);
        if (!done[k]) {
            vertex[k] = skinned(p, in.model, k);
            done[k] = 1;
        }
        return vertex[k];
    };
    const std::size_t c = in.correspondences.size();
    std::vector<T> out(3 * c);
    for (std::size_t i = 0; i < c; ++i) {
        std::array<std::array<T, 3>, 3> corners;
        const T* u = nullptr;
        if (in.complicated()) {
            const auto& tri = in.model.triangles[static_cast<std::size_t>(in.correspondences[i])];
            for (std::size_t k = 0; k < 3; ++k) corners[k] = at(tri[k]);
            u = &us[2 * i];
        } else {
            corners[0] = at(in.correspondences[i]);
        }
        const std::array<T, 3> r = residual<T>(in, i, corners.data(), u);
        for (std::size_t k = 0; k < 3; ++k) out[3 * i + k] = r[k];
    }
    return out;
}

Mat4<double> to_mat4(std::span<const double> v) {
    Mat4<double> m;
    std::copy(v.begin(), v.end(), m.begin());
    return m;
}

Input parse(const json& in) {
    Input x;
    const json& data = member(in, "data", "ht input");
    const json& model = member(data, "model", "ht input.data");
    Model& m = x.model;
    const auto field = [](const json& obj, const char* where, const char* name) -> const json& {
        return member(obj, name, where);
    };
    constexpr const char* model_path = "ht input.data.model";
    m.bones = static_cast<std::size_t>(
        integer(field(model, model_path, "bone_count"), "ht input.data.model.bone_count", 21, 1 << 16));
    const std::size_t B = m.bones;
    const auto bones_text = [&](const char* name) {
        return fmt::format("ht input.data.model.{} (bone_count = {})", name, B);
    };
    m.parents =
        integers(field(model, model_path, "parents"), bones_text("parents"), -1, static_cast<std::int64_t>(B) - 1, B);
    for (std::size_t b = 0; b < B; ++b)
        if (m.parents[b] >= static_cast<std::int64_t>(b))
            throw InputError(fmt::format("ht input.data.model.parents[{}] is {}; a bone's parent must come before it",
                                         b, m.parents[b]));
    for (const auto& [name, to] : {std::pair{"base_relatives", &m.base_relatives},
                                   std::pair{"inverse_base_absolutes", &m.inverse_base_absolutes}}) {
        const json& list = field(model, model_path, name);
        if (!list.is_array() || list.size() != B)
            throw InputError(fmt::format("{} must be a list of {} 4 x 4 matrices", bones_text(name), B));
        for (std::size_t b = 0; b < B; ++b)
            to->push_back(to_mat4(matrix(list[b], fmt::format("ht input.data.model.{}[{}]", name, b), 4, 4).values));
    }
    const Matrix positions =
        matrix(field(model, model_path, "base_positions"), "ht input.data.model.base_positions (V x 4)", {}, 4);
    m.vertices = positions.rows;
    m.positions = positions.values;
    m.weights = matrix(field(model, model_path, "weights"),
                       fmt::format("ht input.data.model.weights (expected V x bone_count = {} x {})", m.vertices, B),
                       m.vertices, B)
                    .values;
    const json& tris = field(model, model_path, "triangles");
    if (!tris.is_array()) throw InputError("ht input.data.model.triangles is not a list of triangles");
    for (std::size_t t = 0; t < tris.size(); ++t) {
        const std::vector<std::int64_t> v =
            integers(tris[t], fmt::format("ht input.data.model.triangles[{}] (vertices < V = {})", t, m.vertices), 0,
                     static_cast<std::int64_t>(m.vertices) - 1, 3);
        m.triangles.push_back({v[0], v[1], v[2]});
    }
    const json& mirrored = field(model, model_path, "is_mirrored");
    if (!mirrored.is_boolean()) throw InputError("ht input.data.model.is_mirrored is not a boolean");
    m.mirrored = mirrored.get<bool>();

    x.theta = numbers(member(in, "theta", "ht input"), "ht input.theta", pose_size);
    const json& us = in.is_object() && in.contains("us") ? in["us"] : json::array();
    const json& corr = member(data, "correspondences", "ht input.data");
    const std::size_t c = corr.is_array() ? corr.size() : 0;
    if (!us.empty())
        x.us = matrix(us, fmt::format("ht input.us (expected {} x 2, one pair a correspondence)", c), c, 2).values;
    const std::int64_t targets =
        x.complicated() ? static_cast<std::int64_t>(m.triangles.size()) : static_cast<std::int64_t>(m.vertices);
    x.correspondences = integers(corr,
                                 fmt::format("ht input.data.correspondences ({} indices, below {})",
                                             x.complicated() ? "triangle" : "vertex", targets),
                                 0, targets - 1);
    x.points = matrix(member(data, "points", "ht input.data"),
                      fmt::format("ht input.data.points (expected {} x 3, one a correspondence)", c), c, 3)
                   .values;
    return x;
}

Evaluation objective(const json& in) {
    const Input x = parse(in);
    std::vector<double> out;
    auto ns =
        run_timed(runs_of(in), [&] { out = residuals<double>(x, x.theta, x.complicated() ? x.us.data() : nullptr); });
    return {out, std::move(ns)};
}

Evaluation jacobian(const json& in) {
    const Input x = parse(in);
    const std::size_t c = x.correspondences.size();
    const std::size_t u_cols = x.complicated() ? 2 : 0, width = u_cols + pose_size;
    std::vector<double> jac(3 * c * width);
    using D = ag::Dual<double>;
    auto ns = run_timed(runs_of(in), [&] {
        std::vector<D> theta(x.theta.begin(), x.theta.end()), us(x.us.begin(), x.us.end());  // tangents 0
        // One column: the residuals' tangents along the seeded direction.
        const auto column = [&](std::size_t col) {
            const std::vector<D> r = residuals<D>(x, theta, x.complicated() ? us.data() : nullptr);
            for (std::size_t row = 0; row < 3 * c; ++row) jac[row * width + col] = r[row].tangent;
        };
        for (std::size_t j = 0; j < u_cols; ++j) {  // every pair's u, or every pair's u'
            for (std::size_t i = 0; i < c; ++i) us[2 * i + j].tangent = 1.0;
            column(j);
            for (std::size_t i = 0; i < c; ++i) us[2 * i + j].tangent = 0.0;
        }
        for (std::size_t j = 0; j < pose_size; ++j) {
            theta[j].tangent = 1.0;
            column(u_cols + j);
            theta[j].tangent = 0.0;
        }
    });
    json out = json::array();
    for (std::size_t row = 0; row < 3 * c; ++row)
        out.push_back(std::vector<double>(jac.begin() + static_cast<std::ptrdiff_t>(row * width),
                                          jac.begin() + static_cast<std::ptrdiff_t>((row + 1) * width)));
    return {std::move(out), std::move(ns)};
}

}  // namespace

extern const Module ht_module{"ht", {{"objective", objective}, {"jacobian", jacobian}}, {}};

}  // namespace gradbench
