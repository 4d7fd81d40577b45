package dev.steer4j.safetensors;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import dev.steer4j.io.AtomicFiles;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects tensors in memory and writes them as one safetensors file: header padded with spaces
 * to a multiple of 8, data in name-sorted order, written to a temp file and moved into place so
 * readers never see a half-written file.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Entry(DType dtype, long[] shape, ByteBuffer data) {
    }

    private final Map<String, Entry> tensors = new TreeMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a tensor from raw little-endian bytes (the remaining bytes of {@code data}, copied). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, ByteBuffer data) {
        if (name == null || name.isEmpty() || name.equals("__metadata__")) {
            throw new InvalidInputException("invalid tensor name: " + name);
        }
        if (tensors.containsKey(name)) {
            throw new InvalidInputException("duplicate tensor " + name);
        }
        long numel = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new InvalidInputException("tensor " + name + ": negative dim in " + Arrays.toString(shape));
            }
            numel = Math.multiplyExact(numel, d);
        }
        long bytes = Math.multiplyExact(numel, dtype.byteSize());
        if (data.remaining() != bytes) {
            throw new InvalidInputException("tensor " + name + ": " + data.remaining() + " bytes given, shape "
                    + Arrays.toString(shape) + " of " + dtype.code() + " needs " + bytes);
        }
        ByteBuffer copy = ByteBuffer.allocate(data.remaining());
        copy.put(data.duplicate()).flip();
        tensors.put(name, new Entry(dtype, shape.clone(), copy));
        return this;
    }

    public SafetensorsWriter add(String name, DType dtype, long[] shape, byte[] littleEndianBytes) {
        return add(name, dtype, shape, ByteBuffer.wrap(littleEndianBytes));
    }

    public SafetensorsWriter addF32(String name, long[] shape, float[] data) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data);
        return add(name, DType.F32, shape, b);
    }

    /** Stores {@code data} as IEEE half, rounded to nearest even. */
    public SafetensorsWriter addF16(String name, long[] shape, float[] data) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : data) {
            b.putShort(FloatConversions.floatToHalf(f));
        }
        return add(name, DType.F16, shape, b.flip());
    }

    /** Stores {@code data} as bfloat16, rounded to nearest even. */
    public SafetensorsWriter addBF16(String name, long[] shape, float[] data) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : data) {
            b.putShort(FloatConversions.floatToBf16(f));
        }
        return add(name, DType.BF16, shape, b.flip());
    }

    public SafetensorsWriter putMetadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Writes the file atomically, replacing {@code target} if it exists. */
    public void write(Path target) throws IOException {
        byte[] header = header();
        AtomicFiles.write(target, tmp -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry e : tensors.values()) {
                    writeFully(ch, e.data.duplicate());
                }
                ch.force(true);
            }
        });
    }

    private byte[] header() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            Entry t = e.getValue();
            ObjectNode n = root.putObject(e.getKey());
            n.put("dtype", t.dtype.code());
            ArrayNode shape = n.putArray("shape");
            for (long d : t.shape) {
                shape.add(d);
            }
            long end = offset + t.data.remaining();
            n.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
