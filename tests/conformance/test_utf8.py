"""Conformance, UTF-8 in text messages (RFC 6455 §5.6, §8.1; RFC 3629; Autobahn category 6).

Valid text, boundary code points included, is echoed whole however it is fragmented; invalid
UTF-8 (overlong forms, surrogates, code points above U+10FFFF, bytes that never occur, stray
continuation bytes, a message ending inside a sequence) fails the connection with 1007 - and
fails it fast, as soon as the offending byte arrives, without waiting for the rest.
"""
import unittest

from common import BINARY, CONT, TEXT, ConformanceTest, cont, frame, send_in_chunks, text

BOUNDARY_CODE_POINTS = (0x0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF,
                        0x10000, 0x10FFFF)

# (name, bytes): each is invalid UTF-8 as a whole text message.
INVALID = [
    ("overlong_2_byte_c0_80", b"\xc0\x80"),
    ("overlong_2_byte_c1_bf", b"\xc1\xbf"),
    ("overlong_3_byte_e0_80_af", b"\xe0\x80\xaf"),
    ("overlong_3_byte_e0_9f_bf", b"\xe0\x9f\xbf"),
    ("overlong_4_byte_f0_80_80_af", b"\xf0\x80\x80\xaf"),
    ("overlong_4_byte_f0_8f_bf_bf", b"\xf0\x8f\xbf\xbf"),
    ("surrogate_ed_a0_80", b"\xed\xa0\x80"),
    ("surrogate_ed_bf_bf", b"\xed\xbf\xbf"),
    ("surrogate_pair_ed_a0_80_ed_b0_80", b"\xed\xa0\x80\xed\xb0\x80"),
    ("above_10ffff_f4_90_80_80", b"\xf4\x90\x80\x80"),
    ("lead_byte_f5", b"\xf5\x80\x80\x80"),
    ("lead_byte_f8_5_byte_form", b"\xf8\x88\x80\x80\x80"),
    ("byte_fe", b"\xfe"),
    ("byte_ff", b"\xff"),
    ("stray_continuation_80", b"\x80"),
    ("stray_continuation_bf_after_ascii", b"abc\xbfdef"),
    ("two_byte_lead_then_ascii", b"\xc3(abc"),
    ("three_byte_lead_then_ascii", b"\xe2(\xa1"),
    ("invalid_in_the_middle_of_valid_text", "κόσμε".encode() + b"\xed\xa0\x80" + b"edited"),
    ("truncated_2_byte_at_end", b"abc\xc3"),
    ("truncated_3_byte_at_end_e2_82", b"abc\xe2\x82"),
    ("truncated_4_byte_at_end", b"abc\xf0\x9f\x98"),
]


class ValidText(ConformanceTest):
    def test_boundary_code_points_are_echoed(self):
        c = self.connect()
        for cp in BOUNDARY_CODE_POINTS:
            with self.subTest(code_point=f"U+{cp:04X}"):
                payload = chr(cp).encode("utf-8")
                c.send(text(payload))
                self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_two_three_and_four_byte_sequences_are_echoed(self):
        c = self.connect()
        for s in ("κόσμε", "é ü ß", "€ 中文 \ufeff", "😀 𝄞 🂡", "mixed: aé€😀" * 100):
            with self.subTest(text=s[:10]):
                c.send(text(s))
                self.assertEcho(c, TEXT, s.encode())
        self.assertCleanClose(c)

    def test_valid_sequence_split_across_two_fragments_is_accepted(self):
        c = self.connect()
        c.send(text(b"price: \xe2", fin=False) + cont(b"\x82\xac"))
        self.assertEcho(c, TEXT, "price: €".encode())
        self.assertCleanClose(c)

    def test_four_byte_sequence_split_at_every_position_is_accepted(self):
        c = self.connect()
        emoji = "😀".encode()
        for cut in (1, 2, 3):
            with self.subTest(cut=cut):
                c.send(text(emoji[:cut], fin=False) + cont(emoji[cut:]))
                self.assertEcho(c, TEXT, emoji)
        self.assertCleanClose(c)

    def test_every_sequence_in_one_byte_fragments_is_accepted(self):
        c = self.connect()
        payload = "a\x7f\x80é\u07ff\u0800€\uffff\U00010000😀\U0010ffff".encode()
        c.send(b"".join(frame(TEXT if i == 0 else CONT, payload[i:i + 1],
                              fin=(i == len(payload) - 1)) for i in range(len(payload))))
        self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_text_frame_split_mid_sequence_across_tcp_writes_is_accepted(self):
        c = self.connect()
        payload = "€😀é".encode() * 20
        send_in_chunks(c, text(payload), [1, 2, 5], delay=0.0005)
        self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_invalid_utf8_in_binary_message_is_echoed_unchanged(self):
        c = self.connect()
        payload = b"\xff\xfe\xc0\x80\xed\xa0\x80"
        c.send(frame(BINARY, payload))
        self.assertEcho(c, BINARY, payload)
        self.assertCleanClose(c)


class InvalidText(ConformanceTest):
    """Each INVALID case as one text frame; generated tests below the class."""

    def test_invalid_text_after_a_valid_message_echoes_only_the_valid_one(self):
        self.expect_failure(text("valid ✓") + text(b"\xff") + text("never echoed"), 1007,
                            replies=[(TEXT, "valid ✓".encode())])


def _invalid_case(payload):
    def test(self):
        self.expect_failure(text(payload), 1007)
    return test


for _name, _payload in INVALID:
    setattr(InvalidText, f"test_invalid_utf8_{_name}_closes_1007", _invalid_case(_payload))


class InvalidAcrossFragments(ConformanceTest):
    io_timeout = 3.0  # fail-fast tests: the Close must come without any further bytes from us

    def test_invalid_byte_in_a_later_fragment_closes_1007(self):
        self.expect_failure(text("valid start ", fin=False) + cont(b"then \xff", fin=False)
                            + cont("end"), 1007)

    def test_invalid_sequence_split_across_fragments_closes_1007(self):
        # E2 | 28 A1: the lead byte is fine alone, the next fragment breaks the sequence.
        self.expect_failure(text(b"\xe2", fin=False) + cont(b"\x28\xa1"), 1007)

    def test_surrogate_split_across_fragments_closes_1007(self):
        self.expect_failure(text(b"ab\xed", fin=False) + cont(b"\xa0", fin=False)
                            + cont(b"\x80cd"), 1007)

    def test_message_ending_inside_a_sequence_closes_1007(self):
        # The last fragment ends with E2 82: every fragment is a valid prefix, the message not.
        self.expect_failure(text("abc", fin=False) + cont(b"\xe2\x82"), 1007)

    def test_message_ending_inside_a_sequence_split_over_fragments_closes_1007(self):
        self.expect_failure(text(b"abc\xf0", fin=False) + cont(b"\x9f", fin=False)
                            + cont(b"\x98"), 1007)

    def test_invalid_text_in_one_byte_fragments_closes_1007(self):
        # Autobahn 6.3.2 in spirit: valid bytes, then a surrogate, each byte its own fragment;
        # nothing after the bad byte is sent.
        payload = "κόσμε".encode() + b"\xed\xa0\x80"
        self.expect_failure(b"".join(frame(TEXT if i == 0 else CONT, payload[i:i + 1], fin=False)
                                     for i in range(len(payload))), 1007)

    def test_fail_fast_on_invalid_byte_in_first_fragment(self):
        # Only the first fragment (FIN=0) is sent, never the rest: the server must not wait.
        self.expect_failure(text(b"hello \xff world", fin=False), 1007)

    def test_fail_fast_on_invalid_continuation_fragment(self):
        self.expect_failure(text("fine", fin=False) + cont(b"\xc0\x80", fin=False), 1007)

    def test_fail_fast_on_sequence_invalid_at_its_second_byte(self):
        # F4 90 can never start a valid sequence (it would be above U+10FFFF).
        self.expect_failure(text(b"ok \xf4\x90", fin=False), 1007)

    def test_fail_fast_inside_a_partly_sent_frame(self):
        # One text frame announcing 64 bytes; only its first 8 payload bytes are sent, the 5th
        # is invalid. A streaming validator fails now instead of waiting for the other 56.
        data = text(b"good\xffbad" + b"x" * 56)
        with self.bystander():
            c = self.connect()
            c.send(data[:2 + 4 + 8])
            self.assertClosedWith(c, 1007)


if __name__ == "__main__":
    unittest.main()
