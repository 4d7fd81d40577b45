package dev.steer4j.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Read-only view of a safetensors file. The header is validated fully before any offset is
 * trusted; tensor data is memory-mapped one tensor at a time, so files over 2 GiB work as long
 * as each single tensor is under 2 GiB.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers beyond this are rejected rather than allocated. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private final Map<String, ByteBuffer> mapped = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates {@code path}; throws {@link SafetensorsException} if it is malformed. */
    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) {
                throw fail(path, "file is " + size + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen <= 0) {
                throw fail(path, "header length " + headerLen + " is not positive");
            }
            if (headerLen > MAX_HEADER_BYTES) {
                throw fail(path, "header length " + headerLen + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
            }
            if (headerLen > size - 8) {
                throw fail(path, "header length " + headerLen + " is larger than the file (" + size + " bytes)");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8);
            long dataStart = 8 + headerLen;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(path, header.array(), size - dataStart, metadata);
            return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(tensors),
                    Collections.unmodifiableMap(metadata));
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path path, byte[] header, long dataSize,
                                                       Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (IOException e) {
            String msg = e instanceof JsonProcessingException jpe ? jpe.getOriginalMessage() : e.getMessage();
            throw fail(path, "header is not valid JSON: " + firstLine(msg));
        }
        if (root == null || !root.isObject()) {
            throw fail(path, "header is not a JSON object");
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                parseMetadata(path, v, metadata);
                continue;
            }
            tensors.put(name, parseEntry(path, name, v, dataSize));
        }
        checkNoOverlap(path, tensors);
        return tensors;
    }

    private static void parseMetadata(Path path, JsonNode v, Map<String, String> out) {
        if (!v.isObject()) {
            throw fail(path, "__metadata__ is not a JSON object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw fail(path, "__metadata__ value for \"" + m.getKey() + "\" is not a string");
            }
            out.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode v, long dataSize) {
        if (!v.isObject()) {
            throw fail(path, name, "entry is not a JSON object");
        }
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw fail(path, name, "missing or non-string dtype");
        }
        DType dtype = DType.fromCode(dt.textValue());
        if (dtype == null) {
            throw fail(path, name, "unknown dtype \"" + dt.textValue() + "\"");
        }
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) {
            throw fail(path, name, "missing or non-array shape");
        }
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(path, name, "shape", sh.get(i));
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2) {
            throw fail(path, name, "data_offsets must be an array [begin, end]");
        }
        long begin = nonNegativeLong(path, name, "data_offsets", off.get(0));
        long end = nonNegativeLong(path, name, "data_offsets", off.get(1));
        if (begin > end) {
            throw fail(path, name, "data_offsets [" + begin + ", " + end + "] has begin > end");
        }
        if (end > dataSize) {
            throw fail(path, name, "data_offsets end " + end + " is beyond the data section (" + dataSize + " bytes)");
        }
        TensorInfo info = new TensorInfo(name, dtype, shape, begin, end);
        long expected;
        try {
            expected = Math.multiplyExact(info.numel(), dtype.byteSize());
        } catch (ArithmeticException ex) {
            throw fail(path, name, "shape " + Arrays.toString(shape) + " overflows");
        }
        if (end - begin != expected) {
            throw fail(path, name, "data_offsets span " + (end - begin) + " bytes but shape "
                    + Arrays.toString(shape) + " of " + dtype.code() + " needs " + expected);
        }
        return info;
    }

    private static long nonNegativeLong(Path path, String name, String field, JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
            throw fail(path, name, field + " has a value that is not a non-negative integer: " + n);
        }
        return n.longValue();
    }

    private static void checkNoOverlap(Path path, Map<String, TensorInfo> tensors) {
        List<TensorInfo> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            // empty tensors take no bytes, so they cannot overlap anything
            if (t.begin() == t.end()) {
                continue;
            }
            if (prev != null && t.begin() < prev.end()) {
                throw fail(path, t.name(), "data overlaps tensor " + prev.name());
            }
            prev = t;
        }
    }

    public Path path() {
        return path;
    }

    /** All tensors in header order (the {@code __metadata__} entry excluded). */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} string map; empty when absent. */
    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** The header entry of {@code name}; throws {@link SafetensorsException} if absent. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw fail(path, name, "no such tensor");
        }
        return t;
    }

    /** A read-only little-endian buffer holding exactly the bytes of {@code name}. */
    public ByteBuffer data(String name) {
        TensorInfo t = info(name);
        if (t.byteLength() > Integer.MAX_VALUE) {
            throw fail(path, name, "tensor is " + t.byteLength() + " bytes; single tensors over 2 GiB are not supported");
        }
        ByteBuffer buf = mapped.computeIfAbsent(name, n -> map(t));
        // each caller gets its own position/limit
        return buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    private ByteBuffer map(TensorInfo t) {
        if (closed) {
            throw fail(path, t.name(), "file is closed");
        }
        if (t.byteLength() == 0) {
            return ByteBuffer.allocate(0).asReadOnlyBuffer();
        }
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin(), t.byteLength());
        } catch (IOException e) {
            throw new UncheckedIOException("safetensors " + path + ": cannot map tensor " + t.name(), e);
        }
    }

    /** The tensor converted to float: F32, F16, BF16 and F64 (the last rounded) are accepted. */
    public float[] toFloatArray(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isFloating()) {
            throw fail(path, name, "dtype " + t.dtype().code() + " cannot be converted to float");
        }
        ByteBuffer b = data(name);
        float[] out = new float[(int) t.numel()];
        switch (t.dtype()) {
            case F32 -> b.asFloatBuffer().get(out);
            case F64 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) b.getDouble(i * 8);
                }
            }
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = FloatConversions.halfToFloat(b.getShort(i * 2));
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = FloatConversions.bf16ToFloat(b.getShort(i * 2));
                }
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        closed = true;
        mapped.clear();
        channel.close();
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static SafetensorsException fail(Path path, String what) {
        return new SafetensorsException("safetensors " + path + ": " + what);
    }

    private static SafetensorsException fail(Path path, String tensor, String what) {
        return new SafetensorsException("safetensors " + path + ": tensor " + tensor + ": " + what);
    }
}
