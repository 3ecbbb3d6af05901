#include "redis/reply.h"

#include "redis/errors.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <new>
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

// hiredis's reader builds replies through these callbacks (redisReplyObjectFunctions): they
// make our Reply values directly. hiredis's own array object callocs its element pointers for
// the count the server announces, so "*555555550" alone asked for 4.4 GB (found by
// reply_fuzz); here an array only grows as its elements arrive, and a count that the reply
// limit cannot hold (each element takes at least 3 bytes on the wire) is refused at once.
// The root is a new Reply (freed through freeObject, or taken by next()); elements live in
// their parent's vector, which does not grow while a nested array is being read. A callback
// returns null on failure, which hiredis reports as an error; exceptions never cross it.
namespace {

constexpr std::size_t kMinElementBytes = 3;  // "+\r\n"

void* attach(const redisReadTask* task, Reply&& value) noexcept {
  try {
    if (!task->parent) return new Reply(std::move(value));
    auto& elements = static_cast<Reply*>(task->parent->obj)->elements();
    elements.push_back(std::move(value));
    return &elements.back();
  } catch (...) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) noexcept {
  try {
    std::string text(str, len);
    switch (task->type) {
      case REDIS_REPLY_STATUS:
        return attach(task, Reply::status(std::move(text)));
      case REDIS_REPLY_ERROR:
        return attach(task, Reply::error(std::move(text)));
      default:
        return attach(task, Reply::string(std::move(text)));
    }
  } catch (...) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) noexcept {
  auto* reader = static_cast<ReplyReader*>(task->privdata);
  if (elements < 0 || (reader && static_cast<std::size_t>(elements) >
                                     reader->max_reply_bytes() / kMinElementBytes)) {
    if (reader) reader->refuse_array();
    return nullptr;
  }
  return attach(task, Reply::array({}));
}

void* create_integer(const redisReadTask* task, long long value) noexcept {
  return attach(task, Reply::integer(value));
}

void* create_nil(const redisReadTask* task) noexcept { return attach(task, Reply::nil()); }

void free_object(void* reply) noexcept { delete static_cast<Reply*>(reply); }

redisReplyObjectFunctions g_functions = {create_string, create_array, create_integer, create_nil,
                                         free_object};

}  // namespace

ReplyReader::ReplyReader(std::size_t max_reply_bytes)
    : reader_(redisReaderCreateWithFunctions(&g_functions)), max_reply_bytes_(max_reply_bytes) {
  if (!reader_) throw std::bad_alloc();
  reader_->privdata = this;  // handed to the callbacks with every task
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
    failed_ = make_error_code(array_refused_ ? Errc::reply_too_large : Errc::protocol);
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
  const std::unique_ptr<Reply> reply(static_cast<Reply*>(raw));
  Reply out = std::move(*reply);
  since_reply_ = buffered();  // what is left belongs to the replies after this one
  return std::optional<Reply>(std::move(out));
}

}  // namespace tenx::redis
