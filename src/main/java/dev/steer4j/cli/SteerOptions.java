package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.steering.SteerSpec;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code --steer FILE[*COEF][@POSITIONS]} (repeatable) and {@code --steer-mode hook|bias}. */
public final class SteerOptions {
    @Option(names = "--steer", paramLabel = "FILE[*COEF][@POSITIONS]",
            description = "add the vectors in FILE (safetensors or .gguf; module = tensor name) times COEF (default 1)"
                    + " at POSITIONS: all (default), prompt, generated, from:K, aligned")
    List<String> steer = List.of();

    @Option(names = "--steer-mode", paramLabel = "MODE", defaultValue = "hook",
            description = "hook (default): forward hooks; bias: edit a downstream bias (every position only)")
    String mode;

    /** The --steer specs, parsed; {@code --steer-mode bias} is refused (per-request steering is per-row hooks). */
    public List<SteerSpec> specsForRequests() {
        if (!mode.equals("hook")) {
            throw new InvalidInputException("--requests steers each row with hooks; --steer-mode " + mode + " cannot be used with it");
        }
        return steer.stream().map(SteerSpec::parse).toList();
    }

    /** The model with every --steer applied. */
    public HookedModel apply(Gpt2Model model) {
        HookedModel hm = new HookedModel(model);
        applyTo(hm);
        return hm;
    }

    /** Applies every --steer to {@code hm} (a session's hooks, say). */
    public void applyTo(HookedModel hm) {
        SteerSpec.Mode m = switch (mode) {
            case "hook" -> SteerSpec.Mode.HOOK;
            case "bias" -> SteerSpec.Mode.BIAS;
            default -> throw new InvalidInputException("--steer-mode must be hook or bias, got '" + mode + "'");
        };
        List<SteerSpec> specs = steer.stream().map(SteerSpec::parse).toList();
        for (SteerSpec s : specs) s.apply(hm, m);
    }
}
