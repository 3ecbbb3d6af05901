#include "app/cursor.h"

#include <xxhash.h>

#include <array>
#include <cstring>

namespace tenx::app {

namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kRaw = 1 + 8 + 8 + 8;  // version, created_at, id, tag
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void put64(unsigned char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}
std::uint64_t get64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
int index_of(char c) {
  const char* at = std::strchr(kAlphabet, c);
  return (at && c) ? static_cast<int>(at - kAlphabet) : -1;
}

}  // namespace

CursorCodec::CursorCodec(std::string_view key)
    : seed_(XXH3_64bits_withSeed(key.data(), key.size(), 0x74656e78ull)) {}

std::uint64_t CursorCodec::tag(const unsigned char* data, std::size_t n) const {
  return XXH3_64bits_withSeed(data, n, seed_);
}

std::string CursorCodec::encode(const CursorPosition& p) const {
  std::array<unsigned char, kRaw> raw{};
  raw[0] = kVersion;
  put64(raw.data() + 1, static_cast<std::uint64_t>(p.created_at_us));
  put64(raw.data() + 9, static_cast<std::uint64_t>(p.id));
  put64(raw.data() + 17, tag(raw.data(), 17));
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::optional<CursorPosition> CursorCodec::decode(std::string_view cursor) const {
  if (cursor.size() != (kRaw * 8 + 5) / 6) return std::nullopt;
  std::array<unsigned char, kRaw> raw{};
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : cursor) {
    const int v = index_of(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < kRaw) raw[n++] = static_cast<unsigned char>(acc >> bits);
    }
  }
  // The leftover bits of the last character must be zero (one spelling per cursor).
  if (n != kRaw || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  if (raw[0] != kVersion || get64(raw.data() + 17) != tag(raw.data(), 17)) return std::nullopt;
  CursorPosition p;
  p.created_at_us = static_cast<std::int64_t>(get64(raw.data() + 1));
  p.id = static_cast<std::int64_t>(get64(raw.data() + 9));
  if (p.id <= 0 || p.created_at_us < 0) return std::nullopt;
  return p;
}

}  // namespace tenx::app
