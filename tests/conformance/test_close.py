"""Conformance, the closing handshake (RFC 6455 §5.5.1, §7; Autobahn category 7 in spirit).

The server answers a client Close with a Close (echoing the code), ignores anything after the
Close, and closes TCP first (§7.1.1). Close bodies are checked: 1 byte, a code that must not be
sent, or a reason that is not UTF-8 fail the connection (1002, 1007).
"""
import unittest

from common import (BINARY, CLOSE, ConformanceTest, close_frame, close_payload, frame, ping,
                    send_in_chunks, text)

# Codes a client may send (§7.4.1, §7.4.2: 3000-3999 registered, 4000-4999 private use).
VALID_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
# Codes that must not appear in a Close frame, or are outside every defined range.
INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)


class ClosingHandshake(ConformanceTest):
    def test_close_1000_is_answered_with_1000_and_tcp_is_closed(self):
        c = self.connect()
        c.send(close_frame(1000))
        self.assertClosedWith(c, 1000)

    def test_close_without_body_is_answered_with_empty_body_or_1000(self):
        # §5.5.1: the answer typically echoes the code received; there is none, so an empty
        # body (or 1000, normal closure) is right. 1005 must never be sent (§7.4.1).
        c = self.connect()
        c.send(close_frame(None))
        code, reason = self.recv_close(c, "the answer to an empty Close")
        self.assertIn(code, (None, 1000), f"answer to an empty Close had code {code}")
        self.assertTcpClosed(c)

    def test_close_with_utf8_reason_echoes_the_code(self):
        c = self.connect()
        c.send(close_frame(1000, "goodbye, Shoal ✓ 😀".encode()))
        self.assertClosedWith(c, 1000)

    def test_close_with_maximal_123_byte_reason_echoes_the_code(self):
        c = self.connect()
        c.send(close_frame(4000, "é".encode() * 61 + b"x"))  # 2 + 123 = 125 bytes
        self.assertClosedWith(c, 4000)

    def test_close_delivered_byte_by_byte_is_answered(self):
        c = self.connect()
        send_in_chunks(c, close_frame(3000, b"slowly"), [1], delay=0.002)
        self.assertClosedWith(c, 3000)

    def test_messages_before_close_are_echoed_first(self):
        c = self.connect()
        c.send(text("one") + frame(BINARY, b"two") + close_frame(1000))
        self.assertEcho(c, 1, b"one")
        self.assertEcho(c, BINARY, b"two")
        self.assertClosedWith(c, 1000)

    def test_data_after_the_close_frame_is_ignored(self):
        # Text, binary and a ping after our Close: no echo, no pong, only the Close answer.
        c = self.connect()
        c.send(close_frame(1000) + text("ignored") + frame(BINARY, b"ignored") + ping(b"p"))
        self.assertClosedWith(c, 1000)  # also checks no byte follows the Close before EOF

    def test_invalid_frame_after_the_close_frame_is_ignored(self):
        c = self.connect()
        c.send(close_frame(1001) + frame(5, b"reserved") + text(b"\xff"))
        self.assertClosedWith(c, 1001)

    def test_close_between_fragments_is_answered_and_partial_message_dropped(self):
        c = self.connect()
        c.send(text("never ", fin=False) + close_frame(1000) + frame(0, b"finished"))
        self.assertClosedWith(c, 1000)

    def test_bystander_keeps_working_after_a_clean_close(self):
        with self.bystander():
            c = self.connect()
            c.send(close_frame(1000))
            self.assertClosedWith(c, 1000)


class CloseCodes(ConformanceTest):
    """Valid codes are echoed; invalid ones fail with 1002. Generated tests below."""


def _valid_code_case(code):
    def test(self):
        c = self.connect()
        c.send(close_frame(code, b"reason"))
        self.assertClosedWith(c, code)
    return test


def _invalid_code_case(code):
    def test(self):
        self.expect_failure(close_frame(code), 1002)
    return test


for _code in VALID_CODES:
    setattr(CloseCodes, f"test_close_code_{_code}_is_echoed", _valid_code_case(_code))
for _code in INVALID_CODES:
    setattr(CloseCodes, f"test_close_code_{_code}_closes_1002", _invalid_code_case(_code))


class CloseBody(ConformanceTest):
    def test_close_body_of_one_byte_closes_1002(self):
        self.expect_failure(frame(CLOSE, b"\x03"), 1002)

    def test_close_reason_with_invalid_utf8_closes_1007(self):
        self.expect_failure(frame(CLOSE, close_payload(1000, b"bad \xff reason")), 1007)

    def test_close_reason_with_surrogate_closes_1007(self):
        self.expect_failure(frame(CLOSE, close_payload(1000, b"\xed\xa0\x80")), 1007)

    def test_close_reason_ending_inside_a_sequence_closes_1007(self):
        self.expect_failure(frame(CLOSE, close_payload(1000, b"euro \xe2\x82")), 1007)

    def test_close_reason_with_overlong_encoding_closes_1007(self):
        self.expect_failure(frame(CLOSE, close_payload(4000, b"\xc0\xaf")), 1007)

    def test_close_with_invalid_code_and_invalid_reason_closes_with_an_error_code(self):
        # Both are wrong; either 1002 (code) or 1007 (reason) is a correct answer.
        with self.bystander():
            c = self.connect()
            c.send(frame(CLOSE, close_payload(1005, b"\xff")))
            code, _ = self.recv_close(c, "a Close for a bad close body")
            self.assertIn(code, (1002, 1007))
            self.assertTcpClosed(c)


if __name__ == "__main__":
    unittest.main()
