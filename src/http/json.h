#pragma once
// JSON helpers for handlers: responses and request bodies with Boost.JSON, and the error shape
// every tenx endpoint uses: {"error": "<code>", "message": "<text for people>"}.
//
// append_json_string() is dependency-free and cheap: the server core uses it for its own
// error bodies without pulling Boost.JSON into the hot path.
#include "core/result.h"
#include "http/message.h"

#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>

#include <span>
#include <string>
#include <string_view>

namespace tenx::http {

class Exchange;

// Appends `s` as a quoted JSON string (escaping quotes, backslashes and control bytes).
void append_json_string(std::string& out, std::string_view s);
// {"error":"code","message":"..."}
std::string error_body(std::string_view code, std::string_view message);

// Serializes v and responds with application/json.
void respond_json(Exchange& ex, unsigned status, const boost::json::value& v,
                  std::span<const Header> headers = {});

// True for a JSON media type: `application/json` or `application/*+json`, in any case, with
// any parameters (RFC 9110 §8.3.1: type and subtype are case-insensitive).
bool is_json_media_type(std::string_view content_type);

// Reads the request body (bounded by the server's max_body_bytes) and parses it as JSON.
// On failure responds itself (413 body too large, 415 without a JSON Content-Type, 400
// malformed JSON, with the reason) and returns an error; the handler then just returns.
boost::asio::awaitable<Result<boost::json::value>> read_json_body(Exchange& ex);

}  // namespace tenx::http
