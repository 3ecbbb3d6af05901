// Micro-benchmarks for the request parser on the server's hot path: reset() then put() of a
// whole request head, as a keep-alive connection does for every request.
//   BM_ParseWrkGet:        the ~100-byte GET that wrk sends (3 header fields)
//   BM_ParseTenHeaderGet:  a browser-like GET with 10 header fields
//   build/release/src/http/parser_bench
#include "http/parser.h"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

namespace {
using tenx::http::ParserLimits;
using tenx::http::RequestParser;

constexpr std::string_view kWrkGet =
    "GET /hello HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: wrk/4.2.0\r\n"
    "Accept: */*\r\n"
    "\r\n";

constexpr std::string_view kTenHeaderGet =
    "GET /api/posts/12345?include=comments HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-GB,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/posts\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=abcdef0123456789; theme=dark\r\n"
    "X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"
    "\r\n";

void parse_loop(benchmark::State& state, std::string_view request) {
  RequestParser parser;
  const ParserLimits limits;
  boost::system::error_code ec;
  for (auto _ : state) {
    parser.reset(limits);
    const auto n = parser.put(request, ec);
    if (ec || n != request.size() || !parser.done()) {
      state.SkipWithError("request did not parse in one put()");
      break;
    }
    benchmark::DoNotOptimize(parser.head().target.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(request.size()));
}

void BM_ParseWrkGet(benchmark::State& state) { parse_loop(state, kWrkGet); }
BENCHMARK(BM_ParseWrkGet);

void BM_ParseTenHeaderGet(benchmark::State& state) { parse_loop(state, kTenHeaderGet); }
BENCHMARK(BM_ParseTenHeaderGet);

}  // namespace
