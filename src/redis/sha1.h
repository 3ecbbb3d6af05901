#pragma once
// SHA-1 (FIPS 180-4 §6.1) of a byte string, as 40 lower-case hex digits: the name Redis gives a
// Lua script (EVALSHA). Not for security: Redis chose the hash, we only have to agree with it.
#include <string>
#include <string_view>

namespace tenx::redis {

std::string sha1_hex(std::string_view data);

}  // namespace tenx::redis
