"""Conformance, message size limit (RFC 6455 §7.4.1 code 1009; Autobahn 9 "lite").

With --max-message-size 1000: a 1000-byte message is echoed, whole or fragmented; anything
larger, counted over all fragments, fails the connection with 1009 as soon as the server can
tell from a frame header, without waiting for the payload or the rest of the message.
"""
import os
import unittest

from common import (BINARY, CONT, TEXT, ConformanceTest, cont, frame, frame_with_length, ping,
                    text)

LIMIT = 1000


class MessageSizeLimit(ConformanceTest):
    flags = ("--max-message-size", str(LIMIT))
    io_timeout = 3.0  # the 1009 must come without the rest of the message

    def test_binary_message_of_exactly_the_limit_is_echoed(self):
        c = self.connect()
        payload = os.urandom(LIMIT)
        c.send(frame(BINARY, payload))
        self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)

    def test_text_message_of_exactly_the_limit_is_echoed(self):
        c = self.connect()
        payload = "€".encode() * 333 + b"!"  # 999 + 1 bytes
        c.send(text(payload))
        self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_fragmented_message_summing_to_the_limit_is_echoed(self):
        c = self.connect()
        parts = [os.urandom(400), os.urandom(400), b"", os.urandom(200)]
        c.send(frame(BINARY, parts[0], fin=False) + frame(CONT, parts[1], fin=False)
               + frame(CONT, parts[2], fin=False) + frame(CONT, parts[3]))
        self.assertEcho(c, BINARY, b"".join(parts))
        self.assertCleanClose(c)

    def test_limit_applies_per_message_not_per_connection(self):
        c = self.connect()
        for i in range(5):
            payload = bytes([i]) * LIMIT
            c.send(frame(BINARY, payload))
            self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)

    def test_control_frames_between_fragments_do_not_count_towards_the_limit(self):
        c = self.connect()
        c.send(text(b"a" * 900, fin=False) + ping(b"p" * 125) + cont(b"b" * 100))
        self.assertPong(c, b"p" * 125)
        self.assertEcho(c, TEXT, b"a" * 900 + b"b" * 100)
        self.assertCleanClose(c)

    def test_binary_message_of_1001_bytes_closes_1009(self):
        self.expect_failure(frame(BINARY, os.urandom(LIMIT + 1)), 1009)

    def test_text_message_of_1001_bytes_closes_1009(self):
        self.expect_failure(text(b"t" * (LIMIT + 1)), 1009)

    def test_oversized_frame_header_alone_closes_1009(self):
        # Only the header of a 1001-byte frame: the length already says it is too big.
        self.expect_failure(frame_with_length(BINARY, b"", form=16, length=LIMIT + 1)[:8], 1009)

    def test_frame_announcing_a_terabyte_closes_1009(self):
        self.expect_failure(frame_with_length(TEXT, b"", form=64, length=1 << 40)[:14], 1009)

    def test_fragmented_message_over_the_limit_closes_1009_without_the_final_fragment(self):
        # 600 + 600 > 1000, both fragments non-final and no final fragment ever sent.
        self.expect_failure(frame(BINARY, b"x" * 600, fin=False) + cont(b"y" * 600, fin=False),
                            1009)

    def test_fragmented_message_over_the_limit_closes_1009_on_the_fragment_header(self):
        # The second fragment's header alone (401 announced, 600 + 401 > 1000) is enough.
        second = frame_with_length(CONT, b"", form=16, length=401, fin=False)[:8]
        self.expect_failure(text(b"a" * 600, fin=False) + second, 1009)

    def test_many_small_fragments_over_the_limit_close_1009(self):
        data = frame(TEXT, b"z" * 10, fin=False) + b"".join(
            frame(CONT, b"z" * 10, fin=False) for _ in range(100))
        self.expect_failure(data, 1009)

    def test_valid_message_then_oversized_one_echoes_only_the_first(self):
        self.expect_failure(frame(BINARY, b"small") + frame(BINARY, b"b" * (LIMIT + 1)), 1009,
                            replies=[(BINARY, b"small")])


if __name__ == "__main__":
    unittest.main()
