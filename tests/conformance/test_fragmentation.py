"""Conformance, fragmentation (RFC 6455 §5.4; Autobahn category 5 in spirit).

A message in any number of fragments, empty ones included, is echoed as one message; control
frames may come between fragments and are answered at once without breaking the message. A
continuation with nothing to continue, or a new text/binary frame while a message is open,
fails the connection with 1002.
"""
import os
import time
import unittest

from common import (BINARY, CONT, TEXT, ConformanceTest, cont, frame, ping, pong,
                    send_in_chunks, text)


def fragments(op, parts):
    """A message split into `parts`: first frame `op`, then continuations, FIN on the last."""
    out = []
    for i, p in enumerate(parts):
        out.append(frame(op if i == 0 else CONT, p, fin=(i == len(parts) - 1)))
    return b"".join(out)


class Reassembly(ConformanceTest):
    def test_text_in_two_fragments_is_echoed_as_one_message(self):
        c = self.connect()
        c.send(fragments(TEXT, [b"Hello, ", b"world"]))
        self.assertEcho(c, TEXT, b"Hello, world")
        self.assertCleanClose(c)

    def test_text_in_many_fragments_is_echoed_as_one_message(self):
        c = self.connect()
        parts = [f"part {i}; ".encode() for i in range(40)]
        c.send(fragments(TEXT, parts))
        self.assertEcho(c, TEXT, b"".join(parts))
        self.assertCleanClose(c)

    def test_binary_in_three_fragments_is_echoed_as_one_message(self):
        c = self.connect()
        parts = [os.urandom(125), os.urandom(126), os.urandom(65536)]
        c.send(fragments(BINARY, parts))
        self.assertEcho(c, BINARY, b"".join(parts))
        self.assertCleanClose(c)

    def test_one_byte_fragments_each_sent_separately(self):
        c = self.connect()
        payload = "fragments ✓".encode()
        for i in range(len(payload)):
            c.send(frame(TEXT if i == 0 else CONT, payload[i:i + 1], fin=(i == len(payload) - 1)))
            time.sleep(0.002)
        self.assertEcho(c, TEXT, payload)
        self.assertCleanClose(c)

    def test_fragmented_message_delivered_in_odd_chunks(self):
        c = self.connect()
        parts = [b"a" * 3, b"b" * 200, b"", b"c" * 70000, b"d"]
        stream = fragments(TEXT, parts) + fragments(BINARY, [b"\x00", b"\xff"])
        send_in_chunks(c, stream, [1, 3, 7, 2, 4099], delay=0.0002)
        self.assertEcho(c, TEXT, b"".join(parts))
        self.assertEcho(c, BINARY, b"\x00\xff")
        self.assertCleanClose(c)

    def test_consecutive_fragmented_messages_are_echoed_in_order(self):
        c = self.connect()
        c.send(fragments(TEXT, [b"first", b" message"]) + text("single")
               + fragments(BINARY, [b"second", b" ", b"message"]))
        self.assertEcho(c, TEXT, b"first message")
        self.assertEcho(c, TEXT, b"single")
        self.assertEcho(c, BINARY, b"second message")
        self.assertCleanClose(c)


class EmptyFragments(ConformanceTest):
    def test_empty_first_fragment(self):
        c = self.connect()
        c.send(fragments(TEXT, [b"", b"abc"]))
        self.assertEcho(c, TEXT, b"abc")
        self.assertCleanClose(c)

    def test_empty_middle_and_last_fragments(self):
        c = self.connect()
        c.send(fragments(TEXT, [b"abc", b"", b"def", b""]))
        self.assertEcho(c, TEXT, b"abcdef")
        self.assertCleanClose(c)

    def test_message_of_only_empty_fragments_is_an_empty_message(self):
        c = self.connect()
        c.send(fragments(TEXT, [b"", b"", b""]) + fragments(BINARY, [b"", b""]))
        self.assertEcho(c, TEXT, b"")
        self.assertEcho(c, BINARY, b"")
        self.assertCleanClose(c)


class ControlBetweenFragments(ConformanceTest):
    def test_ping_between_fragments_is_answered_before_the_message_completes(self):
        c = self.connect()
        c.send(text("fragmented ", fin=False) + ping(b"in the middle"))
        # The message is still open: the pong must come now, not after the last fragment.
        self.assertPong(c, b"in the middle")
        c.send(cont("message ", fin=False) + ping(b"again"))
        self.assertPong(c, b"again")
        c.send(cont("done"))
        self.assertEcho(c, TEXT, b"fragmented message done")
        self.assertCleanClose(c)

    def test_several_pings_between_fragments_in_one_write(self):
        c = self.connect()
        c.send(frame(BINARY, b"1", fin=False) + ping(b"a") + ping(b"b")
               + frame(CONT, b"2", fin=False) + ping(b"c") + frame(CONT, b"3"))
        for p in (b"a", b"b", b"c"):
            self.assertPong(c, p)
        self.assertEcho(c, BINARY, b"123")
        self.assertCleanClose(c)

    def test_pong_between_fragments_is_ignored(self):
        c = self.connect()
        c.send(text("ab", fin=False) + pong(b"unsolicited") + cont("cd"))
        self.assertEcho(c, TEXT, b"abcd")
        self.assertCleanClose(c)

    def test_ping_between_fragments_delivered_byte_by_byte(self):
        c = self.connect()
        stream = text("é", fin=False) + ping(b"p") + cont("€", fin=False) + cont("😀")
        send_in_chunks(c, stream, [1], delay=0.0005)
        self.assertPong(c, b"p")
        self.assertEcho(c, TEXT, "é€😀".encode())
        self.assertCleanClose(c)


class FragmentationErrors(ConformanceTest):
    def test_continuation_with_nothing_to_continue_closes_1002(self):
        self.expect_failure(cont("orphan"), 1002)

    def test_non_final_continuation_with_nothing_to_continue_closes_1002(self):
        self.expect_failure(cont("orphan", fin=False), 1002)

    def test_continuation_after_a_complete_message_closes_1002(self):
        self.expect_failure(text("complete") + cont("orphan"), 1002,
                            replies=[(TEXT, b"complete")])

    def test_continuation_after_complete_fragmented_message_closes_1002(self):
        self.expect_failure(fragments(TEXT, [b"a", b"b"]) + cont("c"), 1002,
                            replies=[(TEXT, b"ab")])

    def test_new_text_frame_while_text_message_open_closes_1002(self):
        self.expect_failure(text("open", fin=False) + text("new"), 1002)

    def test_new_binary_frame_while_text_message_open_closes_1002(self):
        self.expect_failure(text("open", fin=False) + frame(BINARY, b"new"), 1002)

    def test_new_non_final_text_frame_while_binary_message_open_closes_1002(self):
        self.expect_failure(frame(BINARY, b"open", fin=False) + text("new", fin=False), 1002)

    def test_new_text_frame_after_ping_between_fragments_closes_1002(self):
        self.expect_failure(text("open", fin=False) + ping(b"p") + text("new"), 1002,
                            replies=[(0xA, b"p")])


if __name__ == "__main__":
    unittest.main()
