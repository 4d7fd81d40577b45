package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.safetensors.DType;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face GPT-2 checkpoint folder ({@code config.json} plus {@code model.safetensors}, or
 * shards listed in {@code model.safetensors.index.json}). Weights are exposed under canonical
 * names without the {@code transformer.} prefix; every expected tensor is checked for presence,
 * shape and a float dtype when opening, so later reads can trust them.
 */
public final class HfCheckpoint implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREFIX = "transformer.";

    /** Where a canonical tensor actually lives. */
    private record Source(SafetensorsFile file, String name) {
    }

    private final Path dir;
    private final String configJson;
    private final GPT2Config config;
    private final List<String> canonicalNames;
    private final Map<String, Source> sources;
    private final List<SafetensorsFile> files;

    private HfCheckpoint(Path dir, String configJson, GPT2Config config, List<String> canonicalNames,
                         Map<String, Source> sources, List<SafetensorsFile> files) {
        this.dir = dir;
        this.configJson = configJson;
        this.config = config;
        this.canonicalNames = canonicalNames;
        this.sources = sources;
        this.files = files;
    }

    /**
     * Opens and validates {@code dir}. Throws InvalidInputException for a missing or invalid
     * config, missing weights, missing tensors or wrong shapes/dtypes; a malformed safetensors
     * file gives a SafetensorsException.
     */
    public static HfCheckpoint open(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new InvalidInputException("checkpoint " + dir + ": not a directory");
        }
        Path configPath = dir.resolve("config.json");
        if (!Files.isRegularFile(configPath)) {
            throw new InvalidInputException("checkpoint " + dir + ": missing config.json");
        }
        String configJson = readText(dir, configPath);
        GPT2Config config;
        try {
            config = GPT2Config.fromJson(configJson);
        } catch (InvalidInputException e) {
            throw new InvalidInputException("checkpoint " + dir + ": config.json: " + e.getMessage(), e);
        }
        List<String> names = canonicalNames(config);
        Map<String, long[]> shapes = expectedShapes(config);
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            Map<String, Source> sources = locate(dir, names, files);
            for (String name : names) {
                TensorInfo t = sources.get(name).file.info(sources.get(name).name);
                DType dt = t.dtype();
                if (dt != DType.F32 && dt != DType.F16 && dt != DType.BF16) {
                    throw new InvalidInputException("checkpoint " + dir + ": tensor " + name + " has dtype "
                            + dt.code() + ", expected F32, F16 or BF16");
                }
                if (!Arrays.equals(t.shape(), shapes.get(name))) {
                    throw new InvalidInputException("checkpoint " + dir + ": tensor " + name + " has shape "
                            + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shapes.get(name)));
                }
            }
            return new HfCheckpoint(dir, configJson, config, names, sources, List.copyOf(files));
        } catch (IOException | RuntimeException e) {
            closeAll(files, e);
            throw e;
        }
    }

    /** Maps each canonical name to its file and stored name, opening the files it needs. */
    private static Map<String, Source> locate(Path dir, List<String> names, List<SafetensorsFile> files)
            throws IOException {
        Path single = dir.resolve("model.safetensors");
        Path index = dir.resolve("model.safetensors.index.json");
        Map<String, Source> sources = new LinkedHashMap<>();
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            files.add(f);
            for (String name : names) {
                String stored = f.has(PREFIX + name) ? PREFIX + name : f.has(name) ? name : null;
                if (stored == null) {
                    throw missing(dir, name);
                }
                sources.put(name, new Source(f, stored));
            }
            return sources;
        }
        if (!Files.isRegularFile(index)) {
            throw new InvalidInputException("no model.safetensors or model.safetensors.index.json in " + dir);
        }
        Map<String, String> weightMap = readWeightMap(dir, index);
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (String name : names) {
            String stored = weightMap.containsKey(PREFIX + name) ? PREFIX + name
                    : weightMap.containsKey(name) ? name : null;
            if (stored == null) {
                throw missing(dir, name);
            }
            String shardName = weightMap.get(stored);
            SafetensorsFile f = shards.get(shardName);
            if (f == null) {
                Path shard = dir.resolve(shardName).normalize();
                // the index must not point outside the checkpoint folder
                if (!shard.startsWith(dir.normalize()) || !Files.isRegularFile(shard)) {
                    throw new InvalidInputException("checkpoint " + dir + ": shard " + shardName
                            + " listed in model.safetensors.index.json is missing");
                }
                f = SafetensorsFile.open(shard);
                files.add(f);
                shards.put(shardName, f);
            }
            if (!f.has(stored)) {
                throw new InvalidInputException("checkpoint " + dir + ": tensor " + name
                        + " is listed in model.safetensors.index.json under " + shardName + " but is not in it");
            }
            sources.put(name, new Source(f, stored));
        }
        return sources;
    }

    private static Map<String, String> readWeightMap(Path dir, Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(readText(dir, index));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InvalidInputException("checkpoint " + dir + ": model.safetensors.index.json is not valid JSON: "
                    + e.getOriginalMessage());
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new InvalidInputException("checkpoint " + dir + ": model.safetensors.index.json has no weight_map object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new InvalidInputException("checkpoint " + dir + ": weight_map entry " + e.getKey()
                        + " is not a file name");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        return out;
    }

    private static String readText(Path dir, Path file) throws IOException {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new InvalidInputException("checkpoint " + dir + ": " + file.getFileName() + " is not valid UTF-8 text");
        }
    }

    /** The canonical tensor names of a config, in HF module order. */
    public static List<String> canonicalNames(GPT2Config c) {
        return List.copyOf(expectedShapes(c).keySet());
    }

    /** Canonical name to expected shape, in HF module order (a fresh map each call). */
    public static Map<String, long[]> expectedShapes(GPT2Config c) {
        long d = c.nEmbd();
        long inner = c.nInner();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put("wte.weight", new long[] {c.vocabSize(), d});
        m.put("wpe.weight", new long[] {c.nPositions(), d});
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            m.put(h + "ln_1.weight", new long[] {d});
            m.put(h + "ln_1.bias", new long[] {d});
            m.put(h + "attn.c_attn.weight", new long[] {d, 3 * d});
            m.put(h + "attn.c_attn.bias", new long[] {3 * d});
            m.put(h + "attn.c_proj.weight", new long[] {d, d});
            m.put(h + "attn.c_proj.bias", new long[] {d});
            m.put(h + "ln_2.weight", new long[] {d});
            m.put(h + "ln_2.bias", new long[] {d});
            m.put(h + "mlp.c_fc.weight", new long[] {d, inner});
            m.put(h + "mlp.c_fc.bias", new long[] {inner});
            m.put(h + "mlp.c_proj.weight", new long[] {inner, d});
            m.put(h + "mlp.c_proj.bias", new long[] {d});
        }
        m.put("ln_f.weight", new long[] {d});
        m.put("ln_f.bias", new long[] {d});
        return m;
    }

    public Path dir() {
        return dir;
    }

    public GPT2Config config() {
        return config;
    }

    /** The raw text of config.json. */
    public String configJson() {
        return configJson;
    }

    /** Canonical names in HF module order: wte, wpe, h.i.*, ln_f. */
    public List<String> canonicalNames() {
        return canonicalNames;
    }

    /** Header entry of a canonical tensor (its name() is the name stored in the file). */
    public TensorInfo info(String canonical) {
        Source s = source(canonical);
        return s.file.info(s.name);
    }

    public DType dtype(String canonical) {
        return info(canonical).dtype();
    }

    /** Read-only little-endian bytes of a canonical tensor, in its stored dtype. */
    public ByteBuffer data(String canonical) {
        Source s = source(canonical);
        return s.file.data(s.name);
    }

    /** The tensor converted to float32, whatever its stored float dtype. */
    public float[] toFloatArray(String canonical) {
        Source s = source(canonical);
        return s.file.toFloatArray(s.name);
    }

    private Source source(String canonical) {
        Source s = sources.get(canonical);
        if (s == null) {
            throw new InvalidInputException("checkpoint " + dir + ": no canonical tensor " + canonical);
        }
        return s;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private static void closeAll(List<SafetensorsFile> files, Exception cause) {
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                cause.addSuppressed(e);
            }
        }
    }

    private static InvalidInputException missing(Path dir, String name) {
        return new InvalidInputException("checkpoint " + dir + ": missing tensor " + name);
    }
}
