package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Which model to run and where: shared by every command that loads one (use with {@code @Mixin}). */
public final class ModelOptions {
    @Option(names = "--model", paramLabel = "FILE.pt",
            description = "steer4j .pt (from convert) or a TorchScript GPT-2; default: the built-in model (docs/DEFAULT_MODEL.md)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "folder with vocab.json and merges.txt, for a .pt that has no tokenizer inside")
    Path tokenizer;

    @Option(names = "--device", paramLabel = "D", defaultValue = "cpu",
            description = "cpu (default), cuda or cuda:N")
    String device;

    /**
     * The model through steer4j's API, for commands that run requests (batch): a steer4j program, so --tokenizer
     * (for foreign TorchScript files) is refused.
     */
    public dev.steer4j.Model open() {
        try (dev.steer4j.profile.Profiler.Span s = dev.steer4j.profile.Profiler.span("load_model")) {
            if (tokenizer != null) {
                throw new InvalidInputException("--tokenizer: this command runs steer4j programs only, whose .pt (from"
                        + " `steer4j convert`) has its tokenizer inside");
            }
            dev.steer4j.Device where = new dev.steer4j.Device(device);
            dev.steer4j.Model m = model == null ? dev.steer4j.Model.builtIn(where) : dev.steer4j.Model.load(model, where);
            System.gc(); // as in load()
            return m;
        }
    }

    public Gpt2Model load() {
        try (dev.steer4j.profile.Profiler.Span s = dev.steer4j.profile.Profiler.span("load_model")) {
            Gpt2Model m = loadModel();
            // Loading leaves ~190 MB of short-lived Java garbage (JavaCPP's library lookup, tokenizer tables) in
            // pages G1 keeps; one full collection here lets it hand them back: 124M batch-16 peak RSS -30-40 MB.
            System.gc();
            return m;
        }
    }

    private Gpt2Model loadModel() {
        if (model == null) {
            if (tokenizer != null) {
                throw new InvalidInputException("--tokenizer needs --model (the built-in model has its own tokenizer)");
            }
            return Gpt2Model.embeddedDefault(Devices.parse(device));
        }
        try {
            return Gpt2Model.load(model, tokenizer, Devices.parse(device));
        } catch (dev.steer4j.model.TokenizerException e) {
            throw new InvalidInputException(tokenizer == null ? e.getMessage() + ": pass --tokenizer DIR"
                    : "--" + e.getMessage(), e);
        }
    }
}
