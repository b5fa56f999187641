#pragma once
// ag::Dual<V>: a forward-mode number, a value and a tangent (the derivative
// along one direction), for Jacobian-vector products and for nesting with
// reverse mode. Every operation applies the same rule as the reverse sweep
// (ops.hpp): y = f(a), tangent(y) = f'(a) · tangent(a); there is no second
// table of derivatives.
//
//     auto f = [](auto x) { return x * ag::sin(x); };
//     double d = ag::derivative(f, 2.0);                 // f'(2), forward mode
//
// V is double (plain forward mode), ag::Value (forward over reverse: the
// value and tangent are recorded, so both can be differentiated again), or
// another Dual (forward over forward). Numbers of different levels mix: a
// lower-level number is a constant of the higher level (tangent 0), and a
// Dual<double> meeting an ag::Value becomes a Dual<Value>.
//
// Nesting without perturbation confusion: each derivative introduces its
// own level of Dual. Evaluate an inner derivative at a point of the outer
// variables' type, so its variable is one level deeper than theirs:
//     auto outer = [](auto x) {                          // x: Dual<double>
//         auto inner = ag::derivative([&](auto y) { return x + y; }, decltype(x)(1.0));
//         return x * inner;                              // inner: d/dy (x + y) = 1
//     };
//     ag::derivative(outer, 1.0) == 1                    // not 2
#include <autograd/ops.hpp>
#include <autograd/value.hpp>

#include <type_traits>
#include <utility>

namespace ag {

template <class V>
struct Dual;

namespace detail {
template <class T>
struct is_dual : std::false_type {};
template <class V>
struct is_dual<Dual<V>> : std::true_type {};
template <class T>
inline constexpr bool is_dual_v = is_dual<std::remove_cvref_t<T>>::value;

// How many levels of Dual a type has (0: a plain number or a Value).
template <class T>
struct dual_depth : std::integral_constant<int, 0> {};
template <class V>
struct dual_depth<Dual<V>> : std::integral_constant<int, 1 + dual_depth<V>::value> {};
template <class T>
inline constexpr int dual_depth_v = dual_depth<std::remove_cvref_t<T>>::value;

// Numbers a Dual can hold or meet: plain numbers, Values, Duals.
template <class T>
inline constexpr bool is_number_v =
    std::is_arithmetic_v<std::remove_cvref_t<T>> || std::is_same_v<std::remove_cvref_t<T>, Value> || is_dual_v<T>;

// The number type two numbers meet in. Duals of equal depth meet level by
// level; a shallower number is a constant of the deeper one's outermost
// level (the newest derivative), never a part of its tangent.
template <class A, class B>
struct common_number;
template <class A, class B>
using common_number_t = typename common_number<std::remove_cvref_t<A>, std::remove_cvref_t<B>>::type;
template <class A, class B>
requires(std::is_arithmetic_v<A>&& std::is_arithmetic_v<B>) struct common_number<A, B> {
    using type = double;
};
template <class A>
requires std::is_arithmetic_v<A>
struct common_number<A, Value> {
    using type = Value;
};
template <class B>
requires std::is_arithmetic_v<B>
struct common_number<Value, B> {
    using type = Value;
};
template <>
struct common_number<Value, Value> {
    using type = Value;
};
template <class A, class B>
struct common_number<Dual<A>, Dual<B>> {
    using type =
        std::conditional_t<dual_depth_v<A> == dual_depth_v<B>, Dual<common_number_t<A, B>>,
                           std::conditional_t<(dual_depth_v<A> > dual_depth_v<B>), Dual<common_number_t<A, Dual<B>>>,
                                              Dual<common_number_t<Dual<A>, B>>>>;
};
template <class A, class B>
requires(!is_dual_v<B>) struct common_number<Dual<A>, B> {
    using type = Dual<common_number_t<A, B>>;
};
template <class A, class B>
requires(!is_dual_v<A>) struct common_number<A, Dual<B>> {
    using type = Dual<common_number_t<A, B>>;
};

// A number as type To (a lower level: constant, tangent 0).
template <class To, class From>
To promote(const From& x);
}  // namespace detail

template <class V>
struct Dual {
    using value_type = V;
    V value{};
    V tangent{};

    Dual() = default;
    Dual(V v, V t) : value(std::move(v)), tangent(std::move(t)) {}
    // A constant of this level: a number of a lower level, tangent 0.
    template <class U>
    requires(detail::is_number_v<U> && !std::is_same_v<std::remove_cvref_t<U>, Dual>)
        Dual(const U& u)  // NOLINT: implicit, so constants mix in expressions
        : value(detail::promote<V>(u)), tangent(detail::promote<V>(0.0)) {}
};

template <class V>
struct scalar_of<Dual<V>> {
    using type = scalar_t<V>;
};
template <class V>
auto primal(const Dual<V>& d) {
    return primal(d.value);
}

namespace detail {

template <class To, class From>
To promote(const From& x) {
    using F = std::remove_cvref_t<From>;
    if constexpr (std::is_same_v<To, F>)
        return x;
    else if constexpr (std::is_arithmetic_v<To>)
        return static_cast<To>(x);
    else if constexpr (std::is_same_v<To, Value>)
        return Value(static_cast<double>(x));  // From is a plain number
    else if constexpr (is_dual_v<F> && dual_depth_v<F> == dual_depth_v<To>)
        return To(promote<typename To::value_type>(x.value), promote<typename To::value_type>(x.tangent));
    else
        return To(promote<typename To::value_type>(x), promote<typename To::value_type>(0.0));
}

// Evaluates op Op on numbers of one type: the forward formula on plain
// numbers, the recording op on Values, the forward-mode rule on Duals.
template <class Op>
double call(double a) {
    return Op::f(a);
}
template <class Op>
Value call(const Value& a) {
    return apply<Op>(a);
}
template <class Op, class V>
Dual<V> call(const Dual<V>& a);

template <class Op>
double call(double a, double b) {
    return Op::f(a, b);
}
template <class Op>
Value call(const Value& a, const Value& b) {
    return apply<Op>(a, b);
}
template <class Op, class V>
Dual<V> call(const Dual<V>& a, const Dual<V>& b);

// With a constant (the *C ops).
template <class Op>
double call_c(double a, double c) {
    return Op::f(a, c);
}
template <class Op>
Value call_c(const Value& a, double c) {
    return apply<Op>(a, c);
}
template <class Op, class V>
Dual<V> call_c(const Dual<V>& a, double c);

template <class Op, class V>
Dual<V> call(const Dual<V>& a) {
    V y = call<Op>(a.value);
    V t = Op::d(a.value, y) * a.tangent;
    return Dual<V>(std::move(y), std::move(t));
}
template <class Op, class V>
Dual<V> call(const Dual<V>& a, const Dual<V>& b) {
    V y = call<Op>(a.value, b.value);
    V t = Op::da(a.value, b.value, y) * a.tangent + Op::db(a.value, b.value, y) * b.tangent;
    return Dual<V>(std::move(y), std::move(t));
}
template <class Op, class V>
Dual<V> call_c(const Dual<V>& a, double c) {
    V y = call_c<Op>(a.value, c);
    V t = Op::d(a.value, c, y) * a.tangent;
    return Dual<V>(std::move(y), std::move(t));
}

// A binary op between two numbers at least one of which is a Dual: with a
// plain number it is the constant op (ConstRight: a op c, ConstLeft: c op a);
// otherwise both meet in their common type.
template <class Op, class ConstRight, class ConstLeft, class A, class B>
auto dual_binary(const A& a, const B& b) {
    if constexpr (std::is_arithmetic_v<B>) {
        return call_c<ConstRight>(a, static_cast<double>(b));
    } else if constexpr (std::is_arithmetic_v<A>) {
        return call_c<ConstLeft>(b, static_cast<double>(a));
    } else {
        using C = common_number_t<A, B>;
        return call<Op>(promote<C>(a), promote<C>(b));
    }
}

template <class A, class B>
concept dual_operands = (is_dual_v<A> || is_dual_v<B>)&&is_number_v<A>&& is_number_v<B>;
}  // namespace detail

template <class A, class B>
requires detail::dual_operands<A, B>
auto operator+(const A& a, const B& b) { return detail::dual_binary<ops::Add, ops::AddC, ops::AddC>(a, b); }
template <class A, class B>
requires detail::dual_operands<A, B>
auto operator-(const A& a, const B& b) {
    // a - c is recorded as a + (-c), as the scalar engine does: the same value.
    if constexpr (std::is_arithmetic_v<B>)
        return detail::call_c<ops::AddC>(a, -static_cast<double>(b));
    else
        return detail::dual_binary<ops::Sub, ops::AddC, ops::RSubC>(a, b);
}
template <class A, class B>
requires detail::dual_operands<A, B>
auto operator*(const A& a, const B& b) { return detail::dual_binary<ops::Mul, ops::MulC, ops::MulC>(a, b); }
template <class A, class B>
requires detail::dual_operands<A, B>
auto operator/(const A& a, const B& b) { return detail::dual_binary<ops::Div, ops::DivC, ops::RDivC>(a, b); }
template <class A, class B>
requires detail::dual_operands<A, B>
auto pow(const A& a, const B& b) { return detail::dual_binary<ops::Pow, ops::PowC, ops::RPowC>(a, b); }
template <class A, class B>
requires(detail::dual_operands<A, B> && !std::is_arithmetic_v<A> && !std::is_arithmetic_v<B>) auto min(const A& a,
                                                                                                       const B& b) {
    using C = detail::common_number_t<A, B>;
    return detail::call<ops::Min>(detail::promote<C>(a), detail::promote<C>(b));
}
template <class A, class B>
requires(detail::dual_operands<A, B> && !std::is_arithmetic_v<A> && !std::is_arithmetic_v<B>) auto max(const A& a,
                                                                                                       const B& b) {
    using C = detail::common_number_t<A, B>;
    return detail::call<ops::Max>(detail::promote<C>(a), detail::promote<C>(b));
}

template <class V>
Dual<V> operator-(const Dual<V>& a) {
    return detail::call<ops::Neg>(a);
}
template <class V>
Dual<V> operator+(const Dual<V>& a) {
    return a;
}

// clang-format off
#define AG_DUAL_FUNCTION(fn, Op)                \
    template <class V>                          \
    Dual<V> fn(const Dual<V>& a) {              \
        return detail::call<ops::Op>(a);        \
    }
AG_DUAL_FUNCTION(exp, Exp)
AG_DUAL_FUNCTION(log, Log)
AG_DUAL_FUNCTION(sqrt, Sqrt)
AG_DUAL_FUNCTION(tanh, Tanh)
AG_DUAL_FUNCTION(sigmoid, Sigmoid)
AG_DUAL_FUNCTION(relu, Relu)
AG_DUAL_FUNCTION(sin, Sin)
AG_DUAL_FUNCTION(cos, Cos)
AG_DUAL_FUNCTION(abs, Abs)
AG_DUAL_FUNCTION(tan, Tan)
AG_DUAL_FUNCTION(atan, Atan)
AG_DUAL_FUNCTION(sinh, Sinh)
AG_DUAL_FUNCTION(cosh, Cosh)
AG_DUAL_FUNCTION(log1p, Log1p)
AG_DUAL_FUNCTION(expm1, Expm1)
AG_DUAL_FUNCTION(erf, Erf)
AG_DUAL_FUNCTION(softplus, Softplus)
AG_DUAL_FUNCTION(gelu, Gelu)
#undef AG_DUAL_FUNCTION
// clang-format on
template <class V>
Dual<V> leaky_relu(const Dual<V>& a, double slope = 0.01) {
    return detail::call_c<ops::LeakyReluC>(a, slope);
}
template <class V>
Dual<V> clamp_min(const Dual<V>& a, double lo) {
    return detail::call_c<ops::ClampMinC>(a, lo);
}
template <class V>
Dual<V> clamp_max(const Dual<V>& a, double hi) {
    return detail::call_c<ops::ClampMaxC>(a, hi);
}
template <class V>
Dual<V> clamp(const Dual<V>& a, double lo, double hi) {
    return clamp_max(clamp_min(a, lo), hi);
}

// As a * b + c: on Duals nothing is recorded, so one op or two is the same
// (ag::muladd on Values records one node).
template <class V>
Dual<V> muladd(const Dual<V>& a, const Dual<V>& b, const Dual<V>& c) {
    return a * b + c;
}

template <class A, class B>
requires detail::dual_operands<A, B> A& operator+=(A& a, const B& b) { return a = a + b; }
template <class A, class B>
requires detail::dual_operands<A, B> A& operator-=(A& a, const B& b) { return a = a - b; }
template <class A, class B>
requires detail::dual_operands<A, B> A& operator*=(A& a, const B& b) { return a = a * b; }
template <class A, class B>
requires detail::dual_operands<A, B> A& operator/=(A& a, const B& b) { return a = a / b; }

// d/dx f(x) at x0 in forward mode: f is called once with the Dual
// (x0, 1) and the tangent of its result is returned. X is double, Value or a
// Dual; f may be any callable that works on Dual<X> (a generic lambda).
template <class F, class X>
X derivative(F&& f, const X& x0) {
    const Dual<X> x(x0, detail::promote<X>(1.0));
    const auto y = std::forward<F>(f)(x);
    return detail::promote<Dual<X>>(y).tangent;
}

}  // namespace ag
