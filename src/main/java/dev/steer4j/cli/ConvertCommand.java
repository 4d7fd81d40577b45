package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.HfCheckpoint;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Hugging Face checkpoint folder to one self-contained steer4j {@code .pt}. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a Hugging Face GPT-2 checkpoint folder to a steer4j .pt file.")
final class ConvertCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--hf", required = true, paramLabel = "DIR",
            description = "folder with config.json, model.safetensors (or shards), vocab.json, merges.txt")
    Path hf;

    @Option(names = "--out", required = true, paramLabel = "FILE.pt", description = "where to write the model")
    Path out;

    @Option(names = "--dtype", defaultValue = "float32", paramLabel = "T",
            description = "float32 (default), float16 or bfloat16")
    String dtype;

    @Option(names = "--no-tokenizer",
            description = "write the model without vocab.json and merges.txt (loading it then needs --tokenizer DIR)")
    boolean noTokenizer;

    @Override
    public Integer call() throws Exception {
        // --out: never a file of the checkpoint read; an existing file only if it is a .pt archive (a model converted
        // before, say), never a checkpoint's weights or someone's notes
        Outputs.check("--out", out, Gpt2Model.ARCHIVE, Outputs.checkpoint(hf));
        ScalarType type = Tensors.parseFloatType(dtype);
        Gpt2Model model;
        try (HfCheckpoint ck = HfCheckpoint.open(hf)) {
            model = Gpt2Model.fromCheckpoint(ck, type, Devices.parse("cpu"), !noTokenizer);
        } catch (dev.steer4j.model.TokenizerException e) {
            throw new InvalidInputException(e.getMessage() + " (--no-tokenizer writes one without; loading it then"
                    + " needs --tokenizer DIR)", e);
        }
        model.save(out);
        main.out().printf("wrote %s (%,d bytes): %d layers, width %d, %d positions, vocab %d, %s%s%n", out,
                Files.size(out), model.layers(), model.width(), model.maxPositions(), model.vocabSize(),
                Tensors.floatTypeName(model.dtype()), noTokenizer ? ", no tokenizer" : "");
        return 0;
    }
}
