"""Conformance, framing (RFC 6455 §5.2; Autobahn categories 1-4 in spirit).

Text and binary payloads with 7-, 16- and 64-bit lengths, frames delivered byte by byte, in odd
chunks and many to one TCP write; unmasked client frames, non-minimal and out-of-range length
encodings, reserved bits and reserved opcodes, each of which must fail the connection with 1002.
"""
import os
import unittest

from common import (BINARY, CONT, PING, TEXT, MiB, ConformanceTest, frame,
                    frame_with_length, send_in_chunks, text)

# Boundaries of the three length encodings (7-bit up to 125, 16-bit up to 65535, then 64-bit),
# and 1 MiB, the server's default max_message_size (a message of exactly the limit is allowed).
SIZES = (0, 1, 125, 126, 127, 65535, 65536, MiB)


class Payloads(ConformanceTest):
    def test_text_of_every_length_encoding_is_echoed(self):
        c = self.connect()
        for n in SIZES:
            with self.subTest(length=n):
                payload = ("é" * (n // 2) + "*" * (n % 2)).encode()  # exactly n bytes
                c.send(frame(TEXT, payload))
                self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_binary_of_every_length_encoding_is_echoed(self):
        c = self.connect()
        for n in SIZES:
            with self.subTest(length=n):
                payload = os.urandom(n)
                c.send(frame(BINARY, payload))
                self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)

    def test_binary_with_every_byte_value_is_echoed(self):
        c = self.connect()
        payload = bytes(range(256)) * 4
        c.send(frame(BINARY, payload))
        self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)


class Delivery(ConformanceTest):
    def test_frame_delivered_byte_by_byte_is_reassembled(self):
        c = self.connect()
        payload = "byte by byte: é € 😀 ".encode() * 8  # 16-bit length, multi-byte UTF-8
        send_in_chunks(c, frame(TEXT, payload), [1], delay=0.0005)
        self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_64_bit_length_header_delivered_byte_by_byte(self):
        c = self.connect()
        payload = os.urandom(70000)
        data = frame(BINARY, payload)
        send_in_chunks(c, data[:14], [1], delay=0.002)   # 2 + 8 length bytes + 4 mask bytes
        send_in_chunks(c, data[14:], [1, 7, 4093, 3, 65536])
        self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)

    def test_frames_delivered_in_odd_chunks_are_reassembled(self):
        c = self.connect()
        messages = [(TEXT, b""), (BINARY, os.urandom(125)), (TEXT, "ü€😀".encode() * 50),
                    (BINARY, os.urandom(126)), (TEXT, b"x" * 65536), (BINARY, os.urandom(3))]
        stream = b"".join(frame(op, p) for op, p in messages)
        send_in_chunks(c, stream, [1, 2, 3, 5, 7, 11, 13, 17, 1021, 2], delay=0.0002)
        for op, p in messages:
            self.assertEcho(c, op, p)
        self.assertCleanClose(c)

    def test_many_frames_in_one_tcp_write_are_echoed_in_order(self):
        c = self.connect()
        messages = [(TEXT if i % 2 else BINARY, f"message {i}".encode() * (i % 7))
                    for i in range(500)]
        c.send(b"".join(frame(op, p) for op, p in messages))
        for op, p in messages:
            self.assertEcho(c, op, p)
        self.assertCleanClose(c)


class LengthAndMasking(ConformanceTest):
    def test_unmasked_text_frame_closes_1002(self):
        self.expect_failure(frame(TEXT, b"unmasked", mask=False), 1002)

    def test_unmasked_binary_frame_after_valid_frame_closes_1002(self):
        self.expect_failure(text("ok") + frame(BINARY, b"unmasked", mask=False), 1002,
                            replies=[(TEXT, b"ok")])

    def test_unmasked_ping_closes_1002(self):
        self.expect_failure(frame(PING, b"unmasked", mask=False), 1002)

    def test_non_minimal_16_bit_length_closes_1002(self):
        # 5 bytes of payload encoded with the 16-bit form (126): §5.2 requires the minimal form.
        self.expect_failure(frame_with_length(TEXT, b"hello", form=16), 1002)

    def test_non_minimal_16_bit_length_of_125_closes_1002(self):
        self.expect_failure(frame_with_length(BINARY, b"x" * 125, form=16), 1002)

    def test_non_minimal_64_bit_length_for_5_bytes_closes_1002(self):
        self.expect_failure(frame_with_length(TEXT, b"hello", form=64), 1002)

    def test_non_minimal_64_bit_length_for_65535_bytes_closes_1002(self):
        self.expect_failure(frame_with_length(BINARY, b"y" * 65535, form=64), 1002)

    def test_64_bit_length_with_top_bit_set_closes_1002(self):
        # Header only: the server must not wait for 2^63 bytes before refusing it.
        self.expect_failure(frame_with_length(BINARY, b"", form=64, length=(1 << 63) | 5)[:14],
                            1002)

    def test_64_bit_length_of_all_ones_closes_1002(self):
        self.expect_failure(frame_with_length(TEXT, b"", form=64, length=(1 << 64) - 1)[:14],
                            1002)


class ReservedBits(ConformanceTest):
    """No extension is negotiated, so every RSV bit must fail the connection (§5.2)."""

    def test_rsv1_on_text_frame_closes_1002(self):
        self.expect_failure(frame(TEXT, b"rsv1", rsv=4), 1002)

    def test_rsv2_on_text_frame_closes_1002(self):
        self.expect_failure(frame(TEXT, b"rsv2", rsv=2), 1002)

    def test_rsv3_on_text_frame_closes_1002(self):
        self.expect_failure(frame(TEXT, b"rsv3", rsv=1), 1002)

    def test_all_rsv_bits_on_binary_frame_closes_1002(self):
        self.expect_failure(frame(BINARY, b"\x00\xff", rsv=7), 1002)

    def test_rsv1_on_ping_closes_1002(self):
        self.expect_failure(frame(PING, b"rsv1", rsv=4), 1002)

    def test_rsv2_on_ping_closes_1002(self):
        self.expect_failure(frame(PING, b"rsv2", rsv=2), 1002)

    def test_rsv3_on_ping_closes_1002(self):
        self.expect_failure(frame(PING, b"rsv3", rsv=1), 1002)

    def test_rsv1_on_continuation_frame_closes_1002(self):
        self.expect_failure(text("frag", fin=False) + frame(CONT, b"ment", rsv=4), 1002)

    def test_rsv_frame_after_valid_text_then_ping_answers_only_the_text(self):
        # Autobahn 3.4: the valid message is echoed, the bad frame fails the connection, and the
        # ping after it is never answered.
        self.expect_failure(text("hello") + frame(TEXT, b"bad", rsv=2) + frame(PING, b"p"),
                            1002, replies=[(TEXT, b"hello")])

    def test_rsv1_on_empty_text_frame_delivered_byte_by_byte_closes_1002(self):
        with self.bystander():
            c = self.connect()
            send_in_chunks(c, frame(TEXT, b"", rsv=4), [1], delay=0.002)
            self.assertClosedWith(c, 1002)


class ReservedOpcodes(ConformanceTest):
    """Opcodes 3-7 (non-control) and 11-15 (control) are reserved (§5.2): close 1002."""

    def check(self, opcode, payload=b""):
        self.expect_failure(frame(opcode, payload), 1002)

    def test_opcode_3_closes_1002(self):
        self.check(3)

    def test_opcode_4_with_payload_closes_1002(self):
        self.check(4, b"reserved")

    def test_opcode_5_closes_1002(self):
        self.check(5)

    def test_opcode_6_closes_1002(self):
        self.check(6, b"x" * 200)

    def test_opcode_7_closes_1002(self):
        self.check(7)

    def test_opcode_11_closes_1002(self):
        self.check(11)

    def test_opcode_12_with_payload_closes_1002(self):
        self.check(12, b"reserved")

    def test_opcode_13_closes_1002(self):
        self.check(13)

    def test_opcode_14_closes_1002(self):
        self.check(14)

    def test_opcode_15_closes_1002(self):
        self.check(15)

    def test_reserved_opcode_after_valid_text_then_ping_answers_only_the_text(self):
        self.expect_failure(text("first") + frame(5, b"") + frame(PING, b"p"), 1002,
                            replies=[(TEXT, b"first")])

    def test_reserved_opcode_inside_fragmented_message_closes_1002(self):
        self.expect_failure(text("frag", fin=False) + frame(11, b"") + frame(CONT, b"ment"),
                            1002)


if __name__ == "__main__":
    unittest.main()
