package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import dev.steer4j.runtime.TorchErrors;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.ExtraFilesMap;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IValueVector;
import org.bytedeco.pytorch.InferenceMode;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * {@code .pt} archives: loading one (its zip layout and CRCs first, then libtorch's reader under the compilation lock,
 * then a steer4j archive's config against its weights and program, every weight finite, then steer4j's or a foreign
 * GPT-2) and writing one atomically through a Java stream. Every refusal is one line in steer4j's words.
 */
final class ModelArchive {
    /** The extra files an archive may carry beside the program. */
    private static final String[] EXTRA_FILES = {Gpt2Model.MARKER, "config.json", "vocab.json", "merges.txt",
            Gpt2Model.EXPORT_MANIFEST};

    private ModelArchive() {}

    /** Loads a {@code .pt}: steer4j's own archive, or a foreign TorchScript GPT-2 with {@code tokenizerDir}. */
    static Gpt2Model load(Path file, Path tokenizerDir, Device device) {
        Torch.load();
        IoErrors.requireFile(file, "model file");
        ArchiveCheck.verify(file); // a zip laid out as TorchScript, its CRCs intact: libtorch's words never reach users
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
                throw ArchiveCheck.unreadable(file, e);
            }
            try {
                return loaded(file, tokenizerDir, device, m, extra);
            } catch (RuntimeException e) {
                m.close(); // refused: nothing of it stays
                throw TorchErrors.isNative(e) ? ArchiveCheck.unreadable(file, e) : e;
            }
        }
    }

    static Gpt2Model loaded(Path file, Path tokenizerDir, Device device, JitModule m, ExtraFilesMap extra) {
        Map<String, byte[]> files = new HashMap<>();
        for (String name : EXTRA_FILES) {
            BytePointer v = extra.get(new BytePointer(name));
            byte[] bytes = v == null ? new byte[0] : v.getStringBytes();
            if (bytes.length > 0) {
                files.put(name, bytes);
            }
        }
        if (files.containsKey(Gpt2Model.EXPORT_MANIFEST)) {
            throw new InvalidInputException(file + " is a hooked program written by `steer4j export` (for steer4j-host or"
                    + " torch.jit.load); give steer4j the .pt it was exported from");
        }
        if (files.containsKey(Gpt2Model.MARKER)) Gpt2Program.columnMajorConv1D(m); // before any handle to the old weights
        Map<String, Tensor> tensors = ModuleTree.tensors(m);
        GPT2Config c = files.containsKey(Gpt2Model.MARKER) ? config(file, files, m, tensors, device) : null;
        // the CRCs say the file is as written; this catches a model that was saved broken (e.g. training diverged)
        java.util.Set<Long> seen = new java.util.HashSet<>(); // a tied embedding once
        for (Map.Entry<String, Tensor> t : tensors.entrySet()) {
            if (seen.add(t.getValue().data_ptr().address()) && !Tensors.allFinite(t.getValue())) {
                throw new InvalidInputException(file + ": weight " + t.getKey() + " holds NaN or infinite values");
            }
        }
        GPT2Tokenizer tok = tokenizerDir != null ? loadTokenizer(tokenizerDir)
                : files.containsKey("vocab.json") && files.containsKey("merges.txt")
                ? GPT2Tokenizer.fromFiles(files.get("vocab.json"), files.get("merges.txt")) : null;
        if (tok == null) {
            throw new TokenizerException(file + " has no embedded tokenizer: give a tokenizer folder (with vocab.json and merges.txt)");
        }
        if (c != null) {
            ScalarType dt = tensors.get("transformer.wte.weight").scalar_type();
            Programs.locked(() -> Gpt2Program.ensureGreedyStep(m));
            return new Gpt2Model(m, Gpt2Model.Kind.STEER4J, c, tok, device, dt, c.nEmbd(), c.nPositions(), c.vocabSize(),
                    c.nLayer(), files, file);
        }
        return foreign(file, m, tok, device, files);
    }

    /**
     * A steer4j archive's config.json, read and held against what the program has: every weight's shape, no weight
     * beyond the config, and the attention's number of heads. An edited or mismatched config would otherwise fail
     * deep in the TorchScript interpreter at the first forward, or shape the KV cache wrong.
     */
    static GPT2Config config(Path file, Map<String, byte[]> files, JitModule m, Map<String, Tensor> tensors, Device device) {
        byte[] json = files.get("config.json");
        if (json == null) {
            throw new InvalidInputException(file + " is marked as a steer4j archive (" + Gpt2Model.MARKER
                    + ") but has no config.json");
        }
        GPT2Config c;
        try {
            c = GPT2Config.fromJson(new String(json, StandardCharsets.UTF_8));
        } catch (InvalidInputException e) {
            throw new InvalidInputException(file + ": its config.json is unusable: " + e.getMessage());
        }
        String disagrees = file + ": its config.json disagrees with its weights: ";
        Map<String, long[]> expected = new LinkedHashMap<>();
        HfCheckpoint.expectedShapes(c).forEach((name, shape) -> expected.put("transformer." + name, shape));
        expected.put("lm_head.weight", new long[] {c.vocabSize(), c.nEmbd()}); // tied to wte
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) {
                throw new InvalidInputException(disagrees + "the config" + layers(e.getKey(), c) + " expects a weight "
                        + e.getKey() + " of shape " + Arrays.toString(e.getValue()) + ", which the archive does not have");
            }
            long[] shape = Tensors.shape(t);
            if (!Arrays.equals(shape, e.getValue())) {
                throw new InvalidInputException(disagrees + "weight " + e.getKey() + " has shape " + Arrays.toString(shape)
                        + ", the config expects " + Arrays.toString(e.getValue()));
            }
        }
        for (Map.Entry<String, Tensor> t : tensors.entrySet()) {
            if (!expected.containsKey(t.getKey())) {
                throw new InvalidInputException(disagrees + "the archive has a weight " + t.getKey() + " of shape "
                        + Arrays.toString(Tensors.shape(t.getValue())) + ", which the config" + layers(t.getKey(), c)
                        + " does not expect");
            }
        }
        checkHeads(file, m, c, tensors.get("transformer.wte.weight").scalar_type(), device);
        return c;
    }

    /** " (n_layer N)" where a block's weight is missing or extra: the config's number of blocks is the likely cause. */
    private static String layers(String weight, GPT2Config c) {
        return weight.startsWith("transformer.h.") ? " (n_layer " + c.nLayer() + ")" : "";
    }

    /**
     * n_head is in no weight's shape, only in the program's attention code: one forward of block 0's attention on a
     * single zero position, with KV caches shaped as the config says ({@code [1, n_head, 1, head_dim]}), runs only
     * if they agree (a different head count gives a different head size, which the cache write refuses).
     */
    private static void checkHeads(Path file, JitModule m, GPT2Config c, ScalarType dt, Device device) {
        JitModule attn = ModuleTree.find(m, "transformer.h.0.attn");
        if (attn == null || attentionRuns(attn, c.nHead(), c.nEmbd(), dt, device)) return;
        for (int h = 1; h <= c.nEmbd(); h++) {
            if (c.nEmbd() % h == 0 && h != c.nHead() && attentionRuns(attn, h, c.nEmbd(), dt, device)) {
                throw new InvalidInputException(file + ": its config.json disagrees with its program: the config says"
                        + " n_head " + c.nHead() + ", the program's attention has " + h + " heads");
            }
        }
        // no head count runs: not a disagreement this probe can name; the first real forward reports it
    }

    private static boolean attentionRuns(JitModule attn, int heads, int width, ScalarType dt, Device device) {
        try (InferenceMode guard = new InferenceMode(); PointerScope scope = new PointerScope()) {
            TensorOptions o = new TensorOptions(dt).device(new DeviceOptional(device));
            long[] cache = {1, heads, 1, width / heads};
            IValueVector args = new IValueVector(new IValue(torch.zeros(new long[] {1, 1, width}, o)),
                    new IValue(torch.zeros(new long[] {1, 1, 1, 1}, o)), new IValue(torch.zeros(cache, o)),
                    new IValue(torch.zeros(cache, o)), new IValue(0));
            attn.forward(args).close();
            return true;
        } catch (RuntimeException e) {
            if (!TorchErrors.isNative(e)) throw e;
            return false;
        }
    }

    /** Shape of a foreign model, read from its embedding tables. */
    static Gpt2Model foreign(Path file, JitModule m, GPT2Tokenizer tok, Device device, Map<String, byte[]> files) {
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
        return new Gpt2Model(m, Gpt2Model.Kind.FOREIGN, null, tok, device, wte.scalar_type(), (int) wte.size(1),
                (int) wpe.size(0), (int) wte.size(0), layers, files, file);
    }

    /**
     * Whether {@code file} is a TorchScript archive, what {@code convert} and {@code export} write (and torch.jit.save):
     * laid out as {@link ArchiveCheck} requires. A {@code torch.save} checkpoint is not one.
     */
    static boolean isTorchScriptArchive(Path file) {
        return ArchiveCheck.isTorchScriptArchive(file);
    }


    /** Saves {@code program} with {@code files} as the archive's extra files (null entries skipped), atomically. */
    static void write(JitModule program, Map<String, byte[]> files, Path out) throws IOException {
        dev.steer4j.io.AtomicFiles.write(out, tmp -> {
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

    static GPT2Tokenizer loadTokenizer(Path dir) {
        try {
            return GPT2Tokenizer.fromDirectory(dir);
        } catch (InvalidInputException e) {
            throw new TokenizerException("tokenizer " + dir + ": " + e.getMessage());
        }
    }

}
