#include "protocol.hpp"

#include "gradbench.hpp"

#include <fmt/format.h>

#include <istream>
#include <new>
#include <ostream>

namespace gradbench {

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json failure(const json& id, std::string_view error) {
    return json{{"id", id}, {"success", false}, {"error", std::string(error)}};
}

const std::string& string_member(const json& message, const char* name, std::string_view kind) {
    const json& v = member(message, name, fmt::format("the {} message", kind));
    if (!v.is_string()) throw InputError(fmt::format("the {} message's '{}' is not a string", kind, name));
    return v.get_ref<const std::string&>();
}

// The evaluate response, with the timings written directly: a fast function
// runs up to millions of times under the Runs rule, and one JSON object per
// timing would cost more than the runs themselves.
std::string evaluate_response(const json& id, const json& message) {
    const std::string& module = string_member(message, "module", "evaluate");
    const std::string& function = string_member(message, "function", "evaluate");
    const json& input = member(message, "input", "the evaluate message");
    Evaluation e = evaluate(module, function, input);
    std::string out = dump(json{{"id", id}, {"success", true}, {"output", std::move(e.output)}});
    out.pop_back();  // the closing brace
    out += ",\"timings\":[";
    for (std::size_t i = 0; i < e.evaluate_ns.size(); ++i)
        fmt::format_to(std::back_inserter(out), "{}{{\"name\":\"evaluate\",\"nanoseconds\":{}}}", i ? "," : "",
                       e.evaluate_ns[i]);
    out += "]}";
    return out;
}

std::string define_response(const json& id, const json& message) {
    const std::string& module = string_member(message, "module", "define");
    const Module* m = find_module(module);
    if (m == nullptr) {
        std::string known;
        for (const Module& k : modules())
            if (k.missing.empty()) known += fmt::format("{}{}", known.empty() ? "" : ", ", k.name);
        return dump(failure(id, fmt::format("unknown module '{}' (tapegrad defines {})", module, known)));
    }
    if (!m->missing.empty()) return dump(failure(id, m->missing));
    return dump(json{{"id", id}, {"success", true}});
}

std::string respond_to(const json& id, const json& message) {
    const json& kind_v = member(message, "kind", "the message");
    if (!kind_v.is_string()) throw InputError("the message's 'kind' is not a string");
    const std::string& kind = kind_v.get_ref<const std::string&>();
    if (kind == "start")
        return dump(json{{"id", id},
                         {"tool", "tapegrad"},
                         {"config", {{"convention", "the tape is recorded inside every timed run"}}}});
    if (kind == "define") return define_response(id, message);
    if (kind == "evaluate") return evaluate_response(id, message);
    if (kind == "analysis") {
        integer(member(message, "of", "the analysis message"), "the analysis message's 'of'", 0, INT64_MAX);
        if (!member(message, "valid", "the analysis message").is_boolean())
            throw InputError("the analysis message's 'valid' is not a boolean");
        return dump(json{{"id", id}});
    }
    if (kind == "end") return dump(json{{"id", id}});
    return dump(
        failure(id, fmt::format("unknown message kind '{}' (known: start, define, evaluate, analysis, end)", kind)));
}

}  // namespace

std::string respond(std::string_view line) {
    json message;
    try {
        message = json::parse(line);
    } catch (const json::parse_error& e) {
        return dump(failure(nullptr, fmt::format("the message is not JSON: {}", e.what())));
    }
    if (!message.is_object()) return dump(failure(nullptr, "the message is not a JSON object"));
    const auto id_it = message.find("id");
    if (id_it == message.end()) return dump(failure(nullptr, "the message has no 'id'"));
    if (!id_it->is_number_integer()) return dump(failure(nullptr, "the message's 'id' is not an integer"));
    const json id = *id_it;
    try {
        return respond_to(id, message);
    } catch (const InputError& e) {
        return dump(failure(id, e.what()));
    } catch (const std::bad_alloc&) {
        return dump(failure(id, "out of memory"));
    } catch (const std::exception& e) {
        // The engine's own errors (a tape past its size limit, ...).
        return dump(failure(id, fmt::format("error: {}", e.what())));
    }
}

int serve(std::istream& in, std::ostream& out) {
    std::string line;
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        out << respond(line) << '\n';
        out.flush();
    }
    return 0;
}

}  // namespace gradbench
