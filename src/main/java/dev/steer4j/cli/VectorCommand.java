package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.steering.ActAdd;
import dev.steer4j.steering.ContrastivePairs;
import dev.steer4j.steering.PairMethod;
import dev.steer4j.steering.Reduce;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.VectorMath;
import dev.steer4j.steering.io.VectorSet;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Makes steering vectors: ActAdd from a prompt pair, or mean/PCA from a JSONL dataset of pairs. */
@Command(name = "vector", mixinStandardHelpOptions = true,
        description = "Compute steering vectors and write them to a safetensors (or .gguf) file.")
final class VectorCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--positive", paramLabel = "TEXT", description = "prompt to steer towards (ActAdd)")
    String positive;

    @Option(names = "--negative", paramLabel = "TEXT", description = "prompt to steer away from (ActAdd)")
    String negative;

    @Option(names = "--pairs", paramLabel = "FILE.jsonl", description = "contrastive pairs {\"positive\":…,\"negative\":…}")
    Path pairs;

    @Option(names = "--method", paramLabel = "M", defaultValue = "mean",
            description = "with --pairs: mean (CAA, default), pca_diff or pca_center")
    String method;

    @Option(names = "--module", required = true, paramLabel = "NAME", description = "module path (repeatable)")
    List<String> modules;

    @Option(names = "--reduce", paramLabel = "R", defaultValue = "last",
            description = "ActAdd: last (default), mean or none (aligned [T, d])")
    String reduce;

    @Option(names = "--pad-token", paramLabel = "ID", defaultValue = "220",
            description = "ActAdd mean/none: token that right-pads the shorter prompt (default 220, \" \")")
    int padToken;

    @Option(names = "--normalize", description = "scale each vector (each row for none) to unit L2 norm")
    boolean normalize;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "output file (.safetensors or .gguf)")
    Path out;

    @Override
    public Integer call() {
        // --out: never the model, its tokenizer or the pairs read; an existing file only if it is a vector file
        Outputs.check("--out", out, VectorFiles.KIND, Outputs.model(modelOptions), Outputs.file("--pairs", pairs));
        boolean actAdd = positive != null || negative != null;
        if (actAdd == (pairs != null)) {
            throw new InvalidInputException("give either --positive and --negative, or --pairs");
        }
        if (actAdd && (positive == null || negative == null)) {
            throw new InvalidInputException("ActAdd needs both --positive and --negative");
        }
        Gpt2Model model = modelOptions.load();
        if (padToken < 0 || padToken >= model.vocabSize()) {
            throw new InvalidInputException("--pad-token " + padToken + " is outside the vocabulary");
        }
        VectorSet vectors;
        try (HookedModel hm = new HookedModel(model)) {
            vectors = actAdd
                    ? ActAdd.vector(hm, positive, negative, modules, Reduce.parse(reduce), padToken, normalize)
                    : ContrastivePairs.vectors(hm, ContrastivePairs.read(pairs), modules, PairMethod.parse(method), normalize);
        }
        VectorSet.Builder withModel = VectorSet.builder().metadata(vectors.metadata())
                .meta("model_sha256", modelSha256()).meta("width", Integer.toString(model.width()));
        for (String m : vectors.names()) withModel.put(m, vectors.shape(m), vectors.data(m));
        vectors = withModel.build();
        VectorFiles.write(out, vectors, "gpt2");
        for (String m : vectors.names()) {
            main.err().printf("%s %s norm %.6g%n", m, java.util.Arrays.toString(vectors.shape(m)),
                    VectorMath.norm(vectors.data(m)));
        }
        main.err().println("wrote " + out);
        return 0;
    }

    private String modelSha256() {
        try (InputStream in = modelOptions.model == null
                ? VectorCommand.class.getResourceAsStream("/steer4j/default-model/model.safetensors")
                : Files.newInputStream(modelOptions.model)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            try (DigestInputStream din = new DigestInputStream(in, sha)) {
                din.transferTo(java.io.OutputStream.nullOutputStream());
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new InvalidInputException("cannot hash the model file: " + dev.steer4j.io.IoErrors.reason(e));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
