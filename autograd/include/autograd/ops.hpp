#pragma once
// The scalar operations: each one's forward formula and its local derivative,
// side by side. Adding an op means adding one struct here, one line to the
// matching list at the bottom, a public function in value.hpp, and its
// gradient test.
//
// Conventions at non-differentiable points follow PyTorch:
//   relu'(0) = 0, abs'(0) = 0, min/max split the gradient evenly on a tie,
//   d/db a^b = 0 where a == 0 and b >= 0, d/da a^b = 0 where b == 0.
#include <cmath>
#include <cstdint>

namespace ag::ops {

// Unary ops: y = f(a); d(a, y) = dy/da.
struct Neg {
    static constexpr const char* name = "neg";
    static double f(double a) { return -a; }
    static double d(double, double) { return -1.0; }
};
struct Exp {
    static constexpr const char* name = "exp";
    static double f(double a) { return std::exp(a); }
    static double d(double, double y) { return y; }
};
struct Log {
    static constexpr const char* name = "log";
    static double f(double a) { return std::log(a); }
    static double d(double a, double) { return 1.0 / a; }
};
struct Sqrt {
    static constexpr const char* name = "sqrt";
    static double f(double a) { return std::sqrt(a); }
    static double d(double, double y) { return 0.5 / y; }
};
struct Tanh {
    static constexpr const char* name = "tanh";
    static double f(double a) { return std::tanh(a); }
    static double d(double, double y) { return 1.0 - y * y; }
};
struct Sigmoid {
    static constexpr const char* name = "sigmoid";
    // Two branches so that exp never overflows for large |a|.
    static double f(double a) {
        if (a >= 0) return 1.0 / (1.0 + std::exp(-a));
        const double e = std::exp(a);
        return e / (1.0 + e);
    }
    static double d(double, double y) { return y * (1.0 - y); }
};
struct Relu {
    static constexpr const char* name = "relu";
    static double f(double a) { return a > 0 ? a : 0.0; }
    static double d(double a, double) { return a > 0 ? 1.0 : 0.0; }
};
struct Sin {
    static constexpr const char* name = "sin";
    static double f(double a) { return std::sin(a); }
    static double d(double a, double) { return std::cos(a); }
};
struct Cos {
    static constexpr const char* name = "cos";
    static double f(double a) { return std::cos(a); }
    static double d(double a, double) { return -std::sin(a); }
};
struct Abs {
    static constexpr const char* name = "abs";
    static double f(double a) { return std::fabs(a); }
    static double d(double a, double) { return a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0); }
};

// Binary ops between two nodes: y = f(a, b); da, db = partials.
struct Add {
    static constexpr const char* name = "+";
    static double f(double a, double b) { return a + b; }
    static double da(double, double, double) { return 1.0; }
    static double db(double, double, double) { return 1.0; }
};
struct Sub {
    static constexpr const char* name = "-";
    static double f(double a, double b) { return a - b; }
    static double da(double, double, double) { return 1.0; }
    static double db(double, double, double) { return -1.0; }
};
struct Mul {
    static constexpr const char* name = "*";
    static double f(double a, double b) { return a * b; }
    static double da(double, double b, double) { return b; }
    static double db(double a, double, double) { return a; }
};
struct Div {
    static constexpr const char* name = "/";
    static double f(double a, double b) { return a / b; }
    static double da(double, double b, double) { return 1.0 / b; }
    static double db(double, double b, double y) { return -y / b; }
};
struct Pow {
    static constexpr const char* name = "pow";
    static double f(double a, double b) { return std::pow(a, b); }
    static double da(double a, double b, double) { return b == 0 ? 0.0 : b * std::pow(a, b - 1.0); }
    static double db(double a, double b, double y) { return (a == 0 && b >= 0) ? 0.0 : y * std::log(a); }
};
struct Min {
    static constexpr const char* name = "min";
    static double f(double a, double b) { return a < b ? a : b; }
    static double da(double a, double b, double) { return a < b ? 1.0 : (a == b ? 0.5 : 0.0); }
    static double db(double a, double b, double) { return b < a ? 1.0 : (a == b ? 0.5 : 0.0); }
};
struct Max {
    static constexpr const char* name = "max";
    static double f(double a, double b) { return a > b ? a : b; }
    static double da(double a, double b, double) { return a > b ? 1.0 : (a == b ? 0.5 : 0.0); }
    static double db(double a, double b, double) { return b > a ? 1.0 : (a == b ? 0.5 : 0.0); }
};

// Ops between a node a and a constant c (kept in the tape's constant pool, so
// `x * 2.0` costs one node, not two): y = f(a, c); d(a, c, y) = dy/da.
struct AddC {
    static constexpr const char* name = "+";
    static double f(double a, double c) { return a + c; }
    static double d(double, double, double) { return 1.0; }
};
struct RSubC {  // c - a
    static constexpr const char* name = "-";
    static double f(double a, double c) { return c - a; }
    static double d(double, double, double) { return -1.0; }
};
struct MulC {
    static constexpr const char* name = "*";
    static double f(double a, double c) { return a * c; }
    static double d(double, double c, double) { return c; }
};
struct DivC {  // a / c
    static constexpr const char* name = "/";
    static double f(double a, double c) { return a / c; }
    static double d(double, double c, double) { return 1.0 / c; }
};
struct RDivC {  // c / a
    static constexpr const char* name = "/";
    static double f(double a, double c) { return c / a; }
    static double d(double a, double, double y) { return -y / a; }
};
struct PowC {  // a ^ c
    static constexpr const char* name = "pow";
    static double f(double a, double c) { return std::pow(a, c); }
    static double d(double a, double c, double) { return c == 0 ? 0.0 : c * std::pow(a, c - 1.0); }
};
struct RPowC {  // c ^ a
    static constexpr const char* name = "pow";
    static double f(double a, double c) { return std::pow(c, a); }
    static double d(double, double c, double y) { return (c == 0) ? 0.0 : y * std::log(c); }
};

}  // namespace ag::ops

// The lists that generate the op codes and the cases of the backward sweep.
#define AG_UNARY_OPS(X) X(Neg) X(Exp) X(Log) X(Sqrt) X(Tanh) X(Sigmoid) X(Relu) X(Sin) X(Cos) X(Abs)
#define AG_BINARY_OPS(X) X(Add) X(Sub) X(Mul) X(Div) X(Pow) X(Min) X(Max)
#define AG_CONST_OPS(X) X(AddC) X(RSubC) X(MulC) X(DivC) X(RDivC) X(PowC) X(RPowC)

namespace ag {

// What each tape node is. `Leaf` has no operands; `Tensor` marks a node whose
// operation lives in the tensor record (its lhs is the tensor node's index).
enum class Op : std::uint16_t {
    Leaf,
    Tensor,
#define AG_ENUM_ENTRY(Name) Name,
    AG_UNARY_OPS(AG_ENUM_ENTRY) AG_BINARY_OPS(AG_ENUM_ENTRY) AG_CONST_OPS(AG_ENUM_ENTRY)
#undef AG_ENUM_ENTRY
};

// The op code of an op struct, e.g. op_code<ops::Tanh> == Op::Tanh.
template <class OpT>
inline constexpr Op op_code = Op::Leaf;
#define AG_CODE_ENTRY(Name) template <> inline constexpr Op op_code<ops::Name> = Op::Name;
AG_UNARY_OPS(AG_CODE_ENTRY) AG_BINARY_OPS(AG_CODE_ENTRY) AG_CONST_OPS(AG_CODE_ENTRY)
#undef AG_CODE_ENTRY

// Readable name of an op code ("tanh", "*", ...), for errors and pictures.
const char* op_name(Op op) noexcept;
// How an op uses its operand slots.
enum class Arity : std::uint8_t { Leaf, Tensor, Unary, Binary, WithConstant };
Arity op_arity(Op op) noexcept;

}  // namespace ag
