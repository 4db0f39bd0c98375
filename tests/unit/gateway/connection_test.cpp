// connection over the in-memory transport, without sockets: every state transition
// (connection.hpp), the closing handshake from both sides (RFC 6455 §5.5.1, §7.1.7), input in
// every split, fragments, ping/pong, heartbeats, idle and handshake timeouts, backpressure
// against a stalled socket, and a receive or a send failing at every step (Beast's test stream).
// Time is ctx.now, moved by hand. TLS over the same transport: connection_tls_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connection_rig.hpp"

namespace shoal::gateway::conn_test {
namespace {

using core::opcode;

// The bytes of an unmasked server frame.
std::string server_frame(opcode op, std::string_view payload) {
  static core::frame_encoder encoder(core::role::server);
  bytes out;
  encoder.append_frame(out, op, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  return {out.begin(), out.end()};
}

// Accepts a connection and upgrades it to /echo; the 101 goes to `reader`.
std::size_t open_echo(rig& r, ws_reader& reader) {
  const std::size_t i = r.accept();
  r.peer(i).feed(upgrade_request);
  r.settle();
  reader.read(r.peer(i).take());
  EXPECT_EQ(r.state(i), conn_state::open);
  EXPECT_EQ(reader.responses.size(), 1u);
  return i;
}

// Feeds `b`, settles, and reads what the server wrote.
void send(rig& r, std::size_t i, ws_reader& reader, const bytes& b) {
  r.peer(i).feed(b);
  r.settle();
  reader.read(r.peer(i).take());
}

constexpr std::string_view healthz = "GET /healthz HTTP/1.1\r\nHost: shoal.test\r\n\r\n";

// --- State transitions -------------------------------------------------------------------

TEST(ConnectionState, UpgradeMovesHttpToOpen) {
  rig r;
  const std::size_t i = r.accept();
  EXPECT_TRUE(r.peer(i).opened);
  EXPECT_EQ(r.state(i), conn_state::http);
  r.peer(i).feed(upgrade_request);
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::open);
  EXPECT_EQ(r.peer(i).text(), upgrade_response());
  EXPECT_NE(r.peer(i).text().find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_EQ(r.metrics.websocket_open.load(), 1u);
  EXPECT_FALSE(r.peer(i).fin);
}

TEST(ConnectionState, KeepAliveRequestStaysHttpWithANewHandshakeDeadline) {
  rig r;
  r.settings.handshake_ticks = 100;
  const std::size_t i = r.accept();
  r.advance(60);
  r.peer(i).feed(healthz);
  r.settle();
  const std::string first = r.peer(i).take();
  EXPECT_TRUE(first.starts_with("HTTP/1.1 200 ")) << first;
  EXPECT_TRUE(first.ends_with("\r\n\r\nok\n")) << first;
  EXPECT_EQ(r.state(i), conn_state::http);
  r.advance(60);  // 120 ticks since the accept, 60 since the request: the deadline moved
  EXPECT_EQ(r.state(i), conn_state::http);
  r.peer(i).feed(healthz);
  r.settle();
  EXPECT_TRUE(r.peer(i).take().starts_with("HTTP/1.1 200 "));
  EXPECT_EQ(r.state(i), conn_state::http);
  EXPECT_EQ(r.metrics.http_requests.load(), 2u);
  r.advance(99);
  EXPECT_EQ(r.state(i), conn_state::http);
  r.advance(1);  // the second request's deadline
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  EXPECT_FALSE(r.peer(i).fin);
  r.expect_all_released();
}

TEST(ConnectionState, PipelinedRequestsThenAnUpgradeInOneRead) {
  rig r;
  const std::size_t i = r.accept();
  std::string all(healthz);
  all += healthz;
  all += upgrade_request;
  r.peer(i).feed(all);
  r.settle();
  ws_reader reader;
  reader.read(r.peer(i).take());
  ASSERT_EQ(reader.responses.size(), 3u);
  EXPECT_TRUE(reader.responses[0].starts_with("HTTP/1.1 200 "));
  EXPECT_TRUE(reader.responses[1].starts_with("HTTP/1.1 200 "));
  EXPECT_EQ(reader.responses[2], upgrade_response());
  EXPECT_EQ(r.state(i), conn_state::open);
}

TEST(ConnectionState, BadRequestIsAnsweredThenLingersUntilThePeersFin) {
  rig r;
  const std::size_t i = r.accept();
  r.peer(i).feed("NOT HTTP AT ALL\r\n\r\n");
  r.settle();
  const std::string out = r.peer(i).text();
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400 ")) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  EXPECT_TRUE(r.peer(i).fin);
  EXPECT_EQ(r.peer(i).output_at_fin, out.size());  // FIN after the whole response
  EXPECT_EQ(r.metrics.handshakes_failed.load(), 1u);
  // Lingering reads on (the peer's FIN is what it waits for) and answers nothing.
  r.peer(i).feed(healthz);
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::lingering);
  EXPECT_EQ(r.peer(i).output.size(), out.size());
  r.peer(i).send_fin();
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  EXPECT_EQ(r.peer(i).writes_after_fin, 0u);
  r.expect_all_released();
}

TEST(ConnectionState, ConnectionCloseLingersUntilTheCloseTimeout) {
  rig r;
  const std::size_t i = r.accept();
  r.peer(i).feed("GET /healthz HTTP/1.1\r\nHost: shoal.test\r\nConnection: close\r\n\r\n");
  r.settle();
  EXPECT_TRUE(r.peer(i).text().starts_with("HTTP/1.1 200 "));
  EXPECT_NE(r.peer(i).text().find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  EXPECT_TRUE(r.peer(i).fin);
  r.advance(r.settings.close_ticks - 1);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(ConnectionState, HandshakeTimeoutClosesASlowClient) {
  rig r;
  const std::size_t i = r.accept();
  r.peer(i).feed("GET /echo HTTP/1.1\r\nHost: shoal.test\r\n");  // and nothing more
  r.settle();
  r.advance(r.settings.handshake_ticks - 1);
  EXPECT_EQ(r.state(i), conn_state::http);
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).output.empty());
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(ConnectionState, PeerFinWhileOpenClosesWithoutAClose) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.peer(i).send_fin();
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);  // 1006: nothing to send
  EXPECT_EQ(r.peer(i).take(), "");
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(ConnectionState, PeerResetDuringTheRequestCloses) {
  rig r;
  const std::size_t i = r.accept();
  r.peer(i).feed("GET /ec");
  r.peer(i).send_reset();
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).output.empty());
  r.expect_all_released();
}

// --- The closing handshake -----------------------------------------------------------------

TEST(Closing, OurCloseThenThePeersAnswerCloses) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.conn(i)->start_close(r.ctx, 1001, "going away");
  r.settle();
  reader.read(r.peer(i).take());
  EXPECT_EQ(r.state(i), conn_state::closing);
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].op, opcode::close);
  EXPECT_EQ(reader.frames[0].close_code(), 1001);
  EXPECT_EQ(reader.frames[0].close_reason(), "going away");
  EXPECT_EQ(r.metrics.closes_by_code[1].load(), 1u);
  // After our Close, data is read and discarded, a ping is not answered (§5.5.1).
  send(r, i, reader, text_frame("late"));
  send(r, i, reader, client_frame(opcode::ping, "p"));
  EXPECT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(r.state(i), conn_state::closing);
  send(r, i, reader, client_close(1001));
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_EQ(reader.frames.size(), 1u);  // no second Close
  EXPECT_TRUE(r.peer(i).closed);
  EXPECT_EQ(r.metrics.closes_by_code[1].load(), 1u);
  r.expect_all_released();
}

TEST(Closing, OurCloseWithoutAnAnswerEndsAtTheCloseTimeout) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.advance(7);
  r.conn(i)->start_close(r.ctx, 1000, "");
  r.settle();
  reader.read(r.peer(i).take());
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].payload, std::string("\x03\xe8", 2));  // 1000, no reason
  r.conn(i)->start_close(r.ctx, 1001, "again");  // a second close says nothing more
  r.advance(r.settings.close_ticks - 1);
  EXPECT_EQ(r.state(i), conn_state::closing);
  EXPECT_EQ(r.peer(i).take(), "");
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(Closing, ThePeersCloseIsAnsweredWithItsCodeThenClosed) {
  struct probe {
    std::uint16_t code;
    std::string reason;
  };
  for (const probe& p : {probe{1000, "bye"}, probe{1001, ""}, probe{4001, "app-defined"}, probe{3000, "x"}}) {
    SCOPED_TRACE(p.code);
    rig r;
    ws_reader reader;
    const std::size_t i = open_echo(r, reader);
    send(r, i, reader, client_close(p.code, p.reason));
    ASSERT_EQ(reader.frames.size(), 1u);
    EXPECT_EQ(reader.frames[0].op, opcode::close);
    EXPECT_EQ(reader.frames[0].close_code(), p.code);
    EXPECT_EQ(reader.frames[0].payload.size(), 2u);  // the code, without the reason
    // The server closes the TCP connection first (§7.1.1), without waiting.
    EXPECT_EQ(r.state(i), conn_state::closed);
    EXPECT_TRUE(r.peer(i).closed);
    r.expect_all_released();
  }
}

TEST(Closing, APeersCloseWithoutACodeIsAnsweredWithoutOne) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  send(r, i, reader, client_frame(opcode::close, ""));
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].op, opcode::close);
  EXPECT_EQ(reader.frames[0].payload, "");  // 1005 is never sent (§7.4.1)
  EXPECT_EQ(r.state(i), conn_state::closed);
}

TEST(Closing, FramesAfterThePeersCloseInTheSameReadAreIgnored) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  bytes b = client_close(1000);
  append(b, text_frame("after the close"));
  send(r, i, reader, b);
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].op, opcode::close);
  EXPECT_EQ(r.state(i), conn_state::closed);
}

TEST(Closing, AProtocolErrorSendsItsCodeThenLingersUntilThePeersFin) {
  struct probe {
    bytes frame;
    std::uint16_t code;
  };
  const probe probes[] = {
      {to_bytes(std::string_view("\x81\x02hi", 4)), 1002},   // unmasked (§5.1)
      {client_frame(static_cast<opcode>(0x3), "x"), 1002},  // reserved opcode (§5.2)
      {client_frame(opcode::text, "\xff"), 1007},           // not UTF-8 (§8.1)
      {client_frame(opcode::ping, std::string(126, 'p')), 1002},  // control frame > 125 (§5.5)
  };
  for (const probe& p : probes) {
    SCOPED_TRACE(p.code);
    rig r;
    ws_reader reader;
    const std::size_t i = open_echo(r, reader);
    bytes b = text_frame("before");
    append(b, p.frame);
    append(b, text_frame("after"));
    send(r, i, reader, b);
    ASSERT_EQ(reader.frames.size(), 2u);
    EXPECT_EQ(reader.frames[0].payload, "before");
    EXPECT_EQ(reader.frames[1].op, opcode::close);
    EXPECT_EQ(reader.frames[1].close_code(), p.code);
    EXPECT_FALSE(reader.frames[1].close_reason().empty());  // the RFC reason
    // Failing the connection (§7.1.7): FIN after the Close, then wait for the peer's.
    EXPECT_EQ(r.state(i), conn_state::lingering);
    EXPECT_TRUE(r.peer(i).fin);
    EXPECT_EQ(r.peer(i).output_at_fin, r.peer(i).output.size());
    EXPECT_FALSE(r.peer(i).closed);
    send(r, i, reader, text_frame("ignored"));
    EXPECT_EQ(reader.frames.size(), 2u);
    r.peer(i).send_fin();
    r.settle();
    EXPECT_EQ(r.state(i), conn_state::closed);
    EXPECT_TRUE(r.peer(i).closed);
    r.expect_all_released();
  }
}

TEST(Closing, AProtocolErrorAfterOurCloseMovesClosingToLingering) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.conn(i)->start_close(r.ctx, 1001, "going away");
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closing);
  send(r, i, reader, to_bytes(std::string_view("\x81\x02hi", 4)));  // unmasked (§5.1)
  ASSERT_EQ(reader.frames.size(), 1u);  // our Close was the last frame: no second one
  EXPECT_EQ(reader.frames[0].close_code(), 1001);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  EXPECT_TRUE(r.peer(i).fin);
  r.peer(i).send_fin();
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);
  r.expect_all_released();
}

TEST(Closing, AFailedConnectionLingersAtMostTheCloseTimeout) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  send(r, i, reader, to_bytes(std::string_view("\x81\x02hi", 4)));
  EXPECT_EQ(r.state(i), conn_state::lingering);
  r.advance(r.settings.close_ticks - 1);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closed);
  r.expect_all_released();
}

// --- Messages, fragments, control frames ---------------------------------------------------

TEST(Echo, MessagesComeBackInTheirOwnFrames) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  bytes b = text_frame("hello");
  append(b, client_frame(opcode::binary, std::string("\x00\x01\x02", 3)));
  append(b, text_frame(""));
  append(b, text_frame(std::string(300, 'm')));
  r.peer(i).feed(b);
  r.settle();
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::text, "hello") +
                                  server_frame(opcode::binary, std::string("\x00\x01\x02", 3)) +
                                  server_frame(opcode::text, "") + server_frame(opcode::text, std::string(300, 'm')));
  EXPECT_EQ(r.metrics.messages_in.load(), 4u);
}

TEST(Echo, AFragmentedMessageIsEchoedWholeAfterThePongOfAPingBetweenItsFragments) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  bytes b = client_frame(opcode::text, "Hel", false);
  append(b, client_frame(opcode::ping, "p"));
  append(b, client_frame(opcode::continuation, "lo", false));
  r.peer(i).feed(b);
  r.settle();
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::pong, "p"));
  r.peer(i).feed(client_frame(opcode::continuation, " world"));
  r.settle();
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::text, "Hello world"));
  // A continuation with no message started is a protocol error (§5.4).
  send(r, i, reader, client_frame(opcode::continuation, "stray"));
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].close_code(), 1002);
}

TEST(Control, PingIsAnsweredWithAPongCarryingItsPayloadAndPongsAreIgnored) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.peer(i).feed(client_frame(opcode::ping, "are you there?"));
  r.peer(i).feed(client_frame(opcode::pong, "unsolicited"));  // allowed and ignored (§5.5.3)
  r.peer(i).feed(client_frame(opcode::ping, ""));
  r.settle();
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::pong, "are you there?") + server_frame(opcode::pong, ""));
  EXPECT_EQ(r.state(i), conn_state::open);
}

// Upgrade request, a message, a fragmented message with a ping between its fragments, and a
// Close: the same output whatever the split of the input.
bytes split_test_input() {
  bytes in = to_bytes(upgrade_request);
  append(in, text_frame("hello"));
  append(in, client_frame(opcode::binary, "frag", false));
  append(in, client_frame(opcode::ping, "pp"));
  append(in, client_frame(opcode::continuation, "ment"));
  append(in, client_close(1000, "done"));
  return in;
}

std::string run_split(const std::function<void(memory_peer&)>& feed) {
  rig r;
  r.read_buffer.resize(64);  // receives of a few bytes, also for whole chunks
  const std::size_t i = r.accept();
  feed(r.peer(i));
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);
  r.expect_all_released();
  return r.peer(i).text();
}

TEST(Echo, EverySplitOfTheInputGivesTheSameOutput) {
  const bytes input = split_test_input();
  const std::string expected = upgrade_response() + server_frame(opcode::text, "hello") +
                               server_frame(opcode::pong, "pp") + server_frame(opcode::binary, "fragment") +
                               server_frame(opcode::close, std::string("\x03\xe8", 2));
  EXPECT_EQ(run_split([&](memory_peer& p) { p.feed(input); }), expected);
  EXPECT_EQ(run_split([&](memory_peer& p) { p.feed_bytewise(input); }), expected);
  for (std::size_t at = 1; at < input.size(); ++at) {
    const std::size_t sizes[] = {at};
    ASSERT_EQ(run_split([&](memory_peer& p) { p.feed_split(input, sizes, false); }), expected)
        << "split at " << at;
  }
  for (std::size_t chunk = 2; chunk < input.size(); ++chunk) {
    const std::size_t sizes[] = {chunk};
    ASSERT_EQ(run_split([&](memory_peer& p) { p.feed_split(input, sizes); }), expected)
        << "chunks of " << chunk;
  }
  // Two split points, over the frames after the request.
  const std::size_t head = upgrade_request.size();
  for (std::size_t a = head; a < input.size(); a += 3)
    for (std::size_t b = a + 1; b < input.size(); ++b) {
      const std::size_t sizes[] = {a, b - a};
      ASSERT_EQ(run_split([&](memory_peer& p) { p.feed_split(input, sizes, false); }), expected)
          << "split at " << a << " and " << b;
    }
}

// --- Heartbeats and timeouts ---------------------------------------------------------------

TEST(Heartbeat, PingAfterTheIntervalThenAbortWithoutAPong) {
  rig r;
  r.settings.ping_interval_ticks = 100;
  r.settings.pong_timeout_ticks = 50;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.advance(99);
  EXPECT_EQ(r.peer(i).take(), "");
  r.advance(1);
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::ping, ""));
  EXPECT_EQ(r.metrics.pings_sent.load(), 1u);
  r.advance(49);
  EXPECT_EQ(r.state(i), conn_state::open);
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_EQ(r.peer(i).take(), "");  // vanished or not reading: no Close
  EXPECT_EQ(r.metrics.heartbeat_timeouts.load(), 1u);
  r.expect_all_released();
}

TEST(Heartbeat, APongInTimeKeepsTheConnectionAndTheNextPingFollowsTheInterval) {
  rig r;
  r.settings.ping_interval_ticks = 100;
  r.settings.pong_timeout_ticks = 50;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.advance(100);
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::ping, ""));
  r.advance(20);
  r.peer(i).feed(client_frame(opcode::pong, ""));
  r.settle();
  r.advance(30);  // past the pong timeout of the first ping
  EXPECT_EQ(r.state(i), conn_state::open);
  r.advance(49);
  EXPECT_EQ(r.peer(i).take(), "");
  r.advance(1);  // 100 ticks after the first ping
  EXPECT_EQ(r.peer(i).take(), server_frame(opcode::ping, ""));
  EXPECT_EQ(r.metrics.heartbeat_timeouts.load(), 0u);
}

TEST(Idle, ASilentPeerIsClosedWith1001AfterTheIdleTimeout) {
  rig r;
  r.settings.ping_interval_ticks = 0;
  r.settings.idle_ticks = 200;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.advance(150);
  send(r, i, reader, text_frame("x"));  // a frame restarts the idle clock
  r.advance(199);
  EXPECT_EQ(r.state(i), conn_state::open);
  r.advance(1);
  EXPECT_EQ(r.state(i), conn_state::closing);
  reader.read(r.peer(i).take());
  ASSERT_EQ(reader.frames.size(), 2u);
  EXPECT_EQ(reader.frames[1].close_code(), 1001);
  EXPECT_EQ(reader.frames[1].close_reason(), "idle timeout");
  r.advance(r.settings.close_ticks);
  EXPECT_EQ(r.state(i), conn_state::closed);
  r.expect_all_released();
}

// --- Backpressure --------------------------------------------------------------------------

TEST(Backpressure, AStalledSocketStopsInputAboveTheHighWatermarkUntilBelowTheLow) {
  rig r;
  r.settings.high_watermark = 1000;
  r.settings.low_watermark = 500;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  memory_peer& p = r.peer(i);
  p.stall();
  for (int m = 0; m < 20; ++m) p.feed(text_frame(std::string(99, 'a') + static_cast<char>('A' + m)));
  r.settle();
  // Each echo is 102 bytes: the 10th takes the queue past 1000.
  EXPECT_FALSE(r.wants_input(i));
  EXPECT_EQ(r.metrics.paused_reads.load(), 1u);
  EXPECT_EQ(p.input.size(), 10u);
  EXPECT_EQ(r.conn(i)->buffered(), 1020u);
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 1020u);
  EXPECT_EQ(p.output.size(), p.taken);  // nothing written
  p.release(400);  // 620 left: above the low watermark
  r.settle();
  EXPECT_FALSE(r.wants_input(i));
  EXPECT_EQ(p.input.size(), 10u);
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 620u);
  p.release(200);  // 420 left: input resumes
  r.settle();
  EXPECT_LT(p.input.size(), 10u);
  p.release();
  r.settle();
  EXPECT_TRUE(r.wants_input(i));
  EXPECT_TRUE(p.input.empty());
  EXPECT_EQ(r.metrics.paused_reads.load(), 0u);
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 0u);
  reader.read(p.take());
  ASSERT_EQ(reader.frames.size(), 20u);
  for (int m = 0; m < 20; ++m) EXPECT_EQ(reader.frames[static_cast<std::size_t>(m)].payload.back(), 'A' + m);
}

TEST(Backpressure, ShortWritesDeliverEverythingInOrder) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  r.peer(i).max_write = 7;
  std::string expected;
  for (int m = 0; m < 10; ++m) {
    const std::string text(static_cast<std::size_t>(10 * m), static_cast<char>('a' + m));
    r.peer(i).feed(text_frame(text));
    expected += server_frame(opcode::text, text);
  }
  r.settle();
  EXPECT_EQ(r.peer(i).take(), expected);
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 0u);
}

// --- Failures at step N --------------------------------------------------------------------

TEST(Failure, ASendFailingWhileOutputIsQueuedAbortsAndFreesIt) {
  rig r;
  ws_reader reader;
  const std::size_t i = open_echo(r, reader);
  memory_peer& p = r.peer(i);
  p.stall();
  for (int m = 0; m < 3; ++m) p.feed(text_frame(std::string(100, 'x')));
  r.settle();
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 306u);
  EXPECT_EQ(r.metrics.connections_open.load(), 1u);
  p.fail_send_at = p.sends + 1;
  p.release();
  r.settle();
  EXPECT_TRUE(p.failed);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(p.closed);
  r.expect_all_released();
}

// A whole conversation: upgrade, messages (one fragmented), a ping, backpressure against short
// writes, and the peer's Close. Returns everything the server wrote.
std::string converse(rig& r, std::size_t i) {
  memory_peer& p = r.peer(i);
  p.feed_split(to_bytes(upgrade_request), std::vector<std::size_t>{50});
  r.settle();
  for (int m = 0; m < 6; ++m) {
    bytes b = text_frame(std::string(120, static_cast<char>('a' + m)));
    if (m == 3) {
      b = client_frame(opcode::binary, "first half ", false);
      append(b, client_frame(opcode::ping, "ping"));
      append(b, client_frame(opcode::continuation, "second half"));
    }
    p.feed_split(b, std::vector<std::size_t>{40, 3});
    r.settle();
  }
  p.feed(client_close(1000, "done"));
  r.settle();
  return p.text();
}

// A receive (or a send) failing at step 1, 2, ... until a run completes: every run ends closed with
// everything released, having written a prefix of what the whole conversation writes.
void fail_at_every_step(bool sends) {
  std::string reference;
  {
    rig r;
    const std::size_t i = r.accept();
    reference = converse(r, i);
    EXPECT_EQ(r.state(i), conn_state::closed);
  }
  std::size_t n = 1;
  for (; n < 1000; ++n) {
    SCOPED_TRACE(n);
    rig r;
    r.settings.high_watermark = 200;
    r.settings.low_watermark = 100;
    const std::size_t i = r.accept();
    (sends ? r.peer(i).fail_send_at : r.peer(i).fail_receive_at) = n;
    r.peer(i).max_write = 50;
    const std::string out = converse(r, i);
    EXPECT_EQ(r.state(i), conn_state::closed);
    EXPECT_TRUE(r.peer(i).closed);
    r.expect_all_released();
    if (!r.peer(i).failed) {
      EXPECT_EQ(out, reference);
      break;
    }
    EXPECT_EQ(reference.compare(0, out.size(), out), 0) << "not a prefix of the whole output";
  }
  EXPECT_GT(n, 10u);
}

TEST(Failure, AReceiveFailingAtEveryStepAbortsCleanly) { fail_at_every_step(false); }
TEST(Failure, ASendFailingAtEveryStepAbortsCleanly) { fail_at_every_step(true); }

}  // namespace
}  // namespace shoal::gateway::conn_test
