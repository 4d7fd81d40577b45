package dev.steer4j.steering.io;

import dev.steer4j.InvalidInputException;
import dev.steer4j.safetensors.FloatConversions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import dev.steer4j.io.AtomicFiles;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * llama.cpp control vectors, as written by llama.cpp's {@code cvector-generator} and by repeng's
 * {@code ControlVector.export_gguf}: a little-endian GGUF file with
 * {@code general.architecture = "controlvector"}, {@code controlvector.model_hint},
 * {@code controlvector.layer_count}, and one 1-D tensor {@code direction.k} per layer.
 *
 * <p>Layer convention: {@code direction.k} is added to the output of block {@code k} (0-based),
 * so it maps to module {@code transformer.h.k}. llama.cpp's loader puts {@code direction.k} in
 * {@code tensors[k]}, which {@code build_cvec(cur, il)} adds after block {@code il}'s final
 * residual add; repeng writes {@code direction.{layer}} for {@code model.transformer.h[layer]}
 * and adds it to that block's output. llama.cpp rejects {@code direction.0}, so block 0 cannot be
 * exported; it is still accepted on read, as repeng may write it.
 */
public final class GgufControlVector {
    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final int VERSION = 3;
    static final int DEFAULT_ALIGNMENT = 32;
    static final String ARCH = "controlvector";
    static final String KEY_ARCH = "general.architecture";
    static final String KEY_ALIGNMENT = "general.alignment";
    static final String KEY_HINT = ARCH + ".model_hint";
    static final String KEY_LAYERS = ARCH + ".layer_count";
    static final String MODULE_PREFIX = "transformer.h.";

    // GGUF metadata value types (gguf.h / gguf-py constants.py)
    static final int UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
            BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12;
    // ggml tensor types
    static final int GGML_F32 = 0, GGML_F16 = 1;

    private static final Pattern DIRECTION = Pattern.compile("direction\\.(0|[1-9][0-9]{0,8})");
    private static final Pattern MODULE = Pattern.compile("transformer\\.h\\.(0|[1-9][0-9]{0,8})");
    private static final Set<String> RESERVED = Set.of(KEY_ARCH, KEY_ALIGNMENT, KEY_HINT, KEY_LAYERS);

    private GgufControlVector() {
    }

    private record Tensor(String name, int layer, int width, int type, long offset) {
        long bytes() {
            return (long) width * (type == GGML_F32 ? 4 : 2);
        }
    }

    /**
     * Reads a control vector: GGUF version 2 or 3, F32 or F16 {@code direction.k} tensors, all
     * of one width. Entries are {@code transformer.h.k} in layer order; scalar metadata is kept
     * as strings under its GGUF key. Anything malformed is a one-line InvalidInputException.
     */
    public static VectorSet read(Path path) throws IOException {
        long size = Files.size(path);
        if (size > Integer.MAX_VALUE) {
            throw new InvalidInputException("GGUF " + path + ": " + size + " bytes is too large for a control vector");
        }
        GgufCursor c = new GgufCursor(Files.readAllBytes(path), path);
        if (c.u32("magic") != MAGIC) {
            throw c.fail("not a GGUF file (bad magic)");
        }
        int version = c.u32("version");
        if (version != 2 && version != 3) {
            throw c.fail(4, "unsupported GGUF version " + Integer.toUnsignedString(version)
                    + (Integer.reverseBytes(version) == 3 ? " (big-endian files are not supported)" : "")
                    + "; expected 2 or 3");
        }
        // each tensor info takes at least 8 (name) + 4 (n_dims) + 8 (dim) + 4 (type) + 8 (offset)
        long nTensors = c.count("tensor count", 32);
        // each key/value takes at least 8 (key) + 4 (type) + 1 (value)
        long nKv = c.count("metadata count", 13);

        Map<String, String> meta = new LinkedHashMap<>();
        Set<String> keys = new HashSet<>();
        int alignment = DEFAULT_ALIGNMENT;
        for (long i = 0; i < nKv; i++) {
            int at = c.position();
            String key = c.string("metadata key");
            if (!keys.add(key)) {
                throw c.fail(at, "duplicate metadata key " + key);
            }
            int type = c.u32("type of " + key);
            if (key.equals(KEY_ALIGNMENT)) {
                if (type != UINT32) {
                    throw c.fail(at, KEY_ALIGNMENT + " must be a uint32");
                }
                alignment = c.u32(KEY_ALIGNMENT);
                if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
                    throw c.fail(at, KEY_ALIGNMENT + " " + Integer.toUnsignedString(alignment) + " is not a power of two");
                }
                continue;
            }
            String value = value(c, key, type, 0);
            if (value != null) {
                meta.put(key, value);
            }
        }
        String arch = meta.get(KEY_ARCH);
        if (arch != null && !arch.equals(ARCH)) {
            throw c.fail("architecture is \"" + arch + "\", not a control vector");
        }

        List<Tensor> tensors = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < nTensors; i++) {
            tensors.add(tensorInfo(c, names, alignment));
        }
        if (tensors.isEmpty()) {
            throw c.fail("holds no direction tensors");
        }
        long dataStart = pad(c.position(), alignment);
        long dataSize = c.size() - dataStart;
        for (Tensor t : tensors) {
            if (dataSize < 0 || t.offset > dataSize || t.bytes() > dataSize - t.offset) {
                throw c.fail("tensor " + t.name + " data at offset " + t.offset + " (" + t.bytes()
                        + " bytes) lies beyond the end of the file (" + c.size() + " bytes)");
            }
        }
        checkNoOverlap(c, tensors);

        tensors.sort(Comparator.comparingInt(Tensor::layer));
        VectorSet.Builder b = VectorSet.builder().metadata(meta);
        ByteBuffer data = c.buffer();
        for (Tensor t : tensors) {
            float[] v = new float[t.width];
            int base = (int) (dataStart + t.offset);
            for (int j = 0; j < v.length; j++) {
                v[j] = t.type == GGML_F32 ? data.getFloat(base + 4 * j)
                        : FloatConversions.halfToFloat(data.getShort(base + 2 * j));
            }
            b.put(MODULE_PREFIX + t.layer, v);
        }
        try {
            return b.build();
        } catch (InvalidInputException e) {
            throw c.fail(e.getMessage());
        }
    }

    private static Tensor tensorInfo(GgufCursor c, Set<String> names, int alignment) {
        int at = c.position();
        String name = c.string("tensor name");
        if (!names.add(name)) {
            throw c.fail(at, "duplicate tensor " + name);
        }
        Matcher m = DIRECTION.matcher(name);
        if (!m.matches()) {
            throw c.fail(at, "tensor " + name + " is not named direction.<layer>");
        }
        int nDims = c.u32("n_dims of " + name);
        if (nDims < 1 || nDims > 4) {
            throw c.fail(at, "tensor " + name + " has " + Integer.toUnsignedString(nDims) + " dimensions; GGUF allows 1 to 4");
        }
        long width = c.u64("dims of " + name);
        for (int d = 1; d < nDims; d++) {
            // ggml dims are innermost first; a direction is 1-D, so outer dims must be 1
            long outer = c.u64("dims of " + name);
            if (outer != 1) {
                throw c.fail(at, "tensor " + name + " is not 1-D (dim " + d + " is " + Long.toUnsignedString(outer) + ")");
            }
        }
        if (width <= 0 || width > Integer.MAX_VALUE / 4) {
            throw c.fail(at, "tensor " + name + " has invalid width " + Long.toUnsignedString(width));
        }
        int type = c.u32("type of " + name);
        if (type != GGML_F32 && type != GGML_F16) {
            throw c.fail(at, "tensor " + name + " has unsupported ggml type " + Integer.toUnsignedString(type)
                    + "; expected F32 (0) or F16 (1)");
        }
        long offset = c.u64("offset of " + name);
        if (offset < 0) {
            throw c.fail(at, "tensor " + name + " offset " + Long.toUnsignedString(offset) + " lies beyond the end of the file");
        }
        if (offset % alignment != 0) {
            throw c.fail(at, "tensor " + name + " offset " + Long.toUnsignedString(offset)
                    + " is not a multiple of the alignment " + alignment);
        }
        return new Tensor(name, Integer.parseInt(m.group(1)), (int) width, type, offset);
    }

    private static void checkNoOverlap(GgufCursor c, List<Tensor> tensors) {
        List<Tensor> sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparingLong(Tensor::offset));
        for (int i = 1; i < sorted.size(); i++) {
            Tensor prev = sorted.get(i - 1);
            if (sorted.get(i).offset < prev.offset + prev.bytes()) {
                throw c.fail("tensor " + sorted.get(i).name + " overlaps tensor " + prev.name);
            }
        }
    }

    /** Reads one value; scalars and strings come back as strings, arrays are checked and skipped (null). */
    private static String value(GgufCursor c, String key, int type, int depth) {
        switch (type) {
            case UINT8:
                return Integer.toString(c.u8(key) & 0xff);
            case INT8:
                return Integer.toString(c.u8(key));
            case UINT16:
                return Integer.toString(c.u16(key) & 0xffff);
            case INT16:
                return Integer.toString(c.u16(key));
            case UINT32:
                return Integer.toUnsignedString(c.u32(key));
            case INT32:
                return Integer.toString(c.u32(key));
            case FLOAT32:
                return Float.toString(Float.intBitsToFloat(c.u32(key)));
            case BOOL:
                return Boolean.toString(c.u8(key) != 0);
            case STRING:
                return c.string("value of " + key);
            case UINT64:
                return Long.toUnsignedString(c.u64(key));
            case INT64:
                return Long.toString(c.u64(key));
            case FLOAT64:
                return Double.toString(Double.longBitsToDouble(c.u64(key)));
            case ARRAY: {
                if (depth > 4) {
                    throw c.fail(c.position(), key + ": arrays nested too deeply");
                }
                int at = c.position();
                int elem = c.u32("array type of " + key);
                int fixed = fixedSize(elem);
                if (fixed > 0) {
                    long n = c.count("array length of " + key, fixed);
                    c.skip(n * fixed, key);
                } else if (elem == STRING || elem == ARRAY) {
                    long n = c.count("array length of " + key, elem == STRING ? 8 : 12);
                    for (long i = 0; i < n; i++) {
                        value(c, key, elem, depth + 1);
                    }
                } else {
                    throw c.fail(at, key + ": unknown array element type " + Integer.toUnsignedString(elem));
                }
                return null;
            }
            default:
                throw c.fail(c.position() - 4, key + ": unknown metadata value type " + Integer.toUnsignedString(type));
        }
    }

    private static int fixedSize(int type) {
        return switch (type) {
            case UINT8, INT8, BOOL -> 1;
            case UINT16, INT16 -> 2;
            case UINT32, INT32, FLOAT32 -> 4;
            case UINT64, INT64, FLOAT64 -> 8;
            default -> 0;
        };
    }

    /**
     * Writes {@code set} as a GGUF v3 control vector the way repeng does: general.architecture,
     * controlvector.model_hint, controlvector.layer_count (uint32), then the set's other metadata
     * as strings; F32 {@code direction.k} tensors in layer order, 32-byte aligned. Every entry
     * must be a {@code [d]} vector named {@code transformer.h.k} with {@code k >= 1}. The file is
     * written to a temp file in the same directory and moved into place.
     */
    public static void write(Path path, VectorSet set, String modelHint) throws IOException {
        if (modelHint == null || modelHint.isBlank()) {
            // repeng's import_gguf refuses files without a model hint
            throw new InvalidInputException("GGUF " + path + ": a model hint (e.g. \"gpt2\") is required");
        }
        if (set.size() == 0) {
            throw new InvalidInputException("GGUF " + path + ": refusing to write an empty control vector");
        }
        TreeMap<Integer, float[]> layers = new TreeMap<>();
        for (String name : set.names()) {
            Matcher m = MODULE.matcher(name);
            if (!m.matches()) {
                throw new InvalidInputException("GGUF " + path + ": " + name
                        + " is not a block output (transformer.h.<i>); llama.cpp control vectors only steer those");
            }
            int k = Integer.parseInt(m.group(1));
            if (k == 0) {
                throw new InvalidInputException("GGUF " + path + ": transformer.h.0 cannot be exported;"
                        + " llama.cpp rejects direction.0");
            }
            if (set.shape(name).length != 1) {
                throw new InvalidInputException("GGUF " + path + ": " + name + " has shape "
                        + Arrays.toString(set.shape(name)) + "; control vectors hold one [d] vector per layer");
            }
            layers.put(k, set.data(name));
        }

        Out out = new Out();
        out.u32(MAGIC).u32(VERSION);
        Map<String, String> extra = new LinkedHashMap<>(set.metadata());
        extra.keySet().removeAll(RESERVED);
        out.u64(layers.size()).u64(3 + extra.size());
        out.string(KEY_ARCH).u32(STRING).string(ARCH);
        out.string(KEY_HINT).u32(STRING).string(modelHint);
        out.string(KEY_LAYERS).u32(UINT32).u32(layers.size());
        extra.forEach((k, v) -> out.string(k).u32(STRING).string(v));
        long offset = 0;
        for (Map.Entry<Integer, float[]> e : layers.entrySet()) {
            out.string("direction." + e.getKey()).u32(1).u64(e.getValue().length).u32(GGML_F32).u64(offset);
            offset += pad(4L * e.getValue().length, DEFAULT_ALIGNMENT);
        }
        out.align(DEFAULT_ALIGNMENT);
        for (float[] v : layers.values()) {
            for (float f : v) {
                out.u32(Float.floatToRawIntBits(f));
            }
            out.align(DEFAULT_ALIGNMENT);
        }
        writeAtomically(path, out.bytes.toByteArray());
    }

    private static void writeAtomically(Path target, byte[] bytes) throws IOException {
        AtomicFiles.write(target, tmp -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
        });
    }

    static long pad(long n, int alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    /** Little-endian byte sink. */
    private static final class Out {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Out u32(int v) {
            bytes.write(scratch.clear().putInt(v).array(), 0, 4);
            return this;
        }

        Out u64(long v) {
            bytes.write(scratch.clear().putLong(v).array(), 0, 8);
            return this;
        }

        Out string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            bytes.write(b, 0, b.length);
            return this;
        }

        void align(int alignment) {
            while (bytes.size() % alignment != 0) {
                bytes.write(0);
            }
        }
    }
}
