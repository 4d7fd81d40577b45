package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.IoErrors;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
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
 * {@code .pt} archives: loading one (CRCs first, then libtorch's reader under the compilation lock, then every
 * weight finite, then steer4j's or a foreign GPT-2) and writing one atomically through a Java stream.
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

    static Gpt2Model loaded(Path file, Path tokenizerDir, Device device, JitModule m, ExtraFilesMap extra) {
        // the CRCs say the file is as written; this catches a model that was saved broken (e.g. training diverged)
        Set<Long> seen = new HashSet<>(); // a tied embedding once
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
        if (files.containsKey(Gpt2Model.EXPORT_MANIFEST)) {
            throw new InvalidInputException(file + " is a hooked program written by `steer4j export` (for steer4j-host or"
                    + " torch.jit.load); give steer4j the .pt it was exported from");
        }
        GPT2Tokenizer tok = tokenizerDir != null ? loadTokenizer(tokenizerDir)
                : files.containsKey("vocab.json") && files.containsKey("merges.txt")
                ? GPT2Tokenizer.fromFiles(files.get("vocab.json"), files.get("merges.txt")) : null;
        if (tok == null) {
            throw new TokenizerException(file + " has no embedded tokenizer: give a tokenizer folder (with vocab.json and merges.txt)");
        }
        if (files.containsKey(Gpt2Model.MARKER)) {
            GPT2Config c = GPT2Config.fromJson(new String(files.get("config.json"), StandardCharsets.UTF_8));
            ScalarType dt = ModuleTree.tensors(m).get("transformer.wte.weight").scalar_type();
            Programs.locked(() -> Gpt2Program.ensureGreedyStep(m));
            return new Gpt2Model(m, Gpt2Model.Kind.STEER4J, c, tok, device, dt, c.nEmbd(), c.nPositions(), c.vocabSize(),
                    c.nLayer(), files);
        }
        return foreign(file, m, tok, device, files);
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
                (int) wpe.size(0), (int) wte.size(0), layers, files);
    }

    /**
     * Whether {@code file} is a TorchScript archive, what {@code convert} and {@code export} write (and torch.jit.save):
     * a zip whose one top folder holds {@code data.pkl} and {@code constants.pkl}. A {@code torch.save} checkpoint
     * (data.pkl only) is not one. Reads the zip's directory only.
     */
    static boolean isTorchScriptArchive(Path file) {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            Set<String> names = new HashSet<>();
            for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
                names.add(e.nextElement().getName());
            }
            for (String n : names) {
                if (n.endsWith("/data.pkl") && names.contains(n.substring(0, n.length() - "data.pkl".length()) + "constants.pkl")) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false; // not a zip
        }
    }

    /** Saves {@code program} with {@code files} as the archive's extra files (null entries skipped), atomically. */
    static void write(JitModule program, Map<String, byte[]> files, Path out) throws IOException {
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

    static GPT2Tokenizer loadTokenizer(Path dir) {
        try {
            return GPT2Tokenizer.fromDirectory(dir);
        } catch (InvalidInputException e) {
            throw new TokenizerException("tokenizer " + dir + ": " + e.getMessage());
        }
    }

    static String firstLine(String s) {
        if (s == null) return "unknown error";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

}
