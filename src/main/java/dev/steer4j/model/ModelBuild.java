package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.runtime.NativeArena;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import dev.steer4j.tokenizer.GPT2Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Building steer4j's GPT-2 program in memory: from a Hugging Face checkpoint, from a loaded model's weights in
 * another dtype, with zero weights, or the built-in model. Each build's temporaries live in a pointer scope, so
 * the program alone keeps the weights.
 */
final class ModelBuild {
    private ModelBuild() {}

    /** Builds steer4j's program from a Hugging Face checkpoint, in memory, with the checkpoint's tokenizer. */
    static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device) {
        return fromCheckpoint(ck, dtype, device, true);
    }

    /**
     * Builds steer4j's program from a Hugging Face checkpoint, in memory; {@code withTokenizer} false leaves the
     * tokenizer out (loading the archive then needs --tokenizer). Refuses a weight that is not finite.
     */
    static Gpt2Model fromCheckpoint(HfCheckpoint ck, ScalarType dtype, Device device, boolean withTokenizer) {
        Torch.load();
        GPT2Config c = ck.config();
        Map<String, byte[]> extra = new HashMap<>();
        extra.put(Gpt2Model.MARKER, marker(dtype));
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
                if (Gpt2Program.isConv1DWeight(name)) { // laid out here, one at a time, not all copied at build
                    Tensor relaid = Gpt2Program.columnMajor(w);
                    w.close();
                    w = relaid;
                }
                weights.put(name, w);
            }
            program = NativeArena.detach(Programs.locked(() -> Gpt2Program.build(c, weights::get, Tensors.lowestFinite(dtype))));
        }
        return new Gpt2Model(program, Gpt2Model.Kind.STEER4J, c, tok, device, dtype, c.nEmbd(), c.nPositions(),
                c.vocabSize(), c.nLayer(), extra);
    }

    /** NaN or infinity in the file, or finite values that overflowed the target dtype. */
    static InvalidInputException nonFinite(HfCheckpoint ck, String name, ScalarType dtype) {
        String tensor = "checkpoint " + ck.dir() + ": tensor " + ck.info(name).name();
        ScalarType stored = Tensors.scalarType(ck.dtype(name));
        try (Tensor w = Tensors.fromBytes(ck.data(name), ck.dtype(name), ck.info(name).shape(), stored, new Device("cpu"))) {
            return new InvalidInputException(Tensors.allFinite(w)
                    ? tensor + " has values beyond the range of " + Tensors.floatTypeName(dtype) + " (pick a wider dtype)"
                    : tensor + " holds NaN or infinite values");
        }
    }

    /**
     * A steer4j program of the given shape with every weight zero, and the built-in model's (GPT-2's)
     * tokenizer: for archives whose weights are filled in elsewhere (steer4j-host --fill-random).
     */
    static Gpt2Model zeroWeights(GPT2Config c, ScalarType dtype, Device device, boolean portable) {
        Torch.load();
        JitModule program;
        try (PointerScope building = new PointerScope()) {
            Map<String, Tensor> weights = new HashMap<>();
            Map<String, long[]> shapes = HfCheckpoint.expectedShapes(c);
            program = NativeArena.detach(Programs.locked(() -> Gpt2Program.build(c, name -> weights.computeIfAbsent(name,
                    n -> zeros(shapes.get(n), dtype, device)), Tensors.lowestFinite(dtype), portable)));
        }
        Map<String, byte[]> extra = new HashMap<>();
        extra.put(Gpt2Model.MARKER, marker(dtype));
        extra.put("config.json", c.toJson().getBytes(StandardCharsets.UTF_8));
        extra.put("vocab.json", resource("/steer4j/default-model/vocab.json"));
        extra.put("merges.txt", resource("/steer4j/default-model/merges.txt"));
        GPT2Tokenizer tok = GPT2Tokenizer.fromFiles(extra.get("vocab.json"), extra.get("merges.txt"));
        return new Gpt2Model(program, Gpt2Model.Kind.STEER4J, c, tok, device, dtype, c.nEmbd(), c.nPositions(), c.vocabSize(),
                c.nLayer(), extra);
    }

    /**
     * Zeros that occupy one element of storage whatever the shape (a stride-0 view), so an archive of a
     * GPT2-XL-shaped program holds a few kilobytes of weights, not gigabytes.
     */
    static Tensor zeros(long[] shape, ScalarType dtype, Device device) {
        try (Tensor one = torch.zeros(new long[]{1},
                new org.bytedeco.pytorch.TensorOptions(dtype).device(new DeviceOptional(device)))) {
            return one.expand(shape);
        }
    }

    static byte[] resource(String path) {
        try (InputStream in = ModelBuild.class.getResourceAsStream(path)) {
            if (in == null) throw new IllegalStateException("steer4j's jar is missing " + path);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + path + " from steer4j's jar: " + e.getMessage(), e);
        }
    }

    /**
     * The small GPT-2 shipped inside steer4j, trained on public-domain text by scripts/train_default_model.py
     * (docs/DEFAULT_MODEL.md), as float32 on {@code device}.
     */
    static Gpt2Model embeddedDefault(Device device) {
        try {
            Path dir = Files.createTempDirectory("steer4j-default-model");
            for (String name : new String[]{"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
                try (InputStream in = ModelBuild.class.getResourceAsStream("/steer4j/default-model/" + name)) {
                    if (in == null) {
                        throw new IllegalStateException("embedded default model is missing " + name);
                    }
                    Files.copy(in, dir.resolve(name));
                }
            }
            try (HfCheckpoint ck = HfCheckpoint.open(dir)) {
                return fromCheckpoint(ck, ScalarType.Float, device, true);
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

    /** The archive's steer4j.json: format, version and the dtype the program was built for. */
    static byte[] marker(ScalarType dtype) {
        return ("{\"format\": \"steer4j-gpt2\", \"version\": 1, \"dtype\": \"" + Tensors.floatTypeName(dtype) + "\"}")
                .getBytes(StandardCharsets.UTF_8);
    }

    static byte[] readTokenizerFile(Path dir, String name) {
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

    /**
     * steer4j's program rebuilt from this model's weights in {@code target}: {@code portable} writes attention
     * out for libtorch 1.13 ({@link Gpt2Program}); {@code zeroWeights} puts zeros in place of every weight.
     */
    static Gpt2Model rebuilt(Gpt2Model source, ScalarType target, boolean portable, boolean zeroWeights) {
        if (source.kind() == Gpt2Model.Kind.FOREIGN) {
            throw new InvalidInputException("only a steer4j program can be rebuilt; this model is a foreign TorchScript module");
        }
        JitModule program;
        try (PointerScope building = new PointerScope()) {
            Map<String, Tensor> weights = new HashMap<>();
            ModuleTree.tensors(source.module()).forEach((name, t) -> {
                if (!name.startsWith("transformer.")) return;
                weights.put(name.substring("transformer.".length()),
                        zeroWeights ? zeros(Tensors.shape(t), target, source.device()) : t.to(target));
            });
            program = NativeArena.detach(Programs.locked(() ->
                    Gpt2Program.build(source.config(), weights::get, Tensors.lowestFinite(target), portable)));
        }
        Map<String, byte[]> extra = new HashMap<>(source.archiveFiles());
        extra.put(Gpt2Model.MARKER, marker(target));
        return new Gpt2Model(program, Gpt2Model.Kind.STEER4J, source.config(), source.tokenizer(), source.device(), target,
                source.width(), source.maxPositions(), source.vocabSize(), source.layers(), extra);
    }

}
