package dev.steer4j.steering.io;

import dev.steer4j.InvalidInputException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Bounds-checked little-endian reads over a whole GGUF file held in memory. Every failure is an
 * InvalidInputException naming the file and the byte offset, so a malformed file never
 * surfaces as an index or underflow exception.
 */
final class GgufCursor {
    private final ByteBuffer buf;
    private final Path path;

    GgufCursor(byte[] bytes, Path path) {
        this.buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        this.path = path;
    }

    int position() {
        return buf.position();
    }

    int size() {
        return buf.capacity();
    }

    long remaining() {
        return buf.remaining();
    }

    ByteBuffer buffer() {
        return buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    byte u8(String what) {
        need(1, what);
        return buf.get();
    }

    short u16(String what) {
        need(2, what);
        return buf.getShort();
    }

    int u32(String what) {
        need(4, what);
        return buf.getInt();
    }

    long u64(String what) {
        need(8, what);
        return buf.getLong();
    }

    /** A count or length stored as uint64: must fit the bytes left, at {@code minBytesEach} each. */
    long count(String what, long minBytesEach) {
        int at = buf.position();
        long n = u64(what);
        if (n < 0 || (minBytesEach > 0 && n > remaining() / minBytesEach)) {
            throw fail(at, what + " " + Long.toUnsignedString(n) + " is more than the file can hold");
        }
        return n;
    }

    /** GGUF string: uint64 byte length, then UTF-8 without a terminator. */
    String string(String what) {
        int at = buf.position();
        int n = (int) count(what + " length", 1);
        ByteBuffer slice = buf.slice();
        slice.limit(n);
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(slice);
            buf.position(buf.position() + n);
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw fail(at, what + " is not valid UTF-8");
        }
    }

    void skip(long n, String what) {
        need(n, what);
        buf.position(buf.position() + (int) n);
    }

    private void need(long n, String what) {
        if (n < 0 || n > buf.remaining()) {
            throw fail(buf.position(), "truncated: " + what + " needs " + n + " bytes, "
                    + buf.remaining() + " left");
        }
    }

    InvalidInputException fail(long offset, String what) {
        return new InvalidInputException("GGUF " + path + ": at byte " + offset + ": " + what);
    }

    InvalidInputException fail(String what) {
        return new InvalidInputException("GGUF " + path + ": " + what);
    }
}
