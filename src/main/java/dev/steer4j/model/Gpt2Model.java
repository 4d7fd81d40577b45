package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.MemoryBudget;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
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

    /**
     * What {@code convert --out} and {@code export --out} may replace: a TorchScript {@code .pt} archive (a model, an
     * exported program). Not a {@code torch.save} checkpoint, a safetensors file, or anything else.
     */
    public static final OutputFiles.Kind ARCHIVE = new OutputFiles.Kind() {
        @Override public String description() { return "a TorchScript .pt archive"; }

        @Override public boolean matches(Path file) { return ModelArchive.isTorchScriptArchive(file); }
    };

    private final JitModule module;
    private final Kind kind;
    private final GPT2Tokenizer tokenizer;
    private final Device device;
    private final ScalarType dtype;
    private final ScalarType cacheDtype;
    private final int width;
    private final int nPositions;
    private final int vocabSize;
    private final int nLayer;
    private final GPT2Config config;
    private final Map<String, byte[]> extraFiles;
    private final Path file;
    private final java.util.Set<AutoCloseable> dependents = new java.util.LinkedHashSet<>(); // sessions, closed first
    // calls hold the read side; close() takes the write side, so it waits for calls in flight to give way
    private final java.util.concurrent.locks.ReentrantReadWriteLock lifecycle = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private volatile boolean closing;
    private volatile boolean closed;

    Gpt2Model(JitModule module, Kind kind, GPT2Config config, GPT2Tokenizer tokenizer, Device device,
                      ScalarType dtype, int width, int nPositions, int vocabSize, int nLayer,
                      Map<String, byte[]> extraFiles) {
        this(module, kind, config, tokenizer, device, dtype, width, nPositions, vocabSize, nLayer, extraFiles, null);
    }

    Gpt2Model(JitModule module, Kind kind, GPT2Config config, GPT2Tokenizer tokenizer, Device device,
                      ScalarType dtype, int width, int nPositions, int vocabSize, int nLayer,
                      Map<String, byte[]> extraFiles, Path file) {
        this.file = file;
        this.module = module;
        this.kind = kind;
        this.config = config;
        this.tokenizer = tokenizer;
        this.device = device;
        this.dtype = dtype.intern(); // native enums are not the Java constants until interned
        this.cacheDtype = kind == Kind.STEER4J && this.dtype != ScalarType.Float && Devices.isCpu(device)
                && Gpt2Program.attendsOverAnyCacheDtype(module) ? ScalarType.Float : this.dtype;
        this.width = width;
        this.nPositions = nPositions;
        this.vocabSize = vocabSize;
        this.nLayer = nLayer;
        this.extraFiles = extraFiles;
        module.eval();
    }

    /** Builds steer4j's program from a Hugging Face checkpoint, in memory, with the checkpoint's tokenizer. */
    public static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device) {
        return ModelBuild.fromCheckpoint(ck, dtype, device, true);
    }

    /**
     * Builds steer4j's program from a Hugging Face checkpoint, in memory; {@code withTokenizer} false leaves the
     * tokenizer out (loading the archive then needs --tokenizer). Refuses a weight that is not finite.
     */
    public static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device, boolean withTokenizer) {
        return ModelBuild.fromCheckpoint(ck, dtype, device, withTokenizer);
    }

    /**
     * A steer4j program of the given shape with every weight zero, and the built-in model's (GPT-2's)
     * tokenizer: for archives whose weights are filled in elsewhere (steer4j-host --fill-random).
     */
    public static Gpt2Model zeroWeights(GPT2Config c, ScalarType dtype, Device device, boolean portable) {
        return ModelBuild.zeroWeights(c, dtype, device, portable);
    }

    /**
     * The small GPT-2 shipped inside steer4j, trained on public-domain text by scripts/train_default_model.py
     * (docs/DEFAULT_MODEL.md), as float32 on {@code device}.
     */
    public static Gpt2Model embeddedDefault(Device device) {
        return ModelBuild.embeddedDefault(device);
    }

    /** Loads a {@code .pt}: steer4j's own archive, or a foreign TorchScript GPT-2 with {@code tokenizerDir}. */
    public static Gpt2Model load(Path file, Path tokenizerDir, Device device) {
        return ModelArchive.load(file, tokenizerDir, device);
    }

    /** Saves {@code program} with {@code files} as the archive's extra files (null entries skipped), atomically. */
    public static void writeArchive(JitModule program, Map<String, byte[]> files, Path out) throws IOException {
        ModelArchive.write(program, files, out);
    }

    /**
     * steer4j's program rebuilt from this model's weights in {@code target}: {@code portable} writes attention
     * out for libtorch 1.13 ({@link Gpt2Program}); {@code zeroWeights} puts zeros in place of every weight.
     */
    public Gpt2Model rebuilt(ScalarType target, boolean portable, boolean zeroWeights) {
        return ModelBuild.rebuilt(this, target, portable, zeroWeights);
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
                    extraFiles, file);
        }
        return rebuilt(target, false, false);
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

    /** Writes this model as one self-contained {@code .pt} (config and tokenizer inside), atomically. */
    public void save(Path out) {
        try {
            ModelArchive.write(module(), extraFiles, out);
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + out + ": " + IoErrors.reason(e));
        }
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
            // glibc keeps freed pages for reuse; a library JVM that closes a model wants the weights' memory back
            org.bytedeco.javacpp.Pointer.trimMemory();
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
    /** The {@code .pt} this model was loaded from; null for a model built in memory. */
    public Path file() { return file; }
    /** Null for a foreign model. */
    public GPT2Config config() { return config; }
    public GPT2Tokenizer tokenizer() { return tokenizer; }
    public Device device() { return device; }
    public ScalarType dtype() { return dtype; }

    /**
     * The KV cache's dtype: the model's, except float32 under a bfloat16 or float16 model on CPU. There libtorch's
     * fused attention runs its small gemms through a generic scalar loop (oneDNN takes only dense operands, and a
     * cache's columns in use are not), and float32 attention over a float32 cache is the faster (BENCHMARKS.md).
     */
    public ScalarType cacheDtype() { return cacheDtype; }

    /**
     * One layer's keys (or values) for {@code rows} × {@code columns}, zeros: {@code [rows, heads, columns, head
     * width]} in {@link #cacheDtype()} on the model's device, as {@link #kvCacheBytes} counts them.
     */
    public Tensor newCacheLayer(long rows, long columns) {
        try (TensorOptions typed = new TensorOptions(cacheDtype); DeviceOptional on = new DeviceOptional(device);
             TensorOptions opts = typed.device(on)) {
            return torch.zeros(new long[]{rows, config.nHead(), columns, config.headDim()}, opts);
        }
    }
    public int width() { return width; }
    public int maxPositions() { return nPositions; }
    public int vocabSize() { return vocabSize; }
    public int layers() { return nLayer; }

    /**
     * Bytes of a KV cache of {@code rows} × {@code columns} in {@link #cacheDtype()}, keys and values of every layer:
     * rows × layers × 2 × heads × columns × head width × element bytes (heads × head width = the model's width).
     * Saturates at Long.MAX_VALUE, a size no machine has.
     */
    public long kvCacheBytes(long rows, long columns) {
        return MemoryBudget.product(rows, nLayer, 2, width, columns, Tensors.elementBytes(cacheDtype));
    }

    /**
     * Forward FLOPs of one token at {@code position} (0-based, so it attends over position + 1 keys) through every
     * block: 2 per multiply-add of c_attn (d×3d), the attention's c_proj (d×d), c_fc (d×inner) and the mlp's c_proj
     * (inner×d), and of the attention itself (q·k and the weighted values: 2·d multiply-adds per key). Layer norms,
     * softmax and GELU are O(d) and left out; so are the logits ({@link #logitFlops()}).
     */
    public double blockFlops(int position) {
        double d = width;
        double inner = innerWidth();
        return nLayer * (2.0 * (3 * d * d + d * d + 2 * d * inner) + 4.0 * d * (position + 1));
    }

    /** The MLP's inner width: the config's n_inner, or GPT-2's 4 × d where it has none (a foreign model). */
    public int innerWidth() {
        return config == null || config.nInner() <= 0 ? 4 * width : config.nInner();
    }

    /** FLOPs of one position's logits: the unembedding, d × vocabulary multiply-adds. */
    public double logitFlops() {
        return 2.0 * width * vocabSize;
    }

    /** Bytes of one position's logits for {@code rows} rows in this model's dtype. */
    public long logitsBytes(long rows) {
        return MemoryBudget.product(rows, vocabSize, Tensors.elementBytes(dtype));
    }
    public boolean isCpu() { return Devices.isCpu(device); }
}
