// The GradBench tool as GradBench drives it: a scripted session of protocol
// messages (start, define, evaluate, analysis, malformed lines, then the end
// of input) piped through the `tapegrad-gradbench` program, each response
// checked field by field; and single messages through gradbench::respond.
#include "protocol.hpp"
#include "tests/scratch_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using json = nlohmann::json;

namespace {

json respond(const std::string& line) { return json::parse(gradbench::respond(line)); }

struct Run {
    int code = -1;
    std::vector<std::string> lines;
};

// Pipes `input` through the tool program; returns its exit code and stdout lines.
Run tool(const std::string& input) {
    const auto in = scratch_path("messages.jsonl"), out = scratch_path("responses.jsonl");
    std::ofstream(in, std::ios::binary) << input;
    const int status =
        std::system(fmt::format("'{}' < '{}' > '{}'", TAPEGRAD_GRADBENCH, in.string(), out.string()).c_str());
    Run r;
    REQUIRE(WIFEXITED(status));
    r.code = WEXITSTATUS(status);
    std::ifstream f(out, std::ios::binary);
    for (std::string line; std::getline(f, line);) r.lines.push_back(line);
    return r;
}

std::size_t evaluate_timings(const json& response) {
    std::size_t n = 0;
    for (const json& t : response.at("timings")) {
        CHECK(t.at("name") == "evaluate");
        CHECK(t.at("nanoseconds").is_number_integer());
        CHECK(t.at("nanoseconds").get<std::int64_t>() >= 0);
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("gradbench session: a scripted session through the program, malformed lines included") {
    const std::vector<std::string> messages = {
        R"({"id": 0, "kind": "start", "eval": "det", "config": {"min_runs": 1}})",
        R"({"id": 1, "kind": "define", "module": "det"})",
        R"({"id": 2, "kind": "evaluate", "module": "det", "function": "primal", "input": {"A": [1, 2, 3, 4], "ell": 2, "min_runs": 3, "min_seconds": 0}, "description": "2"})",
        R"({"id": 3, "kind": "analysis", "of": 2, "valid": true})",
        R"({"id": 4, "kind": "evaluate", "module": "det", "function": "gradient", "input": {"A": [1, 2, 3, 4], "ell": 2}})",
        R"({"id": 5, "kind": "analysis", "of": 4, "valid": false, "error": "made up"})",
        "this is not JSON",
        "",  // blank: skipped, no response
        R"([1, 2, 3])",
        R"({"kind": "start"})",
        R"({"id": 6})",
        R"({"id": 7, "kind": "dance"})",
        R"({"id": 8, "kind": "evaluate", "module": "det", "function": "primal", "input": {"A": [1, 2, 3], "ell": 2}})",
        R"({"id": 9, "kind": "evaluate", "module": "det", "function": "primal"})",
        R"({"id": 10, "kind": "define", "module": "kmeans"})",
        R"({"id": 11, "kind": "define", "module": "tensorflow"})",
        R"({"id": 12, "kind": "define"})",
        R"({"id": 13, "kind": "evaluate", "module": "hello", "function": "double", "input": 0.5})",
        R"({"id": 14, "kind": "end"})",
    };
    std::string script;
    for (const std::string& m : messages) script += m + "\n";
    script.pop_back();  // the last line without its newline still counts
    const Run r = tool(script);
    CHECK(r.code == 0);
    REQUIRE(r.lines.size() == messages.size() - 1);
    std::vector<json> resp;
    for (const std::string& line : r.lines) resp.push_back(json::parse(line));

    CHECK(
        resp[0] ==
        json::parse(
            R"({"id": 0, "tool": "tapegrad", "config": {"convention": "the tape is recorded inside every timed run"}})"));
    CHECK(resp[1] == json::parse(R"({"id": 1, "success": true})"));
    CHECK(resp[2].at("id") == 2);
    CHECK(resp[2].at("success") == true);
    CHECK(resp[2].at("output") == -2.0);
    CHECK(evaluate_timings(resp[2]) == 3);
    CHECK(resp[3] == json::parse(R"({"id": 3})"));
    CHECK(resp[4].at("output") == json::parse("[4.0, -3.0, -2.0, 1.0]"));
    CHECK(evaluate_timings(resp[4]) == 1);
    CHECK(resp[5] == json::parse(R"({"id": 5})"));
    CHECK(resp[6].at("id").is_null());
    CHECK(resp[6].at("success") == false);
    CHECK(resp[6].at("error").get<std::string>().starts_with(
        "the message is not JSON: [json.exception.parse_error.101]"));
    CHECK(resp[7] == json::parse(R"({"id": null, "success": false, "error": "the message is not a JSON object"})"));
    CHECK(resp[8] == json::parse(R"({"id": null, "success": false, "error": "the message has no 'id'"})"));
    CHECK(resp[9] == json::parse(R"({"id": 6, "success": false, "error": "the message has no field 'kind'"})"));
    CHECK(
        resp[10] ==
        json::parse(
            R"j({"id": 7, "success": false, "error": "unknown message kind 'dance' (known: start, define, evaluate, analysis, end)"})j"));
    CHECK(resp[11] ==
          json::parse(R"({"id": 8, "success": false, "error": "det input.A (ell = 2) has 3 numbers; 4 expected"})"));
    CHECK(resp[12] ==
          json::parse(R"({"id": 9, "success": false, "error": "the evaluate message has no field 'input'"})"));
    CHECK(resp[13] == json::parse(R"({"id": 10, "success": true})"));
    CHECK(
        resp[14] ==
        json::parse(
            R"j({"id": 11, "success": false, "error": "unknown module 'tensorflow' (tapegrad defines hello, det, llsq, lse, ode, gmm, lstm, ba, ht, kmeans, particle, saddle)"})j"));
    CHECK(resp[15] ==
          json::parse(R"({"id": 12, "success": false, "error": "the define message has no field 'module'"})"));
    CHECK(resp[16].at("output") == 1.0);
    CHECK(resp[17] == json::parse(R"({"id": 14})"));
}

TEST_CASE("gradbench session: every module GradBench has is defined with success") {
    for (const char* m :
         {"hello", "det", "llsq", "lse", "ode", "gmm", "lstm", "ba", "ht", "kmeans", "particle", "saddle"}) {
        INFO(m);
        CHECK(respond(fmt::format(R"({{"id": 3, "kind": "define", "module": "{}"}})", m)) ==
              json{{"id", 3}, {"success", true}});
    }
}

TEST_CASE("gradbench session: malformed fields get an error naming them") {
    CHECK(respond(R"({"id": "seven", "kind": "start"})") ==
          json::parse(R"({"id": null, "success": false, "error": "the message's 'id' is not an integer"})"));
    CHECK(respond(R"({"id": 1, "kind": 5})") ==
          json::parse(R"({"id": 1, "success": false, "error": "the message's 'kind' is not a string"})"));
    CHECK(respond(R"({"id": 1, "kind": "define", "module": ["det"]})") ==
          json::parse(R"({"id": 1, "success": false, "error": "the define message's 'module' is not a string"})"));
    CHECK(respond(R"({"id": 2, "kind": "evaluate", "module": "det", "function": "lu", "input": {}})") ==
          json::parse(
              R"j({"id": 2, "success": false, "error": "det has no function 'lu' (it has 'primal', 'gradient')"})j"));
    CHECK(
        respond(
            R"({"id": 2, "kind": "evaluate", "module": "det", "function": "primal", "input": {"A": [1], "ell": 1, "min_runs": 1.5}})") ==
        json::parse(R"({"id": 2, "success": false, "error": "input.min_runs is a number (1.5), not an integer"})"));
    CHECK(respond(R"({"id": 4, "kind": "analysis", "valid": true})") ==
          json::parse(R"({"id": 4, "success": false, "error": "the analysis message has no field 'of'"})"));
    CHECK(respond(R"({"id": 4, "kind": "analysis", "of": 3, "valid": "yes"})") ==
          json::parse(R"({"id": 4, "success": false, "error": "the analysis message's 'valid' is not a boolean"})"));
    // The id comes back as sent, however large.
    CHECK(respond(R"({"id": 9007199254740993, "kind": "analysis", "of": 0, "valid": true})").dump() ==
          R"({"id":9007199254740993})");
}

TEST_CASE("gradbench session: a line of tens of megabytes is read whole") {
    // lse of 2·10^6 equal numbers x: log(n) + x.
    constexpr std::size_t n = 2'000'000;
    std::string line = R"({"id": 0, "kind": "evaluate", "module": "lse", "function": "primal", "input": {"x": [)";
    line.reserve(line.size() + 8 * n + 64);
    for (std::size_t i = 0; i < n; ++i) line += i ? ", 0.3125" : "0.3125";
    line += R"(]}})";
    REQUIRE(line.size() > 16'000'000);
    const Run r = tool(line + "\n" +
                       R"({"id": 1, "kind": "evaluate", "module": "hello", "function": "square", "input": 3})" + "\n");
    CHECK(r.code == 0);
    REQUIRE(r.lines.size() == 2);
    const json first = json::parse(r.lines[0]);
    REQUIRE(first.at("success") == true);
    CHECK(first.at("output").get<double>() ==
          doctest::Approx(std::log(static_cast<double>(n)) + 0.3125).epsilon(1e-12));
    CHECK(json::parse(r.lines[1]).at("output") == 9.0);
}

TEST_CASE("gradbench session: no input at all is a session that ends at once") {
    const Run r = tool("");
    CHECK(r.code == 0);
    CHECK(r.lines.empty());
}
