package dev.steer4j.export;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.hooks.HookedModel;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Tensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.JitModule;

/**
 * Writes the exact program steer4j runs — its TorchScript GPT-2 with the hooks rewritten into the graphs —
 * as one archive that libtorch loads without steer4j (C++ {@code torch::jit::load}, Python
 * {@code torch.jit.load}).
 *
 * <p>What the archive holds: the hooked root ({@code forward}, {@code greedy_step}) with the hook state as
 * attributes of the {@code _steer4j_hooks} module registered on each hooked call's owner; the same model
 * unhooked as {@code _unsteered} (the very same weight tensors, stored once); and beside the program
 * {@code config.json}, the tokenizer, and {@value Gpt2Model#EXPORT_MANIFEST}, which lists every hook with the
 * attributes that steer it. Hooks that act on some positions or per batch row read {@code rows} (the batch
 * rows, {@code [B]}), {@code positions} (each token's position counted from its row's first real token,
 * {@code [B, T]}, -1 for pads) and {@code prompt_lengths} ({@code [B]}) from the state module: the caller sets
 * them before each forward, as steer4j does.
 */
public final class ProgramExport {
    public static final String UNSTEERED = "_unsteered";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ProgramExport() {}

    /** Writes {@code hm}'s hooks and model to {@code out}, atomically; returns the manifest written. */
    public static Map<String, Object> write(HookedModel hm, Path out, boolean portable, boolean zeroWeights) {
        Gpt2Model model = hm.model();
        if (model.kind() != Gpt2Model.Kind.STEER4J) {
            throw new InvalidInputException("only a steer4j program can be exported; convert the checkpoint first");
        }
        dev.steer4j.hooks.ExportedProgram ex = hm.exportable();
        JitModule program = ex.program();
        program.register_module(UNSTEERED, model.module());

        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("format", "steer4j-hooked-gpt2");
        manifest.put("version", 1);
        manifest.put("dtype", Tensors.floatTypeName(model.dtype()));
        manifest.put("portable", portable);
        manifest.put("zero_weights", zeroWeights);
        manifest.put("unsteered", UNSTEERED);
        manifest.put("state_module", HookedModel.STATE);
        List<Map<String, Object>> hooks = new ArrayList<>();
        for (dev.steer4j.hooks.ExportedProgram.Hook h : ex.hooks()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", h.id());
            m.put("module", h.module());
            m.put("op", h.op());
            m.put("positions", h.positions());
            m.put("per_row", h.perRow());
            m.put("coefficient", h.coefficient());
            m.put("applied", h.applied());
            m.put("vector", h.vector());
            hooks.add(m);
        }
        manifest.put("hooks", hooks);

        Map<String, byte[]> files = new LinkedHashMap<>(model.archiveFiles());
        try {
            files.put(Gpt2Model.EXPORT_MANIFEST, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(manifest));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        try {
            Gpt2Model.writeArchive(program, files, out);
        } catch (IOException e) {
            throw new InvalidInputException("cannot write " + out + ": " + dev.steer4j.io.IoErrors.reason(e));
        } catch (RuntimeException e) {
            throw new InvalidInputException("cannot write " + out + ": " + e.getMessage());
        } finally {
            // closed, not discarded: its methods stay in the model's compilation unit (one export per command), and
            // the unsteered module it holds is the model's own
            program.close();
        }
        return manifest;
    }
}
