// connection over the TLS layer (tls_transport) over the in-memory transport, against an
// OpenSSL client on memory BIOs with a self-signed certificate made by the test: the handshake
// and upgrade, echo with the ciphertext and the plaintext records in every split, the closing
// handshake from both sides, close_notify as the peer's EOF and ours before our FIN, a stalled
// socket's backpressure, and a receive or a send failing at every step. No sockets, no clock.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connection_rig.hpp"

namespace shoal::gateway::conn_test {
namespace {

using core::opcode;

// Accepts a TLS connection, runs the handshake and the upgrade to /echo.
std::size_t open_tls_echo(rig& r, tls_client& client, ws_reader& reader, const feeder& feed = feed_whole) {
  const std::size_t i = r.accept(tls_transport_kind);
  client.send(upgrade_request);
  exchange(r, i, client, feed);
  EXPECT_TRUE(client.handshake_done());
  EXPECT_FALSE(client.failed);
  reader.read(client.plain);
  client.plain.clear();
  EXPECT_EQ(reader.responses, std::vector<std::string>{upgrade_response()});
  EXPECT_EQ(r.state(i), conn_state::open);
  return i;
}

// Sends `b` as one record and reads what comes back.
void send(rig& r, std::size_t i, tls_client& client, ws_reader& reader, const bytes& b,
          const feeder& feed = feed_whole) {
  client.send(b);
  exchange(r, i, client, feed);
  reader.read(client.plain);
  client.plain.clear();
}

TEST(TlsConnection, HandshakeUpgradeAndEcho) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  EXPECT_TRUE(r.tls->secured(*r.conn(i)));
  EXPECT_EQ(r.metrics.tls_handshakes.load(), 1u);
  send(r, i, client, reader, text_frame("over TLS"));
  bytes two = client_frame(opcode::ping, "p");
  append(two, client_frame(opcode::binary, std::string(20000, 'b')));  // more than one record back
  send(r, i, client, reader, two);
  ASSERT_EQ(reader.frames.size(), 3u);
  EXPECT_EQ(reader.frames[0].payload, "over TLS");
  EXPECT_EQ(reader.frames[1].op, opcode::pong);
  EXPECT_EQ(reader.frames[2].payload, std::string(20000, 'b'));
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 0u);
  EXPECT_FALSE(r.peer(i).fin);
}

TEST(TlsConnection, TheHandshakeGoesOnAfterAStallAndShortWrites) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = r.accept(tls_transport_kind);
  memory_peer& p = r.peer(i);
  p.stall();
  p.max_write = 100;  // the server's flight (certificate and all) in pieces
  client.send(upgrade_request);
  exchange(r, i, client);
  EXPECT_FALSE(client.handshake_done());
  EXPECT_TRUE(p.output.empty());
  p.release();
  exchange(r, i, client);
  EXPECT_TRUE(client.handshake_done());
  reader.read(client.plain);
  EXPECT_EQ(reader.responses, std::vector<std::string>{upgrade_response()});
  EXPECT_EQ(r.state(i), conn_state::open);
  EXPECT_GT(p.sends, 5u);
}

TEST(TlsConnection, TheWholeConversationFedByteByByte) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader, feed_bytewise);
  send(r, i, client, reader, text_frame("one byte at a time"), feed_bytewise);
  send(r, i, client, reader, client_close(1000, "done"), feed_bytewise);
  ASSERT_EQ(reader.frames.size(), 2u);
  EXPECT_EQ(reader.frames[0].payload, "one byte at a time");
  EXPECT_EQ(reader.frames[1].close_code(), 1000);
  EXPECT_EQ(r.state(i), conn_state::closed);
  r.expect_all_released();
}

TEST(TlsConnection, EverySplitOfARecordGivesTheSameEcho) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  const std::string message = "split me anywhere";
  client.send(text_frame(message));
  client.step();
  const bytes first = client.outgoing();
  const std::size_t record = first.size();  // every message as long: a record this long
  ASSERT_GT(record, 20u);
  r.peer(i).feed(first);
  exchange(r, i, client);
  reader.read(client.plain);
  client.plain.clear();
  ASSERT_EQ(reader.frames.size(), 1u);
  std::size_t echoed = 1;
  for (std::size_t at = 1; at < record; ++at) {
    const std::size_t sizes[] = {at};
    send(r, i, client, reader, text_frame(message),
         [&](memory_peer& p, std::span<const std::uint8_t> b) { p.feed_split(b, sizes, false); });
    ASSERT_EQ(reader.frames.size(), ++echoed) << "split at " << at;
    ASSERT_EQ(reader.frames.back().payload, message) << "split at " << at;
  }
  // The plaintext cut into records of one byte each: the frames' split points, over TLS.
  const bytes frame = text_frame(message);
  for (std::uint8_t b : frame) client.send(std::span(&b, 1));
  exchange(r, i, client);
  reader.read(client.plain);
  client.plain.clear();
  ASSERT_EQ(reader.frames.size(), echoed + 1);
  EXPECT_EQ(reader.frames.back().payload, message);
  EXPECT_EQ(r.state(i), conn_state::open);
}

TEST(TlsConnection, OurCloseThenThePeersAnswer) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  r.conn(i)->start_close(r.ctx, 1001, "going away");
  exchange(r, i, client);
  reader.read(client.plain);
  client.plain.clear();
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].close_code(), 1001);
  EXPECT_EQ(reader.frames[0].close_reason(), "going away");
  EXPECT_EQ(r.state(i), conn_state::closing);
  send(r, i, client, reader, client_close(1001));
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_EQ(reader.frames.size(), 1u);
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(TlsConnection, ThePeersCloseIsAnsweredWithItsCode) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  send(r, i, client, reader, client_close(4000, "app"));
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].close_code(), 4000);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(TlsConnection, AProtocolErrorSends1002ThenCloseNotifyThenFinAndThePeersCloseNotifyEndsIt) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  send(r, i, client, reader, to_bytes(std::string_view("\x81\x02hi", 4)));  // unmasked (§5.1)
  ASSERT_EQ(reader.frames.size(), 1u);
  EXPECT_EQ(reader.frames[0].close_code(), 1002);
  EXPECT_EQ(r.state(i), conn_state::lingering);
  EXPECT_TRUE(client.got_close_notify);  // before the FIN
  EXPECT_TRUE(r.peer(i).fin);
  EXPECT_EQ(r.peer(i).output_at_fin, r.peer(i).output.size());
  EXPECT_FALSE(r.peer(i).closed);
  client.close_notify();  // the peer's EOF, in TLS terms
  exchange(r, i, client);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  EXPECT_EQ(r.peer(i).writes_after_fin, 0u);
  r.expect_all_released();
}

TEST(TlsConnection, CloseNotifyWhileOpenEndsTheConnection) {
  rig r(test_tls_context());
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  client.close_notify();
  exchange(r, i, client);
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_TRUE(r.peer(i).closed);
  r.expect_all_released();
}

TEST(TlsConnection, PlainHttpOnATlsListenerCloses) {
  rig r(test_tls_context());
  const std::size_t i = r.accept(tls_transport_kind);
  r.peer(i).feed(upgrade_request);
  r.settle();
  EXPECT_EQ(r.state(i), conn_state::closed);
  EXPECT_EQ(r.metrics.tls_handshakes_failed.load(), 1u);
  EXPECT_EQ(r.metrics.tls_handshakes.load(), 0u);
  r.expect_all_released();
}

TEST(TlsConnection, AStalledSocketStopsInputAboveTheHighWatermarkUntilBelowTheLow) {
  rig r(test_tls_context());
  r.settings.high_watermark = 1000;
  r.settings.low_watermark = 500;
  tls_client client;
  ws_reader reader;
  const std::size_t i = open_tls_echo(r, client, reader);
  memory_peer& p = r.peer(i);
  p.stall();
  for (int m = 0; m < 20; ++m) {  // one record, one receive each
    client.send(text_frame(std::string(99, 'a') + static_cast<char>('A' + m)));
    client.step();
    p.feed(client.outgoing());
  }
  r.settle();
  EXPECT_FALSE(r.wants_input(i));
  EXPECT_EQ(r.metrics.paused_reads.load(), 1u);
  EXPECT_EQ(r.conn(i)->buffered(), 1020u);  // plaintext counts until its ciphertext is written
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 1020u);
  EXPECT_EQ(p.input.size(), 10u);
  p.release();
  exchange(r, i, client);
  EXPECT_TRUE(r.wants_input(i));
  EXPECT_TRUE(p.input.empty());
  EXPECT_EQ(r.metrics.paused_reads.load(), 0u);
  EXPECT_EQ(r.metrics.buffered_bytes.load(), 0u);
  reader.read(client.plain);
  ASSERT_EQ(reader.frames.size(), 20u);
  for (int m = 0; m < 20; ++m) EXPECT_EQ(reader.frames[static_cast<std::size_t>(m)].payload.back(), 'A' + m);
}

// Handshake, upgrade, messages (one fragmented, with a ping), the peer's Close, over short
// writes and a low watermark. Returns the plaintext the client received.
std::string converse(rig& r, std::size_t i, tls_client& client) {
  client.send(upgrade_request);
  exchange(r, i, client);
  for (int m = 0; m < 4; ++m) {
    bytes b = text_frame(std::string(300, static_cast<char>('a' + m)));
    if (m == 2) {
      b = client_frame(opcode::binary, "first half ", false);
      append(b, client_frame(opcode::ping, "ping"));
      append(b, client_frame(opcode::continuation, "second half"));
    }
    client.send(b);
    exchange(r, i, client, [](memory_peer& p, std::span<const std::uint8_t> c) {
      const std::size_t sizes[] = {100, 7};
      p.feed_split(c, sizes);
    });
  }
  client.send(client_close(1000, "done"));
  exchange(r, i, client);
  return client.plain;
}

void fail_at_every_step(bool sends) {
  std::string reference;
  {
    rig r(test_tls_context());
    tls_client client;
    const std::size_t i = r.accept(tls_transport_kind);
    reference = converse(r, i, client);
    EXPECT_EQ(r.state(i), conn_state::closed);
  }
  std::size_t n = 1;
  for (; n < 1000; ++n) {
    SCOPED_TRACE(n);
    rig r(test_tls_context());
    r.settings.high_watermark = 400;
    r.settings.low_watermark = 200;
    tls_client client;
    const std::size_t i = r.accept(tls_transport_kind);
    (sends ? r.peer(i).fail_send_at : r.peer(i).fail_receive_at) = n;
    r.peer(i).max_write = 500;
    const std::string out = converse(r, i, client);
    EXPECT_EQ(r.state(i), conn_state::closed);
    EXPECT_TRUE(r.peer(i).closed);
    r.expect_all_released();
    if (!r.peer(i).failed) {
      EXPECT_EQ(out, reference);
      break;
    }
    EXPECT_EQ(reference.compare(0, out.size(), out), 0) << "not a prefix of the whole output";
  }
  EXPECT_GT(n, 5u);
}

TEST(TlsConnection, AReceiveFailingAtEveryStepAbortsCleanly) { fail_at_every_step(false); }
TEST(TlsConnection, ASendFailingAtEveryStepAbortsCleanly) { fail_at_every_step(true); }

}  // namespace
}  // namespace shoal::gateway::conn_test
