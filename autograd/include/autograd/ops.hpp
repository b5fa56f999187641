#pragma once
// The scalar operations: each one's forward formula and its local derivative,
// side by side, one rule per op.
//
// `f` is the forward formula on plain numbers (double, and float for float32
// tensors, which thus compute in float). The derivative (`d` for unary ops, `da`/`db` for binary ones) is a
// template over the number type, so one rule serves every path:
//   - double and float: the backward sweep of the tape and the tensor kernels;
//   - ag::Value: a sweep that records the gradient as new nodes
//     (derivatives of derivatives);
//   - ag::Dual: forward mode (the tangent is d · the input's tangent).
// A rule is written with + - * /, the elementary functions below, and, at
// non-differentiable points, the kink helpers (step, sign, max_share,
// zero_where), which branch on the primal values and give constants.
// Numeric literals go through S (the type's scalar: float for float, double
// otherwise) so float32 stays float32.
//
// Adding an op: one struct here, one entry in the matching list at the bottom
// of this file, its public function in value.hpp, and a row in the op tests
// (tests/test_scalar_engine.cpp), which fail when an op in the lists has no row.
//
// Conventions at non-differentiable points follow PyTorch:
//   relu'(0) = 0, abs'(0) = 0, min/max split the gradient evenly on a tie,
//   d/db a^b = 0 where a == 0 and b >= 0, d/da a^b = 0 where b == 0.
// NaN propagates, as in PyTorch and NumPy: relu(NaN), max(NaN, x) and
// max(x, NaN) are NaN, and so are the derivatives of relu, abs, min and max
// at NaN (a NaN input is never silently turned into a finite gradient).
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ag {

// --- what a rule needs from a number type -----------------------------------

// The plain-number type of T's constants: float for float, double otherwise.
template <class T>
struct scalar_of {
    using type = double;
};
template <>
struct scalar_of<float> {
    using type = float;
};
template <class T>
using scalar_t = typename scalar_of<T>::type;

// The value of a number, without its derivative information.
inline double primal(double x) noexcept { return x; }
inline float primal(float x) noexcept { return x; }

namespace ops {

// Elementary functions on plain numbers, so that a rule's unqualified call
// finds them for double and float (and, by argument-dependent lookup, the
// recording overloads for ag::Value and ag::Dual).
// clang-format off
#define AG_PLAIN_FUNCTION(fn)                                  \
    inline double fn(double x) { return std::fn(x); }          \
    inline float fn(float x) { return std::fn(x); }
AG_PLAIN_FUNCTION(exp)
AG_PLAIN_FUNCTION(log)
AG_PLAIN_FUNCTION(sqrt)
AG_PLAIN_FUNCTION(tanh)
AG_PLAIN_FUNCTION(sin)
AG_PLAIN_FUNCTION(cos)
AG_PLAIN_FUNCTION(tan)
AG_PLAIN_FUNCTION(atan)
AG_PLAIN_FUNCTION(sinh)
AG_PLAIN_FUNCTION(cosh)
AG_PLAIN_FUNCTION(log1p)
AG_PLAIN_FUNCTION(expm1)
AG_PLAIN_FUNCTION(erf)
AG_PLAIN_FUNCTION(fabs)
#undef AG_PLAIN_FUNCTION
// clang-format on
inline double pow(double a, double b) { return std::pow(a, b); }
inline float pow(float a, float b) { return std::pow(a, b); }

// --- kink helpers: constants from the primal values --------------------------

namespace kink {
template <class R>
constexpr R nan() {
    return std::numeric_limits<R>::quiet_NaN();
}
template <class R>
constexpr R step(R a) {  // relu': 1 above 0, 0 at or below, NaN at NaN
    return a > 0 ? R(1) : (a <= 0 ? R(0) : nan<R>());
}
template <class R>
constexpr R sign(R a) {  // abs': -1, 0 or 1, NaN at NaN
    return a > 0 ? R(1) : (a < 0 ? R(-1) : (a == 0 ? R(0) : nan<R>()));
}
template <class R>
constexpr R max_share(R a, R b) {  // a's share of max(a, b)'s gradient
    return a > b ? R(1) : (a < b ? R(0) : (a == b ? R(0.5) : nan<R>()));
}
template <class R>
constexpr R at_least(R a, R c) {  // clamp_min's derivative: 1 from c up (c included), as PyTorch
    return a >= c ? R(1) : (a < c ? R(0) : nan<R>());
}
template <class R>
constexpr R at_most(R a, R c) {  // clamp_max's derivative: 1 up to c (c included)
    return a <= c ? R(1) : (a > c ? R(0) : nan<R>());
}
}  // namespace kink

// For every scalar number type (double, float, Value, Dual): the helper
// evaluated on the primal value, as a plain constant.
template <class T>
scalar_t<T> step(const T& a) {
    return kink::step<scalar_t<T>>(static_cast<scalar_t<T>>(primal(a)));
}
template <class T>
scalar_t<T> sign(const T& a) {
    return kink::sign<scalar_t<T>>(static_cast<scalar_t<T>>(primal(a)));
}
template <class A, class B>
scalar_t<A> max_share(const A& a, const B& b) {
    using R = scalar_t<A>;
    return kink::max_share<R>(static_cast<R>(primal(a)), static_cast<R>(primal(b)));
}
template <class T>
scalar_t<T> at_least(const T& a, double c) {
    return kink::at_least<scalar_t<T>>(static_cast<scalar_t<T>>(primal(a)), static_cast<scalar_t<T>>(c));
}
template <class T>
scalar_t<T> at_most(const T& a, double c) {
    return kink::at_most<scalar_t<T>>(static_cast<scalar_t<T>>(primal(a)), static_cast<scalar_t<T>>(c));
}
// x, or a zero of x's type where cond(primal values of args...) holds (a
// masked_fill with 0, as PyTorch's pow backward does).
template <class X, class Cond, class... Args>
X zero_where(const X& x, Cond cond, const Args&... args) {
    return cond(primal(args)...) ? X(0) : x;
}

// --- unary ops: y = f(a); d(a, y) = dy/da ------------------------------------

struct Neg {
    static constexpr const char* name = "neg";
    static constexpr const char* d_text = "-1";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return -a;
    }
    template <class T, class S = scalar_t<T>>
    static S d(const T&, const T&) {
        return S(-1);
    }
};
struct Exp {
    static constexpr const char* name = "exp";
    static constexpr const char* d_text = "y";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return exp(a);
    }
    template <class T>
    static T d(const T&, const T& y) {
        return y;
    }
};
struct Log {
    static constexpr const char* name = "log";
    static constexpr const char* d_text = "1/a";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return log(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T& a, const T&) {
        return S(1) / a;
    }
};
struct Sqrt {
    static constexpr const char* name = "sqrt";
    static constexpr const char* d_text = "0.5/y";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return sqrt(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T&, const T& y) {
        return S(0.5) / y;
    }
};
struct Tanh {
    static constexpr const char* name = "tanh";
    static constexpr const char* d_text = "1 - y^2";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return tanh(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T&, const T& y) {
        return S(1) - y * y;
    }
};
struct Sigmoid {
    static constexpr const char* name = "sigmoid";
    static constexpr const char* d_text = "y (1 - y)";  // dy/da, as a formula
    // Two branches so that exp never overflows for large |a|.
    template <class R>
    static R f(R a) {
        if (a >= 0) return R(1) / (R(1) + exp(-a));
        const R e = exp(a);
        return e / (R(1) + e);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T&, const T& y) {
        return y * (S(1) - y);
    }
};
// sigmoid as a plain function too (Softplus's rule uses it).
inline double sigmoid(double x) { return Sigmoid::f(x); }
inline float sigmoid(float x) { return Sigmoid::f(x); }

struct Relu {
    static constexpr const char* name = "relu";
    static constexpr const char* d_text = "1 if a > 0, else 0";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return a < 0 ? R(0) : a;
    }  // NaN (and -0) pass through
    template <class T>
    static auto d(const T& a, const T&) {
        return step(a);
    }
};
struct Sin {
    static constexpr const char* name = "sin";
    static constexpr const char* d_text = "cos(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return sin(a);
    }
    template <class T>
    static T d(const T& a, const T&) {
        return cos(a);
    }
};
struct Cos {
    static constexpr const char* name = "cos";
    static constexpr const char* d_text = "-sin(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return cos(a);
    }
    template <class T>
    static T d(const T& a, const T&) {
        return -sin(a);
    }
};
struct Abs {
    static constexpr const char* name = "abs";
    static constexpr const char* d_text = "sign(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return std::fabs(a);
    }
    template <class T>
    static auto d(const T& a, const T&) {
        return sign(a);
    }
};

struct Tan {
    static constexpr const char* name = "tan";
    static constexpr const char* d_text = "1 + y^2";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return tan(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T&, const T& y) {
        return S(1) + y * y;
    }
};
struct Atan {
    static constexpr const char* name = "atan";
    static constexpr const char* d_text = "1/(1 + a^2)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return atan(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T& a, const T&) {
        return S(1) / (S(1) + a * a);
    }
};
struct Sinh {
    static constexpr const char* name = "sinh";
    static constexpr const char* d_text = "cosh(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return sinh(a);
    }
    template <class T>
    static T d(const T& a, const T&) {
        return cosh(a);
    }
};
struct Cosh {
    static constexpr const char* name = "cosh";
    static constexpr const char* d_text = "sinh(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return cosh(a);
    }
    template <class T>
    static T d(const T& a, const T&) {
        return sinh(a);
    }
};
struct Log1p {  // log(1 + a), accurate for small a
    static constexpr const char* name = "log1p";
    static constexpr const char* d_text = "1/(1 + a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return log1p(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T& a, const T&) {
        return S(1) / (S(1) + a);
    }
};
struct Expm1 {  // exp(a) - 1, accurate for small a
    static constexpr const char* name = "expm1";
    static constexpr const char* d_text = "y + 1";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return expm1(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T&, const T& y) {
        return y + S(1);
    }
};
struct Erf {
    static constexpr const char* name = "erf";
    static constexpr const char* d_text = "2/sqrt(pi) exp(-a^2)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return erf(a);
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T& a, const T&) {
        return S(1.1283791670955126) * exp(-(a * a));
    }  // 2/sqrt(pi) e^(-a^2)
};
struct Softplus {  // log(1 + e^a), computed without overflow
    static constexpr const char* name = "softplus";
    static constexpr const char* d_text = "sigmoid(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return log1p(exp(-fabs(a))) + (a < 0 ? R(0) : a);
    }
    template <class T>
    static T d(const T& a, const T&) {
        return sigmoid(a);
    }
};
struct Gelu {  // a Φ(a), Φ the standard normal CDF (PyTorch's default, erf form)
    static constexpr const char* name = "gelu";
    static constexpr const char* d_text = "Phi(a) + a phi(a)";  // dy/da, as a formula
    template <class R>
    static R f(R a) {
        return R(0.5) * a * (R(1) + erf(a * R(0.7071067811865476)));
    }
    template <class T, class S = scalar_t<T>>
    static T d(const T& a, const T&) {  // Φ(a) + a φ(a)
        return S(0.5) * (S(1) + erf(a * S(0.7071067811865476))) + a * S(0.3989422804014327) * exp(S(-0.5) * (a * a));
    }
};

// --- binary ops: y = f(a, b); da, db = the partials ---------------------------
// Each argument has its own type, so the same rule serves a constant operand
// (the *C ops below are defined from these).

struct Add {
    static constexpr const char* name = "+";
    static constexpr const char *da_text = "1", *db_text = "1";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a + b;
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static S da(const A&, const B&, const Y&) {
        return S(1);
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static S db(const A&, const B&, const Y&) {
        return S(1);
    }
};
struct Sub {
    static constexpr const char* name = "-";
    static constexpr const char *da_text = "1", *db_text = "-1";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a - b;
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static S da(const A&, const B&, const Y&) {
        return S(1);
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static S db(const A&, const B&, const Y&) {
        return S(-1);
    }
};
struct Mul {
    static constexpr const char* name = "*";
    static constexpr const char *da_text = "b", *db_text = "a";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a * b;
    }
    template <class A, class B, class Y>
    static B da(const A&, const B& b, const Y&) {
        return b;
    }
    template <class A, class B, class Y>
    static A db(const A& a, const B&, const Y&) {
        return a;
    }
};
struct Div {
    static constexpr const char* name = "/";
    static constexpr const char *da_text = "1/b", *db_text = "-y/b";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a / b;
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static auto da(const A&, const B& b, const Y&) {
        return S(1) / b;
    }
    template <class A, class B, class Y>
    static auto db(const A&, const B& b, const Y& y) {
        return -y / b;
    }
};
struct Pow {
    static constexpr const char* name = "pow";
    static constexpr const char *da_text = "b a^(b - 1)", *db_text = "y ln(a)";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return pow(a, b);
    }
    template <class A, class B, class Y, class S = scalar_t<Y>>
    static auto da(const A& a, const B& b, const Y&) {
        return zero_where(
            b * pow(a, b - S(1)), [](auto, auto e) { return e == 0; }, a, b);
    }
    template <class A, class B, class Y>
    static auto db(const A& a, const B& b, const Y& y) {
        return zero_where(
            y * log(a), [](auto x, auto e) { return x == 0 && e >= 0; }, a, b);
    }
};
struct Min {
    static constexpr const char* name = "min";
    static constexpr const char *da_text = "1 if a < b, 1/2 on a tie",
                                *db_text = "1 if b < a, 1/2 on a tie";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a < b || a != a ? a : b;
    }
    template <class A, class B, class Y>
    static auto da(const A& a, const B& b, const Y&) {
        return max_share(b, a);
    }
    template <class A, class B, class Y>
    static auto db(const A& a, const B& b, const Y&) {
        return max_share(a, b);
    }
};
struct Max {
    static constexpr const char* name = "max";
    static constexpr const char *da_text = "1 if a > b, 1/2 on a tie",
                                *db_text = "1 if b > a, 1/2 on a tie";  // the partials, as formulas
    template <class R>
    static R f(R a, R b) {
        return a > b || a != a ? a : b;
    }
    template <class A, class B, class Y>
    static auto da(const A& a, const B& b, const Y&) {
        return max_share(a, b);
    }
    template <class A, class B, class Y>
    static auto db(const A& a, const B& b, const Y&) {
        return max_share(b, a);
    }
};

// --- ternary ops: y = f(a, b, c); da, db, dc = dy/da, dy/db, dy/dc ----------

// a b + c as one node instead of two, so a sum of products records half
// the nodes (an LSTM gate's x w + b, a row times a minor added to a sum).
// Rounded as written, a * b then + c, not fused like std::fma: muladd(a, b,
// c) and a * b + c give the same value. PyTorch: torch.addcmul(c, a, b).
struct MulAdd {
    static constexpr const char* name = "muladd";
    static constexpr const char *da_text = "b", *db_text = "a", *dc_text = "1";  // the partials, as formulas
    template <class R>
    static R f(R a, R b, R c) {
        return a * b + c;
    }
    template <class A, class B, class C, class Y>
    static B da(const A&, const B& b, const C&, const Y&) {
        return b;
    }
    template <class A, class B, class C, class Y>
    static A db(const A& a, const B&, const C&, const Y&) {
        return a;
    }
    template <class A, class B, class C, class Y, class S = scalar_t<Y>>
    static S dc(const A&, const B&, const C&, const Y&) {
        return S(1);
    }
};

// --- ops between a node a and a constant c ------------------------------------
// Kept in the tape's constant pool, so `x * 2.0` costs one node, not two.
// Each is its binary op with one operand held constant: the forward formula
// and the derivative come from the binary rule, never restated.
template <class Binary>
struct ConstantRight {  // a op c
    static constexpr const char* name = Binary::name;
    static constexpr const char* d_text = Binary::da_text;  // with b = c
    template <class R>
    static R f(R a, R c) {
        return Binary::f(a, c);
    }
    template <class T>
    static auto d(const T& a, double c, const T& y) {
        return Binary::da(a, static_cast<scalar_t<T>>(c), y);
    }
};
template <class Binary>
struct ConstantLeft {  // c op a
    static constexpr const char* name = Binary::name;
    static constexpr const char* d_text = Binary::db_text;  // with a = c, b = a
    template <class R>
    static R f(R a, R c) {
        return Binary::f(c, a);
    }
    template <class T>
    static auto d(const T& a, double c, const T& y) {
        return Binary::db(static_cast<scalar_t<T>>(c), a, y);
    }
};
using AddC = ConstantRight<Add>;  // a + c (and a - c, as a + (-c))
using RSubC = ConstantLeft<Sub>;  // c - a
using MulC = ConstantRight<Mul>;  // a * c
using DivC = ConstantRight<Div>;  // a / c
using RDivC = ConstantLeft<Div>;  // c / a
using PowC = ConstantRight<Pow>;  // a ^ c
using RPowC = ConstantLeft<Pow>;  // c ^ a

// Ops with a parameter c that are not a binary op held constant.
struct LeakyReluC {  // a for a >= 0, c a below; the derivative at 0 is c, as PyTorch's
    static constexpr const char* name = "leaky_relu";
    static constexpr const char* d_text = "1 if a > 0, else c";  // dy/da, as a formula
    template <class R>
    static R f(R a, R c) {
        return a < 0 ? c * a : a;
    }  // NaN passes through
    template <class T>
    static auto d(const T& a, double c, const T&) {
        const auto up = step(a);  // 1 above 0, 0 at or below, NaN at NaN
        return up + (scalar_t<T>(1) - up) * static_cast<scalar_t<T>>(c);
    }
};
struct ClampMinC {  // max(a, c) with the derivative 1 at a == c (clamp's, PyTorch's)
    static constexpr const char* name = "clamp_min";
    static constexpr const char* d_text = "1 if a >= c, else 0";  // dy/da, as a formula
    template <class R>
    static R f(R a, R c) {
        return a < c ? c : a;
    }  // NaN passes through
    template <class T>
    static auto d(const T& a, double c, const T&) {
        return at_least(a, c);
    }
};
struct ClampMaxC {  // min(a, c) with the derivative 1 at a == c
    static constexpr const char* name = "clamp_max";
    static constexpr const char* d_text = "1 if a <= c, else 0";  // dy/da, as a formula
    template <class R>
    static R f(R a, R c) {
        return a > c ? c : a;
    }
    template <class T>
    static auto d(const T& a, double c, const T&) {
        return at_most(a, c);
    }
};

}  // namespace ops
}  // namespace ag

// The lists that generate the op codes and the cases of the backward sweep.
// clang-format off
#define AG_UNARY_OPS(X)                                                                                            \
    X(Neg) X(Exp) X(Log) X(Sqrt) X(Tanh) X(Sigmoid) X(Relu) X(Sin) X(Cos) X(Abs) X(Tan) X(Atan) X(Sinh) X(Cosh) \
    X(Log1p) X(Expm1) X(Erf) X(Softplus) X(Gelu)
#define AG_BINARY_OPS(X) X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Min) X(Max)
// Three operands: the node's rhs indexes `constants`, whose entry holds the
// second and third operand indices (tape.hpp).
#define AG_TERNARY_OPS(X) X(MulAdd)
// clang-format on
// Ops with a constant operand: binary ops with one operand held constant,
// and ops with a parameter (recorded alike: the constant in the pool).
// clang-format off
#define AG_BINARY_CONST_OPS(X) X(AddC) X(RSubC) X(MulC) X(DivC) X(RDivC) X(PowC) X(RPowC)
#define AG_PARAM_OPS(X) X(LeakyReluC) X(ClampMinC) X(ClampMaxC)
#define AG_CONST_OPS(X) AG_BINARY_CONST_OPS(X) AG_PARAM_OPS(X)
// clang-format on

namespace ag {

// What each tape node is. `Leaf` has no operands. `Custom` is a node of an
// extension (the tensor module): an op with its own backward, whose operands
// are {record, extension} (tape.hpp); `CustomLeaf` is one with nothing to
// propagate (a tensor leaf).
enum class Op : std::uint8_t {  // the low byte of a node's key (tape.hpp)
    Leaf,
    Custom,
    CustomLeaf,
// clang-format off
#define AG_ENUM_ENTRY(Name) Name,
    AG_UNARY_OPS(AG_ENUM_ENTRY) AG_BINARY_OPS(AG_ENUM_ENTRY) AG_CONST_OPS(AG_ENUM_ENTRY) AG_TERNARY_OPS(AG_ENUM_ENTRY)
#undef AG_ENUM_ENTRY
    // clang-format on
};

// The op code of an op struct, e.g. op_code<ops::Tanh> == Op::Tanh.
template <class OpT>
inline constexpr Op op_code = Op::Leaf;
// clang-format off
#define AG_CODE_ENTRY(Name) template <> inline constexpr Op op_code<ops::Name> = Op::Name;
AG_UNARY_OPS(AG_CODE_ENTRY) AG_BINARY_OPS(AG_CODE_ENTRY) AG_CONST_OPS(AG_CODE_ENTRY) AG_TERNARY_OPS(AG_CODE_ENTRY)
#undef AG_CODE_ENTRY
    // clang-format on

    // Readable name of an op code ("tanh", "*", ...), for errors and pictures.
    const char* op_name(Op op) noexcept;
// Its local derivative as a formula, in terms of its input a (b for a
// second one, c for a third or its constant) and its output y: d y / d
// (operand 0, 1 or 2); "" for a leaf or an extension's node.
const char* op_derivative_text(Op op, int operand) noexcept;
// How an op uses its operand slots.
enum class Arity : std::uint8_t { Leaf, Custom, Unary, Binary, WithConstant, Ternary };
Arity op_arity(Op op) noexcept;
// How many input nodes an op has (Tape::input gives them): 0 for a leaf
// or an extension's node (it keeps its own), 1 for unary and with-constant
// ops, 2 binary, 3 ternary.
int input_count(Arity a) noexcept;

}  // namespace ag
