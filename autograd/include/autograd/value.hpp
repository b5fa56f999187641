#pragma once
// ag::Value: a scalar on the current thread's tape.
//
//     ag::Value x = -2.0, y = 5.0, z = -4.0;
//     ag::Value f = (x + y) * z;
//     f.backward();             // x.grad() == -4, y.grad() == -4, z.grad() == 3
//
// A Value is a handle (a NodeId: node index and generation): copying it is free and never
// copies the graph. Using a handle whose node was freed by Tape::rewind or a
// Scope throws std::logic_error.
//
// ag::constant(c) is a Value with no node (PyTorch: a tensor that does not
// require grad): an operation on constants only gives a constant and records
// nothing, so code that starts from constants (an ODE state at y(0) = 0)
// records only what depends on a leaf. A constant times a Value is recorded
// unless the constant is exactly 0, whose product is the constant 0 (its
// derivative by the Value is 0 at every order). Mixing a constant with a
// Value otherwise records the constant as a leaf first. A constant has no
// gradient: grad() is 0, backward() and the tools that draw or explain a
// graph refuse it, and ag::grad gives 0 for it as an input and all zeros for
// it as the function.
#include <autograd/tape.hpp>

#include <fmt/format.h>

#include <bit>
#include <initializer_list>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ag {

class Value {
public:
    // An empty handle; using it throws. Exists so Values fit in containers.
    Value() noexcept = default;
    // A new leaf holding `data` (implicit, like micrograd's auto-wrapping).
    Value(double data) {  // NOLINT
        Tape& t = tape();
        id_ = detail::TapeAccess::record(t, Op::Leaf, 0, 0, data);
    }
    Value(double data, std::string name) : Value(data) { set_name(std::move(name)); }

    double data() const {
        if (id_.is_constant()) return std::bit_cast<double>(id_.key);
        return detail::TapeAccess::value(tape_checked())[id_.index];
    }
    // Overwrites a leaf's value in place (optimizer updates); nodes already
    // computed from it are not recomputed.
    void set_data(double d) const { detail::TapeAccess::value(tape_checked("set_data"))[id_.index] = d; }
    double grad() const {
        if (id_.is_constant()) return 0.0;
        return detail::TapeAccess::adjoint(tape_checked())[id_.index];
    }
    void set_grad(double g) const { detail::TapeAccess::adjoint(tape_checked("set_grad"))[id_.index] = g; }
    void zero_grad() const {
        if (!id_.is_constant()) set_grad(0.0);
    }
    // A number with no node (see above).
    bool is_constant() const noexcept { return id_.is_constant(); }
    // Reverse sweep from this node with seed 1; gradients accumulate.
    void backward() const;
    // A new leaf with the same value: gradients stop here.
    Value detach() const { return Value(data()); }
    bool is_leaf() const { return id_.is_constant() || tape_checked().op(id_.index) == Op::Leaf; }
    // The op that made this Value ("tanh", "+", "to_value", ...; "leaf", "constant").
    const char* op_name() const { return id_.is_constant() ? "constant" : tape_checked().op_name(id_.index); }

    void set_name(std::string name) const;
    std::string name() const;  // "" when unnamed

    // For the engine and tools that read the graph (to_dot, the CLI).
    std::uint32_t index() const noexcept { return id_.index; }
    const NodeId& id() const noexcept { return id_; }
    // Checks the handle and returns the node index.
    std::uint32_t checked_index(const char* what = "Value") const {
        tape().check(id_, what);
        return id_.index;
    }
    // A handle to node `index` of tape `t`, e.g. for a tool walking the graph.
    static Value from_index(std::uint32_t index, const Tape& t) {
        if (index >= t.size())
            throw std::out_of_range(
                fmt::format("Value::from_index: node #{} does not exist (the tape has {} nodes)", index, t.size()));
        return Value(t.id(index));
    }
    static Value from_node(const NodeId& id) noexcept { return Value(id); }
    // See ag::constant.
    static Value constant(double c) noexcept {
        return Value(NodeId{NodeId::constant_index, std::bit_cast<std::uint64_t>(c)});
    }

    Value& operator+=(const Value& o);
    Value& operator-=(const Value& o);
    Value& operator*=(const Value& o);
    Value& operator/=(const Value& o);

private:
    explicit Value(const NodeId& id) noexcept : id_(id) {}
    Tape& tape_checked(const char* what = "Value") const {
        Tape& t = tape();
        t.check(id_, what);
        return t;
    }
    NodeId id_;  // empty: a default-constructed handle
};

// A number that takes part in operations but has no node (see Value);
// constant<double> and constant<Dual<...>> are plain numbers, for code
// templated on its number type.
template <class T = Value>
T constant(double c) {
    if constexpr (std::is_same_v<T, Value>)
        return Value::constant(c);
    else
        return T(c);
}

namespace detail {
inline double constant_data(const Value& c) noexcept { return std::bit_cast<double>(c.id().key); }
// Whether c is the constant +0 or -0.
inline bool is_constant_zero(const Value& c) noexcept { return c.is_constant() && (c.id().key << 1) == 0; }

// Throws, naming the op: `a` is neither a live node nor a constant (a handle
// to a freed node, or an empty one).
[[noreturn, gnu::cold]] void throw_not_alive(const Value& a, const char* op);
// muladd with a constant, stale or empty operand.
[[gnu::cold]] Value muladd_slow(const Value& a, const Value& b, const Value& c);

template <class OpT>
Value apply(const Value& a, const Value& b);
// A constant meets a node: records the constant as a leaf, then the op
// (throws if an operand is stale). A call: it records two nodes anyway.
template <class OpT>
[[gnu::noinline]] Value apply_mixed(const Value& a, const Value& b) {
    for (const Value* v : {&a, &b})
        if (!v->is_constant() && !tape().alive(v->id())) throw_not_alive(*v, OpT::name);
    const Value leaf = Value(a.is_constant() ? constant_data(a) : constant_data(b));
    return a.is_constant() ? apply<OpT>(leaf, b) : apply<OpT>(a, leaf);
}

// Records op(a) / op(a, b) / op(a, constant c). The value is computed from
// the op struct's forward formula; the sweep uses its derivative. On the
// hot path, one test per operand: is it a live node of this tape?
//
// Off the hot path (marked unlikely, so the compiler lays the recording
// path out first): operations on constants only give a constant, and a node
// times ±0 is the constant 0 (its derivative by the node is 0 at every
// order, so nothing is recorded; CoDiPack's tape drops zero partials too).
// Both are computed inline, not in a call, because code that starts from
// constants does most of its work there: GradBench's ode at n = 10^5 does
// 1.7·10^8 of them, and a call each cost twice the time of the inline code
// (GradBench ode gradient 335 ms against 150 ms). Recording pays nothing
// measurable: callgrind counts 67.7 instructions a node on bench_scalar's
// poly (66.7 with calls) and 88.2 on chain (89.2).
template <class OpT>
[[gnu::always_inline]] inline Value apply(const Value& a) {
    Tape& t = tape();
    if (!t.alive(a.id())) [[unlikely]] {
        if (!a.is_constant()) throw_not_alive(a, OpT::name);
        return Value::constant(OpT::f(constant_data(a)));
    }
    const std::uint32_t ia = a.index();
    const double y = OpT::f(TapeAccess::value(t)[ia]);
    return Value::from_node(TapeAccess::record(t, op_code<OpT>, ia, 0, y));
}
template <class OpT>
[[gnu::always_inline]] inline Value apply(const Value& a, const Value& b) {
    Tape& t = tape();
    if (!t.alive(a.id()) || !t.alive(b.id())) [[unlikely]] {
        if ((a.id().index & b.id().index) == NodeId::constant_index)  // both constants
            return Value::constant(OpT::f(constant_data(a), constant_data(b)));
        if constexpr (std::is_same_v<OpT, ops::Mul>) {
            if (is_constant_zero(b) && t.alive(a.id()))
                return Value::constant(OpT::f(TapeAccess::value(t)[a.index()], constant_data(b)));
            if (is_constant_zero(a) && t.alive(b.id()))
                return Value::constant(OpT::f(constant_data(a), TapeAccess::value(t)[b.index()]));
        }
        return apply_mixed<OpT>(a, b);
    }
    const std::uint32_t ia = a.index(), ib = b.index();
    const double* x = TapeAccess::value(t);
    const double y = OpT::f(x[ia], x[ib]);
    return Value::from_node(TapeAccess::record(t, op_code<OpT>, ia, ib, y));
}
template <class OpT>
[[gnu::always_inline]] inline Value apply(const Value& a, double c) {
    Tape& t = tape();
    if (!t.alive(a.id())) [[unlikely]] {
        if (!a.is_constant()) throw_not_alive(a, OpT::name);
        return Value::constant(OpT::f(constant_data(a), c));
    }
    const std::uint32_t ia = a.index();
    // The constant first: its rare slow path is a call, and y would have to
    // be spilled around it.
    const std::uint32_t ic = TapeAccess::add_constant(t, c);
    const double y = OpT::f(TapeAccess::value(t)[ia], c);
    return Value::from_node(TapeAccess::record(t, op_code<OpT>, ia, ic, y));
}
}  // namespace detail

// The operations. Forced inline like apply(): in a long function (GradBench's
// LSTM loss) GCC kept some of them as calls. Inlining them took 4 % off that
// loss's gradient time in a stand-alone driver (median of 300 runs); through
// GradBench's lstm eval the difference is within its noise.
[[gnu::always_inline]] inline Value operator+(const Value& a, const Value& b) { return detail::apply<ops::Add>(a, b); }
[[gnu::always_inline]] inline Value operator-(const Value& a, const Value& b) { return detail::apply<ops::Sub>(a, b); }
[[gnu::always_inline]] inline Value operator*(const Value& a, const Value& b) { return detail::apply<ops::Mul>(a, b); }
[[gnu::always_inline]] inline Value operator/(const Value& a, const Value& b) { return detail::apply<ops::Div>(a, b); }
[[gnu::always_inline]] inline Value operator-(const Value& a) { return detail::apply<ops::Neg>(a); }
inline Value operator+(const Value& a) { return a; }

[[gnu::always_inline]] inline Value operator+(const Value& a, double c) { return detail::apply<ops::AddC>(a, c); }
[[gnu::always_inline]] inline Value operator+(double c, const Value& a) { return detail::apply<ops::AddC>(a, c); }
[[gnu::always_inline]] inline Value operator-(const Value& a, double c) { return detail::apply<ops::AddC>(a, -c); }
[[gnu::always_inline]] inline Value operator-(double c, const Value& a) { return detail::apply<ops::RSubC>(a, c); }
[[gnu::always_inline]] inline Value operator*(const Value& a, double c) { return detail::apply<ops::MulC>(a, c); }
[[gnu::always_inline]] inline Value operator*(double c, const Value& a) { return detail::apply<ops::MulC>(a, c); }
[[gnu::always_inline]] inline Value operator/(const Value& a, double c) { return detail::apply<ops::DivC>(a, c); }
[[gnu::always_inline]] inline Value operator/(double c, const Value& a) { return detail::apply<ops::RDivC>(a, c); }

[[gnu::always_inline]] inline Value pow(const Value& a, const Value& b) { return detail::apply<ops::Pow>(a, b); }
[[gnu::always_inline]] inline Value pow(const Value& a, double c) { return detail::apply<ops::PowC>(a, c); }
[[gnu::always_inline]] inline Value pow(double c, const Value& a) { return detail::apply<ops::RPowC>(a, c); }
[[gnu::always_inline]] inline Value exp(const Value& a) { return detail::apply<ops::Exp>(a); }
[[gnu::always_inline]] inline Value log(const Value& a) { return detail::apply<ops::Log>(a); }
[[gnu::always_inline]] inline Value sqrt(const Value& a) { return detail::apply<ops::Sqrt>(a); }
[[gnu::always_inline]] inline Value tanh(const Value& a) { return detail::apply<ops::Tanh>(a); }
[[gnu::always_inline]] inline Value sigmoid(const Value& a) { return detail::apply<ops::Sigmoid>(a); }
[[gnu::always_inline]] inline Value relu(const Value& a) { return detail::apply<ops::Relu>(a); }
[[gnu::always_inline]] inline Value sin(const Value& a) { return detail::apply<ops::Sin>(a); }
[[gnu::always_inline]] inline Value cos(const Value& a) { return detail::apply<ops::Cos>(a); }
[[gnu::always_inline]] inline Value abs(const Value& a) { return detail::apply<ops::Abs>(a); }
[[gnu::always_inline]] inline Value tan(const Value& a) { return detail::apply<ops::Tan>(a); }
[[gnu::always_inline]] inline Value atan(const Value& a) { return detail::apply<ops::Atan>(a); }
[[gnu::always_inline]] inline Value sinh(const Value& a) { return detail::apply<ops::Sinh>(a); }
[[gnu::always_inline]] inline Value cosh(const Value& a) { return detail::apply<ops::Cosh>(a); }
[[gnu::always_inline]] inline Value log1p(const Value& a) { return detail::apply<ops::Log1p>(a); }  // log(1 + a)
[[gnu::always_inline]] inline Value expm1(const Value& a) { return detail::apply<ops::Expm1>(a); }  // exp(a) - 1
[[gnu::always_inline]] inline Value erf(const Value& a) { return detail::apply<ops::Erf>(a); }
// log(1 + exp(a))
[[gnu::always_inline]] inline Value softplus(const Value& a) { return detail::apply<ops::Softplus>(a); }
[[gnu::always_inline]] inline Value gelu(const Value& a) { return detail::apply<ops::Gelu>(a); }  // a Φ(a), erf form
// a for a >= 0, slope * a below (leaky_relu'(0) = slope, as PyTorch).
[[gnu::always_inline]] inline Value leaky_relu(const Value& a, double slope = 0.01) {
    return detail::apply<ops::LeakyReluC>(a, slope);
}
// max(a, lo) / min(a, hi) / both, with derivative 1 at the bounds (as PyTorch's clamp).
[[gnu::always_inline]] inline Value clamp_min(const Value& a, double lo) {
    return detail::apply<ops::ClampMinC>(a, lo);
}
[[gnu::always_inline]] inline Value clamp_max(const Value& a, double hi) {
    return detail::apply<ops::ClampMaxC>(a, hi);
}
inline Value clamp(const Value& a, double lo, double hi) { return clamp_max(clamp_min(a, lo), hi); }
[[gnu::always_inline]] inline Value min(const Value& a, const Value& b) { return detail::apply<ops::Min>(a, b); }
[[gnu::always_inline]] inline Value max(const Value& a, const Value& b) { return detail::apply<ops::Max>(a, b); }

// a * b + c as one node (ops::MulAdd) instead of two: the same value as
// a * b + c (not fused like std::fma), and a sum of products such as
// `s = muladd(w[i], x[i], s)` records half the nodes. PyTorch's
// torch.addcmul(c, a, b). A plain number passed for a Value becomes a leaf;
// with constants (ag::constant) it is computed as a * b + c.
[[gnu::always_inline]] inline Value muladd(const Value& a, const Value& b, const Value& c) {
    using detail::TapeAccess;
    Tape& t = tape();
    if (!t.alive(a.id()) || !t.alive(b.id()) || !t.alive(c.id())) [[unlikely]]
        return detail::muladd_slow(a, b, c);
    const std::uint32_t ia = a.index(), ib = b.index(), ic = c.index();
    const std::uint32_t bc = TapeAccess::add_operands(t, ib, ic);
    const double* x = TapeAccess::value(t);
    const double y = ops::MulAdd::f(x[ia], x[ib], x[ic]);
    return Value::from_node(TapeAccess::record(t, op_code<ops::MulAdd>, ia, bc, y));
}
// The same on plain numbers, so generic code can call muladd for any T.
inline double muladd(double a, double b, double c) { return a * b + c; }
inline float muladd(float a, float b, float c) { return a * b + c; }

// The value, for rules that branch at kinks (ops.hpp).
inline double primal(const Value& v) { return v.data(); }

// Compound assignment records a new node and rebinds the handle to it, as
// `a = a + b` would; the old node stays on the tape.
inline Value& Value::operator+=(const Value& o) { return *this = *this + o; }
inline Value& Value::operator-=(const Value& o) { return *this = *this - o; }
inline Value& Value::operator*=(const Value& o) { return *this = *this * o; }
inline Value& Value::operator/=(const Value& o) { return *this = *this / o; }

inline void Value::backward() const { detail::TapeAccess::backward(tape(), checked_index("backward")); }

// d f / d wrt[k], for each k, without touching any .grad()
// (torch.autograd.grad). Inputs that f does not depend on get 0.
std::vector<double> grad(const Value& f, const std::vector<Value>& wrt);

// The same, as Values on the tape: differentiable again (derivatives of
// derivatives), like torch.autograd.grad(f, xs, create_graph=True):
//     auto g = ag::grad(f, {x, y}, ag::create_graph);   // g[0] = df/dx, a Value
//     auto h = ag::grad(g[0], {x, y});                  // d2f/dx2, d2f/dxdy
// The gradient is recorded after f, so the tape stays in creation order
// and the next sweep is the same single sweep. Inputs f does not depend on
// get a constant 0. At the kinks the first-order conventions hold (ops.hpp).
struct CreateGraph {};
inline constexpr CreateGraph create_graph{};
std::vector<Value> grad(const Value& f, const std::vector<Value>& wrt, CreateGraph);

namespace detail {
// The state of a sweep that records its gradients: one adjoint per node up
// to the root, a Value (empty: nothing reached the node yet). Extensions
// (tensors) keep their own adjoints and mark the nodes they reach.
struct GraphSweep {
    std::vector<Value> adjoint;
    std::vector<char> reached;  // an extension's node got a gradient
    // adjoint[node] += contribution, recorded.
    void add(std::uint32_t node, const Value& contribution);
};
// Seeds `root` with one and sweeps down to node `lowest`, recording. Nodes
// below the lowest input asked about cannot send it anything, so a caller
// that knows its inputs stops there: an inner gradient taken with respect
// to a late intermediate then costs what lies above it, not the whole tape.
void run_graph_sweep(std::uint32_t root, GraphSweep& sweep, std::uint32_t lowest = 0);
}  // namespace detail

// Sets .grad() of each Value to zero.
void zero_grad(const std::vector<Value>& values);

}  // namespace ag

// fmt::format("{}", v) -> "Value(data=-12, grad=0)"; a stale handle prints as
// "Value(<freed>)" rather than throwing inside a log line.
template <>
struct fmt::formatter<ag::Value> : fmt::formatter<std::string_view> {
    format_context::iterator format(const ag::Value& v, format_context& ctx) const;
};

namespace ag {
// Prints as fmt does: Value(data=-12, grad=1).
std::ostream& operator<<(std::ostream& os, const Value& v);
}  // namespace ag
