package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.export.ProgramExport;
import dev.steer4j.hooks.HookOp;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.request.Positions;
import dev.steer4j.model.GPT2Config;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.steering.SteerSpec;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** The hooked program as a self-contained TorchScript archive, for steer4j-host or torch.jit.load. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write the hooked program (graphs with the hooks rewritten in, hook state, tokenizer) as one archive.")
final class ExportCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--shape", paramLabel = "NAME",
            description = "no weights at all, a GPT-2 of this shape: gpt2, gpt2-medium, gpt2-large, gpt2-xl or LxD "
                    + "(L layers, width D, 64-wide heads); implies --zero-weights")
    String shape;

    @Option(names = "--steer", paramLabel = "FILE[*COEF][@POSITIONS]", description = "as for generate (repeatable)")
    List<String> steer = List.of();

    @Option(names = "--steer-rows", paramLabel = "FILE[*COEF]",
            description = "per-row vectors: each tensor is [B, d], row b added to batch row b at every position (repeatable)")
    List<String> steerRows = List.of();

    @Option(names = "--zero-weights", description = "write every weight as zeros (a few KB; steer4j-host --fill-random fills them)")
    boolean zeroWeights;

    @Option(names = "--portable", description = "only operators libtorch 1.13 also has (attention written out)")
    boolean portable;

    @Option(names = "--dtype", paramLabel = "T", description = "float32, float16 or bfloat16 (default: the model's)")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "FILE.pt", description = "where to write the archive")
    Path out;

    @Override
    public Integer call() throws Exception {
        // --out: never the model or a vector file read (exporting over the model would lose it); an existing file only
        // if it is a .pt archive (an earlier export)
        Outputs.check("--out", out, Gpt2Model.ARCHIVE, Outputs.model(modelOptions), Outputs.steer("--steer", steer),
                Outputs.steer("--steer-rows", steerRows));
        Gpt2Model model = program();
        boolean zeros = zeroWeights || shape != null;
        try (HookedModel hm = new HookedModel(model)) {
            for (String s : steer) SteerSpec.parse(s).apply(hm, SteerSpec.Mode.HOOK);
            for (String s : steerRows) addRows(hm, s);
            Map<String, Object> manifest = ProgramExport.write(hm, out, portable, zeros);
            main.out().printf("wrote %s (%,d bytes): %d layers, width %d, %s, %d hooks%s%s%n", out, Files.size(out),
                    model.layers(), model.width(), Tensors.floatTypeName(model.dtype()),
                    ((List<?>) manifest.get("hooks")).size(), portable ? ", portable" : "", zeros ? ", zero weights" : "");
        }
        return 0;
    }

    /** The program to hook: of --shape, or the model rebuilt as --portable / --zero-weights / --dtype ask. */
    private Gpt2Model program() {
        if (shape != null) {
            if (modelOptions.model != null) throw new InvalidInputException("--shape and --model exclude each other");
            ScalarType t = dtype == null ? ScalarType.Float : Tensors.parseFloatType(dtype);
            return Gpt2Model.zeroWeights(shapeConfig(shape), t, Devices.parse(modelOptions.device), portable);
        }
        Gpt2Model model = modelOptions.load();
        if (model.kind() != Gpt2Model.Kind.STEER4J) {
            throw new InvalidInputException("--model must be a steer4j .pt (from convert) to export; this one is a foreign TorchScript module");
        }
        ScalarType t = dtype == null ? model.dtype() : Tensors.parseFloatType(dtype);
        return portable || zeroWeights || t != model.dtype() ? model.rebuilt(t, portable, zeroWeights) : model;
    }

    static final int MAX_SHAPE_LAYERS = 256;
    static final int MAX_SHAPE_WIDTH = 16384;

    static GPT2Config shapeConfig(String name) {
        int[] ld = switch (name) {
            case "gpt2" -> new int[]{12, 768};
            case "gpt2-medium" -> new int[]{24, 1024};
            case "gpt2-large" -> new int[]{36, 1280};
            case "gpt2-xl" -> new int[]{48, 1600};
            default -> {
                String[] p = name.split("x");
                try {
                    if (p.length != 2) throw new NumberFormatException();
                    yield new int[]{Integer.parseInt(p[0]), Integer.parseInt(p[1])};
                } catch (NumberFormatException e) {
                    throw new InvalidInputException("--shape " + name + ": use gpt2, gpt2-medium, gpt2-large, gpt2-xl or LxD (e.g. 4x128)");
                }
            }
        };
        if (ld[0] <= 0 || ld[1] <= 0 || ld[1] % 64 != 0) {
            throw new InvalidInputException("--shape " + name + ": layers must be positive and the width a positive multiple of 64");
        }
        // The program has one TorchScript class per module instance: building it costs time and memory per layer
        // whatever the (stride-0) weights, so shapes far beyond any GPT-2 are refused rather than left to hang.
        if (ld[0] > MAX_SHAPE_LAYERS || ld[1] > MAX_SHAPE_WIDTH) {
            throw new InvalidInputException("--shape " + name + ": at most " + MAX_SHAPE_LAYERS + " layers and width "
                    + MAX_SHAPE_WIDTH + " (GPT2-XL is 48x1600)");
        }
        return new GPT2Config(ld[0], ld[1] / 64, ld[1], 1024, 50257, 4 * ld[1], 1e-5);
    }

    private static void addRows(HookedModel hm, String spec) {
        SteerSpec s = SteerSpec.parse(spec);
        if (s.positions().kind() != Positions.Kind.ALL) throw new InvalidInputException("--steer-rows " + spec + ": per-row vectors act at every position");
        VectorSet set = VectorFiles.read(s.file());
        for (String module : set.names()) {
            int[] shape = set.shape(module);
            if (shape.length != 2) {
                throw new InvalidInputException(s.file() + ": --steer-rows needs [B, d] tensors; " + module + " has "
                        + java.util.Arrays.toString(shape));
            }
            hm.hookOutput(module, new HookOp.Add(Tensors.floats(set.data(module), new long[]{shape[0], shape[1]},
                    hm.model().device(), hm.model().dtype()), s.coefficient(), Positions.ALL, true));
        }
    }
}
