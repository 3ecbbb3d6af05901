#pragma once
// The header rules of a proxy hop (RFC 9110 §7.6.1): what is copied between the client and
// the upstream in each direction, and what the hop writes itself.
//
//   upstream request head  = method, path?query, HTTP/1.1; the client's fields minus the
//                            hop-by-hop ones (Connection, Keep-Alive, TE, Trailer, Upgrade,
//                            Transfer-Encoding, Proxy-Connection and every field Connection
//                            names), Content-Length, Expect (the gateway answers 100
//                            Continue itself when it reads the body), the incoming
//                            forwarding fields (rewritten from ClientIdentity), the fields a
//                            filter dropped, and Host for an absolute-form target; then the
//                            filters' fields, Host (the routed authority, else the pool's
//                            name), the forwarding fields, Upgrade + `Connection: upgrade`
//                            for a protocol upgrade (WebSocket), and the framing the
//                            gateway re-encodes the body with.
//   client response fields = the upstream's fields minus the hop-by-hop ones, framing,
//                            Server and Date (the gateway's server writes its own).
//
// Pure functions over the request's views; the output goes into caller-owned, reused buffers.
#include "gateway/filter_context.h"
#include "gateway/proxy/client_identity.h"
#include "http/message.h"
#include "http/server.h"

#include <string>
#include <string_view>
#include <vector>

namespace tenx::gateway {

// Writes the upstream request head into `head` (with the fields the filters added or dropped);
// `tokens` is scratch. `default_host`: the Host
// for a request that names none (the pool's name).
void build_upstream_head(const http::Exchange& ex, const FilterContext& filtered,
                         const ClientIdentity& client, std::string_view default_host,
                         std::vector<std::string_view>& tokens, std::string& head);

// The upstream response's fields that go on to the client, into `out`; `tokens` is scratch.
void client_response_fields(const http::HeaderList& upstream, std::vector<std::string_view>& tokens,
                            std::vector<http::Header>& out);

}  // namespace tenx::gateway
