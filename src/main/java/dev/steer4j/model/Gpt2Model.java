package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.IoErrors;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import dev.steer4j.runtime.NativeArena;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.ExtraFilesMap;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A loaded GPT-2: a TorchScript module on one device, its tokenizer and its shape.
 *
 * <p>Two kinds: steer4j's own program ({@link Gpt2Program}, with attention masks, position ids and a KV
 * cache) and a foreign TorchScript GPT-2 ({@code input_ids -> logits}, e.g. traced from Hugging Face),
 * which is run by full recompute. The loaded module is never rewritten: hooks work on clones of it that
 * share its weights (see {@code dev.steer4j.hooks}). Steering goes through sessions on it
 * ({@code SteeringSession.open(model)}); closing the model closes them and frees its native memory.
 */
public final class Gpt2Model implements AutoCloseable {
    public enum Kind { STEER4J, FOREIGN }

    /** The extra file that marks a steer4j archive; holds format and dtype. */
    static final String MARKER = "steer4j.json";
    /** The extra file that marks a hooked program written by {@code steer4j export}. */
    public static final String EXPORT_MANIFEST = "steer4j-export.json";
    private static final String[] EXTRA_FILES = {MARKER, "config.json", "vocab.json", "merges.txt", EXPORT_MANIFEST};

    private final JitModule module;
    private final Kind kind;
    private final GPT2Tokenizer tokenizer;
    private final Device device;
    private final ScalarType dtype;
    private final int width;
    private final int nPositions;
    private final int vocabSize;
    private final int nLayer;
    private final GPT2Config config;
    private final Map<String, byte[]> extraFiles;
    private final java.util.Set<AutoCloseable> dependents = new java.util.LinkedHashSet<>(); // sessions, closed first
    // calls hold the read side; close() takes the write side, so it waits for calls in flight to give way
    private final java.util.concurrent.locks.ReentrantReadWriteLock lifecycle = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private volatile boolean closing;
    private volatile boolean closed;

    private Gpt2Model(JitModule module, Kind kind, GPT2Config config, GPT2Tokenizer tokenizer, Device device,
                      ScalarType dtype, int width, int nPositions, int vocabSize, int nLayer,
                      Map<String, byte[]> extraFiles) {
        this.module = module;
        this.kind = kind;
        this.config = config;
        this.tokenizer = tokenizer;
        this.device = device;
        this.dtype = dtype.intern(); // native enums are not the Java constants until interned
        this.width = width;
        this.nPositions = nPositions;
        this.vocabSize = vocabSize;
        this.nLayer = nLayer;
        this.extraFiles = extraFiles;
        module.eval();
    }

    /** Builds steer4j's program from a Hugging Face checkpoint, in memory, with the checkpoint's tokenizer. */
    public static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device) {
        return fromCheckpoint(ck, dtype, device, true);
    }

    /**
     * Builds steer4j's program from a Hugging Face checkpoint, in memory; {@code withTokenizer} false leaves the
     * tokenizer out (loading the archive then needs --tokenizer). Refuses a weight that is not finite.
     */
    public static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device, boolean withTokenizer) {
        Torch.load();
        GPT2Config c = ck.config();
        Map<String, byte[]> extra = new HashMap<>();
        extra.put(MARKER, marker(dtype));
        extra.put("config.json", c.toJson().getBytes(StandardCharsets.UTF_8));
        GPT2Tokenizer tok = null;
        if (withTokenizer) {
            extra.put("vocab.json", readTokenizerFile(ck.dir(), "vocab.json"));
            extra.put("merges.txt", readTokenizerFile(ck.dir(), "merges.txt"));
            tok = GPT2Tokenizer.fromFiles(extra.get("vocab.json"), extra.get("merges.txt"));
        }
        JitModule program;
        try (PointerScope loading = new PointerScope()) { // the load's own handles: the program keeps the weights
            Map<String, Tensor> weights = new HashMap<>();
            for (String name : ck.canonicalNames()) {
                Tensor w = Tensors.fromBytes(ck.data(name), ck.dtype(name), ck.info(name).shape(), dtype, device);
                if (!Tensors.allFinite(w)) throw nonFinite(ck, name, dtype);
                weights.put(name, w);
            }
            program = NativeArena.detach(Programs.locked(() -> Gpt2Program.build(c, weights::get, Tensors.lowestFinite(dtype))));
        }
        return new Gpt2Model(program, Kind.STEER4J, c, tok, device, dtype, c.nEmbd(), c.nPositions(),
                c.vocabSize(), c.nLayer(), extra);
    }

    /** NaN or infinity in the file, or finite values that overflowed the target dtype. */
    private static InvalidInputException nonFinite(HfCheckpoint ck, String name, ScalarType dtype) {
        String tensor = "checkpoint " + ck.dir() + ": tensor " + ck.info(name).name();
        ScalarType stored = Tensors.scalarType(ck.dtype(name));
        try (Tensor w = Tensors.fromBytes(ck.data(name), ck.dtype(name), ck.info(name).shape(), stored, new Device("cpu"))) {
            return new InvalidInputException(Tensors.allFinite(w)
                    ? tensor + " has values beyond the range of " + Tensors.floatTypeName(dtype) + " (pick a wider dtype)"
                    : tensor + " holds NaN or infinite values");
        }
    }

    /**
     * The same model in another float dtype: steer4j's program is rebuilt from this model's weights (so the
     * mask fill suits the dtype); a foreign module is cloned and cast. Returns this model if the dtype matches.
     */
    public Gpt2Model withDtype(ScalarType target) {
        if (target == dtype) return this;
        if (kind == Kind.FOREIGN) {
            JitModule copy = Programs.locked(() -> module().clone());
            copy.to(target);
            return new Gpt2Model(copy, kind, config, tokenizer, device, target, width, nPositions, vocabSize, nLayer,
                    extraFiles);
        }
        return rebuilt(target, false, false);
    }

    /**
     * steer4j's program rebuilt from this model's weights in {@code target}: {@code portable} writes attention
     * out for libtorch 1.13 ({@link Gpt2Program}); {@code zeroWeights} puts zeros in place of every weight.
     */
    public Gpt2Model rebuilt(ScalarType target, boolean portable, boolean zeroWeights) {
        if (kind == Kind.FOREIGN) {
            throw new InvalidInputException("only a steer4j program can be rebuilt; this model is a foreign TorchScript module");
        }
        JitModule program;
        try (PointerScope building = new PointerScope()) {
            Map<String, Tensor> weights = new HashMap<>();
            ModuleTree.tensors(module()).forEach((name, t) -> {
                if (!name.startsWith("transformer.")) return;
                weights.put(name.substring("transformer.".length()),
                        zeroWeights ? zeros(Tensors.shape(t), target, device) : t.to(target));
            });
            program = NativeArena.detach(Programs.locked(() ->
                    Gpt2Program.build(config, weights::get, Tensors.lowestFinite(target), portable)));
        }
        Map<String, byte[]> extra = new HashMap<>(extraFiles);
        extra.put(MARKER, marker(target));
        return new Gpt2Model(program, kind, config, tokenizer, device, target, width, nPositions, vocabSize, nLayer, extra);
    }

    /**
     * A steer4j program of the given shape with every weight zero, and the built-in model's (GPT-2's)
     * tokenizer: for archives whose weights are filled in elsewhere (steer4j-host --fill-random).
     */
    public static Gpt2Model zeroWeights(GPT2Config c, ScalarType dtype, Device device, boolean portable) {
        Torch.load();
        JitModule program;
        try (PointerScope building = new PointerScope()) {
            Map<String, Tensor> weights = new HashMap<>();
            Map<String, long[]> shapes = HfCheckpoint.expectedShapes(c);
            program = NativeArena.detach(Programs.locked(() -> Gpt2Program.build(c, name -> weights.computeIfAbsent(name,
                    n -> zeros(shapes.get(n), dtype, device)), Tensors.lowestFinite(dtype), portable)));
        }
        Map<String, byte[]> extra = new HashMap<>();
        extra.put(MARKER, marker(dtype));
        extra.put("config.json", c.toJson().getBytes(StandardCharsets.UTF_8));
        extra.put("vocab.json", resource("/steer4j/default-model/vocab.json"));
        extra.put("merges.txt", resource("/steer4j/default-model/merges.txt"));
        GPT2Tokenizer tok = GPT2Tokenizer.fromFiles(extra.get("vocab.json"), extra.get("merges.txt"));
        return new Gpt2Model(program, Kind.STEER4J, c, tok, device, dtype, c.nEmbd(), c.nPositions(), c.vocabSize(),
                c.nLayer(), extra);
    }

    /**
     * Zeros that occupy one element of storage whatever the shape (a stride-0 view), so an archive of a
     * GPT2-XL-shaped program holds a few kilobytes of weights, not gigabytes.
     */
    private static Tensor zeros(long[] shape, ScalarType dtype, Device device) {
        try (Tensor one = torch.zeros(new long[]{1},
                new org.bytedeco.pytorch.TensorOptions(dtype).device(new DeviceOptional(device)))) {
            return one.expand(shape);
        }
    }

    private static byte[] resource(String path) {
        try (InputStream in = Gpt2Model.class.getResourceAsStream(path)) {
            if (in == null) throw new IllegalStateException("steer4j's jar is missing " + path);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + path + " from steer4j's jar: " + e.getMessage(), e);
        }
    }

    /** Bytes of distinct weight storage (a tied embedding counted once): what each decode step reads. */
    public long weightBytes() {
        try (PointerScope handles = new PointerScope()) {
            java.util.Set<Long> seen = new java.util.HashSet<>();
            long total = 0;
            for (Tensor t : ModuleTree.tensors(module()).values()) {
                if (seen.add(t.data_ptr().address())) total += t.numel() * t.element_size();
            }
            return total;
        }
    }

    /** Loads a {@code .pt}: steer4j's own archive, or a foreign TorchScript GPT-2 with {@code tokenizerDir}. */
    public static Gpt2Model load(Path file, Path tokenizerDir, Device device) {
        Torch.load();
        IoErrors.requireFile(file, "model file");
        ArchiveCrc.verify(file);
        try (PointerScope loading = new PointerScope()) { // every handle of the load and its checks, but the module
            ExtraFilesMap extra = new ExtraFilesMap();
            for (String name : EXTRA_FILES) {
                extra.put(new BytePointer(name), "");
            }
            JitModule m;
            try {
                m = NativeArena.detach(Programs.locked(() ->
                        torch.load(new BytePointer(file.toString()), new DeviceOptional(device), extra)));
            } catch (RuntimeException e) {
                throw new InvalidInputException("cannot load " + file + " as a TorchScript archive: " + firstLine(e.getMessage()));
            }
            try {
                return loaded(file, tokenizerDir, device, m, extra);
            } catch (RuntimeException e) {
                m.close(); // refused: nothing of it stays
                throw e;
            }
        }
    }

    private static Gpt2Model loaded(Path file, Path tokenizerDir, Device device, JitModule m, ExtraFilesMap extra) {
        // the CRCs say the file is as written; this catches a model that was saved broken (e.g. training diverged)
        java.util.Set<Long> seen = new java.util.HashSet<>(); // a tied embedding once
        for (Map.Entry<String, Tensor> t : ModuleTree.tensors(m).entrySet()) {
            if (seen.add(t.getValue().data_ptr().address()) && !Tensors.allFinite(t.getValue())) {
                throw new InvalidInputException(file + ": weight " + t.getKey() + " holds NaN or infinite values");
            }
        }
        Map<String, byte[]> files = new HashMap<>();
        for (String name : EXTRA_FILES) {
            BytePointer v = extra.get(new BytePointer(name));
            byte[] bytes = v == null ? new byte[0] : v.getStringBytes();
            if (bytes.length > 0) {
                files.put(name, bytes);
            }
        }
        if (files.containsKey(EXPORT_MANIFEST)) {
            throw new InvalidInputException(file + " is a hooked program written by `steer4j export` (for steer4j-host or"
                    + " torch.jit.load); give steer4j the .pt it was exported from");
        }
        GPT2Tokenizer tok = tokenizerDir != null ? loadTokenizer(tokenizerDir)
                : files.containsKey("vocab.json") && files.containsKey("merges.txt")
                ? GPT2Tokenizer.fromFiles(files.get("vocab.json"), files.get("merges.txt")) : null;
        if (tok == null) {
            throw new TokenizerException(file + " has no embedded tokenizer: give a tokenizer folder (with vocab.json and merges.txt)");
        }
        if (files.containsKey(MARKER)) {
            GPT2Config c = GPT2Config.fromJson(new String(files.get("config.json"), StandardCharsets.UTF_8));
            ScalarType dt = ModuleTree.tensors(m).get("transformer.wte.weight").scalar_type();
            Programs.locked(() -> Gpt2Program.ensureGreedyStep(m));
            return new Gpt2Model(m, Kind.STEER4J, c, tok, device, dt, c.nEmbd(), c.nPositions(), c.vocabSize(),
                    c.nLayer(), files);
        }
        return foreign(file, m, tok, device, files);
    }

    /** Shape of a foreign model, read from its embedding tables. */
    private static Gpt2Model foreign(Path file, JitModule m, GPT2Tokenizer tok, Device device, Map<String, byte[]> files) {
        Tensor wte = null;
        Tensor wpe = null;
        for (Map.Entry<String, Tensor> e : ModuleTree.tensors(m).entrySet()) {
            if (wte == null && e.getKey().endsWith("wte.weight")) wte = e.getValue();
            if (wpe == null && e.getKey().endsWith("wpe.weight")) wpe = e.getValue();
        }
        if (wte == null || wpe == null || wte.dim() != 2 || wpe.dim() != 2) {
            throw new InvalidInputException(file + ": not a GPT-2 (no wte/wpe embedding weights found)");
        }
        int layers = 0;
        while (ModuleTree.find(m, "transformer.h." + layers) != null) {
            layers++;
        }
        return new Gpt2Model(m, Kind.FOREIGN, null, tok, device, wte.scalar_type(), (int) wte.size(1),
                (int) wpe.size(0), (int) wte.size(0), layers, files);
    }

    /**
     * The small GPT-2 shipped inside steer4j, trained on public-domain text by scripts/train_default_model.py
     * (docs/DEFAULT_MODEL.md), as float32 on {@code device}.
     */
    public static Gpt2Model embeddedDefault(Device device) {
        try {
            Path dir = Files.createTempDirectory("steer4j-default-model");
            for (String name : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
                try (InputStream in = Gpt2Model.class.getResourceAsStream("/steer4j/default-model/" + name)) {
                    if (in == null) {
                        throw new IllegalStateException("embedded default model is missing " + name);
                    }
                    Files.copy(in, dir.resolve(name));
                }
            }
            try (HfCheckpoint ck = HfCheckpoint.open(dir)) {
                return fromCheckpoint(ck, ScalarType.Float, device);
            } finally {
                for (String name : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
                    Files.deleteIfExists(dir.resolve(name));
                }
                Files.deleteIfExists(dir);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot unpack the embedded default model: " + e.getMessage(), e);
        }
    }

    /** Writes this model as one self-contained {@code .pt} (config and tokenizer inside), atomically. */
    public void save(Path out) {
        try {
            writeArchive(module(), extraFiles, out);
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + out + ": " + IoErrors.reason(e));
        }
    }

    /** Saves {@code program} with {@code files} as the archive's extra files (null entries skipped), atomically. */
    public static void writeArchive(JitModule program, Map<String, byte[]> files, Path out) throws IOException {
        dev.steer4j.AtomicFiles.write(out, tmp -> {
            ExtraFilesMap extra = new ExtraFilesMap();
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                if (e.getValue() != null) {
                    extra.put(new BytePointer(e.getKey()), new String(e.getValue(), StandardCharsets.UTF_8));
                }
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ArchiveSink.write(ch, stream -> program.save(stream, extra));
            }
        });
    }

    /** The archive's steer4j.json: format, version and the dtype the program was built for. */
    private static byte[] marker(ScalarType dtype) {
        return ("{\"format\": \"steer4j-gpt2\", \"version\": 1, \"dtype\": \"" + Tensors.floatTypeName(dtype) + "\"}")
                .getBytes(StandardCharsets.UTF_8);
    }

    private static GPT2Tokenizer loadTokenizer(Path dir) {
        try {
            return GPT2Tokenizer.fromDirectory(dir);
        } catch (InvalidInputException e) {
            throw new TokenizerException("tokenizer " + dir + ": " + e.getMessage());
        }
    }

    private static byte[] readTokenizerFile(Path dir, String name) {
        Path p = dir.resolve(name);
        if (!Files.exists(p)) {
            throw new TokenizerException("checkpoint " + dir + " has no " + name + ", so the model would have no tokenizer");
        }
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + p + ": " + IoErrors.reason(e));
        }
    }

    private static String firstLine(String s) {
        if (s == null) return "unknown error";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /**
     * Ties {@code dependent} (a steering session) to this model: closing the model closes it first. The model
     * knows nothing more of it; the returned handle unties it (the dependent's own close calls it).
     */
    public Runnable attach(AutoCloseable dependent) {
        try (Use use = use()) {
            synchronized (dependents) {
                dependents.add(dependent);
            }
            return () -> {
                synchronized (dependents) {
                    dependents.remove(dependent);
                }
            };
        }
    }

    /** One call's hold on this model: {@link #close()} waits until every hold is released. */
    public interface Use extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Holds the model open for one call (any thread, any number at once); an IllegalStateException once the
     * model is closed or closing.
     */
    public Use use() {
        var read = lifecycle.readLock();
        read.lock();
        if (closing || closed) {
            read.unlock();
            throw new IllegalStateException("this model is closed");
        }
        return read::unlock;
    }

    /** For long calls, between steps: an IllegalStateException once another thread has begun to close the model. */
    public void checkOpen() {
        if (closing || closed) throw new IllegalStateException("this model was closed during the call");
    }

    /**
     * Closes every open session, then frees the module and its weights; later use is an IllegalStateException.
     * Calls in flight on other threads fail at their next step (or finish first); this waits for them.
     */
    @Override
    public void close() {
        if (closed) return;
        if (lifecycle.getReadHoldCount() > 0) {
            throw new IllegalStateException("a model cannot be closed from inside one of its own calls");
        }
        closing = true;
        lifecycle.writeLock().lock();
        try {
            if (closed) return;
            java.util.List<AutoCloseable> open;
            synchronized (dependents) {
                open = java.util.List.copyOf(dependents);
            }
            for (AutoCloseable d : open) closeDependent(d);
            closed = true;
            module.close();
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    private static void closeDependent(AutoCloseable d) {
        try {
            d.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing the model: closing " + d + " failed: " + e.getMessage(), e);
        }
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("this model is closed");
    }

    public JitModule module() {
        ensureOpen();
        return module;
    }
    /** The files a saved archive carries beside the program (marker, config, tokenizer), by name. */
    public Map<String, byte[]> archiveFiles() { return java.util.Collections.unmodifiableMap(extraFiles); }
    public Kind kind() { return kind; }
    /** Null for a foreign model. */
    public GPT2Config config() { return config; }
    public GPT2Tokenizer tokenizer() { return tokenizer; }
    public Device device() { return device; }
    public ScalarType dtype() { return dtype; }
    public int width() { return width; }
    public int maxPositions() { return nPositions; }
    public int vocabSize() { return vocabSize; }
    public int layers() { return nLayer; }
    public boolean isCpu() { return Devices.isCpu(device); }
}
