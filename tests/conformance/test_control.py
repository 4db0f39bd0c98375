"""Conformance, ping and pong (RFC 6455 §5.5, §5.5.2, §5.5.3; Autobahn category 2 in spirit).

A ping is answered by a pong with the identical payload, as soon as practical, one pong per ping
in order; an unsolicited pong is ignored. Control frames longer than 125 bytes or fragmented
fail the connection with 1002.
"""
import os
import unittest

from common import (BINARY, CLOSE, PING, PONG, TEXT, ConformanceTest, frame, frame_with_length,
                    ping, pong, send_in_chunks, text)


class Ping(ConformanceTest):
    def test_ping_with_empty_payload_gets_empty_pong(self):
        c = self.connect()
        c.send(ping(b""))
        self.assertPong(c, b"")
        self.assertCleanClose(c)

    def test_ping_with_125_byte_payload_gets_identical_pong(self):
        c = self.connect()
        payload = os.urandom(125)
        c.send(ping(payload))
        self.assertPong(c, payload)
        self.assertCleanClose(c)

    def test_ping_with_text_payload_gets_identical_pong(self):
        c = self.connect()
        c.send(ping("Hello, Shoal ✓".encode()))
        self.assertPong(c, "Hello, Shoal ✓".encode())
        self.assertCleanClose(c)

    def test_ping_with_invalid_utf8_payload_gets_identical_pong(self):
        # Control payloads other than Close are application data, never validated as UTF-8.
        c = self.connect()
        c.send(ping(b"\xff\xfe\xc0\x80"))
        self.assertPong(c, b"\xff\xfe\xc0\x80")
        self.assertCleanClose(c)

    def test_ping_delivered_byte_by_byte_gets_pong(self):
        c = self.connect()
        payload = bytes(range(100))
        send_in_chunks(c, ping(payload), [1], delay=0.001)
        self.assertPong(c, payload)
        self.assertCleanClose(c)

    def test_several_pings_get_pongs_in_order(self):
        c = self.connect()
        payloads = [f"ping {i}".encode() for i in range(10)] + [b"", os.urandom(125)]
        c.send(b"".join(ping(p) for p in payloads))
        for p in payloads:
            self.assertPong(c, p)
        self.assertCleanClose(c)

    def test_pings_interleaved_with_messages_are_all_answered(self):
        c = self.connect()
        c.send(text("one") + ping(b"a") + frame(BINARY, b"two") + ping(b"b") + text("three"))
        got_messages, got_pongs = [], []
        for _ in range(5):
            fin, op, payload = self.recv(c)
            self.assertTrue(fin)
            (got_pongs if op == PONG else got_messages).append((op, payload))
        self.assertEqual(got_messages, [(TEXT, b"one"), (BINARY, b"two"), (TEXT, b"three")])
        self.assertEqual(got_pongs, [(PONG, b"a"), (PONG, b"b")])
        self.assertCleanClose(c)

    def test_ping_with_126_byte_payload_closes_1002(self):
        self.expect_failure(ping(b"x" * 126), 1002)

    def test_ping_with_large_64_bit_length_closes_1002(self):
        self.expect_failure(frame_with_length(PING, b"", form=64, length=70000)[:14], 1002)

    def test_fragmented_ping_closes_1002(self):
        self.expect_failure(frame(PING, b"frag", fin=False) + frame(0, b"ment"), 1002)

    def test_fragmented_ping_alone_closes_1002(self):
        self.expect_failure(frame(PING, b"", fin=False), 1002)

    def test_valid_ping_then_oversized_ping_answers_only_the_first(self):
        self.expect_failure(ping(b"ok") + ping(b"y" * 126), 1002, replies=[(PONG, b"ok")])


class Pong(ConformanceTest):
    def test_unsolicited_empty_pong_is_ignored(self):
        c = self.connect()
        c.send(pong(b"") + text("after the pong"))
        self.assertEcho(c, TEXT, b"after the pong")  # the next frame is the echo, nothing else
        self.assertCleanClose(c)

    def test_unsolicited_pong_with_125_byte_payload_is_ignored(self):
        c = self.connect()
        c.send(pong(os.urandom(125)))
        c.send(frame(BINARY, b"still echoing"))
        self.assertEcho(c, BINARY, b"still echoing")
        self.assertCleanClose(c)

    def test_many_unsolicited_pongs_are_ignored(self):
        c = self.connect()
        c.send(b"".join(pong(f"{i}".encode()) for i in range(50)) + ping(b"real"))
        self.assertPong(c, b"real")
        self.assertRoundTrip(c)
        self.assertCleanClose(c)

    def test_pong_with_126_byte_payload_closes_1002(self):
        self.expect_failure(pong(b"z" * 126), 1002)

    def test_fragmented_pong_closes_1002(self):
        self.expect_failure(frame(PONG, b"frag", fin=False) + frame(0, b"ment"), 1002)


class ControlFrameLimits(ConformanceTest):
    def test_close_with_126_byte_payload_closes_1002(self):
        self.expect_failure(frame(CLOSE, b"\x03\xe8" + b"r" * 124), 1002)

    def test_fragmented_close_closes_1002(self):
        self.expect_failure(frame(CLOSE, b"\x03\xe8", fin=False), 1002)

    def test_control_frame_with_non_minimal_16_bit_length_closes_1002(self):
        self.expect_failure(frame_with_length(PING, b"abc", form=16), 1002)


if __name__ == "__main__":
    unittest.main()
