package dev.steer4j.batch;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.IoErrors;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;

/**
 * A job's output: one JSON record per line, appended whole with one write each and never rewritten, so
 * a job killed at any moment (kill -9 included) leaves complete lines and at most one torn last line.
 * Reopening it reads the ids already there and cuts a torn last line off, so a rerun writes each id once.
 */
public final class ResultLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final FileChannel channel;
    private final Set<String> done = new HashSet<>();
    private final Set<Long> doneLines = new HashSet<>();
    private long errors;

    private ResultLog(Path file, FileChannel channel) {
        this.file = file;
        this.channel = channel;
    }

    /** Opens (or creates) {@code file} for appending, after reading which requests it already holds. */
    public static ResultLog open(Path file) {
        if (Files.isDirectory(file)) throw new InvalidInputException("output " + file + " is a directory");
        try {
            FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            ResultLog log = new ResultLog(file, ch);
            try {
                log.recover();
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            return log;
        } catch (IOException e) {
            throw new InvalidInputException("cannot open " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** Reads every complete line's id (or line number, for error records without one); cuts a torn tail. */
    private void recover() throws IOException {
        long keep = 0; // the end of the last good line
        long offset = 0;
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        try (java.io.InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            for (int c = in.read(); c >= 0; c = in.read()) {
                offset++;
                if (c != '\n') {
                    line.write(c);
                    continue;
                }
                if (!remember(line.toByteArray())) break; // damaged: what follows is written again
                keep = offset;
                line.reset();
            }
        }
        if (keep < channel.size()) channel.truncate(keep); // a line torn by a kill is never half there
        channel.position(keep);
    }

    private boolean remember(byte[] bytes) {
        try {
            JsonNode node = JSON.readTree(bytes);
            if (node == null || !node.isObject()) return false;
            if (node.hasNonNull("id")) done.add(node.get("id").asText());
            else if (node.has("line")) doneLines.add(node.get("line").asLong());
            else return false;
            if (node.has("error")) errors++;
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether a request with this id, or a bad line with this number, is already recorded. */
    public boolean has(String id) {
        return id != null && done.contains(id);
    }

    public boolean hasLine(long line) {
        return doneLines.contains(line);
    }

    public int recorded() {
        return done.size() + doneLines.size();
    }

    /** Error records found when the log was opened. */
    public long errors() {
        return errors;
    }

    /** Appends one record as one line with one write, then flushes it to the file. */
    public void append(Object record) {
        byte[] bytes;
        try {
            bytes = (JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode a result record", e);
        }
        long before = -1;
        try {
            before = channel.position();
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) channel.write(b);
        } catch (IOException e) {
            try {
                if (before >= 0) channel.truncate(before); // no torn line left behind (a full disk)
            } catch (IOException ignored) {
                // the next run cuts it off instead
            }
            throw new InvalidInputException("cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    @Override
    public void close() {
        try {
            channel.force(false);
            channel.close();
        } catch (IOException e) {
            throw new InvalidInputException("cannot finish writing " + file + ": " + IoErrors.reason(e), e);
        }
    }
}
