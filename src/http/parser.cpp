#include "http/parser.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <new>

#include "core/text.h"

namespace tenx::http {
namespace beast = boost::beast;
using boost::system::error_code;

template <bool IsRequest>
struct MessageParser<IsRequest>::Impl final : beast::http::basic_parser<IsRequest> {
  explicit Impl(MessageParser& owner) : owner(owner) {}
  MessageParser& owner;

  bool in_input(std::string_view v) const {
    return v.empty() || (v.data() >= owner.input_begin_ && v.data() + v.size() <= owner.input_end_);
  }

  void on_request_impl(beast::http::verb method, beast::string_view method_str,
                       beast::string_view target, int version, error_code& ec) override {
    if constexpr (IsRequest) {
      auto& h = owner.head_;
      h.method = method;
      h.method_string = method_str;
      h.target = target;
      h.version = static_cast<unsigned>(version);
      if (version != 10 && version != 11) {
        owner.pending_error_ = ParseError::bad_request;
        ec = beast::http::error::bad_version;
      }
    }
  }

  void on_response_impl(int code, beast::string_view reason, int version, error_code& ec) override {
    if constexpr (!IsRequest) {
      auto& h = owner.head_;
      h.status = static_cast<unsigned>(code);
      h.reason = reason;
      h.version = static_cast<unsigned>(version);
    }
  }

  void on_field_impl(beast::http::field name, beast::string_view name_sv,
                     beast::string_view value_sv, error_code& ec) override {
    const std::string_view name_string = name_sv;
    const std::string_view value = value_sv;
    // Beast joins obs-fold lines into a scratch buffer: a value outside the input is one.
    // A fold right after the colon ("Transfer-Encoding:\r\n chunked") Beast skips as leading
    // whitespace instead, leaving the value in the input: a line break between the colon and
    // the value is that fold.
    const char* colon = name_string.data() + name_string.size();
    const bool folded_before_value =
        in_input(name_string) && value.data() >= colon && value.data() <= owner.input_end_ &&
        std::string_view(colon, static_cast<std::size_t>(value.data() - colon))
                .find_first_of("\r\n") != std::string_view::npos;
    if (!in_input(value) || !in_input(name_string) || folded_before_value) {
      owner.pending_error_ = ParseError::bad_request;
      ec = beast::http::error::bad_value;
      return;
    }
    // RFC 9112 §7.1.2: a recipient that removes the chunked coding may discard trailer
    // fields. We do: they sit in the caller's buffer, and the head must not point there.
    if (this->is_header_done()) return;
    owner.head_.headers.push_back({name, name_string, value});
    if constexpr (IsRequest) {
      if (name == beast::http::field::host) {
        ++owner.host_count_;
      } else if (name == beast::http::field::transfer_encoding) {
        owner.te_seen_ = true;
        // RFC 9112 §6.1: the final coding must be chunked; we implement no other coding.
        owner.te_chunked_final_ = false;
        core::split_list(value, [&](std::string_view coding) {
          owner.te_chunked_final_ = iequals(coding, "chunked");
          if (!owner.te_chunked_final_) owner.te_unknown_ = true;
        });
      } else if (name == beast::http::field::expect) {
        owner.head_.expect_continue = iequals(core::trim_ows(value), "100-continue");
      }
    }
  }

  void on_header_impl(error_code& ec) override {
    auto& h = owner.head_;
    h.keep_alive = this->keep_alive();
    h.chunked = this->chunked();
    if (auto cl = this->content_length()) h.content_length = *cl;
    if constexpr (IsRequest) {
      if (owner.te_seen_) {
        // RFC 9112 §6.1: in a request, chunked must be the final coding (else 400); codings
        // before it we do not implement (501). HTTP/1.0 has no Transfer-Encoding (400).
        if (h.version < 11 || !owner.te_chunked_final_) {
          owner.pending_error_ = ParseError::bad_request;
          ec = beast::http::error::bad_transfer_encoding;
          return;
        }
        if (owner.te_unknown_) {
          owner.pending_error_ = ParseError::not_implemented;
          ec = beast::http::error::bad_transfer_encoding;
          return;
        }
        // Chunked applied twice ("chunked, chunked") is invalid (RFC 9112 §6.1) and Beast
        // does not decode such a body as chunked: the chunks would be read as the next request.
        if (!h.chunked) {
          owner.pending_error_ = ParseError::bad_request;
          ec = beast::http::error::bad_transfer_encoding;
          return;
        }
      }
      if (h.version == 11 && owner.host_count_ != 1) {
        owner.pending_error_ = ParseError::bad_request;
        ec = beast::http::error::bad_field;
        return;
      }
      if (owner.host_count_ > 1) {
        owner.pending_error_ = ParseError::bad_request;
        ec = beast::http::error::bad_field;
        return;
      }
    } else {
      h.has_body = !(h.status / 100 == 1 || h.status == 204 || h.status == 304 || skip_body_);
    }
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}

  std::size_t on_body_impl(beast::string_view body, error_code&) override {
    owner.body_piece_ = body;
    owner.body_bytes_ += body.size();
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    owner.body_piece_ = body;
    owner.body_bytes_ += body.size();
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  bool skip_body_ = false;
};

namespace {
constexpr std::size_t kHeadBytes = 1024;  // head storage reserved up front
constexpr std::size_t kHeadFields = 32;
}  // namespace

template <bool IsRequest>
MessageParser<IsRequest>::MessageParser() : impl_(std::make_unique<Impl>(*this)) {
  storage_.reserve(kHeadBytes);
  head_.headers.items().reserve(kHeadFields);
}

template <bool IsRequest>
void MessageParser<IsRequest>::park_storage(ParserStoragePool& pool) {
  if (parked_) return;
  parked_ = true;
  auto& fields = head_.headers.items();
  if (pool.parked.size() < ParserStoragePool::kMax) {
    storage_.clear();
    fields.clear();
    pool.parked.push_back({std::move(storage_), std::move(fields)});
  } else {
    std::string().swap(storage_);
    std::vector<HeaderView>().swap(fields);
  }
}

template <bool IsRequest>
void MessageParser<IsRequest>::unpark_storage(ParserStoragePool& pool) {
  if (!parked_) return;
  parked_ = false;
  auto& fields = head_.headers.items();
  if (pool.parked.empty()) {
    storage_.reserve(kHeadBytes);
    fields.reserve(kHeadFields);
    return;
  }
  auto& p = pool.parked.back();
  storage_ = std::move(p.bytes);
  fields = std::move(p.fields);
  pool.parked.pop_back();
}

template <bool IsRequest>
MessageParser<IsRequest>::~MessageParser() = default;

template <bool IsRequest>
void MessageParser<IsRequest>::reset(const ParserLimits& limits, bool skip_body) {
  // Beast parsers cannot be reused: rebuild in place, keeping the allocation.
  impl_->~Impl();
  new (impl_.get()) Impl(*this);
  impl_->header_limit(limits.max_header_bytes);
  max_header_bytes_ = limits.max_header_bytes;
  impl_->body_limit(limits.max_body_bytes ? boost::optional<std::uint64_t>(*limits.max_body_bytes)
                                          : boost::none);
  if constexpr (!IsRequest) {
    impl_->skip(skip_body);
    impl_->skip_body_ = skip_body;
  }
  head_.headers.clear();
  storage_.clear();  // keeps the capacity
  head_.content_length.reset();
  head_.keep_alive = true;
  head_.chunked = false;
  if constexpr (IsRequest) {
    head_.method = Verb::unknown;
    head_.method_string = {};
    head_.target = {};
    head_.expect_continue = false;
  } else {
    head_.status = 0;
    head_.reason = {};
    head_.has_body = true;
  }
  body_piece_ = {};
  body_bytes_ = 0;
  pending_error_ = ParseError::none;
  header_seen_ = false;
  host_count_ = 0;
  te_seen_ = te_chunked_final_ = te_unknown_ = false;
}

template <bool IsRequest>
void MessageParser<IsRequest>::rebase(const char* base, std::size_t n) {
  // Beast consumes the start line and complete fields of an unfinished head (the caller then
  // drops those bytes), so storage_ may already hold the front of this head: append to it.
  const std::string_view kept = storage_;
  std::string joined;  // only when a head arrived in pieces
  if (!kept.empty()) {
    joined.reserve(kept.size() + n);
    joined.append(kept);
  }
  std::string& out = kept.empty() ? storage_ : joined;
  out.append(base, n);
  const char* to = out.data();
  auto fix = [&](std::string_view& v) {
    if (v.empty()) {
      v = {};
      return;
    }
    if (v.data() >= kept.data() && v.data() + v.size() <= kept.data() + kept.size())
      v = std::string_view(to + (v.data() - kept.data()), v.size());
    else
      v = std::string_view(to + kept.size() + (v.data() - base), v.size());
  };
  if constexpr (IsRequest) {
    fix(head_.method_string);
    fix(head_.target);
  } else {
    fix(head_.reason);
  }
  for (auto& h : head_.headers.items()) {
    fix(h.name);
    fix(h.value);
  }
  if (!kept.empty()) storage_.swap(joined);
}

template <bool IsRequest>
std::size_t MessageParser<IsRequest>::put(std::string_view data, error_code& ec) {
  body_piece_ = {};
  input_begin_ = data.data();
  input_end_ = data.data() + data.size();
  const std::size_t n = impl_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
  if (!header_seen_) {
    const bool failed = ec && ec != beast::http::error::need_more;
    if (impl_->is_header_done()) {
      header_seen_ = true;
      rebase(data.data(), n);
    } else if (failed) {
      // Keep what was parsed of a refused head readable (for logs); views must not dangle.
      rebase(data.data(), data.size());
    } else if (n > 0) {
      // Part of an unfinished head was consumed (the caller will drop it): keep it.
      rebase(data.data(), n);
    }
    // Beast applies its header limit to each call's input only; a head that arrives in
    // pieces would escape it, so the whole head is checked here.
    if (!failed && storage_.size() > max_header_bytes_) {
      pending_error_ = ParseError::header_too_large;
      ec = beast::http::error::header_limit;
    }
  }
  return n;
}

template <bool IsRequest>
void MessageParser<IsRequest>::put_eof(error_code& ec) {
  impl_->put_eof(ec);
}

template <bool IsRequest>
bool MessageParser<IsRequest>::got_some() const {
  return impl_->got_some();
}
template <bool IsRequest>
bool MessageParser<IsRequest>::header_done() const {
  return impl_->is_header_done();
}
template <bool IsRequest>
bool MessageParser<IsRequest>::done() const {
  return impl_->is_done();
}
template <bool IsRequest>
bool MessageParser<IsRequest>::need_eof() const {
  return impl_->need_eof();
}

template <bool IsRequest>
ParseError MessageParser<IsRequest>::classify(const error_code& ec) const {
  if (!ec || ec == beast::http::error::need_more) return ParseError::none;
  if (pending_error_ != ParseError::none) return pending_error_;
  if (ec == beast::http::error::header_limit) return ParseError::header_too_large;
  if (ec == beast::http::error::body_limit) return ParseError::body_too_large;
  return ParseError::bad_request;
}

template class MessageParser<true>;
template class MessageParser<false>;

template <bool IsRequest>
std::string_view take_body_piece(MessageParser<IsRequest>& parser, IoBuffer& in, error_code& ec,
                                 bool& progressed) {
  ec = {};
  const auto n = parser.put(in.readable(), ec);
  const auto piece = parser.body_piece();
  in.consume(n);  // the bytes stay in place until the buffer is next written: piece is valid
  progressed = n > 0;
  if (ec == beast::http::error::need_more) ec = {};
  return piece;
}

template std::string_view take_body_piece(MessageParser<true>&, IoBuffer&, error_code&, bool&);
template std::string_view take_body_piece(MessageParser<false>&, IoBuffer&, error_code&, bool&);

}  // namespace tenx::http
