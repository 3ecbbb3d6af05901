#include "redis/reply.h"

#include "redis/errors.h"

#include <hiredis/hiredis.h>

#include <stdexcept>

namespace tenx::redis {

error_code Reply::server_error() const {
  if (type_ != Type::error) return {};
  return make_error_code(server_errc(text_));
}

std::string Reply::debug_string() const {
  switch (type_) {
    case Type::nil:
      return "(nil)";
    case Type::status:
      return text_;
    case Type::error:
      return "(error) " + text_;
    case Type::integer:
      return "(integer) " + std::to_string(integer_);
    case Type::string:
      return "\"" + text_ + "\"";
    case Type::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < elements_.size(); ++i) {
        if (i) out += ", ";
        out += elements_[i].debug_string();
      }
      return out + "]";
    }
  }
  return "?";
}

Reply from_hiredis(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(r.str, r.len));
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(r.str, r.len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(r.str, r.len));
    case REDIS_REPLY_INTEGER:
      return Reply::integer(r.integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) elements.push_back(from_hiredis(*r.element[i]));
      return Reply::array(std::move(elements));
    }
    case REDIS_REPLY_NIL:
    default:  // hiredis 0.14 has no other types (RESP3's come with 1.0, which we do not ask for)
      return Reply::nil();
  }
}

ReplyReader::ReplyReader(std::size_t max_reply_bytes)
    : reader_(redisReaderCreate()), max_reply_bytes_(max_reply_bytes) {
  if (!reader_) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() { redisReaderFree(reader_); }

std::size_t ReplyReader::buffered() const { return reader_->len - reader_->pos; }

error_code ReplyReader::feed(std::string_view bytes) {
  if (failed_) return failed_;
  if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK)
    failed_ = make_error_code(Errc::protocol);
  since_reply_ += bytes.size();
  return failed_;
}

Result<std::optional<Reply>> ReplyReader::next() {
  if (failed_) return failed_;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    failed_ = make_error_code(Errc::protocol);
    return failed_;
  }
  if (!raw) {
    // Incomplete. hiredis would buffer a bulk string of up to 512 MB (and arrays without
    // bound): ours is the configured limit on the bytes of one reply.
    if (since_reply_ > max_reply_bytes_) {
      failed_ = make_error_code(Errc::reply_too_large);
      return failed_;
    }
    return std::optional<Reply>{};
  }
  auto* reply = static_cast<redisReply*>(raw);
  Reply out = from_hiredis(*reply);
  freeReplyObject(reply);
  since_reply_ = buffered();  // what is left belongs to the replies after this one
  return std::optional<Reply>(std::move(out));
}

}  // namespace tenx::redis
