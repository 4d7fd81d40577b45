package dev.steer4j.batch;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Lines of a stream, one at a time (a file of any length never sits in memory), each decoded as UTF-8 on
 * its own, so one bad line is an error for that line and the lines after it still read.
 */
final class LineReader implements AutoCloseable {
    private final InputStream in;
    private long number;

    /** One line: its 1-based number, and its text or null when it is not valid UTF-8. */
    record Line(long number, String text) {}

    LineReader(InputStream in) {
        this.in = in.markSupported() ? in : new java.io.BufferedInputStream(in, 1 << 16);
    }

    /** The next line, or null at the end. */
    Line next() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') bytes.write(c);
        if (c < 0 && bytes.size() == 0) return null;
        number++;
        byte[] b = bytes.toByteArray();
        int n = b.length > 0 && b[b.length - 1] == '\r' ? b.length - 1 : b.length;
        try {
            String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b, 0, n)).toString();
            return new Line(number, text);
        } catch (CharacterCodingException e) {
            return new Line(number, null);
        }
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
