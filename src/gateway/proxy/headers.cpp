#include "gateway/proxy/headers.h"

#include <charconv>

#include "core/text.h"

namespace tenx::gateway {
using namespace std::string_view_literals;

namespace {

// RFC 9110 §7.6.1 hop-by-hop fields, and the framing fields the proxy writes itself.
bool hop_by_hop_or_framing(http::Field f) {
  using F = http::Field;
  switch (f) {
    case F::connection:
    case F::keep_alive:
    case F::proxy_connection:
    case F::te:
    case F::trailer:
    case F::transfer_encoding:
    case F::upgrade:
    case F::content_length:
      return true;
    default:
      return false;
  }
}

bool dropped_request_field(const http::HeaderView& h) {
  if (hop_by_hop_or_framing(h.id) || h.id == http::Field::expect || h.id == http::Field::forwarded)
    return true;
  // Beast has no enum value for X-Forwarded-* and X-Real-IP.
  return h.id == http::Field::unknown && forwarding_field(h.name);
}

bool dropped_response_field(const http::HeaderView& h) {
  return hop_by_hop_or_framing(h.id) || h.id == http::Field::server || h.id == http::Field::date;
}

// Tokens of every Connection field (names of more hop-by-hop fields).
void connection_tokens(const http::HeaderList& headers, std::vector<std::string_view>& out) {
  out.clear();
  for (const auto& h : headers)
    if (h.id == http::Field::connection)
      core::split_list(h.value, [&out](std::string_view token) { out.push_back(token); });
}

bool listed(const std::vector<std::string_view>& tokens, std::string_view name) {
  for (auto t : tokens)
    if (http::iequals(t, name)) return true;
  return false;
}

[[gnu::always_inline]] inline void append_field(std::string& head, std::string_view name,
                                                std::string_view value) {
  head.append(name);
  head += ": "sv;
  head.append(value);
  head += "\r\n"sv;
}

}  // namespace

void build_upstream_head(const http::Exchange& ex, const FilterContext& filtered,
                         const ClientIdentity& client, std::string_view default_host,
                         std::vector<std::string_view>& tokens, std::string& head) {
  const auto& req = ex.request();
  connection_tokens(req.headers, tokens);
  head.clear();
  head.append(req.method_string);
  head += ' ';
  head.append(ex.path());
  const auto q = req.query();
  if (!q.empty() || req.target.find('?') != std::string_view::npos) {
    head += '?';
    head.append(q);
  }
  head += " HTTP/1.1\r\n"sv;
  // The upstream sees the host the request was routed by: an absolute-form target's authority
  // replaces the Host field (RFC 9112 §3.2.2); a request with neither (HTTP/1.0) gets the
  // pool's name, as nginx's default `Host: $proxy_host`.
  const bool absolute_form = !req.target.empty() && req.target.front() != '/';
  bool has_host = false;
  for (const auto& h : req.headers) {
    if (dropped_request_field(h) || listed(tokens, h.name) ||
        filtered.request_header_dropped(h.name))
      continue;
    if (h.id == http::Field::host) {
      if (absolute_form) continue;
      has_host = true;
    }
    append_field(head, h.name, h.value);
  }
  for (const auto& [name, value] : filtered.added_request_headers())
    append_field(head, name, value);
  if (!has_host)
    append_field(head, "Host"sv, client.authority.empty() ? default_host : client.authority);
  append_field(head, "X-Forwarded-For"sv, client.forwarded_for);
  append_field(head, "X-Forwarded-Proto"sv, client.proto);
  if (!client.host.empty()) append_field(head, "X-Forwarded-Host"sv, client.host);
  if (!client.forwarded.empty()) append_field(head, "Forwarded"sv, client.forwarded);
  // `listed` first: the tokens are at hand, and most requests name no upgrade.
  if (listed(tokens, "upgrade") && ex.upgrade_requested()) {
    // RFC 9110 §7.8: a hop that passes an upgrade on names it in its own Connection field.
    append_field(head, "Upgrade"sv, req.headers.find(http::Field::upgrade).value_or(""));
    append_field(head, "Connection"sv, "upgrade"sv);
  }
  if (!client.real_ip.empty()) append_field(head, "X-Real-IP"sv, client.real_ip);
  if (req.chunked) {
    head += "Transfer-Encoding: chunked\r\n"sv;
  } else if (req.content_length) {
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, *req.content_length);
    append_field(head, "Content-Length"sv,
                 std::string_view(num, static_cast<std::size_t>(r.ptr - num)));
  }
  head += "\r\n"sv;
}

void client_response_fields(const http::HeaderList& upstream, std::vector<std::string_view>& tokens,
                            std::vector<http::Header>& out) {
  connection_tokens(upstream, tokens);
  out.clear();
  for (const auto& f : upstream)
    if (!dropped_response_field(f) && !listed(tokens, f.name)) out.push_back({f.name, f.value});
}

}  // namespace tenx::gateway
