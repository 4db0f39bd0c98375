// Reference server for bench/compare.sh on Boost.Beast (Debian libboost-dev): what a C++ user
// would write with Beast's asynchronous WebSocket stream, on one thread with one io_context.
// /echo echoes every message; /ws speaks the part of shoal.v1 the load generator uses (sub ->
// "subscribed", pub -> "ack", and a "msg" with the topic's next sequence number to every
// subscriber: the text built once per message, shared by reference between the subscribers'
// queues, each written with Beast's one-write-at-a-time rule). No compression.
// usage: shoal-ref-beast PORT
#include <utility>  // before Boost 1.74: its awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class session;

struct topic {
  std::uint64_t seq = 0;
  std::unordered_set<session*> subscribers;
};
std::unordered_map<std::string, topic> topics;

// The value of "name":"..." in a shoal.v1 command (the load generator's own format).
std::string_view string_member(std::string_view json, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\":\"";
  const auto at = json.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = json.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : json.substr(start, end - start);
}

// The raw JSON value of "data": the rest of the object, without its closing brace.
std::string_view data_member(std::string_view json) {
  const auto at = json.find("\"data\":");
  const auto end = json.rfind('}');
  if (at == std::string_view::npos || end == std::string_view::npos || end < at + 7) return "null";
  return json.substr(at + 7, end - at - 7);
}

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : ws_(std::move(socket)) {}
  ~session() {
    for (const std::string& name : mine_) topics[name].subscribers.erase(this);
  }

  void start() {
    http::async_read(ws_.next_layer(), buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->accept();
                     });
  }

  void send(std::shared_ptr<const std::string> text) {
    queue_.push_back(std::move(text));
    if (queue_.size() == 1) write_next();
  }

 private:
  void accept() {
    echo_ = request_.target() == "/echo";
    if (!echo_) {
      ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, "shoal.v1");
      }));
    }
    ws_.read_message_max(64u << 20);
    ws_.async_accept(request_, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

  void read() {
    buffer_.clear();
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->on_message();
    });
  }

  void on_message() {
    const std::string text = beast::buffers_to_string(buffer_.data());
    if (echo_) {
      auto copy = std::make_shared<std::string>(text);
      binary_.push_back(!ws_.got_text());
      send(std::move(copy));
    } else {
      const std::string_view op = string_member(text, "op");
      const std::string name(string_member(text, "topic"));
      topic& t = topics[name];
      if (op == "sub") {
        t.subscribers.insert(this);
        mine_.insert(name);
        send(std::make_shared<const std::string>(R"({"op":"subscribed","topic":")" + name +
                                                 R"(","seq":)" + std::to_string(t.seq) + "}"));
      } else if (op == "pub") {
        const std::uint64_t seq = ++t.seq;
        auto frame = std::make_shared<const std::string>(
            R"({"op":"msg","topic":")" + name + R"(","seq":)" + std::to_string(seq) +
            R"(,"data":)" + std::string(data_member(text)) + "}");
        for (session* s : t.subscribers) s->send(frame);
        send(std::make_shared<const std::string>(R"({"op":"ack","topic":")" + name +
                                                 R"(","seq":)" + std::to_string(seq) + "}"));
      }
    }
    read();
  }

  void write_next() {
    const bool binary = echo_ && !binary_.empty() && binary_.front();
    ws_.binary(binary);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) return;
                      self->queue_.pop_front();
                      if (self->echo_ && !self->binary_.empty()) self->binary_.pop_front();
                      if (!self->queue_.empty()) self->write_next();
                    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  bool echo_ = false;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::deque<bool> binary_;  // echo: whether each queued message is binary
  std::unordered_set<std::string> mine_;
};

void do_accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<session>(std::move(socket))->start();
    }
    do_accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 8091);
  asio::io_context io(1);
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), port});
  do_accept(acceptor);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  io.run();
  return 0;
}
